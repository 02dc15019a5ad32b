"""Build-time helpers of nnc's documentation (imported by conf.py).

- :class:`FigureScraper` collects the matplotlib Figures an example or Learn
  script leaves in its global names.  nnc.plot builds figures with the
  object-oriented API (no pyplot), so sphinx-gallery's default scraper, which
  asks pyplot for its open figures, would not see them.
- :func:`example_argv` gives the scripts that take their own options a quick
  command line.
- :func:`setup` writes the pages generated from files of the repository
  (the benchmark tables) and keeps an offline build's failed intersphinx
  download from being an error.
"""
import json
import logging
import os
import sys

# Public objects whose docstrings still lack parameters (numpydoc PR01), each
# a regular expression on the full name.  Remove an entry when its docstring
# is complete; the build fails on any other object with an undocumented
# parameter.
PR01_PENDING: list = []


class FigureScraper:
    """Save every not yet shown matplotlib Figure found in the script's globals."""

    def __repr__(self):          # a stable repr keeps Sphinx's environment cache valid
        return "nnc_docs.FigureScraper"

    def __call__(self, block, block_vars, gallery_conf, **kwargs):
        from matplotlib.figure import Figure
        from sphinx_gallery.scrapers import figure_rst

        found = []
        for value in list(block_vars["example_globals"].values()):
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, Figure) and not getattr(item, "_nnc_docs_shown", False):
                    found.append(item)
        paths = []
        images = block_vars["image_path_iterator"]
        for fig in found:
            path = images.next()
            fig.savefig(path, dpi=90)
            fig._nnc_docs_shown = True
            paths.append(path)
        return figure_rst(paths, gallery_conf["src_dir"])


figure_scraper = FigureScraper()


class ExampleOrder:
    """The gallery's order: the tutorials' networks first, then figures,
    integrations, and the MPI script last (sphinx-gallery sort key)."""

    ORDER = ["tutorial_network.py", "tutorial_100.py", "tutorial_network2.py",
             "best_mnist.py", "plot_mnist_figures.py", "plot_activation_functions.py",
             "sklearn_digits.py", "onnx_export.py", "sweep_dask.py", "mpi_train.py"]

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __repr__(self):
        return "nnc_docs.ExampleOrder"

    def __call__(self, filename):
        # Learn scripts (step1_... step8_...) and unlisted examples keep their
        # file-name order after the listed ones.
        name = os.path.basename(filename)
        return (self.ORDER.index(name) if name in self.ORDER else len(self.ORDER), name)


class ExampleArgv:
    """Command lines for the scripts that do not read NNC_DOCS_QUICK."""

    QUICK = {
        "sweep_dask.py": ["--train-size", "1500", "--epochs", "2", "--cv", "2", "--quick",
                          "--workers", "2", "--skip-sequential"],
    }

    def __repr__(self):
        return "nnc_docs.ExampleArgv"

    def __call__(self, gallery_conf, script_vars):
        name = os.path.basename(script_vars["src_file"])
        return list(self.QUICK.get(name, []))


example_argv = ExampleArgv()


class _OfflineInventory(logging.Filter):
    """Turn intersphinx's 'failed to reach any of the inventories' warning into
    an info line: offline the cross-project links stay plain text."""

    def filter(self, record):
        if record.levelno == logging.WARNING and "failed to reach any of the inventories" \
                in str(record.msg):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "intersphinx: inventory not reachable (offline?), links stay text: " \
                + str(record.msg)
        return True


def write_bench_tables(root, docs):
    """docs/_generated/bench.md: bench/results/latest.json as Markdown tables."""
    with open(os.path.join(root, "bench", "results", "latest.json")) as fh:
        results = json.load(fh)
    # bench/ on the path while the report runs: it imports its sibling modules
    # (sparse_text) as it needs them
    sys.path.insert(0, os.path.join(root, "bench"))
    try:
        import report
        text = report.markdown(results)
    finally:
        sys.path.pop(0)
    # The report's title and first line are the page's own.
    body = text.split("\n", 3)[3]
    out = os.path.join(docs, "_generated")
    os.makedirs(out, exist_ok=True)
    _write_if_changed(os.path.join(out, "bench.md"), body)


