"""How many threads the engine uses, and BLAS held to one thread meanwhile."""
import os
import threading
from typing import Any

from nnc import _validation as V

__all__ = ["AUTO_THREADS_WORK", "choose_threads", "blas_threads"]

#: with threads=None, steps with fewer multiply-adds than this (batch rows x
#: parameters) run on one thread: splitting them costs more than it saves,
#: and far more when other programs hold the cores.
AUTO_THREADS_WORK = 8_000_000


def choose_threads(threads, work=None):
    """The thread count to use: ``threads``, or by default every core
    available to the process when a step's ``work`` is large enough."""
    if threads is None:
        if work is not None and work < AUTO_THREADS_WORK:
            return 1
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            return os.cpu_count() or 1
    # An absurd count would make OpenMP abort while creating threads.
    return V.check_int("threads", threads, 1, max(256, 4 * (os.cpu_count() or 1)))


class blas_threads:
    """Hold BLAS to one thread while the engine runs.

    The engine splits its products across its own threads, each calling
    one-thread BLAS: a single pool of threads, instead of OpenMP's and
    BLAS's pools taking turns (and spin-waiting against each other) on the
    same cores.  The limit is process-wide, so it is reference-counted: with
    several fits running in threads at once, the first to start sets it and
    the last to finish restores it.
    """

    _controller: Any = None  # threadpoolctl's view of the loaded BLAS libraries, found once
    _lock = threading.Lock()
    _users = 0
    _limiter: Any = None

    def __enter__(self):
        cls = blas_threads
        with cls._lock:
            cls._users += 1
            if cls._users == 1:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:  # pragma: no cover - a declared dependency
                    return self
                if cls._controller is None:
                    cls._controller = ThreadpoolController()
                cls._limiter = cls._controller.limit(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        cls = blas_threads
        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and cls._limiter is not None:
                cls._limiter.restore_original_limits()
                cls._limiter = None
        return False
