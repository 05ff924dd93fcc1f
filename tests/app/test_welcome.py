"""The first run: welcome page, recent projects, drop zone and the demo project from the window."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from app.annotations import store
from app.annotations.model import ImageStatus
from app.demo_project import GROUND_TRUTH_NAME
from tests.app.conftest import open_and_wait, write_images

DEMO_WAIT_MS = 60_000  # the first run imports the generator (torch) on the thread


def test_welcome_page_shows_while_no_project_is_open_and_hides_when_one_opens(
    qtbot, window, image_folder
):
    assert window.first_run.is_showing()
    assert window.first_run.page.isVisible()
    assert not window.canvas.isVisible()
    open_and_wait(qtbot, window, image_folder)
    assert not window.first_run.is_showing()
    assert window.canvas.isVisible()
    window.session.close_project()
    assert window.first_run.is_showing()
    # The folder just opened is now the first recent project on the page.
    assert [e.path for e in window.first_run.page.entries] == [str(image_folder.resolve())]


def test_the_open_folder_button_asks_for_a_folder_and_opens_it(
    qtbot, window, image_folder, monkeypatch
):
    asked = []

    def choose(parent, title, start):
        asked.append(title)
        return str(image_folder)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(choose))
    with qtbot.waitSignal(window.canvas.image_shown, timeout=5000):
        qtbot.mouseClick(window.first_run.page.open_folder_button, Qt.MouseButton.LeftButton)
    assert asked == ["Open image folder"]
    assert window.session.project.root == image_folder.resolve()
    assert not window.first_run.is_showing()


def test_recent_projects_are_listed_newest_first_and_open_when_clicked(
    qtbot, window, settings, tmp_path
):
    older, newer = tmp_path / "older", tmp_path / "newer"
    write_images(older, 2)
    write_images(newer, 3)
    settings.add_recent_project(older)
    settings.add_recent_project(newer)
    window.first_run.update_page()
    entries = window.first_run.page.entries
    assert [e.path for e in entries] == [str(newer.resolve()), str(older.resolve())]
    assert [e.name_label.text() for e in entries] == ["newer", "older"]
    assert not any(e.missing for e in entries)
    with qtbot.waitSignal(window.canvas.image_shown, timeout=5000):
        qtbot.mouseClick(entries[1], Qt.MouseButton.LeftButton)
    assert window.session.project.root == older.resolve()
    assert len(window.session.project.images) == 2
    assert not window.first_run.is_showing()


def test_a_missing_recent_project_is_greyed_and_clicking_it_gives_a_message(
    qtbot, window, settings, tmp_path
):
    gone, kept = tmp_path / "gone", tmp_path / "kept"
    write_images(gone, 1)
    write_images(kept, 1)
    settings.add_recent_project(kept)
    settings.add_recent_project(gone)
    shutil.rmtree(gone)
    window.first_run.update_page()
    entries = {Path(e.path).name: e for e in window.first_run.page.entries}
    assert entries["gone"].missing and not entries["kept"].missing
    assert "not found" in entries["gone"].where_label.text()

    qtbot.mouseClick(entries["gone"], Qt.MouseButton.LeftButton)
    box = window.first_run.message_box
    assert box is not None
    qtbot.waitUntil(box.isVisible, timeout=5000)
    assert str(gone.resolve()) in box.text()
    assert window.session.project is None
    assert window.first_run.is_showing()
    assert settings.recent_projects(include_missing=True) == [str(kept.resolve())]
    assert [Path(e.path).name for e in window.first_run.page.entries] == ["kept"]
    box.close()


def test_dropping_a_folder_on_the_welcome_page_opens_it(qtbot, window, image_folder):
    page = window.first_run.page
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image_folder))])
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(QPoint(50, 50), *args)
    QApplication.sendEvent(page, enter)
    assert enter.isAccepted()
    assert page.drop_zone.property("dragging") is True
    drop = QDropEvent(QPointF(50, 50), *args)
    with qtbot.waitSignal(window.canvas.image_shown, timeout=5000):
        QApplication.sendEvent(page, drop)
    assert drop.isAccepted()
    assert page.drop_zone.property("dragging") is False
    assert window.session.project.root == image_folder.resolve()


def test_open_demo_project_draws_unlabeled_images_and_opens_them_then_reuses_them(
    qtbot, window, monkeypatch, tmp_path
):
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))
    runner = window.first_run.demo
    runner.count = 4  # the real demo has 60; the path and the steps are the same
    demo = tmp_path / "userdata" / "demo-project"
    with qtbot.waitSignal(runner.result, timeout=DEMO_WAIT_MS) as opened:
        qtbot.mouseClick(window.first_run.page.open_demo_button, Qt.MouseButton.LeftButton)
        assert runner.is_running()
        assert runner.dialog is not None and runner.dialog.isVisible()
    assert opened.args == [str(demo)]
    assert not runner.is_running() and runner.dialog is None
    project = window.session.project
    assert project.root == demo.resolve()
    assert [rec.path for rec in project.images] == [f"00000{i}.jpg" for i in range(1, 5)]
    assert all(rec.status is ImageStatus.UNLABELED and not rec.boxes for rec in project.images)
    assert [c.name for c in project.categories] == ["circle", "square", "triangle"]
    truth = json.loads((demo / GROUND_TRUTH_NAME).read_text())
    assert len(truth["images"]) == 4 and truth["annotations"]
    assert window.settings.recent_projects()[0] == str(demo.resolve())
    qtbot.waitUntil(lambda: window.canvas.shown_path() == "000001.jpg", timeout=5000)
    assert "Auto-Annotate" in window.statusBar().currentMessage()

    # Again from the Help menu: the complete folder is reused at once, nothing is redrawn.
    stamps = {p.name: p.stat().st_mtime_ns for p in demo.glob("*.jpg")}
    window.session.close_project()
    with qtbot.waitSignal(runner.result, timeout=5000):
        window.actions["open_demo"].trigger()
    assert not runner.is_running()
    assert window.session.project.root == demo.resolve()
    assert {p.name: p.stat().st_mtime_ns for p in demo.glob("*.jpg")} == stamps


def test_a_demo_that_cannot_be_written_gives_a_message(qtbot, window, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    runner = window.first_run.demo
    runner.folder = blocker / "demo-project"
    runner.count = 2
    with qtbot.waitSignal(runner.failed, timeout=DEMO_WAIT_MS) as failed:
        window.actions["open_demo"].trigger()
    assert "demo-project" in failed.args[0]
    qtbot.waitUntil(
        lambda: runner.error_box is not None and runner.error_box.isVisible(), timeout=5000
    )
    assert window.session.project is None
    assert window.first_run.is_showing()
    runner.error_box.close()
