"""Sphinx configuration of nnc's documentation site.

Build with ``sphinx-build -W -b html docs docs/_build/html`` from the
repository root (after ``pip install ".[docs]"`` or an in-place build).
"""
import glob
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
# The nnc being documented: the source tree when it has been built in place
# (python setup.py build_ext --inplace), otherwise the installed package
# (pip install ".[docs]").  A clean clone's nnc/ cannot be imported.
if glob.glob(os.path.join(ROOT, "nnc", "_engine*.so")) + \
        glob.glob(os.path.join(ROOT, "nnc", "_engine*.pyd")):
    sys.path.insert(0, ROOT)
else:   # `python -m sphinx` run from the root puts the unbuilt tree first
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != ROOT]
# The examples import their shared helpers as `_common`.
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, DOCS)
# The examples and Learn scripts read this: few epochs and images, so the
# whole gallery runs in a few minutes.  Set NNC_DOCS_QUICK=0 for full runs.
os.environ.setdefault("NNC_DOCS_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import nnc  # noqa: E402
import _ext  # noqa: E402  (docs/_ext.py: the gallery's figure scraper and build-time pages)

project = "nnc"
author = "nnc developers"
copyright = "nnc developers, MIT licence"
release = nnc.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "learn_scripts/*.rst", "_generated", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# ---------------------------------------------------------------- API reference
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
suppress_warnings = ["myst.header"]   # the generated benchmark tables start at H3
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Every documented parameter is checked: a public function whose parameters
# are not all in its "Parameters" section fails the -W build.
numpydoc_validation_checks = {"PR01"}
# Public objects still to be fixed (see issue 13's report); each entry is a
# regular expression on the object's full name.  Remove an entry when its
# docstring is completed.
numpydoc_validation_exclude = set(_ext.PR01_PENDING)

# ---------------------------------------------------------------- cross-links
# Online the inventories are downloaded and types such as numpy.ndarray link to
# their projects' pages.  Offline (as on the project's build machines) the
# download fails; _ext turns that one failure into a note instead of a
# warning, so -W still passes and the links stay plain text.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "scipy": ("https://docs.scipy.org/doc/scipy/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "matplotlib": ("https://matplotlib.org/stable/", None),
}
intersphinx_timeout = 10

# ---------------------------------------------------------------- math
# The published site loads MathJax from its CDN (Sphinx's default).  For a
# site read offline, NNC_DOCS_MATHJAX names a local MathJax 2 (for example
# Debian's libjs-mathjax: /usr/share/javascript/mathjax/MathJax.js), which the
# site then links to as _static/mathjax (a symbolic link: for local reading).
_local_mathjax = os.environ.get("NNC_DOCS_MATHJAX")
if _local_mathjax:
    mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML"
    mathjax2_config = {"tex2jax": {"inlineMath": [["\\(", "\\)"]],
                                   "displayMath": [["\\[", "\\]"]],
                                   "processEscapes": True},
                       "messageStyle": "none"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# ---------------------------------------------------------------- gallery
# The callables are named by strings (docs/_ext.py), which keeps the
# configuration picklable for Sphinx's environment cache.
sphinx_gallery_conf = {
    "examples_dirs": ["learn_scripts", "../examples"],
    "gallery_dirs": ["learn", "gallery"],
    # Every script runs except the MPI one, which needs mpiexec: it is shown.
    "filename_pattern": r"^((?!mpi_).)*$",
    "ignore_pattern": r"(__init__|_common)\.py$",
    "within_subsection_order": "_ext.ExampleOrder",
    "image_scrapers": ("_ext.figure_scraper",),
    "reset_argv": "_ext.example_argv",
    "download_all_examples": False,
    "remove_config_comments": True,
    "capture_repr": (),
    "show_memory": False,
    "min_reported_time": 1,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
}

# ---------------------------------------------------------------- plots
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]

# ---------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"nnc {release}"
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "light"}
html_static_path = ["_static"]
html_css_files = ["nnc.css"]
html_show_sourcelink = False


def setup(app):
    _ext.setup(app, root=ROOT, docs=DOCS, local_mathjax=_local_mathjax)