#: The modules of the API reference, in the order of its table of contents.
MODULES = ["nnc.optimizers", "nnc.callbacks", "nnc.training", "nnc.lbfgs", "nnc.model", "nnc.io",
           "nnc.datasets", "nnc.downloads", "nnc.images", "nnc.activations", "nnc.losses",
           "nnc.kernels", "nnc.sklearn", "nnc.plot", "nnc.distributed", "nnc.onnx", "nnc.cli"]


def _public_members(module):
    """(classes, exceptions, functions) defined in ``module`` and public: its
    ``__all__`` when it has one, else every name not starting with "_"."""
    import inspect
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    groups = ([], [], [])
    for name in names:
        obj = getattr(module, name)
        if getattr(obj, "__module__", None) != module.__name__:
            continue                       # imported from elsewhere: documented there
        if inspect.isclass(obj):
            groups[1 if issubclass(obj, BaseException) else 0].append(name)
        elif inspect.isfunction(obj):
            groups[2].append(name)
    return groups


def write_module_pages(docs):
    """docs/generated/<module>.rst for each of MODULES: the module's docstring
    and an autosummary table (one generated page per class and function).

    Written here rather than by autosummary's module template: several of
    nnc's modules are also attributes of the ``nnc`` package, which makes
    autosummary document them as attributes."""
    import importlib
    out = os.path.join(docs, "generated")
    os.makedirs(out, exist_ok=True)
    for modname in MODULES:
        module = importlib.import_module(modname)
        lines = [modname, "=" * len(modname), "", f".. automodule:: {modname}",
                 "   :no-members:", "", f".. currentmodule:: {modname}", ""]
        for title, names in zip(("Classes", "Exceptions", "Functions"),
                                _public_members(module), strict=True):
            if names:
                lines += [f".. rubric:: {title}", "", ".. autosummary::", "   :toctree: .",
                          "   :nosignatures:", ""] + [f"   {n}" for n in names] + [""]
        _write_if_changed(os.path.join(out, modname + ".rst"), "\n".join(lines))


def _write_if_changed(path, text):
    # Rewrite only on change, so Sphinx does not rebuild the page each time.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    old = open(path).read() if os.path.exists(path) else None
    if old != text:
        with open(path, "w") as fh:
            fh.write(text)


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated metadata-routing setters
    (``set_fit_request`` ...): they belong to scikit-learn's documentation."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None          # autodoc decides


def _help(parser, width=74):
    """``parser.format_help()`` wrapped to ``width`` columns (the page's column)."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)      # argparse's HelpFormatter reads it
    try:
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def write_cli_reference(docs):
    """docs/_generated/cli.rst: ``nnc --help`` and each command's ``--help``,
    from the command's own parser (nnc.cli.build_parser), as a user sees them."""
    import argparse
    import textwrap

    from nnc.cli import build_parser
    parser = build_parser()
    parser.prog = "nnc"
    parts = [("nnc", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parts += [(f"nnc {name}", sub) for name, sub in action.choices.items()]
    lines = []
    for title, p in parts:
        lines += [f".. _cli-{title.replace(' ', '-')}:", "", f"``{title}``",
                  "-" * (len(title) + 4), "", ".. code-block:: text", ""]
        lines += [textwrap.indent(_help(p), "   ", lambda line: True), ""]
    _write_if_changed(os.path.join(docs, "_generated", "cli.rst"), "\n".join(lines))


def _link_mathjax(source):
    """A build-finished handler: _static/mathjax -> the folder of ``source``."""
    def link(app, exception):
        if exception is not None or app.builder.format != "html":
            return
        target = os.path.join(app.outdir, "_static", "mathjax")
        if not os.path.lexists(target):
            os.symlink(os.path.dirname(os.path.abspath(source)), target)
    return link


def setup(app, root, docs, local_mathjax=None):
    write_module_pages(docs)
    write_cli_reference(docs)
    logging.getLogger("sphinx.sphinx.ext.intersphinx").addFilter(_OfflineInventory())
    write_bench_tables(root, docs)
    app.connect("autodoc-skip-member", _skip_member)
    if local_mathjax:
        if not os.path.isfile(local_mathjax):
            raise OSError(f"NNC_DOCS_MATHJAX: no MathJax.js at {local_mathjax!r}")
        app.connect("build-finished", _link_mathjax(local_mathjax))
    return {"parallel_read_safe": True}
