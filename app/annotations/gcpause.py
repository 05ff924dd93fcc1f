"""Pausing Python's cyclic garbage collector while large JSON files become objects.

Building 100,000 boxes makes the collector walk the growing heap again and again; pausing it
roughly halves load times. Nested and concurrent pauses are counted; the collector is switched
back on only by the last one out, and only if it was on when the first one came in.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Yield with the cyclic garbage collector paused (reference counting still frees memory)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def freeze_survivors() -> None:
    """Exempt every object alive now from later collections (call after a large load).

    Objects made while the collector was paused all sit in its youngest generation; without
    this, the first collections afterwards walk a million boxes on whatever thread runs them
    (about a second each at 100,000 images). Reference counting still frees them.
    """
    gc.freeze()
