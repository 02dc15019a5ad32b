"""The built documentation site, read as a browser would get it.

Runs against ``docs/_build/html`` (``sphinx-build -W -b html docs
docs/_build/html``); skipped when the site has not been built, unless
``NNC_DOCS_BUILT=1`` says it must be there (the docs stage of .ci/run sets it
right after the build).  Fails when a page loses its figures, its math or
its navigation.
"""
import os
import re
from html.parser import HTMLParser

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITE = os.path.join(ROOT, "docs", "_build", "html")

if not os.path.isfile(os.path.join(SITE, "index.html")):
    if os.environ.get("NNC_DOCS_BUILT") == "1":
        raise RuntimeError(f"NNC_DOCS_BUILT=1 but there is no built site at {SITE}")
    pytest.skip("the documentation site is not built (sphinx-build -W -b html docs "
                "docs/_build/html)", allow_module_level=True)


class _Page(HTMLParser):
    """Images, links, scripts and math spans of one HTML page."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts, self.math = [], [], [], 0
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        elif tag in ("span", "div") and "math" in (attrs.get("class") or "").split():
            self.math += 1

    def handle_data(self, data):
        self.text.append(data)


def page(path):
    full = os.path.join(SITE, path)
    assert os.path.isfile(full), f"{path} is missing from the built site"
    parser = _Page()
    with open(full, encoding="utf-8") as fh:
        parser.feed(fh.read())
    parser.text = "".join(parser.text)
    parser.path = full
    return parser


def local_images(p):
    """The page's images that are files of the site, checked to exist."""
    out = []
    for src in p.images:
        if src.startswith(("http:", "https:", "data:")):
            continue
        target = os.path.normpath(os.path.join(os.path.dirname(p.path), src.split("#")[0]))
        assert os.path.isfile(target), f"{p.path}: image {src} is missing"
        if os.path.getsize(target) > 2000 and "_images" in target:
            out.append(target)
    return out


def has_mathjax(p):
    """MathJax is loaded: the CDN's MathJax 3 or a local MathJax 2 (NNC_DOCS_MATHJAX)."""
    return any(re.search(r"mathjax(@[\d.]+)?/.*\.js|MathJax\.js", s, re.IGNORECASE)
               for s in p.scripts)


LEARN = ["step1_perceptron", "step2_sigmoid", "step3_network", "step4_cost",
         "step5_gradient_descent", "step6_backpropagation", "step7_mnist", "step8_improving"]


@pytest.mark.parametrize("name", LEARN)
def test_learn_pages_have_math_and_output(name):
    p = page(f"learn/{name}.html")
    assert p.math >= 1 and has_mathjax(p), f"{name}: no rendered-math markup or no MathJax"
    assert "Traceback" not in p.text
    assert re.search(r"Out:|sphx-glr-script-out", open(p.path, encoding="utf-8").read()), \
        f"{name}: the script's output is not shown"


@pytest.mark.parametrize("name, figures", [("step2_sigmoid", 1), ("step7_mnist", 4)])
def test_learn_pages_have_their_figures(name, figures):
    assert len(local_images(page(f"learn/{name}.html"))) >= figures


def test_backpropagation_page_shows_the_four_equations():
    html = open(page("learn/step6_backpropagation.html").path, encoding="utf-8").read()
    for label in ("(BP1)", "(BP2)", "(BP3)", "(BP4)"):
        assert label in html
    for function in ("output_error", "backprop", "update"):
        assert f">{function}<" in html


@pytest.mark.parametrize("name, figures", [
    ("plot_mnist_figures", 3),          # learning curves, first-layer weights, confusion matrix
    ("plot_activation_functions", 1),
])
def test_gallery_figures(name, figures):
    assert len(local_images(page(f"gallery/{name}.html"))) >= figures


def test_gallery_lists_every_example():
    p = page("gallery/index.html")
    for script in ("tutorial_network", "tutorial_100", "tutorial_network2", "best_mnist",
                   "sklearn_digits", "onnx_export", "sweep_dask", "mpi_train",
                   "plot_mnist_figures", "plot_activation_functions"):
        assert any(href.endswith(f"{script}.html") for href in p.links), script


def test_engine_and_performance_pages_have_their_figures():
    assert len(local_images(page("engine.html"))) >= 1
    assert len(local_images(page("performance.html"))) >= 2
    assert "s/epoch" in page("performance.html").text


def test_api_reference_covers_the_public_modules():
    p = page("api.html")
    for name in ("nnc.Network", "nnc.Perceptron", "nnc.load", "nnc.optimizers",
                 "nnc.callbacks", "nnc.training", "nnc.lbfgs", "nnc.model", "nnc.io", "nnc.datasets",
                 "nnc.downloads", "nnc.images", "nnc.activations", "nnc.losses", "nnc.kernels",
                 "nnc.sklearn", "nnc.plot", "nnc.distributed", "nnc.onnx", "nnc.cli"):
        assert any(href.endswith(f"generated/{name}.html") for href in p.links), name
    fit = page("generated/nnc.Network.html")
    assert "Parameters" in fit.text and "validation_data" in fit.text


@pytest.mark.parametrize("module, names", [
    ("nnc.optimizers", ["Optimizer", "SGD", "Adam", "RMSprop", "LBFGS", "Schedule", "get"]),
    ("nnc.callbacks", ["Callback", "History", "ProgressBar", "EarlyStopping",
                       "ModelCheckpoint", "LambdaCallback"]),
    ("nnc.training", ["Trainer"]),
    ("nnc.model", ["Model", "LayerParams"]),
    ("nnc.images", ["prepare_image", "prepare_images"]),
])
def test_optimizers_and_callbacks_have_their_own_pages(module, names):
    listing = page(f"generated/{module}.html")
    for name in names:
        assert any(href.endswith(f"{module}.{name}.html") for href in listing.links), name
        p = page(f"generated/{module}.{name}.html")
        if name != "History":      # the one without parameters
            assert "Parameters" in p.text, f"{module}.{name}: no Parameters section"


def test_optimizer_pages_show_the_hyper_parameters():
    text = page("generated/nnc.optimizers.SGD.html").text
    for name in ("momentum", "nesterov", "l2", "schedule"):
        assert name in text
    text = page("generated/nnc.callbacks.EarlyStopping.html").text
    for name in ("monitor", "patience", "min_delta", "restore_best_weights"):
        assert name in text


def test_cli_page_shows_every_command():
    text = page("cli.html").text
    for command in ("nnc train", "nnc evaluate", "nnc predict", "nnc info", "nnc download"):
        assert command in text
    assert "--sizes" in text


def test_navigation_links_resolve():
    p = page("index.html")
    targets = [h.split("#")[0] for h in p.links
               if not h.startswith(("http:", "https:", "mailto:", "#")) and h.split("#")[0]]
    assert len(targets) >= 8
    for href in targets:
        assert os.path.isfile(os.path.join(SITE, href)), f"index.html links to missing {href}"


def test_learn_path_uses_the_callback_objects():
    p = page("learn/step8_improving.html")
    for name in ("nnc.callbacks.EarlyStopping", "nnc.callbacks.ModelCheckpoint"):
        assert any(f"generated/{name}.html" in href for href in p.links), name
    assert "stopped after epoch" in p.text      # the early-stopping run's output
    assert "rates [3.0, 1.5]" in page("learn/step5_gradient_descent.html").text
