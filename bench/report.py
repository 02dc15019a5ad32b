"""Tables of the benchmark's results: plain text for the console, Markdown and
JSON for ``bench/results/``."""
import json
import os
import statistics

TRAIN_COLUMNS = [
    # header, key, format
    ("impl", "impl", "{}"),
    ("s/epoch", "epoch_seconds", "{:.3f}"),
    ("CPU s", "epoch_cpu_seconds", "{:.3f}"),
    ("samples/s", "samples_per_s", "{:,.0f}"),
    ("GFLOP/s", "gflops", "{:.1f}"),
    ("% GEMM peak", "frac_gemm_peak", "{:.0%}"),
    ("% GEMM at shapes", "frac_gemm_at_shapes", "{:.0%}"),
    ("x floor", "x_floor", "{:.2f}"),
    ("test acc", "accuracy", "{:.4f}"),
    ("cpu/wall", "cpu_per_wall", "{:.2f}"),
    ("time / nnc", "ratio_to_nnc", "{:.2f}"),
    ("paired", "paired_ratio_to_nnc", "{:.2f}"),
]

INFERENCE_COLUMNS = [
    ("impl", "impl", "{}"),
    ("ms", "median", None),
    ("samples/s", "samples_per_s", "{:,.0f}"),
    ("GFLOP/s", "gflops", "{:.1f}"),
    ("same labels as nnc", "agreement_with_nnc", "{:.2%}"),
    ("time / nnc", "ratio_to_nnc", "{:.2f}"),
]


def _cell(row, key, fmt):
    value = row.get(key)
    if value is None:
        return "-"
    if key == "median":
        return f"{value * 1e3:.1f}"
    text = fmt.format(value)
    if row.get("extrapolated") and key in ("epoch_seconds", "epoch_cpu_seconds", "accuracy"):
        text += "*"
    if key == "accuracy" and row.get("accuracy_ok") is False:
        text += " LOW"
    return text


