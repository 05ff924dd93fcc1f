"""The first-run experience: the welcome page while no project is open, and the demo project."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMessageBox, QStackedWidget, QWidget

from app.demo_project import GROUND_TRUTH_NAME
from app.demo_runner import DemoProjectRunner
from app.panels.welcome import WelcomePage
from app.session import Session
from app.settings import Settings

log = logging.getLogger(__name__)

OpenPath = Callable[[str | Path], bool]  # opens a folder, project or image; False on failure
ShowStatus = Callable[[str, int], None]  # a status-bar line for so many milliseconds


class FirstRun(QObject):
    """Puts the welcome page in the centre stack beside the canvas and answers its buttons.

    It shows the page while `session` has no project, the canvas otherwise; the buttons open
    through `open_path` and `open_folder` (the window's, which report failures).
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        central: QStackedWidget,
        canvas: QWidget,
        *,
        open_path: OpenPath,
        open_folder: Callable[[], None],
        show_status: ShowStatus,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.central = central
        self.canvas = canvas
        self.open_path = open_path
        self.show_status = show_status
        self.parent_widget = parent
        self.page = WelcomePage(central)
        central.addWidget(self.page)
        self.demo = DemoProjectRunner(open_path, parent)
        self.message_box: QMessageBox | None = None
        self.page.open_folder_requested.connect(open_folder)
        self.page.open_demo_requested.connect(self.open_demo)
        self.page.open_recent_requested.connect(self.open_recent)
        self.page.paths_dropped.connect(self._open_dropped)
        self.demo.result.connect(self._demo_opened)
        session.project_opened.connect(self.update_page)
        self.update_page()

    def is_showing(self) -> bool:
        """Return True while the welcome page is what the window shows."""
        return self.central.currentWidget() is self.page

    @Slot()
    def update_page(self) -> None:
        """Show the welcome page (with fresh recent projects) when no project is open."""
        if self.session.project is not None:
            self.central.setCurrentWidget(self.canvas)
            return
        recent = self.settings.recent_projects(include_missing=True)
        missing = {p for p in recent if not Path(p).exists()}  # a folder, or a Save As file
        self.page.set_recent(recent, missing)
        self.central.setCurrentWidget(self.page)

    @Slot()
    def open_demo(self) -> None:
        """Open the demo project (Help menu and welcome page)."""
        if not self.demo.open_demo():
            self.show_status("The demo project is being prepared…", 4000)

    @Slot(str)
    def open_recent(self, path: str) -> None:
        """Open a recent project; one that is gone is taken off the list with a message."""
        if Path(path).exists():
            self.open_path(path)
            return
        log.info("recent project %s is gone", path)
        self.settings.remove_recent_project(path)
        self.update_page()
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Project not found",
            f"{path}\n\nThis folder was moved or deleted, so it is off the recent list now. "
            "Open it from its new place with Open Folder.",
            parent=self.parent_widget,
        )
        box.open()  # not exec(): no nested event loop
        self.message_box = box

    def _open_dropped(self, paths: list[str]) -> None:
        for path in paths:
            self.open_path(path)

    def _demo_opened(self, folder: str) -> None:
        project = self.session.project
        count = len(project.images) if project is not None else 0
        # Short enough for the status bar beside its fields.
        self.show_status(
            f"Demo project: {count} unlabeled images. Try Auto-Annotate (Ctrl+R).", 15000
        )
        log.info("demo project %s: true boxes in %s (not imported)", folder, GROUND_TRUTH_NAME)

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Stop the demo thread if one runs; True when nothing is left running."""
        return self.demo.shutdown(timeout_s)
