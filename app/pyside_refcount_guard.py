"""Guard against a PySide6 build that forgets references to None, True and False.

Measured here with PySide6 6.12.0 (abi3 wheel) on CPython 3.11: every call of a method that
returns nothing (``widget.setWindowTitle``, ``app.processEvents``, ``signal.emit`` …) takes one
reference from ``None`` (or ``True``) without having given one. From Python 3.12 these objects
are immortal and nothing happens; on 3.10/3.11 the count reaches zero after a few thousand
calls and the interpreter aborts ("none_dealloc: deallocating None" or "bool_dealloc").

`protect_singletons()` probes for the leak and, only where it is seen, gives the three
singletons a reference count no session can use up — what CPython 3.12 does for them anyway.
Call it before using Qt (application start, test set-up). Running on Python >= 3.12 avoids the
problem altogether.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_PROBE_CALLS = 64
_EXTRA_REFERENCES = 1 << 60
_applied = False


def singleton_references_leak() -> bool:
    """Return True when calling a void Qt method takes a reference from None."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        probe.setObjectName("probe")
    return sys.getrefcount(None) <= before - _PROBE_CALLS // 2


def protect_singletons() -> bool:
    """Make None, True and False unkillable if this PySide6 leaks them; True if applied."""
    global _applied
    if _applied:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False  # immortal already
    if not singleton_references_leak():
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object (non-debug builds).
        ctypes.c_ssize_t.from_address(id(obj)).value += _EXTRA_REFERENCES
    _applied = True
    log.warning(
        "this PySide6 build drops references to None/True/False on Python %d.%d; "
        "protected them (Python 3.12 or newer avoids this)",
        *sys.version_info[:2],
    )
    return True