def _table(rows, columns, markdown):
    headers = [c[0] for c in columns]
    body = [[_cell(r, key, fmt) for _, key, fmt in columns] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
    fmt_row = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return "\n".join([fmt_row(headers)] + [fmt_row(b) for b in body])


def _paired_speedup(base_times, times):
    """Median over the rounds of base time / time within the round (the
    thread counts take turns, so a spell of the host longer than a round
    touches both sides of a ratio); None without complete rounds."""
    if len(base_times) != len(times):
        return None
    pairs = [b / t for b, t in zip(base_times, times, strict=True) if t > 0]
    return float(statistics.median(pairs)) if pairs else None


def _blocks(results):
    """Training rows grouped by (config, dtype), in run order."""
    groups = {}
    for row in results["training"]:
        groups.setdefault((row["config"], row["dtype"]), []).append(row)
    return groups


def _config_line(results, config, dtype):
    cfg = results["configs"][config]
    s = results["training_summary"][f"{config}/{dtype}"]
    arch = "-".join(str(v) for v in cfg["sizes"])
    loss = "quadratic" if cfg["loss"] == "quadratic" else "softmax + cross-entropy"
    return (f"{config} {dtype}: {arch} {cfg['hidden']}, {loss}, {cfg['optimizer'].upper()} "
            f"lr {cfg['lr']:g}, batch {cfg['batch']}. {s['flops_per_epoch'] / 1e9:.1f} dense "
            f"GFLOP per epoch; floor {s['floor_seconds']:.3f} s at the GEMM peak "
            f"{s['gemm_peak_gflops']:.1f} GFLOP/s; GEMM at these shapes "
            f"{s['gemm_at_shapes_gflops']:.1f} GFLOP/s")


def _sections(results, markdown):
    """(title, text) pairs shared by the console and Markdown outputs."""
    h = "### " if markdown else "== "
    out = []
    notes, compiles, overheads = {}, {}, {}
    for (config, dtype), rows in _blocks(results).items():
        text = _config_line(results, config, dtype) + "\n\n" + _table(rows, TRAIN_COLUMNS,
                                                                       markdown)
        out.append((f"{h}Training: {config}, {dtype}", text))
        for r in rows:
            note = r.get("note") or ()
            for text in ([note] if isinstance(note, str) else note):
                notes.setdefault(r["impl"], set()).add(text)
            if r.get("extrapolated"):
                notes.setdefault(r["impl"], set()).add(
                    f"* {config}: timed on {r['n_samples']:,} samples and scaled to 50,000; "
                    "its accuracy is after that subset only")
            if r.get("inner_median") is not None:
                overheads.setdefault(r["impl"], []).append(
                    f"{config}/{dtype} {(r['median'] - r['inner_median']) * 1e3:.0f} ms")
            if r.get("setup_seconds"):
                compiles.setdefault(r["impl"], []).append(
                    f"{config}/{dtype} {r['setup_seconds']:.1f} s")
    for impl, items in overheads.items():
        notes.setdefault(impl, set()).add(
            "time in fit() outside its epoch loop (validating X, building the engine), "
            "included in s/epoch: " + ", ".join(items))
    for impl, items in compiles.items():
        notes.setdefault(impl, set()).add("compile time, not timed: " + ", ".join(items))
    if notes:
        lines = [f"- {impl}: " + "; ".join(sorted(n)) for impl, n in notes.items()]
        out.append((f"{h}Notes on the rows", "\n".join(lines)))

    if results["inference"]:
        groups = {}
        for row in results["inference"]:
            groups.setdefault((row["config"], row["dtype"]), []).append(row)
        parts = []
        for (config, dtype), rows in groups.items():
            parts.append(f"{config} {dtype} (10,000 test images, nnc's trained weights):\n\n"
                         + _table(rows, INFERENCE_COLUMNS, markdown))
        out.append((f"{h}Inference", "\n\n".join(parts)))

    if results.get("scaling"):
        rows = []
        for block in results["scaling"]:
            base, base_best = block["rows"][0]["median"], block["rows"][0].get("best")
            for r in block["rows"]:
                rows.append({"config": block["config"], "dtype": block["dtype"],
                             "samples": block.get("n_samples"),
                             "threads": r["threads"], "seconds": r["median"],
                             "speedup": base / r["median"],
                             "best": (base_best / r["best"] if base_best and r.get("best")
                                      else None),
                             "paired": _paired_speedup(block["rows"][0]["times"], r["times"]),
                             "fork_join": r.get("fork_join_us"), "cpu": r.get("cpu_per_wall"),
                             "identical": r["identical_across_repeats"],
                             "diff": r["max_abs_diff_vs_first"]})
        cols = [("config", "config", "{}"), ("dtype", "dtype", "{}"),
                ("samples", "samples", "{:,}"),
                ("threads", "threads", "{}"), ("s/fit", "seconds", "{:.3f}"),
                (f"speedup vs {rows[0]['threads']} thread", "speedup", "{:.2f}"),
                ("paired", "paired", "{:.2f}"),
                ("best vs best", "best", "{:.2f}"),
                ("fork/join (us)", "fork_join", "{:.2f}"),
                ("cpu/wall", "cpu", "{:.2f}"),
                ("identical across repeats", "identical", "{}"),
                ("max |w - w(first count)|", "diff", "{:.1e}")]
        out.append((f"{h}Thread scaling (nnc)", _table(rows, cols, markdown)))

    if results.get("memory"):
        cols = [("config", "config", "{}"), ("dtype", "dtype", "{}"),
                ("peak RSS added by fit (MB)", "rss_increase_mb", "{:.1f}"),
                ("tracemalloc peak (MB)", "tracemalloc_peak_mb", "{:.1f}"),
                ("data (MB)", "data_mb", "{:.1f}"), ("parameters (MB)", "params_mb", "{:.2f}")]
        out.append((f"{h}Memory (one nnc fit on 50,000 images)",
                    _table(results["memory"], cols, markdown)))

    if results.get("sparse") and results["sparse"]["rows"]:
        import sparse_text
        text = sparse_text.table(results["sparse"]["rows"], results["sparse"]["spec"])
        out.append((f"{h}Sparse bag-of-words workload (bench/sparse_text.py)", text))

    extra = []
    for name, why in results["skipped"].items():
        extra.append(f"- skipped {name}: {why}")
    for err in results["errors"]:
        extra.append(f"- error: {err}")
    if extra:
        out.append((f"{h}Skipped and errors", "\n".join(extra)))
    return out


def _legend():
    return ("s/epoch: median wall time of one epoch over 50,000 samples. GFLOP/s: dense "
            "training FLOP (4 per first-layer weight and 6 per other weight, per sample) "
            "divided by the time, so an engine that skips zero inputs can exceed the GEMM "
            "peak. % GEMM peak: of the best 1024^3 GEMM (NumPy's or scipy's OpenBLAS, same "
            "threads). % GEMM at shapes: of the rate of the training step's own GEMMs "
            "(batch x layer shapes). x floor: time / (dense FLOP / GEMM peak). CPU s: the "
            "process's CPU seconds for the epoch. cpu/wall: CPU seconds per wall second: about "
            "the cores used, and below 1 with one thread when another job shared the core "
            "(then CPU s is the better measure; JSON has cpu_ratio_to_nnc). time / nnc: "
            "this implementation's wall time over nnc's (same dtype); above 1 means nnc is "
            "faster. paired: the median over the rounds of that ratio within a round (each "
            "round times every implementation once, in turns), which a slow spell of a shared "
            "host, longer than a round, affects less than the ratio of the medians.")


def _loads(values):
    return "-" if not values else ", ".join(f"{v:.2f}" for v in values)


def _machine_lines(results):
    m = results["machine"]
    blas = "; ".join(f"{b['prefix']} {b['version']} {b['architecture']} "
                     f"({b['threading_layer']}, {b['filepath']})" for b in m["blas"])
    lines = [
        f"CPU: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, usable {m['usable_cpus']}, "
        f"pinned to {m['pinned_cpus'] or 'none'}",
        f"threads per implementation: {results['threads']}; repeats: {results['repeats']} "
        f"(nnc {results['nnc_repeats']}), round-robin, median; mode: {results['mode']}",
        f"Python {m['python']}, NumPy {m['numpy']}, SciPy {m['scipy']}, nnc {m['nnc']} "
        f"(revision {m['nnc_revision']})",
        f"BLAS: {blas}",
        f"environment: {m['env']}",
        f"load average (1, 5, 15 min) at start {_loads(m.get('load_average_start'))}, "
        f"at end {_loads(m.get('load_average_end'))}",
    ]
    versions = results.get("versions")
    if versions:
        lines.insert(3, "peers: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    gemm = results["gemm"]["peak"]
    lines.append("GEMM 1024^3 (GFLOP/s): " + "; ".join(
        f"{d}: numpy {g['numpy']:.1f}, scipy {g.get('scipy', float('nan')):.1f}"
        for d, g in gemm.items()))
    own = results["gemm"].get("peers_own") or {}
    if any(own.values()):
        lines.append("GEMM 1024^3 in the peers' own libraries, context only (GFLOP/s): " + "; ".join(
            f"{d}: " + ", ".join(f"{k} {v:.1f}" for k, v in rates.items())
            for d, rates in own.items() if rates))
    return lines


def console(results):
    parts = ["\n".join(_machine_lines(results))]
    for title, text in _sections(results, markdown=False):
        parts.append(f"{title}\n{text}")
    parts.append(_legend())
    return "\n\n".join(parts)


def markdown(results):
    parts = ["# nnc benchmark results", "",
             "Generated by `python bench/run.py" + (" --quick" if results["mode"] == "quick"
                                                    else "") + "`.", ""]
    parts += [f"- {line}" for line in _machine_lines(results)]
    parts.append("")
    for title, text in _sections(results, markdown=True):
        parts += [title, "", text, ""]
    parts += ["### Legend", "", _legend(), ""]
    return "\n".join(parts)


def write(results, directory):
    with open(os.path.join(directory, "latest.json"), "w") as fh:
        json.dump(results, fh, indent=1, default=str)
        fh.write("\n")
    with open(os.path.join(directory, "latest.md"), "w") as fh:
        fh.write(markdown(results))
