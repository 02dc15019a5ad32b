"""The ``nnc`` command line: train, evaluate, predict, info and download.

``nnc train`` with no arguments trains the tutorials' network (784-30-10,
sigmoid neurons, quadratic cost, mini-batches of 10, learning rate 3.0,
30 epochs) on the bundled MNIST digits, printing the test accuracy after
each epoch, and saves it to ``model.npz``.

Errors a user can cause (a missing file, a bad model, a wrong option value)
end with a one-line message on stderr and exit status 2; set ``NNC_DEBUG=1``
to see the traceback instead.
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import shlex
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nnc.optimizers import Schedule

EXIT_ERROR = 2

_SCHEDULE_PARAMS = {"gamma": float, "step_size": int, "power_t": float}


class CLIError(Exception):
    """A user error with a message that is shown as is."""


# ---------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------
def _int_list(text, what="a comma-separated list of integers"):
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected {what} (each >= 1), got {text!r}")
    return values


def _sizes(text):
    values = _int_list(text, "layer sizes such as 784,30,10")
    if len(values) < 2:
        raise argparse.ArgumentTypeError("--sizes needs at least an input and an output "
                                         f"layer, got {text!r}")
    return values


def _hidden(text):
    return _int_list(text, "hidden layer sizes such as 30 or 100,50")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _nonneg_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _fraction(text):
    value = _nonneg_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _dropout(text):
    try:
        rates = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a rate such as 0.2 or one per hidden layer (0.2,0.5), got {text!r}"
        ) from None
    if any(not (0 <= r < 1) for r in rates):
        raise argparse.ArgumentTypeError(f"dropout rates must be in [0, 1), got {text!r}")
    return rates[0] if len(rates) == 1 else rates


def _train_size(text):
    if text.lower() == "all":
        return "all"
    return _positive_int(text)


def _metadata_item(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)  # numbers, booleans, lists...
    except json.JSONDecodeError:
        parsed = value
    return key, parsed


def parse_schedule(text: str) -> Schedule:
    """``KIND`` or ``KIND:key=value,...`` -> :class:`nnc.optimizers.Schedule`.

    Parameters
    ----------
    text : str
        The value of ``nnc train --schedule``: ``step``,
        ``step:gamma=0.5,step_size=10``, ``exponential:gamma=0.95``,
        ``invscaling:power_t=0.5``.

    Returns
    -------
    Schedule

    Raises
    ------
    argparse.ArgumentTypeError
        Naming the bad kind, key or value (argparse reports it as a usage
        error).

    Examples
    --------
    >>> from nnc.cli import parse_schedule
    >>> parse_schedule("step:gamma=0.5,step_size=10")
    Schedule('step', gamma=0.5, step_size=10, power_t=0.5)
    """
    from nnc.optimizers import Schedule
    kind, _, rest = text.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in _SCHEDULE_PARAMS:
            raise argparse.ArgumentTypeError(
                f"bad schedule parameter {item!r}: expected one of "
                f"{', '.join(k + '=VALUE' for k in _SCHEDULE_PARAMS)}")
        try:
            params[key] = _SCHEDULE_PARAMS[key](value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad value in schedule parameter {item!r}") from None
    try:
        return Schedule(kind.strip().lower(), **params)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ---------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------
class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in epilogs as written and shows meaningful defaults
    (not None, False or empty, and not when the help text explains them)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, False, [], argparse.SUPPRESS)
                or action.option_strings == [] or isinstance(default, bool)):
            return text
        return f"{text} (default: {default})" if text else f"default: {default}"


TRAIN_EXAMPLES = """\
examples:
  nnc train
      the tutorials' network: 784-30-10, sigmoid, quadratic cost, batch 10,
      lr 3.0, 30 epochs on MNIST's first 50,000 training images (~95%)
  nnc train --hidden 100 --loss categorical_crossentropy --output-activation softmax \\
            --init scaled --lr 0.5 --lmbda 5.0 --out network2.npz
      the tutorials' improved network (~98%)
  nnc train --dataset fashion-mnist --activation relu --output-activation softmax \\
            --loss categorical_crossentropy --optimizer adam --hidden 256,128 \\
            --dropout 0.2 --epochs 20 --train-size all --plot curves.png
  nnc train --dataset ./my_idx_dir --validation-split 0.1 --early-stopping
  mpiexec -n 4 python -m mpi4py -m nnc train --distributed --epochs 10
