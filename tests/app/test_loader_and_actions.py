"""The background image loader, the worker pool, the action table and the settings."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence

from app.actions import ACTIONS, build_actions, shortcut_rows
from app.dialogs.shortcut_help import shortcuts_html
from app.settings import Settings
from app.workers.image_loader import ImageLoader
from app.workers.threads import PriorityPool


@pytest.fixture
def loader():
    loader = ImageLoader(threads=2)
    yield loader
    assert loader.shutdown(timeout_ms=5000)


def test_loader_decodes_off_the_gui_thread_and_caches(qtbot, loader, tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (64, 32), (255, 0, 0)).save(path)
    with qtbot.waitSignal(loader.loaded, timeout=5000) as blocker:
        loader.request(str(path))
    loaded = blocker.args[0]
    assert (loaded.image.width(), loaded.image.height()) == (64, 32)
    assert loaded.image.pixelColor(0, 0).red() == 255
    assert loader.cached(str(path)) is loaded
    with qtbot.waitSignal(loader.loaded, timeout=100) as again:
        loader.request(str(path))  # from the cache: answered at once
    assert again.args[0] is loaded


def test_loader_prefetches_neighbours_into_the_cache(qtbot, loader, tmp_path):
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (16, 16)).save(paths[-1])
    loader.request(paths[0], prefetch=paths[1:])
    qtbot.waitUntil(lambda: all(loader.cached(p) for p in paths), timeout=5000)


def test_loader_reports_a_broken_file_by_name(qtbot, loader, tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with qtbot.waitSignal(loader.failed, timeout=5000) as blocker:
        loader.request(str(path))
    assert blocker.args[0] == str(path)
    assert "broken.jpg" in blocker.args[1]


def test_large_images_get_a_preview_for_zoomed_out_drawing(qtbot, loader, tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (3000, 2000), (0, 128, 0)).save(path, quality=50)
    with qtbot.waitSignal(loader.loaded, timeout=10000) as blocker:
        loader.request(str(path))
    loaded = blocker.args[0]
    assert (loaded.image.width(), loaded.image.height()) == (3000, 2000)
    assert (loaded.preview.width(), loaded.preview.height()) == (1500, 1000)  # 1/2, <= 2048


def test_priority_pool_runs_higher_priority_first_and_stops():
    gate = threading.Event()
    order: list[str] = []
    pool = PriorityPool(threads=1)
    try:
        pool.submit("block", gate.wait, priority=100)
        time.sleep(0.05)  # the single thread is now busy with "block"
        pool.submit("low", lambda: order.append("low"), priority=0)
        pool.submit("high", lambda: order.append("high"), priority=5)
        assert not pool.submit("high", lambda: order.append("dup"), priority=1)
        assert pool.submit("low", lambda: order.append("low-bumped"), priority=10)
        gate.set()
        deadline = time.time() + 5
        while len(order) < 2 and time.time() < deadline:
            time.sleep(0.01)
        assert order == ["low-bumped", "high"]
    finally:
        gate.set()
        assert pool.stop(timeout_s=5)


def test_every_action_shortcut_is_unique(qtbot):
    keys = [
        QKeySequence(s).toString()
        for spec in ACTIONS
        if spec.handler is not None
        for s in spec.shortcuts
    ]
    assert len(keys) == len(set(keys))
    assert {"A", "D", "W", "Space", "Del", "Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+S", "Ctrl+E"} <= set(
        keys
    )


def test_every_action_handler_exists_on_the_window(window):
    actions = build_actions(window, window)
    assert set(actions) == {s.id for s in ACTIONS if s.handler is not None}


def test_shortcut_help_lists_the_table(qtbot):
    rows = shortcut_rows()
    assert ("Image", "Space", "Mark Reviewed") in rows
    html = shortcuts_html()
    for _, keys, text in rows:
        assert keys in html and text in html.replace("&amp;", "&")


def test_recent_projects_keep_newest_first_without_duplicates(tmp_path):
    settings = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    settings.add_recent_project(a)
    settings.add_recent_project(b)
    settings.add_recent_project(a)
    assert settings.recent_projects() == [str(a), str(b)]


def test_window_layout_is_restored(qtbot, window, settings):
    from app.main_window import MainWindow

    window.resize(700, 520)  # inside the 800x600 offscreen screen
    window.close()
    again = MainWindow(settings)
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (700, 520)
    again.close()
    again.loader.shutdown()


def test_many_void_qt_calls_do_not_use_up_none(qapp):
    import sys

    from PySide6.QtCore import QObject

    obj = QObject()
    for _ in range(20_000):  # without protect_singletons this aborts Python 3.11
        obj.setObjectName("x")
    assert sys.getrefcount(None) > 1000
