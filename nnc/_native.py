"""nnc's compiled extensions, loaded with a short OpenMP spin-wait.

OpenMP threads that finish a parallel region spin for a while before they
sleep.  On a machine whose cores are busy with other programs that spinning
steals the time the other threads of the region need, and the engine's
many short regions collapse; a short spin keeps the wake-up fast on an idle
machine without the collapse on a busy one.

GNU OpenMP (libgomp) reads its spin count from the environment once, when
it is loaded, and has no call to change it later.  So while this module
loads nnc's extensions (which load libgomp) it sets ``GOMP_SPINCOUNT``, and
removes it again at once: ``os.environ`` is left as it was, and programs
that nnc starts do not inherit it.  A user's own ``OMP_WAIT_POLICY`` or
``GOMP_SPINCOUNT`` wins.  The setting reaches libgomp only when nnc is the
first to load it in the process; the spin count then applies to every user
of that libgomp in the process (libgomp has no per-library setting).
"""
import os

#: libgomp's spin count (iterations) while nnc loads it; its own default is 300000
SPIN_COUNT = "10000"


def _load():
    """Import the extensions with ``GOMP_SPINCOUNT`` set for the moment of loading."""
    set_here = "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
    if set_here:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    try:
        from nnc import _engine, _kernels
    finally:
        if set_here:
            os.environ.pop("GOMP_SPINCOUNT", None)
    return _kernels, _engine


kernels, engine = _load()