"""

EVALUATE_EXAMPLES = """\
examples:
  nnc evaluate model.npz
  nnc evaluate fashion.npz --dataset fashion-mnist
  nnc evaluate model.npz --split train
"""

PREDICT_EXAMPLES = """\
examples:
  nnc predict model.npz digit.png
  nnc predict model.npz scans/*.jpg --json

Images are converted the way MNIST's digits were made: greyscale, inverted
when the background is light, cropped to the digit, scaled to fit 20x20
keeping the aspect ratio and centred by centre of mass in a 28x28 field.
--plain only converts and resizes to 28x28 (for Fashion-MNIST-like images).
With a softmax output layer the probabilities are the network's outputs;
otherwise they are its outputs normalised to sum to one.
Needs Pillow: pip install 'nnc[image]'.
"""

INFO_EXAMPLES = """\
examples:
  nnc info model.npz
  nnc info model.npz --json
"""

DOWNLOAD_EXAMPLES = """\
examples:
  nnc download fashion-mnist kmnist
  NNC_DATA=/data/nnc nnc download kmnist
  nnc download fashion-mnist --base-url http://mirror.example/fashion/

Files go to $NNC_DATA, else the platform's cache folder (~/.cache/nnc on Linux,
~/Library/Caches/nnc on macOS); offline, put the four .gz files into
<cache>/<dataset>/ by hand.  Downloading needs pooch: pip install 'nnc[download]'.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``nnc`` argument parser (subcommands train, evaluate, predict, info, download)."""
    from nnc._version import __version__
    parser = argparse.ArgumentParser(
        prog="nnc", formatter_class=_Formatter,
        description="Train, evaluate and use fully connected neural networks "
                    "(nnc: a fused Cython engine).",
        epilog="examples:\n  nnc train\n  nnc evaluate model.npz\n"
               "  nnc predict model.npz digit.png\n  nnc info model.npz\n"
               "  nnc download fashion-mnist\n\n"
               "Run 'nnc COMMAND --help' for each command's options.")
    parser.add_argument("--version", action="version", version=f"nnc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_info(sub)
    _add_download(sub)
    return parser


def _add_train(sub):
    """The ``train`` subcommand."""
    p = sub.add_parser("train", help="train a network and save it",
                       description="Train a network by mini-batch gradient descent and save it. "
                                   "With no options: the tutorials' 784-30-10 network on MNIST.",
                       epilog=TRAIN_EXAMPLES, formatter_class=_Formatter)
    _add_data_options(p)
    _add_network_options(p)
    _add_training_options(p)
    _add_output_options(p)
    p.set_defaults(func=cmd_train)


def _add_data_options(p):
    """nnc train's data options."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="mnist",
                   help="mnist (bundled), fashion-mnist, kmnist (downloaded once), a "
                        "directory of the four IDX files, or an .npz with "
                        "X_train/y_train/X_test/y_test")
    g.add_argument("--train-size", type=_train_size, default=None, metavar="N|all",
                   help="train on the first N training images (default: 50,000 for the "
                        "60,000-image MNIST-style sets, as in the tutorials; else all)")
    g.add_argument("--validation-split", type=_fraction, default=0.0, metavar="F",
                   help="hold out this fraction (from the end of the training images) for "
                        "validation; otherwise the test set is scored after each epoch")
    g.add_argument("--cache-dir", default=None, help="where downloaded datasets are kept")


def _add_network_options(p):
    """nnc train's network options; their defaults are nnc.Network's."""
    from nnc import activations, losses
    from nnc.network import INITS, Network

    defaults = {k: v.default for k, v in inspect.signature(Network).parameters.items()}
    hidden = [a for a in activations.CODES if a not in ("softmax", "step")]
    g = p.add_argument_group("network")
    arch = g.add_mutually_exclusive_group()
    arch.add_argument("--sizes", type=_sizes, default=None, metavar="784,30,10",
                      help="every layer's size, input first (default: inputs,30,classes)")
    arch.add_argument("--hidden", type=_hidden, default=None, metavar="30",
                      help="hidden layer sizes only, e.g. 100 or 256,128; the input and "
                           "output sizes come from the data")
    g.add_argument("--activation", default=defaults["activation"],
                   help=f"hidden activation: {', '.join(hidden)}; or one per layer, "
                        "comma-separated")
    g.add_argument("--output-activation", default=None,
                   help="output activation (softmax with categorical_crossentropy); "
                        "default: the same as --activation")
    g.add_argument("--loss", default=defaults["loss"],
                   help=", ".join(n for n in losses.CODES if not n.startswith("sparse")))
    g.add_argument("--init", default=defaults["init"], choices=INITS,
                   help="weight initialisation (gaussian: N(0,1) as in the tutorials; "
                        "scaled: N(0, 1/n_in))")
    g.add_argument("--dropout", type=_dropout, default=defaults["dropout"], metavar="P",
                   help="dropout rate of the hidden layers, or one per hidden layer (0.2,0.5)")
    g.add_argument("--dtype", default=defaults["dtype"], choices=["float32", "float64"])
    g.add_argument("--seed", type=int, default=None,
                   help="seed of initialisation, shuffling and dropout (reproducible runs)")


def _add_training_options(p):
    """nnc train's training options."""
    from nnc.losses import TUTORIAL_LR

    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=_positive_int, default=30)
    g.add_argument("--batch-size", type=_positive_int, default=10)
    g.add_argument("--lr", type=_nonneg_float, default=None,
                   help=f"learning rate (default: {TUTORIAL_LR['quadratic']} for SGD with "
                        f"the quadratic cost, {TUTORIAL_LR['categorical_crossentropy']} for "
                        "SGD with a cross-entropy, as in the tutorials; else the optimizer's "
                        "own default)")
    g.add_argument("--optimizer", default="sgd",
                   choices=["sgd", "momentum", "nesterov", "adam", "rmsprop"],
                   help="nnc.optimizers.get(NAME): SGD (momentum/nesterov: SGD with "
                        "momentum 0.9), Adam or RMSprop; --lr, --momentum, --l2 and "
                        "--schedule set its hyper-parameters")
    g.add_argument("--momentum", type=_fraction, default=None,
                   help="SGD's momentum coefficient (default 0.9 with momentum/nesterov; "
                        "with sgd a value > 0 means classical momentum)")
    reg = g.add_mutually_exclusive_group()
    reg.add_argument("--l2", type=_nonneg_float, default=0.0,
                     help="L2 penalty added to each weight gradient as l2*W")
    reg.add_argument("--lmbda", type=_nonneg_float, default=None,
                     help="L2 strength as in the tutorials' network2: l2 = lmbda / n_train")
    g.add_argument("--schedule", type=parse_schedule, default=None,
                   metavar="KIND[:k=v,...]",
                   help="learning-rate schedule: constant, step, exponential, invscaling, "
                        "e.g. step:gamma=0.5,step_size=10 or exponential:gamma=0.95")
    g.add_argument("--early-stopping", action="store_true",
                   help="nnc.callbacks.EarlyStopping: stop when the validation loss stops "
                        "improving and keep the best weights (validation = the test set "
                        "unless --validation-split)")
    g.add_argument("--patience", type=_positive_int, default=5,
                   help="epochs without improvement before early stopping")
    g.add_argument("--min-delta", type=_nonneg_float, default=0.0,
                   help="smallest loss decrease that counts as an improvement")
    g.add_argument("--threads", type=_positive_int, default=None,
                   help="threads for BLAS and the engine (default: all cores)")
    _add_subnormal_option(g)
    g.add_argument("--distributed", action="store_true",
                   help="data-parallel training under mpiexec (needs mpi4py): each rank "
                        "trains on its own block of the training images")


def _add_output_options(p):
    """nnc train's output options."""
    g = p.add_argument_group("output")
    g.add_argument("--out", default="model.npz", help="where to save the trained model")
    g.add_argument("--plot", default=None, metavar="PNG",
                   help="save learning curves to this image (needs matplotlib)")
    g.add_argument("--metadata", type=_metadata_item, action="append", default=[],
                   metavar="KEY=VALUE", help="store KEY=VALUE in the model file (repeatable)")
    g.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar or per-epoch lines; only the final result")


def _add_evaluate(sub):
    """The ``evaluate`` subcommand."""
    p = sub.add_parser("evaluate", help="print a model's test loss and accuracy",
                       description="Score a saved model on a dataset's test (or training) set.",
                       epilog=EVALUATE_EXAMPLES, formatter_class=_Formatter)
    p.add_argument("model", help="a model file saved by nnc")
    p.add_argument("--dataset", default=None,
                   help="dataset name or path (default: the one the model was trained on, "
                        "as recorded in its metadata, else mnist)")
    p.add_argument("--split", choices=["test", "train"], default="test")
    p.add_argument("--cache-dir", default=None, help="where downloaded datasets are kept")
    p.add_argument("--threads", type=_positive_int, default=None)
    _add_subnormal_option(p)
    p.set_defaults(func=cmd_evaluate)


def _add_predict(sub):
    """The ``predict`` subcommand."""
    p = sub.add_parser("predict", help="classify PNG/JPEG images",
                       description="Classify images with a saved 784-input model and print "
                                   "each label and its probabilities.",
                       epilog=PREDICT_EXAMPLES, formatter_class=_Formatter)
    p.add_argument("model", help="a model file saved by nnc")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files")
    p.add_argument("--plain", action="store_true",
                   help="only convert to greyscale (inverting a light background) and resize "
                        "to 28x28; no cropping or centring")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    _add_subnormal_option(p)
    p.set_defaults(func=cmd_predict)


def _add_subnormal_option(group):
    """--strict-subnormals, for the commands that run the engine."""
    group.add_argument("--strict-subnormals", action="store_true",
                       help="strict IEEE arithmetic on subnormal floats (below 1.2e-38 in "
                            "float32, 2.2e-308 in float64); by default the engine flushes "
                            "them to zero, which is faster (see nnc.set_flush_denormal)")


def _add_info(sub):
    """The ``info`` subcommand."""
    p = sub.add_parser("info", help="describe a saved model without loading its weights",
                       description="Print a model file's nnc version, architecture, loss, "
                                   "dtype, training history and metadata.",
                       epilog=INFO_EXAMPLES, formatter_class=_Formatter)
    p.add_argument("model", help="a model file saved by nnc")
    p.add_argument("--json", action="store_true", help="print the stored configuration as JSON")
    p.set_defaults(func=cmd_info)


def _add_download(sub):
    """The ``download`` subcommand."""
    p = sub.add_parser("download", help="download datasets into the cache",
                       description="Download datasets (verified by SHA-256) into the cache "
                                   "so that later runs work offline.",
                       epilog=DOWNLOAD_EXAMPLES, formatter_class=_Formatter)
    p.add_argument("names", nargs="+", metavar="DATASET", help="fashion-mnist or kmnist")
    p.add_argument("--cache-dir", default=None, help="cache root (default: see below)")
    p.add_argument("--base-url", default=None, help="download from this mirror instead")
    p.add_argument("--force", action="store_true", help="download even if already cached")
    p.set_defaults(func=cmd_download)


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nnc`` command line; returns the exit status.

    Every failure ends with one ``nnc COMMAND: error: ...`` line on stderr
    and a non-zero status (2; 130 after Ctrl-C), never a traceback, unless
    the environment variable ``NNC_DEBUG`` is set.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``nnc`` (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        _check_paths(args)
        with _subnormals(args):
            return args.func(args) or 0
    except KeyboardInterrupt:
        print(f"nnc {args.command}: error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the command line's last line of defence
        if os.environ.get("NNC_DEBUG"):
            raise
        print(f"nnc {args.command}: error: {_describe(exc)}", file=sys.stderr)
        return EXIT_ERROR


# Errors whose message is written for users; anything else is reported with
# its type, since it means a bug in nnc (or an exhausted machine).
_USER_ERRORS = (CLIError, OSError, ValueError, TypeError, ImportError, ArithmeticError)


def _describe(exc):
    """One line describing ``exc`` for the error message."""
    message = " ".join(str(exc).split())
    if isinstance(exc, MemoryError):
        return f"out of memory ({message})" if message else "out of memory"
    if isinstance(exc, _USER_ERRORS):  # nnc.DivergenceError is an ArithmeticError
        return message or type(exc).__name__
    return (f"unexpected {type(exc).__name__}" + (f": {message}" if message else "")
            + " (set NNC_DEBUG=1 to see the traceback)")


@contextlib.contextmanager
def _subnormals(args):
    """The engine's subnormal mode for one command, restored afterwards."""
    from nnc.kernels import set_flush_denormal
    if not getattr(args, "strict_subnormals", False):
        yield
        return
    previous = set_flush_denormal(False)
    try:
        yield
    finally:
        set_flush_denormal(previous)


def _check_paths(args):
    """Check every file a command will write, and the model it reads, before
    any work: a run never trains for an hour and then fails to save."""
    from nnc import _files
    if args.command == "train":
        _files.check_writable(args.out, "--out")
        if args.plot:
            _files.check_writable(args.plot, "--plot")
    if getattr(args, "model", None) is not None:
        _files.check_readable(args.model, "model", what="model file")
    cache = getattr(args, "cache_dir", None)
    if cache is not None and os.path.exists(cache) and not os.path.isdir(cache):
        raise CLIError(f"--cache-dir {cache!r} is not a directory")


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------
def _mpi_comm():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"--distributed needs mpi4py ({exc}): pip install 'nnc[mpi]' "
                          "and run under mpiexec") from None
    return MPI.COMM_WORLD


def _default_lr(optimizer, loss):
    """The tutorials' rate for plain SGD with this cost (nnc.losses.TUTORIAL_LR);
    other optimizers keep their own default (fit chooses)."""
    from nnc.losses import TUTORIAL_LR
    return TUTORIAL_LR[loss] if optimizer == "sgd" else None


def _optimizer_and_callbacks(args, lr, l2):
    """``nnc train``'s optimizer flags as an nnc.optimizers object, and its callbacks."""
    from nnc import callbacks as _callbacks
    from nnc import optimizers as _optimizers
    hyper = {"lr": lr, "l2": l2, "schedule": args.schedule}
    if args.momentum is not None:
        if args.optimizer not in ("sgd", "momentum", "nesterov"):
            raise CLIError(f"--momentum applies to sgd, momentum and nesterov, not "
                           f"{args.optimizer}")
        hyper["momentum"] = args.momentum
    callbacks = []
    if args.early_stopping:
        callbacks.append(_callbacks.EarlyStopping(patience=args.patience,
                                                  min_delta=args.min_delta))
    return _optimizers.get(args.optimizer, **hyper), callbacks


def _dataset_label(text):
    from nnc.downloads import ALIASES, NAMES
    key = ALIASES.get(text.strip().lower(), text.strip().lower())
    return key if key in NAMES and not os.path.exists(text) else os.path.abspath(text)


def _training_data(args, comm, rank, talk):
    """The dataset's training rows (the first --train-size) and its test set."""
    from nnc.datasets import load_dataset

    # Rank 0 downloads first so that ranks never race on the cache.
    if rank == 0:
        (X, y), (Xt, yt) = load_dataset(args.dataset, args.cache_dir, progress=talk)
    if comm is not None:
        comm.Barrier()
    if rank != 0:
        (X, y), (Xt, yt) = load_dataset(args.dataset, args.cache_dir)

    n_total = X.shape[0]
    if args.train_size is None:
        n_train = 50000 if n_total == 60000 else n_total
    else:
        n_train = n_total if args.train_size == "all" else args.train_size
        if n_train > n_total:
            raise CLIError(f"--train-size {n_train} exceeds the {n_total:,} training images "
                           f"of {args.dataset}")
    return (X[:n_train], y[:n_train]), (Xt, yt), n_train


def _new_network(args, X, y, yt, comm):
    """The network of --sizes/--hidden and the network options."""
    import nnc

    n_in = X.shape[1]
    n_out = int(y.shape[1]) if y.ndim == 2 else int(max(y.max(), yt.max())) + 1
    if args.sizes is not None:
        sizes = args.sizes
        if sizes[0] != n_in:
            raise CLIError(f"--sizes starts with {sizes[0]} inputs but {args.dataset} has "
                           f"{n_in} features per sample")
        if sizes[-1] != n_out:
            raise CLIError(f"--sizes ends with {sizes[-1]} outputs but {args.dataset} has "
                           f"{n_out} classes")
    else:
        sizes = [n_in] + (args.hidden if args.hidden is not None else [30]) + [n_out]

    activation = args.activation.split(",") if "," in args.activation else args.activation
    seed = args.seed
    if comm is not None and seed is None:
        # every rank must start from the same weights
        seed = comm.bcast(int(np.random.SeedSequence().entropy % (2**31)), root=0)  # type: ignore[operator]
    return nnc.Network(sizes, activation=activation, output_activation=args.output_activation,
                       loss=args.loss, dtype=args.dtype, seed=seed, init=args.init,
                       dropout=args.dropout)


def cmd_train(args: argparse.Namespace) -> int:
    """``nnc train``: see ``nnc train --help``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line: the options of ``nnc train``.

    Returns
    -------
    int
        The exit status, 0.  Errors are raised (``CLIError``, ``ValueError``,
        ``OSError``) and turned into a message and status by :func:`main`.
    """
    comm, rank, size = None, 0, 1
    if args.distributed:
        comm = _mpi_comm()
        rank, size = comm.Get_rank(), comm.Get_size()
    talk = rank == 0 and not args.quiet
    say = print if talk else (lambda *a, **k: None)
    dataset = _dataset_label(args.dataset)
    (X, y), (Xt, yt), n_train = _training_data(args, comm, rank, talk)
    net = _new_network(args, X, y, yt, comm)
    sizes = net.sizes

    lr = args.lr if args.lr is not None else _default_lr(args.optimizer, net.loss)
    l2 = args.l2 if args.lmbda is None else args.lmbda / n_train
    optimizer, callbacks = _optimizer_and_callbacks(args, lr, l2)

    # Data-parallel: each rank trains (and scores) on its contiguous block,
    # split as nnc.distributed.shard splits.
    Xv, yv = Xt, yt
    if comm is not None:
        from nnc.distributed import shard
        X, y = shard(X, y, rank=rank, size=size)
        Xv, yv = shard(Xt, yt, rank=rank, size=size)
    validation_data = None if args.validation_split > 0 else (Xv, yv)

    arch = "-".join(str(s) for s in sizes)
    say(f"Training {arch} ({', '.join(net.activations)}; {net.loss}; {net.dtype.name}) on "
        f"{n_train:,} {args.dataset} images for {args.epochs} epochs: batch {args.batch_size}, "
        f"{args.optimizer}" + (f", lr {lr:g}" if lr is not None else "")
        + (f", l2 {l2:.3g}" if l2 else "") + (f", {size} MPI ranks" if size > 1 else ""))
    if validation_data is not None:
        say(f"val_* below is the {Xt.shape[0]:,}-image test set.")
    else:
        say(f"val_* below is the last {args.validation_split:.0%} of the training images.")

    fit_kwargs = dict(epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer,
                      validation_data=validation_data, verbose=1 if talk else 0,
                      validation_split=args.validation_split, callbacks=callbacks,
                      threads=args.threads)
    if comm is not None:
        fit_kwargs["comm"] = comm
    started = time.perf_counter()
    history = net.fit(X, y, **fit_kwargs)
    seconds = time.perf_counter() - started
    if rank != 0:
        return 0
    _save_and_report(args, net, history, seconds, dataset, n_train, (Xt, yt),
                     validation_data is not None, say)
    return 0


def _save_and_report(args, net, history, seconds, dataset, n_train, test, validated, say):
    """Score the test set, save the model with its metadata, print the summary."""
    from nnc.downloads import REGISTRY

    Xt, yt = test
    score = net.evaluate(Xt, yt, threads=args.threads)
    epochs_run = len(history["loss"])
    correct = int(round(score["accuracy"] * Xt.shape[0]))
    metadata = {"dataset": dataset, "train_size": int(n_train),
                "test_accuracy": score["accuracy"], "test_loss": score["loss"],
                "training_seconds": seconds,
                "command": " ".join(["nnc"] + [shlex.quote(a) for a in args.argv])}
    if dataset in REGISTRY:
        metadata["classes"] = list(REGISTRY[dataset].classes)
    metadata.update(dict(args.metadata))
    net.save(args.out, metadata=metadata)

    if history["val_accuracy"] and validated:
        best = int(np.argmax(history["val_accuracy"]))
        say(f"Best test accuracy {history['val_accuracy'][best]:.2%} after epoch {best + 1}.")
    print(f"Test accuracy: {score['accuracy']:.2%} ({correct:,} / {Xt.shape[0]:,}), "
          f"test loss {score['loss']:.4f}; {epochs_run} epochs in {seconds:.1f} s; "
          f"saved {args.out}")
    if args.plot:
        _plot(net.history, args.plot)


def _plot(history, path):
    try:
        from nnc.plot import learning_curves
    except ImportError as exc:
        print(f"nnc train: cannot plot ({exc}); install matplotlib with "
              "pip install 'nnc[plot]'. The model was saved.", file=sys.stderr)
        return
    learning_curves(history, path)
    print(f"Learning curves saved to {path}")


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------
def _load_model(path):
    import nnc
    if not os.path.exists(path):
        raise CLIError(f"no model file at {path!r}")
    return nnc.load(path)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``nnc evaluate``: print a model's loss and accuracy on a dataset split.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line: the model file, the dataset and its split, threads.

    Returns
    -------
    int
        The exit status, 0.  Errors are raised (``CLIError``, ``ValueError``,
        ``OSError``) and turned into a message and status by :func:`main`.
    """
    from nnc.datasets import load_dataset
    net = _load_model(args.model)
    metadata = getattr(net, "metadata", None) or {}
    dataset = args.dataset or metadata.get("dataset") or "mnist"
    train, test = load_dataset(dataset, args.cache_dir)
    X, y = test if args.split == "test" else train
    if X.shape[1] != net.sizes[0]:
        raise CLIError(f"{args.model} expects {net.sizes[0]} inputs but {dataset} has "
                       f"{X.shape[1]} features per sample")
    if y.ndim == 1 and net.sizes[-1] > 1 and y.max() >= net.sizes[-1]:
        raise CLIError(f"{dataset} has labels up to {int(y.max())} but {args.model} has only "
                       f"{net.sizes[-1]} outputs")
    where = f"{args.model} on the {dataset} {args.split} set ({X.shape[0]:,} samples)"
    if not hasattr(net, "evaluate"):
        # A perceptron has no loss: report the fraction with every output right.
        if y.ndim == 1 and net.sizes[-1] > 1:
            y = np.eye(net.sizes[-1], dtype=np.float64)[y]
        accuracy = net.score(X, y)
        print(f"{where}: accuracy {accuracy:.2%} (every output right)")
        return 0
    score = net.evaluate(X, y, threads=args.threads)
    correct = int(round(score["accuracy"] * X.shape[0]))
    print(f"{where}: loss {score['loss']:.4f}, accuracy {score['accuracy']:.2%} "
          f"({correct:,} / {X.shape[0]:,})")
    return 0


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    """``nnc predict``: classify image files with a saved model.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line: the model file, the image files, ``--plain`` and ``--json``.

    Returns
    -------
    int
        The exit status, 0.  Errors are raised (``CLIError``, ``ValueError``,
        ``OSError``) and turned into a message and status by :func:`main`.
    """
    from nnc.images import prepare_images
    net = _load_model(args.model)
    if net.sizes[0] != 784:
        raise CLIError(f"{args.model} has {net.sizes[0]} inputs; predict needs a model of "
                       "28x28 = 784 inputs")
    X = prepare_images(args.images, plain=args.plain)
    outputs = np.asarray(net.forward(X), dtype=np.float64)
    names = (getattr(net, "metadata", None) or {}).get("classes")
    softmax = net.activations[-1] == "softmax"
    for path, a in zip(args.images, outputs, strict=True):
        if a.size == 1:
            p = np.array([1.0 - a[0], a[0]])
        elif softmax:
            p = a
        else:  # sigmoid (or other) outputs: normalised so they sum to one
            a = np.clip(a, 0.0, None)
            p = a / a.sum() if a.sum() > 0 else np.full(a.size, 1.0 / a.size)
        label = int(np.argmax(p))
        label_name = names[label] if isinstance(names, list) and len(names) == p.size else None
        if args.json:
            print(json.dumps({"image": path, "label": label, "class": label_name,
                              "probabilities": [round(float(v), 6) for v in p]}))
            continue
        shown = f"{label} ({label_name})" if label_name else str(label)
        print(f"{path}: {shown}  p={p[label]:.3f}")
        order = range(p.size) if p.size <= 10 else np.argsort(p)[::-1][:5]
        print("  " + "  ".join(f"{k}:{p[k]:.3f}" for k in order))
    return 0


# ---------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------
def _history_summary(history):
    losses = history.get("loss") or []
    errors = history.get("errors") or []  # a perceptron's misclassifications per epoch
    if losses:
        parts = [f"{len(losses)} epochs", f"final loss {losses[-1]:.4f}"]
    elif errors:
        parts = [f"{len(errors)} epochs", f"{errors[-1]} errors in the last"]
    else:
        return "not trained"
    acc = history.get("accuracy") or []
    if acc:
        parts.append(f"accuracy {acc[-1]:.2%}")
    val = history.get("val_accuracy") or []
    if val:
        best = int(np.argmax(val))
        parts.append(f"val_accuracy {val[-1]:.2%} (best {val[best]:.2%} at epoch {best + 1})")
    seconds = history.get("seconds") or []
    if seconds:
        parts.append(f"{sum(seconds):.1f} s of training")
    return ", ".join(parts)


def cmd_info(args: argparse.Namespace) -> int:
    """``nnc info``: describe a model file from its configuration alone.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line: the model file and ``--json``.

    Returns
    -------
    int
        The exit status, 0.  Errors are raised (``CLIError``, ``ValueError``,
        ``OSError``) and turned into a message and status by :func:`main`.
    """
    from nnc.io import read_config
    config = read_config(args.model)
    if args.json:
        print(json.dumps(config, indent=2, sort_keys=True))
        return 0
    net = config.get("network") or {}
    sizes = net.get("sizes") or []
    dropout = [r for r in (net.get("dropout") or []) if r]
    rows = [
        ("file", f"{args.model} ({config.get('kind', 'network')}, format "
                 f"{config.get('format_version')})"),
        ("saved by", f"nnc {config.get('nnc_version', '?')}"),
        ("sizes", "-".join(str(s) for s in sizes)
         + (f" ({config['n_params']:,} parameters)" if "n_params" in config else "")),
        ("activations", ", ".join(net.get("activation") or [])),
        ("loss", net.get("loss")),
        ("dtype", net.get("dtype", "?")),
        ("init", f"{net['init']}, seed {net.get('seed')}" if "init" in net else None),
        ("dropout", (", ".join(f"{r:g}" for r in net["dropout"][:-1]) if dropout else "none")
         if "dropout" in net else None),
        ("history", _history_summary(config.get("history") or {})),
    ]
    rows = [(key, value) for key, value in rows if value is not None]  # a perceptron has less
    metadata = config.get("metadata") or {}
    for key, value in metadata.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > 100:
            text = text[:97] + "..."
        rows.append((f"metadata.{key}", text))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 2}}{value}")
    return 0


# ---------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------
def cmd_download(args: argparse.Namespace) -> int:
    """``nnc download``: fetch datasets into the cache.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line: the dataset names, the cache folder, ``--base-url`` and ``--force``.

    Returns
    -------
    int
        The exit status, 0.  Errors are raised (``CLIError``, ``ValueError``,
        ``OSError``) and turned into a message and status by :func:`main`.
    """
    from nnc import downloads
    for name in args.names:
        directory = downloads.download(name, args.cache_dir, base_url=args.base_url,
                                       force=args.force, progress=True)
        print(f"{downloads.REGISTRY[downloads.canonical_name(name)].title}: {directory}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
