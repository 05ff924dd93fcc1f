"""QApplication set-up, command-line arguments and ``main()``."""

from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow

APP_NAME = "DETR Studio"
ORG_NAME = "DETR Studio"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Return the parsed command line of ``python main.py``."""
    parser = argparse.ArgumentParser(prog="detr-studio", description=APP_NAME)
    parser.add_argument("path", nargs="?", help="image folder or project file to open")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the application; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    window = MainWindow()
    if args.path:
        window.open_path(args.path)
    window.show()
    return app.exec()
