"""User settings kept between runs (QSettings): window layout and recent projects."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


class Settings:
    """Typed access to the application's QSettings."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else QSettings()

    # ----- window --------------------------------------------------------------------------

    def window_geometry(self) -> QByteArray | None:
        """Return the saved window geometry (None the first time)."""
        value = self.q.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        """Return the saved dock and toolbar layout (None the first time)."""
        value = self.q.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        """Remember the window geometry and layout."""
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    # ----- recent projects -----------------------------------------------------------------

    def recent_projects(self, *, include_missing: bool = False) -> list[str]:
        """Return recently opened folders, newest first, those that still exist unless asked."""
        value = self.q.value("recent/projects", [])
        if isinstance(value, str):
            value = [value]
        recent = [p for p in (value or []) if isinstance(p, str)]
        return recent if include_missing else [p for p in recent if Path(p).exists()]

    def add_recent_project(self, path: str | Path) -> list[str]:
        """Put a folder at the top of the recent list; return the new list."""
        path = str(Path(path).resolve())
        recent = [p for p in self.recent_projects() if p != path]
        recent.insert(0, path)
        recent = recent[:MAX_RECENT]
        self.q.setValue("recent/projects", recent)
        return recent

    def remove_recent_project(self, path: str | Path) -> list[str]:
        """Forget one folder of the recent list (kept as given); return the new list."""
        recent = [p for p in self.recent_projects(include_missing=True) if p != str(path)]
        self.q.setValue("recent/projects", recent)
        return recent

    def last_dir(self) -> str:
        """Return the folder the last file dialog was in."""
        value = self.q.value("dialogs/last_dir", "")
        return value if isinstance(value, str) else ""

    def set_last_dir(self, path: str | Path) -> None:
        """Remember the folder of a file dialog."""
        self.q.setValue("dialogs/last_dir", str(path))

    def sync(self) -> None:
        """Write pending settings to disk."""
        self.q.sync()
