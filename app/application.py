"""QApplication set-up, command-line arguments and ``main()``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from app.pyside_refcount_guard import protect_singletons
from app.settings import Settings

APP_NAME = "DETR Studio"
ORG_NAME = "DETR Studio"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Return the parsed command line of ``python main.py``."""
    parser = argparse.ArgumentParser(prog="detr-studio", description=APP_NAME)
    parser.add_argument(
        "path", nargs="?", help="image folder, image file, project file or COCO file to open"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    return parser.parse_args(argv)


def create_application(argv: list[str] | None = None) -> QApplication:
    """Return the QApplication (created once) with our names set for QSettings."""
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationDisplayName(APP_NAME)
    return app


def main(argv: list[str] | None = None) -> int:
    """Start the application; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    protect_singletons()
    app = create_application()
    window = MainWindow(Settings())
    window.show()
    # Ctrl+C in the terminal closes the window like the close button (saving first); the
    # timer gives Python a moment now and then to notice the signal while Qt runs.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    if args.path:
        # Open once the event loop runs, so the window is on screen while a big folder lists.
        QTimer.singleShot(0, lambda: window.open_path(args.path))
    return app.exec()
