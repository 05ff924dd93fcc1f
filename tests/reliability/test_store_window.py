"""Project store faults as a user meets them in the window: a read-only folder, a folder that
turns read-only, Ctrl+S and closing with nowhere to write, and two windows on one project."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.annotations import document, store, store_writer
from app.annotations.commands import AddCategory
from app.annotations.document import ProjectDocument
from app.main_window import MainWindow
from tests.app.conftest import open_and_wait

Button = QMessageBox.StandardButton


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Record the modal message boxes; `answer` is what the warning box returns."""
    seen: dict = {"warning": [], "information": [], "answer": Button.Cancel}

    def warning(parent, title, text, *args, **kwargs):
        seen["warning"].append(f"{title}: {text}")
        return seen["answer"]

    def information(parent, title, text, *args, **kwargs):
        seen["information"].append(f"{title}: {text}")
        return Button.Ok

    monkeypatch.setattr("app.main_window.QMessageBox.warning", warning)
    monkeypatch.setattr("app.main_window.QMessageBox.information", information)
    return seen


def _read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Treat `folder` as a read-only mount (root ignores chmod, so the check is replaced)."""
    inside = str(folder.resolve())
    real_folder, real_db = store.can_write, store.can_write_database
    monkeypatch.setattr(
        store, "can_write", lambda f: inside not in str(Path(f).resolve()) and real_folder(f)
    )
    monkeypatch.setattr(
        store,
        "can_write_database",
        lambda db: inside not in str(Path(db).resolve()) and real_db(db),
    )


def _commits_fail(monkeypatch: pytest.MonkeyPatch, where: Path, message: str) -> None:
    real = store_writer.StoreWriter._transaction

    def transaction(self, conn, change):
        if str(where) in str(self.path):
            raise sqlite3.OperationalError(message)
        return real(self, conn, change)

    monkeypatch.setattr(store_writer, "RETRY_S", (0.02,))
    monkeypatch.setattr(store_writer.StoreWriter, "_transaction", transaction)


def _user_folder_full(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_create = document.ProjectStore.create

    def create(path, *args, **kwargs):
        if str(tmp_path / "userdata") in str(path):
            raise OSError(28, "No space left on device")
        return real_create(path, *args, **kwargs)

    monkeypatch.setattr(document.ProjectStore, "create", create)


def _categories(path: Path) -> list[str]:
    return [c.name for c in store.load_project(path).categories]


def test_a_read_only_folder_says_where_the_work_goes_and_close_asks_nothing(
    qtbot, window, image_folder, tmp_path, monkeypatch, dialogs
):
    existing = ProjectDocument.open_folder(image_folder)
    existing.close()
    _read_only(monkeypatch, image_folder)
    open_and_wait(qtbot, window, image_folder)
    target = window.session.project_file
    assert (tmp_path / "userdata") in target.parents
    assert str(target) in window._report_box.text()  # a box, not a status line that fades
    window.session.add_category("cat")
    window.close()
    assert dialogs["warning"] == [] and dialogs["information"] == []
    assert _categories(target) == ["cat"]  # on disk, where the message said


def test_a_folder_that_turns_read_only_moves_the_project_and_tells_where(
    qtbot, window, image_folder, tmp_path, monkeypatch, dialogs
):
    open_and_wait(qtbot, window, image_folder)
    _commits_fail(monkeypatch, image_folder, "attempt to write a readonly database")
    with qtbot.waitSignal(window.session.project_moved, timeout=5000) as moved:
        window.session.add_category("cat")
    target = window.session.project_file
    assert (tmp_path / "userdata") in target.parents and str(target) in moved.args[0]
    assert str(target) in window.save_problem_box.text()
    window.close()
    assert dialogs["warning"] == []
    assert _categories(target) == ["cat"]


def test_a_failing_ctrl_s_shows_a_dialog_and_save_as_rescues_the_work(
    qtbot, window, image_folder, tmp_path, monkeypatch, dialogs
):
    open_and_wait(qtbot, window, image_folder)
    _commits_fail(monkeypatch, image_folder, "database or disk is full")
    _user_folder_full(monkeypatch, tmp_path)
    window.session.add_category("cat")
    with qtbot.waitSignal(window.session.save_failed, timeout=5000):
        qtbot.keyClick(window.canvas.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    box = window.save_problem_box
    assert box.isVisible() and "disk is full" in box.text() and "Save As" in box.text()
    assert window.windowTitle().startswith("photos *")  # not on disk, and the title says so
    rescue = tmp_path / "usb" / "photos.sqlite"
    monkeypatch.setattr(
        "app.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(rescue), "")
    )
    assert window.save_as_dialog()
    qtbot.waitUntil(lambda: not window.session.is_dirty(), timeout=5000)
    assert _categories(rescue) == ["cat"]
    assert window.settings.recent_projects()[0] == str(rescue.resolve())


@pytest.mark.parametrize(
    "answer", [Button.Save, Button.Discard, Button.Cancel], ids=["save", "discard", "cancel"]
)
def test_closing_with_nowhere_to_write_asks_and_never_loses_work_silently(
    qtbot, window, image_folder, tmp_path, monkeypatch, dialogs, answer
):
    open_and_wait(qtbot, window, image_folder)
    rescue = tmp_path / "usb" / "photos.sqlite"
    monkeypatch.setattr(
        "app.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(rescue), "")
    )
    dialogs["answer"] = answer
    with pytest.MonkeyPatch.context() as disk_full:
        _commits_fail(disk_full, image_folder, "database or disk is full")
        _user_folder_full(disk_full, tmp_path)
        window.session.add_category("cat")
        closed = window.close()
    assert len(dialogs["warning"]) == 1
    assert "disk is full" in dialogs["warning"][0] and "Save As" in dialogs["warning"][0]
    if answer == Button.Save:
        assert closed and _categories(rescue) == ["cat"]
    elif answer == Button.Discard:
        assert closed and window.session.project is None  # the user chose to lose it
    else:
        assert not closed and window.session.project is not None  # nothing was closed
        assert window.close()  # the disk has room again: the retried write goes through
        assert _categories(store.default_project_file(image_folder)) == ["cat"]


def test_a_second_window_on_the_same_project_is_told_it_is_open_elsewhere(
    qtbot, window, image_folder, settings, dialogs
):
    open_and_wait(qtbot, window, image_folder)
    second = MainWindow(settings)
    qtbot.addWidget(second)
    assert not second.open_path(image_folder)
    assert second.session.project is None
    (text,) = dialogs["warning"]
    assert "photos: this project is open in another DETR Studio window" in text
    assert f"process {os.getpid()}" in text
    window.session.add_category("still works")
    assert window.session.autosave_now() is not None
    assert _categories(window.session.project_file) == ["still works"]
    second.close()
    second.loader.shutdown()


def test_two_windows_adding_classes_keep_both_because_the_second_waits(
    qtbot, window, image_folder, dialogs
):
    # The case: two processes each added a class and saved; the last save won.
    first = ProjectDocument.open_folder(image_folder)
    cmd = AddCategory("first")
    cmd.redo(first.project)
    first.record(cmd.changed)
    try:
        assert not window.open_path(image_folder)
        assert "open in another DETR Studio window" in dialogs["warning"][0]
    finally:
        assert first.close().saved
    open_and_wait(qtbot, window, image_folder)
    window.session.add_category("second")
    assert window.session.close_project().saved
    assert _categories(store.default_project_file(image_folder)) == ["first", "second"]
