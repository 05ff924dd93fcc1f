"""Fixtures for the window tests: tiny image folders and a main window with private settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QSettings, Qt

from app.main_window import MainWindow
from app.pyside_refcount_guard import protect_singletons
from app.settings import Settings

# PySide6 6.12 on Python 3.11 drops references to None/True/False on every void call; without
# this a long test session aborts ("none_dealloc"). See app/pyside_refcount_guard.py.
protect_singletons()

IMAGE_SIZE = (160, 120)


def write_images(folder: Path, count: int = 4, size: tuple[int, int] = IMAGE_SIZE) -> list[str]:
    """Write `count` small PNG images with different colours; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = f"img{i}.png"
        Image.new("RGB", size, (30 + 50 * i % 200, 90, 160)).save(folder / name)
        names.append(name)
    return names


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    write_images(folder)
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, settings: Settings):
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win, timeout=5000)
    win.activateWindow()  # window shortcuts (A, D, W, Ctrl+Z …) need the active window
    qtbot.waitActive(win, timeout=5000)
    yield win
    win.close()
    assert win.loader.shutdown(timeout_ms=5000)


def open_and_wait(qtbot, win: MainWindow, path: Path) -> None:
    """Open a folder in the window and wait until its first image is on screen."""
    with qtbot.waitSignal(win.canvas.image_shown, timeout=5000):
        assert win.open_path(path)


def wait_shown(qtbot, win: MainWindow, path: str) -> None:
    """Wait until `path`'s pixels are on the canvas."""
    qtbot.waitUntil(lambda: win.canvas.shown_path() == path, timeout=5000)


def viewport_point(win: MainWindow, x: float, y: float) -> QPoint:
    """Return where image pixel (x, y) is on the canvas viewport."""
    return win.canvas.view.map_image_to_viewport(x, y)


def drag(qtbot, win: MainWindow, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag with the left button between two image-pixel positions."""
    viewport = win.canvas.view.viewport()
    a, b = viewport_point(win, *start), viewport_point(win, *end)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    mid = QPoint((a.x() + b.x()) // 2, (a.y() + b.y()) // 2)
    qtbot.mouseMove(viewport, mid)
    qtbot.mouseMove(viewport, b)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)
