"""Atomic file writes: a crash or a full disk leaves either the old file or the new one.

The one writer of user files for the library and the app (project files, COCO exports,
checkpoints, registered models): a temp file in the same folder, flush, fsync, `os.replace`,
then fsync of the folder. No torch, no Qt: `app.annotations` imports it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"
_NEW_FILE_MODE = 0o644


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Yield a binary file whose content replaces `path` atomically when the block ends.

    The file is a temp file beside `path` (`.<name>.<random>.tmp`); on a normal exit it is
    flushed, fsynced, given the old file's permissions (0o644 for a new one) and moved over
    `path`. If the block or the write fails, the temp file is removed and the old file (if
    any) is untouched; an OSError is raised again as OSError naming `path`, others as they
    were.
    """
    path = Path(path)
    folder = path.parent
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=os.fspath(folder)
        )
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # some file systems refuse chmod; not fatal
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        message = f"{path}: could not save ({exc.strerror or exc})"
        raise (OSError(exc.errno, message) if exc.errno else OSError(message)) from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    fsync_folder(folder)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically; see atomic_write."""
    with atomic_write(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically; see atomic_write."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, data: Any, **dump_options: Any) -> None:
    """Write `data` as JSON (UTF-8) to `path` atomically; `dump_options` go to json.dumps."""
    atomic_write_text(path, json.dumps(data, **dump_options))


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
