"""Opening, importing, moving and closing a project without Qt: the work always ends up
somewhere, and the messages say where."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from app.annotations import document, legacy_json, store, store_writer
from app.annotations.commands import AddBox, AddCategory
from app.annotations.document import ProjectDocument, SaveError
from app.annotations.model import Box
from app.annotations.project_lock import ProjectLock, ProjectLockedError
from app.annotations.store import load_project
from tests.annotations.test_legacy_json import make_project


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (root / name).write_bytes(b"")
    return root


def _edit(doc: ProjectDocument, cmd) -> None:
    cmd.redo(doc.project)
    doc.record(cmd.changed)


def _read_only_folder(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make `folder` count as unwritable (chmod does not stop root, which CI may be)."""
    inside = str(folder.resolve())
    real_folder, real_db = store.can_write, store.can_write_database
    monkeypatch.setattr(
        store,
        "can_write",
        lambda f: not str(Path(f).resolve()).startswith(inside) and real_folder(f),
    )
    monkeypatch.setattr(
        store,
        "can_write_database",
        lambda db: not str(Path(db).resolve()).startswith(inside) and real_db(db),
    )


def _failing_writes(monkeypatch: pytest.MonkeyPatch, where: Path, message: str) -> None:
    """Make every commit into databases under `where` fail as the disk would."""
    real = store_writer.StoreWriter._transaction

    def transaction(self, conn, change):
        if str(self.path).startswith(str(where)):
            raise sqlite3.OperationalError(message)
        return real(self, conn, change)

    monkeypatch.setattr(store_writer, "RETRY_S", (0.02,))
    monkeypatch.setattr(store_writer.StoreWriter, "_transaction", transaction)


def test_a_new_folder_gets_its_database_at_once(folder: Path) -> None:
    doc = ProjectDocument.open_folder(folder)
    try:
        assert doc.path == folder / ".detr-studio" / "project.sqlite" and doc.path.exists()
        assert [r.path for r in doc.project.images] == ["a.jpg", "b.jpg"]
    finally:
        assert doc.close().saved
    (folder / "c.jpg").write_bytes(b"")
    doc = ProjectDocument.open_folder(folder)
    assert "1 new images found" in doc.messages[0]
    assert doc.close().saved
    assert [r.path for r in load_project(doc.path).images] == ["a.jpg", "b.jpg", "c.jpg"]


def test_a_second_open_of_the_same_project_is_refused_with_who_has_it(folder: Path) -> None:
    first = ProjectDocument.open_folder(folder)
    try:
        with pytest.raises(ProjectLockedError) as err:
            ProjectDocument.open_folder(folder)
        assert "photos: this project is open in another DETR Studio window" in str(err.value)
        assert f"process {os.getpid()}" in str(err.value)
    finally:
        first.close()
    ProjectDocument.open_folder(folder).close()  # released on close


def test_an_earlier_versions_project_is_imported_once_and_kept(folder: Path) -> None:
    old = make_project(folder)
    legacy = legacy_json.save_json(old, folder / ".detr-studio" / "project.json")
    before = legacy.read_bytes()
    doc = ProjectDocument.open_folder(folder)
    try:
        assert [r.path for r in doc.project.images] == [
            "a.jpg",
            "b.jpg",
            "img1.jpg",
            "sub/img2.jpg",
        ]
        assert doc.project.image("img1.jpg").boxes == old.image("img1.jpg").boxes
        assert any("Imported project.json" in m and "backup" in m for m in doc.messages)
        _edit(doc, AddCategory("bird"))
    finally:
        assert doc.close().saved
    assert legacy.read_bytes() == before
    again = ProjectDocument.open_folder(folder)  # from the database now, not the JSON
    assert [c.name for c in again.project.categories] == ["cat", "dog", "bird"]
    assert not any("Imported" in m for m in again.messages)
    again.close()


def test_no_to_an_unsaved_autosave_without_project_file_starts_from_the_images(
    folder: Path,
) -> None:
    legacy_json.save_json(make_project(folder), folder / ".detr-studio" / "autosave.json")
    questions = []
    doc = ProjectDocument.open_folder(folder, ask=lambda q: questions.append(q) or False)
    try:
        assert "No starts from the folder's images" in questions[0]
        assert [r.path for r in doc.project.images] == ["a.jpg", "b.jpg"]
        assert (folder / ".detr-studio" / "autosave.json").exists()
    finally:
        doc.close()


