"""Coverage-guided fuzzing of nnc's file parsers with atheris (libFuzzer).

Targets: ``load`` (nnc.load), ``read_config`` (nnc.io.read_config),
``parse_idx`` (nnc.datasets.parse_idx) and ``load_idx``
(nnc.datasets.load_idx), seeded with real model files (networks of both
dtypes, a perceptron, a compressed archive) and real IDX files (slices of the
bundled MNIST, every IDX type, gzip or not).

The contract checked on every input: the call returns, or raises one of the
documented exceptions (ValueError or OSError; TypeError never, since the
input type is right) with a non-empty message, within ``--input-timeout``
seconds and without growing past ``--rss-limit-mb`` of memory.  Anything
else (another exception, an empty message, a hang, a huge allocation) stops
the fuzzer and writes the input to ``crash-*``/``timeout-*``/``oom-*``.

Short run (what tests/test_fuzz.py does)::

    python tests/fuzz_parsers.py all --seconds 10

Longer run, keeping the corpus between runs::

    python tests/fuzz_parsers.py load --seconds 3600 --corpus fuzz-corpus/load

Needs ``pip install atheris`` (in the ``test`` extra).  Prints one summary
line per target: ``TARGET: N runs in S s, coverage C, corpus K, OK``.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

TARGETS = ("load", "read_config", "parse_idx", "load_idx")


# ---------------------------------------------------------------------------
# seeds: real files
# ---------------------------------------------------------------------------
def _model_seeds(directory):
    import numpy as np

    import nnc
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    nets = {
        "net64.npz": nnc.Network([4, 3, 3], dtype="float64", seed=0),
        "net32.npz": nnc.Network([4, 5, 3], activation=["relu", "softmax"],
                                 loss="categorical_crossentropy", dropout=[0.2], seed=1),
        "perceptron.npz": nnc.Perceptron(4, 3),
    }
    nets["net64.npz"].fit(X, y, epochs=2, batch_size=5, lr=0.1, verbose=0)
    for name, net in nets.items():
        net.save(os.path.join(directory, name), metadata={"seed": name})
    with np.load(os.path.join(directory, "net64.npz")) as z:
        np.savez_compressed(os.path.join(directory, "compressed.npz"),
                            params=z["params"], config=z["config"])


def _idx_seeds(directory, compress):
    import gzip

    import numpy as np

    from nnc import datasets
    images = datasets.load_idx(os.path.join(datasets.MNIST_DIR, "t10k-images-idx3-ubyte.gz"))
    labels = datasets.load_idx(os.path.join(datasets.MNIST_DIR, "t10k-labels-idx1-ubyte.gz"))
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    arrays = {"images": images[:2], "labels": labels[:16]}
    for dtype in codes:
        arrays[f"type-{dtype.str[1:]}"] = np.arange(6).reshape(2, 3).astype(dtype)
    for name, arr in arrays.items():
        dtype = np.dtype(arr.dtype.str.replace("<", ">"))
        raw = (bytes([0, 0, codes[dtype], arr.ndim])
               + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
               + arr.astype(dtype).tobytes())
        with open(os.path.join(directory, name + ".idx"), "wb") as fh:
            fh.write(raw)
        if compress:
            with open(os.path.join(directory, name + ".idx.gz"), "wb") as fh:
                fh.write(gzip.compress(raw, mtime=0))


def write_seeds(target, directory):
    """Fill ``directory`` with real files for ``target``."""
    os.makedirs(directory, exist_ok=True)
    if target in ("load", "read_config"):
        _model_seeds(directory)
    else:
        _idx_seeds(directory, compress=target == "load_idx")


# ---------------------------------------------------------------------------
# the fuzzed function (runs inside the atheris process)
# ---------------------------------------------------------------------------
def _entry(target, scratch):
    """The one-input function for ``target``: documented errors pass, anything
    else raises (and libFuzzer records the input)."""
    import nnc
    import nnc.io
    from nnc import datasets
    path = os.path.join(scratch, "input")
    fn = {"load": nnc.load, "read_config": nnc.io.read_config,
          "load_idx": datasets.load_idx}.get(target)

    def one_input(data):
        if target == "parse_idx":
            call, arg = datasets.parse_idx, data
        else:
            with open(path, "wb") as fh:
                fh.write(data)
            call, arg = fn, path
        try:
            call(arg)
        except (ValueError, OSError) as exc:
            if not str(exc).strip():
                raise AssertionError(f"{type(exc).__name__} without a message") from exc
    return one_input


def run_target(target, seconds, corpus, scratch, input_timeout, rss_limit_mb, max_len):
    """Fuzz ``target`` in this process (never returns: libFuzzer exits)."""
    import atheris
    with atheris.instrument_imports(include=["nnc", "zipfile", "gzip", "json"]):
        import nnc  # noqa: F401 - instrumented for coverage
        import nnc.datasets  # noqa: F401
        import nnc.io  # noqa: F401
    argv = [sys.argv[0], f"-max_total_time={seconds}", f"-timeout={input_timeout}",
            f"-rss_limit_mb={rss_limit_mb}", f"-max_len={max_len}", "-print_final_stats=1",
            f"-artifact_prefix={os.path.join(os.getcwd(), target + '-')}", corpus]
    atheris.Setup(argv, _entry(target, scratch))
    atheris.Fuzz()


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------
def _summary(target, output, seconds, code):
    runs = re.findall(r"Done (\d+) runs in (\d+) second", output)
    cov = re.findall(r"cov: (\d+) ft: \d+ corp: (\d+)", output)
    status = "OK" if code == 0 and runs else f"FAILED (exit {code})"
    n, s = runs[-1] if runs else ("?", f"{seconds:.0f}")
    c, k = cov[-1] if cov else ("?", "?")
    return f"{target}: {n} runs in {s} s, coverage {c}, corpus {k}, {status}"


def drive(targets, args):
    """Run each target in its own process; returns the number that failed."""
    failed = 0
    for target in targets:
        corpus = (os.path.join(args.corpus, target) if args.corpus and len(targets) > 1
                  else args.corpus or tempfile.mkdtemp(prefix=f"nnc-corpus-{target}-"))
        if not os.path.isdir(corpus) or not os.listdir(corpus):
            write_seeds(target, corpus)
        # Each input is written to a file: a RAM disk keeps that cheap.
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        scratch = tempfile.mkdtemp(prefix="nnc-fuzz-", dir=shm)
        command = [sys.executable, os.path.abspath(__file__), target, "--child",
                   "--scratch", scratch,
                   "--seconds", str(args.seconds), "--corpus", corpus,
                   "--input-timeout", str(args.input_timeout),
                   "--rss-limit-mb", str(args.rss_limit_mb), "--max-len", str(args.max_len)]
        started = time.perf_counter()
        try:
            proc = subprocess.run(command, capture_output=True, text=True,
                                  timeout=args.seconds + 300)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        output = proc.stdout + proc.stderr
        line = _summary(target, output, time.perf_counter() - started, proc.returncode)
        if proc.returncode != 0:
            failed += 1
            print(output[-6000:], file=sys.stderr)
        print(line, flush=True)
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=TARGETS + ("all",))
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target")
    parser.add_argument("--corpus", default=None,
                        help="corpus directory (kept between runs; seeded when empty)")
    parser.add_argument("--input-timeout", type=int, default=10,
                        help="seconds one input may take before it counts as a hang")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--max-len", type=int, default=16384, help="largest input in bytes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_target(args.target, args.seconds, args.corpus, args.scratch, args.input_timeout,
                   args.rss_limit_mb, args.max_len)
    targets = TARGETS if args.target == "all" else (args.target,)
    return 1 if drive(targets, args) else 0


if __name__ == "__main__":
    sys.exit(main())
