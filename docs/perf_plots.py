"""Figures of docs/performance.rst, drawn from bench/results/latest.json at build time."""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "..", "bench", "results", "latest.json")) as fh:
    RESULTS = json.load(fh)


def _grouped(rows, value, title, ylabel, log=False):
    configs = list(dict.fromkeys(r["config"] for r in rows))
    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, len(dtypes), squeeze=False)[0]
    width = 0.8 / len(impls)
    for ax, dtype in zip(axes, dtypes, strict=True):
        for k, impl in enumerate(impls):
            ys = [next((value(r) for r in rows if r["config"] == c and r["dtype"] == dtype
                        and r["impl"] == impl), np.nan) for c in configs]
            ax.bar(np.arange(len(configs)) + (k - (len(impls) - 1) / 2) * width, ys, width,
                   label=impl)
        ax.set_xticks(np.arange(len(configs)), configs)
        ax.set_title(f"{title}, {dtype}")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(True, axis="y", alpha=0.3)
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def training():
    """Seconds per epoch of each implementation (log scale)."""
    return _grouped(RESULTS["training"], lambda r: r["epoch_seconds"],
                    "training, one epoch of 50,000 images", "seconds (log)", log=True)


def inference():
    """Milliseconds to predict the 10,000 test images."""
    return _grouped(RESULTS["inference"], lambda r: r["median"] * 1e3,
                    "inference, 10,000 images", "milliseconds")
