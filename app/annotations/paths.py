"""Relative image paths: the one posix form we store, and refusal of paths leaving the root."""

from __future__ import annotations

import re

_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relative_path(name: object) -> str | None:
    """Return `name` as a clean relative posix path, or None if it could leave the root.

    Backslashes count as separators (files written on Windows); '.' parts are dropped. Refused:
    empty names, absolute paths, drive letters, UNC paths, '..' parts, NUL characters.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        return None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)
