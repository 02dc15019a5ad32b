"""CPU pinning and thread settings, applied before any numerical library loads.

Standard library only: ``run.py`` and ``isolated.py`` call these first thing,
because thread pools (OpenBLAS, OpenMP, XLA, PyTorch) size themselves from the
CPU affinity when they start, and threads inherit the affinity of the thread
that creates them.
"""
import os
import time


def _cpu_busy_fractions(cpus, interval=0.3):
    """Fraction of time each CPU was busy over ``interval`` seconds (/proc/stat)."""
    def snapshot():
        stats = {}
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("cpu") and line[3].isdigit():
                    parts = line.split()
                    values = [int(v) for v in parts[1:]]
                    idle = values[3] + (values[4] if len(values) > 4 else 0)
                    stats[int(parts[0][3:])] = (sum(values), idle)
        return stats
    try:
        first = snapshot()
        time.sleep(interval)
        second = snapshot()
    except (OSError, ValueError, IndexError):
        return {c: 0.0 for c in cpus}
    busy = {}
    for c in cpus:
        if c in first and c in second:
            total = second[c][0] - first[c][0]
            idle = second[c][1] - first[c][1]
            busy[c] = 1.0 - idle / total if total > 0 else 0.0
        else:
            busy[c] = 0.0
    return busy


def usable_cpus():
    """The CPUs this process may run on (sorted), or None off Linux."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return sorted(os.sched_getaffinity(0))


def pin_cpus(n):
    """Restrict this process, and every thread it creates from now on, to the
    ``n`` least busy of its CPUs.

    Returns the pinned CPUs, or None when there is nothing to restrict (``n``
    is at least the number of usable CPUs) or the platform cannot pin.
    """
    cpus = usable_cpus()
    if cpus is None or n >= len(cpus):
        return None
    busy = _cpu_busy_fractions(cpus)
    chosen = sorted(sorted(cpus, key=lambda c: (busy[c], c))[:n])
    os.sched_setaffinity(0, chosen)
    return chosen


def set_cpus(cpus):
    """Run on exactly these CPUs (a child process undoing its parent's pinning)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def set_thread_env(threads):
    """Thread settings that libraries read when they are imported."""
    if threads == 1:
        # What the issue prescribes for JAX.  On jaxlib 0.10 it does not hold XLA
        # to one core by itself (measured: ~1.9 CPU-seconds per second), which is
        # why run.py pins the process as well.
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1").strip()
