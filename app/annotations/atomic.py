"""Atomic file writes: a crash or a full disk leaves either the old file or the new one."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, fsync, os.replace).

    On any failure the temp file is removed, the old file (if any) is untouched, and OSError
    naming the file is raised.
    """
    path = Path(path)
    folder = path.parent
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=os.fspath(folder)
        )
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # some file systems refuse chmod; not fatal
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise OSError(exc.errno, f"{path}: could not save ({exc.strerror or exc})") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    fsync_folder(folder)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically; see atomic_write_bytes."""
    atomic_write_bytes(path, text.encode(encoding))


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make a rename in `folder` durable where the OS allows it (POSIX); ignore otherwise."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temp_files(path: str | os.PathLike, *, older_than_s: float = 3600.0) -> list[Path]:
    """Return temp files left beside `path` by interrupted writes, older than `older_than_s`."""
    path = Path(path)
    now = time.time()
    found = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    prefix = _temp_prefix(path)
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX):
            try:
                if now - entry.stat().st_mtime >= older_than_s:
                    found.append(Path(entry.path))
            except OSError:
                continue
    return found


def remove_stale_temp_files(path: str | os.PathLike, *, older_than_s: float = 3600.0) -> int:
    """Delete temp files left by interrupted writes of `path`; return how many went."""
    removed = 0
    for tmp in stale_temp_files(path, older_than_s=older_than_s):
        try:
            tmp.unlink()
            removed += 1
        except OSError as exc:
            log.warning("%s: could not remove leftover temp file (%s)", tmp, exc)
    return removed
