"""The main window: composes the canvas, panels, menus, toolbar and status bar."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow

from app import application_title


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(application_title())
        self.resize(1280, 800)
        self.setCentralWidget(QLabel("Drop an image folder here"))
        self.statusBar().showMessage("Ready")

    def open_path(self, path: str) -> None:
        self.statusBar().showMessage(f"Opening {path} is not implemented yet")
