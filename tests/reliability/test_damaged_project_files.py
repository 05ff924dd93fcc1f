"""Damaged project files (issue 17): impossible numbers and deep nesting in earlier versions'
JSON, damaged or foreign databases, NaN at the edit, and temp files of killed saves. Each is
refused by name with a copy kept, falls back to what is good, and never stops later saves."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from app.annotations import store
from app.annotations.coco_import import CocoImportError, import_coco
from app.annotations.commands import (
    AddBox,
    AddCategory,
    PasteBoxes,
    SetBoxRect,
    SetProposals,
    UndoStack,
)
from app.annotations.document import ProjectDocument
from app.annotations.legacy_json import autosave_path, load_json, recover, save_json
from app.annotations.model import Box, Proposal
from app.annotations.project_store import ProjectStore
from app.annotations.store import ProjectFileError, load_project, save_project
from app.annotations.undo import Changed
from tests.annotations.test_commands import _project, _state
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


@pytest.fixture
def opened(tmp_path: Path):
    project = make_project(tmp_path / "photos")
    project_store = ProjectStore.create(
        tmp_path / "photos" / ".detr-studio" / "project.sqlite", project
    )
    yield project_store, project
    project_store.close()


def _legacy_file(root: Path) -> Path:
    return root / ".detr-studio" / "project.json"


def _set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def _edit(doc: ProjectDocument, cmd) -> None:
    cmd.redo(doc.project)
    doc.record(cmd.changed)


def _reopen_open(project_store: ProjectStore):
    return load_project(project_store.path)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"width":640', '"width":1e999'),  # was OverflowError
        ('"b1",0.1', '"b1",NaN'),  # loaded, then made every save raise
        ('"b1",0.1', '"b1",Infinity'),
        ('"b1",0.1', '"b1",1e999'),
        ('"p1",5', '"p1",-Infinity'),
        ('"next_category_id":3', '"next_category_id":99999999999999999999999'),
        ('"id":1,', '"id":1e999,'),
    ],
)
def test_impossible_numbers_are_refused_as_a_damaged_file(
    tmp_path: Path, old: str, new: str
) -> None:
    path = save_json(make_project(tmp_path / "photos"), _legacy_file(tmp_path / "photos"))
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ProjectFileError, match="project.json: not a valid project file"):
        load_json(path)
    assert list(path.parent.glob("project.json.broken-*"))


def test_deep_nesting_is_refused_as_a_damaged_file(tmp_path: Path) -> None:
    path = _legacy_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(
        '{"format": "detr-studio-project", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    with pytest.raises(ProjectFileError, match="nested too deeply"):
        load_json(path)


def test_a_damaged_project_file_falls_back_to_a_good_autosave(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    path = save_json(project, _legacy_file(project.root))
    save_json(project, autosave_path(path))
    path.write_text(path.read_text().replace('"width":640', '"width":1e999'))
    _set_mtime(autosave_path(path), 1_000_000)
    _set_mtime(path, 1_000_010)
    found = recover(path)
    assert found is not None and found.from_autosave and found.project == project


def test_a_file_that_is_not_a_database_is_named_and_kept(tmp_path: Path) -> None:
    path = save_project(make_project(tmp_path / "photos"))
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ProjectFileError, match=r"project.sqlite: damaged or not a database") as e:
        load_project(path)
    copies = list(path.parent.glob("project.sqlite.broken-*"))
    assert len(copies) == 1 and copies[0].name in str(e.value)


def test_a_truncated_database_is_named_and_kept(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    project.images[1].boxes = [
        type(project.images[0].boxes[0])(f"u{i}", 1, 1, 9, 9, 1) for i in range(3000)
    ]
    path = save_project(project)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ProjectFileError, match=r"project.sqlite: damaged"):
        load_project(path)
    assert list(path.parent.glob("project.sqlite.broken-*"))


def test_newer_and_foreign_databases_are_refused(tmp_path: Path) -> None:
    path = save_project(make_project(tmp_path / "photos"))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ProjectFileError, match="newer DETR Studio"):
        load_project(path)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ProjectFileError, match="another program's SQLite database"):
        load_project(other)


def test_damaged_earlier_files_leave_copies_and_the_images_open(folder: Path) -> None:
    legacy = folder / ".detr-studio" / "project.json"
    legacy.parent.mkdir()
    legacy.write_text('{"format": "detr-studio-project", "images": [')
    doc = ProjectDocument.open_folder(folder)
    try:
        assert [r.path for r in doc.project.images] == ["a.jpg", "b.jpg"]
        assert any("not valid JSON" in m and "starts again" in m for m in doc.warnings)
        assert list(legacy.parent.glob("project.json.broken-*"))
    finally:
        doc.close()


def test_a_damaged_database_is_kept_and_the_readable_part_goes_on(folder: Path) -> None:
    doc = ProjectDocument.open_folder(folder)
    _edit(doc, AddCategory("cat"))
    doc.close()
    doc.path.write_bytes(b"not a database" * 500)
    again = ProjectDocument.open_folder(folder)
    try:
        text = " ".join(again.warnings)
        assert str(again.path) in text and "a copy was kept as project.sqlite.broken-" in text
        assert "starts again from the folder's images" in text
        assert [r.path for r in again.project.images] == ["a.jpg", "b.jpg"]
        copy = next(again.path.parent.glob("project.sqlite.broken-*"))
        assert copy.read_bytes() == b"not a database" * 500
    finally:
        again.close()


def test_a_foreign_sqlite_file_is_refused_and_left_alone(folder: Path) -> None:
    db = folder / ".detr-studio" / "project.sqlite"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE theirs (x)")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(ProjectFileError, match="another program's SQLite database"):
        ProjectDocument.open_folder(folder)
    assert db.read_bytes() == before


def test_temp_files_of_killed_saves_are_removed_when_old(folder: Path) -> None:
    project_dir = folder / ".detr-studio"
    project_dir.mkdir()
    old = project_dir / ".project.sqlite.k3j4.tmp"
    old_json = project_dir / ".project.json.x9.tmp"
    fresh = project_dir / ".project.sqlite.n0w.tmp"
    for leftover in (old, old_json, fresh):
        leftover.write_bytes(b"half a save")
    hour_ago = time.time() - 2 * 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(old_json, (hour_ago, hour_ago))
    ProjectDocument.open_folder(folder).close()
    assert not old.exists() and not old_json.exists()
    assert fresh.exists()  # it may belong to a save still running in another window


def test_an_impossible_box_is_not_stored_and_blocks_no_other_edit(opened) -> None:
    project_store, project = opened
    project.image("img1.jpg").boxes.append(Box("nan", float("nan"), 1, 5, 5, 1))
    project.image("sub/img2.jpg").boxes.append(Box("ok", 1, 1, 5, 5, 1))
    project_store.record(project, Changed(images=frozenset({"img1.jpg", "sub/img2.jpg"})))
    assert project_store.flush(10)
    assert project_store.status().error is None
    back = _reopen_open(project_store)
    assert [b.uid for b in back.image("img1.jpg").boxes] == ["b1", "b2"]
    assert [b.uid for b in back.image("sub/img2.jpg").boxes] == ["ok"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_corners_and_scores_are_refused_at_the_edit(bad: float) -> None:
    project = _project()
    stack = UndoStack()
    before = _state(project)
    refused = [
        AddBox("c.jpg", Box("n1", bad, 2, 3, 4, 2)),
        AddBox("c.jpg", Box("n2", 1, 2, 3, 4, 2, score=bad)),
        SetBoxRect("a.jpg", "b1", (0, 0, bad, 10)),
        SetProposals("c.jpg", [Proposal("q", 1, 1, 2, 2, 1, bad)]),
        SetProposals("c.jpg", [Proposal("q", 1, bad, 2, 2, 1, 0.5)]),
    ]
    for cmd in refused:
        with pytest.raises(ValueError, match="finite"):
            stack.push(cmd, project)
    assert _state(project) == before and not stack.can_undo
    pasted = PasteBoxes("c.jpg", [Box("x", bad, 0, 5, 5, 1), Box("y", 0, 0, 5, 5, 1)])
    stack.push(pasted, project)
    assert [b.rect for b in project.image("c.jpg").boxes] == [(0.0, 0.0, 5.0, 5.0)]


def test_a_coco_file_nested_100000_levels_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CocoImportError, match=r"deep.json: not a COCO file \(nested too deeply\)"):
        import_coco(path, tmp_path)
