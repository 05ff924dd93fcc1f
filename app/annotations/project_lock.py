"""The project lock: one window (or process) writes a project database at a time.

An OS file lock (the `filelock` package: `flock` on POSIX, `msvcrt` on Windows) on
`<database>.lock`, held while the project is open. The operating system drops it when the
process ends, so a crash or kill -9 never leaves a stale lock. The holder writes its process id
and host into a side file so the second window can say who has the project.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import socket
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
OWNER_SUFFIX = ".owner"


class ProjectLockedError(RuntimeError):
    """The project is open in another window or process (the message says which, if known)."""


def lock_path(database: str | os.PathLike) -> Path:
    """Return the lock file of a project database."""
    database = Path(database)
    return database.with_name(database.name + LOCK_SUFFIX)


class ProjectLock:
    """An exclusive, non-blocking lock on one project database."""

    def __init__(self, database: str | os.PathLike, name: str = "") -> None:
        self.database = Path(database)
        self.name = name or self.database.name  # what the user calls the project (its folder)
        self.path = lock_path(self.database)
        self._owner = self.database.with_name(self.database.name + OWNER_SUFFIX)
        # thread_local=False: the window's thread takes it, and closing may run elsewhere.
        self._lock = FileLock(str(self.path), timeout=0, thread_local=False)

    @property
    def held(self) -> bool:
        """Return True while this object holds the lock."""
        return self._lock.is_locked

    def acquire(self) -> None:
        """Take the lock or raise ProjectLockedError naming the holder (OSError if unwritable)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            raise ProjectLockedError(self._locked_message()) from None
        stamp = _dt.datetime.now().isoformat(timespec="seconds")
        try:
            self._owner.write_text(f"{os.getpid()} {socket.gethostname()} {stamp}\n")
        except OSError as exc:  # the lock holds without it; only the message is poorer
            log.warning("%s: could not write the lock owner (%s)", self._owner, exc)

    def release(self) -> None:
        """Let other windows open the project (idempotent)."""
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self._owner.unlink()
            self._lock.release(force=True)

    def _locked_message(self) -> str:
        who = ""
        try:
            pid, host, *_ = self._owner.read_text().split()
            here = host == socket.gethostname()
            who = f" (process {pid}{'' if here else f' on {host}'})"
        except (OSError, ValueError):
            pass
        return (
            f"{self.name}: this project is open in "
            f"another DETR Studio window{who}. Close it there first; two windows writing one "
            f"project would lose each other's edits. (Lock: {self.path})"
        )

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
