"""Thread helpers: a small prioritised worker pool and clean QThread shutdown."""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QThread

log = logging.getLogger(__name__)

EXIT_WAIT_S = 120.0  # at exit, how long a thread that missed its stop time may still take
_held: list[tuple[QThread, tuple[object, ...]]] = []


class PriorityPool:
    """A few plain Python threads running callables, highest priority first.

    Plain threads instead of QThreadPool/QRunnable: no Python wrapper of a C++ runnable is
    deleted on a pool thread. Jobs with the same `key` are queued once. Jobs must not touch
    widgets; they report through Qt signals (queued to the GUI thread).
    """

    def __init__(self, threads: int = 2, name: str = "pool") -> None:
        self._heap: list[tuple[int, int, str, Callable[[], None]]] = []
        self._keys: dict[str, tuple[int, int]] = {}  # key -> (priority, order) of its entry
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def submit(self, key: str, job: Callable[[], None], priority: int = 0) -> bool:
        """Queue `job`; a job already queued under `key` only moves up to a higher priority.

        Returns True if the job was queued or moved up.
        """
        with self._cond:
            if self._stopping:
                return False
            old = self._keys.get(key)
            if old is not None and old[0] >= priority:
                return False
            order = next(self._order)
            self._keys[key] = (priority, order)
            heapq.heappush(self._heap, (-priority, order, key, job))
            self._cond.notify()
            return True

    def queued(self) -> int:
        """Return how many jobs wait to start."""
        with self._cond:
            return len(self._keys)

    def clear(self) -> int:
        """Drop the queued (not yet started) jobs; return how many were dropped."""
        with self._cond:
            n = len(self._heap)
            self._heap.clear()
            self._keys.clear()
            return n

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Drop queued jobs, let running ones finish, join the threads; True if all ended."""
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._keys.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout_s)
        return not any(t.is_alive() for t in self._threads)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                _, order, key, job = heapq.heappop(self._heap)
                if self._keys.get(key, (0, -1))[1] != order:
                    continue  # superseded by a higher-priority entry for the same key
                del self._keys[key]
            try:
                job()
            except Exception:  # a job reports its own errors; this guards the thread
                log.exception("worker job %s failed", key)


def hold_until_finished(thread: QThread, *keep: object) -> None:
    """Keep a QThread that did not stop in time, and the objects it runs, alive until it ends.

    Destroying a running QThread aborts the process ("QThread: Destroyed while thread is still
    running"): a window closed while a model batch takes longer than the stop timeout crashed
    on exit. At exit, held threads are waited for (EXIT_WAIT_S in all); one that still runs
    then ends the process without destructors (everything else is done by then).
    """
    if not _held:
        atexit.register(finish_held_threads)
    _held.append((thread, keep))


def finish_held_threads(timeout_s: float = EXIT_WAIT_S) -> bool:
    """Wait for the held threads (see hold_until_finished); True once none runs."""
    deadline = time.monotonic() + timeout_s
    while _held:
        thread, _ = _held[0]
        if not thread.wait(max(0, int((deadline - time.monotonic()) * 1000))):
            log.error("thread %s still runs after %.0f s: ending", thread.objectName(), timeout_s)
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        _held.pop(0)
    return True