def test_a_read_only_folder_goes_on_in_the_user_folder(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ProjectDocument.open_folder(folder)
    _edit(first, AddCategory("cat"))
    first.close()
    in_folder = folder / ".detr-studio" / "project.sqlite"
    _read_only_folder(monkeypatch, folder)
    doc = ProjectDocument.open_folder(folder)
    try:
        assert (tmp_path / "userdata") in doc.path.parents
        assert any("cannot be written" in m and str(doc.path) in m for m in doc.warnings)
        _edit(doc, AddBox("a.jpg", Box("u1", 1, 2, 3, 4, 1)))
    finally:
        assert doc.close().saved
    assert load_project(in_folder).image("a.jpg").boxes == []  # the folder's copy untouched
    again = ProjectDocument.open_folder(folder)  # the newer, per-user one
    assert again.path == doc.path and [b.uid for b in again.project.image("a.jpg").boxes] == ["u1"]
    again.close()


def test_failing_writes_move_the_project_to_the_user_folder(folder: Path, tmp_path: Path) -> None:
    doc = ProjectDocument.open_folder(folder)
    old = doc.path
    with pytest.MonkeyPatch.context() as read_only:
        _failing_writes(read_only, folder, "attempt to write a readonly database")
        _edit(doc, AddCategory("cat"))
        _edit(doc, AddBox("a.jpg", Box("u1", 1, 2, 3, 4, 1)))
        assert not doc.flush(0.3)
        assert "readonly" in doc.status().error
        message = doc.rescue(doc.status().error)
        assert str(doc.path) in message and (tmp_path / "userdata") in doc.path.parents
        assert doc.flush(5)
        with ProjectLock(old):  # the folder's database is free again
            pass
        assert doc.close().saved
    assert [b.uid for b in load_project(doc.path).image("a.jpg").boxes] == ["u1"]
    # The folder can be written again, and its old copy looks newer:
    future = time.time() + 3600
    os.utime(old, (future, future))
    again = ProjectDocument.open_folder(folder)  # the moved copy is a generation on
    assert again.path == doc.path and [c.name for c in again.project.categories] == ["cat"]
    again.close()


def test_closing_while_writes_fail_moves_the_project_and_says_where(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = ProjectDocument.open_folder(folder)
    _failing_writes(monkeypatch, folder, "database or disk is full")
    _edit(doc, AddCategory("cat"))
    result = doc.close(timeout=0.3)
    assert result.saved and "disk is full" in result.message and str(doc.path) in result.message
    assert [c.name for c in load_project(doc.path).categories] == ["cat"]


def test_when_nothing_can_be_written_close_says_so_and_save_as_still_works(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = ProjectDocument.open_folder(folder)
    _failing_writes(monkeypatch, tmp_path / "photos", "database or disk is full")
    real_create = document.ProjectStore.create

    def no_user_folder(path, *args, **kwargs):
        if (tmp_path / "userdata") in Path(path).parents:
            raise OSError(28, "No space left on device")
        return real_create(path, *args, **kwargs)

    monkeypatch.setattr(document.ProjectStore, "create", no_user_folder)
    _edit(doc, AddCategory("cat"))
    result = doc.close(timeout=0.3)
    assert not result.saved
    assert "No space left" in result.message and "Save As" in result.message
    with pytest.raises(SaveError):
        doc.save(timeout=0.3)
    elsewhere = tmp_path / "usb" / "rescued.sqlite"
    assert doc.save_as(elsewhere) == elsewhere.resolve()
    assert doc.close().saved
    assert [c.name for c in load_project(elsewhere).categories] == ["cat"]


def test_save_folds_the_journal_in(folder: Path) -> None:
    doc = ProjectDocument.open_folder(folder)
    _edit(doc, AddCategory("cat"))
    path, moved = doc.save()
    assert path == doc.path and moved == ""
    wal = Path(f"{doc.path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    doc.close()
