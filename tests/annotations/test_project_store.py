"""The open project database: every kind of edit reaches it, read back lazily and exactly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.annotations import store_writer
from app.annotations.coco_import import import_coco
from app.annotations.coco_merge import MergeImport
from app.annotations.commands import (
    AcceptProposals,
    AddBox,
    AddCategory,
    ChangeBoxCategory,
    DeleteBoxes,
    DeleteCategory,
    Macro,
    MergeCategories,
    PasteBoxes,
    RejectProposals,
    RenameCategory,
    SetBoxRect,
    SetImageStatus,
    SetProposals,
    UndoStack,
)
from app.annotations.model import Box, ImageRecord, ImageStatus, Project, Proposal
from app.annotations.project_store import ProjectStore
from app.annotations.store import load_project
from tests.annotations.test_legacy_json import make_project


def _db(root: Path) -> Path:
    return root / ".detr-studio" / "project.sqlite"


@pytest.fixture
def opened(tmp_path: Path):
    project = make_project(tmp_path / "photos")
    project_store = ProjectStore.create(_db(project.root), project)
    yield project_store, project
    project_store.close()


def _walked_counts(project: Project) -> dict[int, int]:
    counts = {c.id: 0 for c in project.categories}
    for rec in project.images:
        for b in rec.boxes:
            counts[b.category_id] = counts.get(b.category_id, 0) + 1
    return counts


def _walked_statuses(project: Project) -> dict[ImageStatus, int]:
    counts = dict.fromkeys(ImageStatus, 0)
    for rec in project.images:
        counts[rec.status] += 1
    return counts


def _push(stack: UndoStack, project_store: ProjectStore, project: Project, cmd) -> None:
    stack.push(cmd, project)
    project_store.record(project, cmd.changed)
    assert project.box_counts() == _walked_counts(project)  # kept by the store, not walked
    assert project.status_counts() == _walked_statuses(project)


def test_every_kind_of_edit_and_its_undo_reaches_the_database(opened) -> None:
    project_store, project = opened
    stack = UndoStack()
    edits = [
        AddBox("sub/img2.jpg", Box("n1", 1, 2, 30, 40, 1)),
        SetBoxRect("sub/img2.jpg", "n1", (5, 5, 50, 60)),
        ChangeBoxCategory("img1.jpg", ["b1"], 2),
        SetProposals(
            "sub/img2.jpg",
            [Proposal("q1", 1, 1, 8, 8, 2, 0.9, "m"), Proposal("q2", 2, 2, 9, 9, 1, 0.4, "m")],
        ),
        AcceptProposals("sub/img2.jpg", ["q1"]),
        RejectProposals("sub/img2.jpg", ["q2"]),
        PasteBoxes("img1.jpg", [Box("x", 100, 100, 120, 130, 1)]),
        DeleteBoxes("img1.jpg", ["b2"]),
        SetImageStatus(["sub/img2.jpg"], ImageStatus.REVIEWED),
        AddCategory("bird"),
        RenameCategory(1, "kitten"),
        Macro("two", [AddCategory("fish"), AddBox("img1.jpg", Box("f1", 3, 3, 7, 7, 4))]),
        MergeCategories(4, 3),
        DeleteCategory(2),
    ]
    for cmd in edits:
        _push(stack, project_store, project, cmd)
    project.meta["setting"] = [1, 2]
    project_store.record(project)
    assert project_store.flush(10)
    assert _reopen_open(project_store) == project
    while stack.can_undo:  # every undo is an edit the database must follow too
        project_store.record(project, stack.undo(project).changed)
        assert project.box_counts() == _walked_counts(project)
        assert project.status_counts() == _walked_statuses(project)
        assert project_store.flush(10)
        assert _reopen_open(project_store) == project
    assert project.categories[0].name == "cat"


def _reopen_open(project_store: ProjectStore) -> Project:
    """Read the file while the store still has it open (as a second reader would)."""
    return load_project(project_store.path)


def test_a_coco_import_and_its_undo_persist(opened, tmp_path: Path) -> None:
    project_store, project = opened
    coco = tmp_path / "other.json"
    coco.write_text(
        '{"images": [{"id": 1, "file_name": "new/a.jpg", "width": 50, "height": 40},'
        ' {"id": 2, "file_name": "img1.jpg", "width": 640, "height": 480}],'
        ' "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 10, 10]},'
        ' {"id": 2, "image_id": 2, "category_id": 7, "bbox": [5, 5, 10, 10]}],'
        ' "categories": [{"id": 7, "name": "horse"}]}'
    )
    stack = UndoStack()
    _push(stack, project_store, project, MergeImport(import_coco(coco, project.root)))
    assert project_store.flush(10)
    back = _reopen_open(project_store)
    assert back == project and back.has_image("new/a.jpg")
    project_store.record(project, stack.undo(project).changed)
    assert project.box_counts() == _walked_counts(project)
    assert project_store.flush(10)
    assert not _reopen_open(project_store).has_image("new/a.jpg")
    project_store.record(project, stack.redo(project).changed)  # same path, new row
    assert project_store.flush(10)
    assert _reopen_open(project_store) == project


def test_the_image_order_and_new_images_follow_the_list(opened) -> None:
    project_store, project = opened
    project.add_images([ImageRecord("a0.jpg"), ImageRecord("zz.jpg", 10, 10)])
    project.images.sort(key=lambda r: r.path)
    project_store.record(project)
    assert project_store.flush(10)
    assert [r.path for r in _reopen_open(project_store).images] == [
        "a0.jpg",
        "img1.jpg",
        "sub/img2.jpg",
        "zz.jpg",
    ]


def test_a_reopened_project_reads_boxes_only_when_asked(opened) -> None:
    project_store, project = opened
    expected = project.box_counts()
    project_store.close()
    again_store, again = ProjectStore.open(project_store.path)
    again_store.loader.stop()  # no preload: every record must fill itself
    try:
        assert not any(rec.loaded for rec in again.images)
        assert again.box_counts() == expected  # from the store's counts, nothing read
        assert not any(rec.loaded for rec in again.images)
        assert [b.uid for b in again.image("img1.jpg").boxes] == ["b1", "b2"]
        assert again.image("img1.jpg").loaded and not again.image("sub/img2.jpg").loaded
        assert again.box_counts() == expected
        assert again == project
    finally:
        again_store.close()


def test_the_background_preload_fills_every_record(opened) -> None:
    project_store, project = opened
    project_store.close()
    again_store, again = ProjectStore.open(project_store.path)
    try:
        assert again_store.loader.wait_preloaded(10) and again_store.loader.error is None
        assert again == project
    finally:
        again_store.close()


def test_box_counts_stay_right_when_a_record_on_disk_leaves_the_project(opened) -> None:
    project_store, project = opened
    project_store.close()
    again_store, again = ProjectStore.open(project_store.path)
    again_store.loader.stop()
    try:
        again.images = [again.images[1]]
        again.reindex()
        assert again.box_counts() == {1: 0, 2: 0}
    finally:
        again_store.close()


def test_a_failing_commit_is_kept_reported_and_retried(opened, monkeypatch, caplog) -> None:
    project_store, project = opened
    real = store_writer.StoreWriter._transaction
    failures = []

    def disk_full(self, conn, change):
        if len(failures) < 3:
            failures.append(1)
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, conn, change)

    monkeypatch.setattr(store_writer, "RETRY_S", (0.05,))
    monkeypatch.setattr(store_writer.StoreWriter, "_transaction", disk_full)
    cmd = AddBox("sub/img2.jpg", Box("late", 1, 2, 3, 4, 1))
    cmd.redo(project)
    project_store.record(project, cmd.changed)
    assert project_store.writer.wait(timeout=10, give_up_after=100)
    assert len(failures) == 3 and project_store.status().error is None
    assert "could not save (database or disk is full)" in caplog.text
    assert [b.uid for b in _reopen_open(project_store).image("sub/img2.jpg").boxes] == ["late"]


def test_waiting_gives_up_after_two_failed_attempts(opened, monkeypatch) -> None:
    project_store, project = opened

    def read_only(self, conn, change):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store_writer, "RETRY_S", (0.05,))
    monkeypatch.setattr(store_writer.StoreWriter, "_transaction", read_only)
    project.add_category("x")
    project_store.record(project)
    assert not project_store.flush(30)  # long before 30 s: the caller can move the project
    assert "readonly" in project_store.status().error and project_store.status().pending
    project_store.abandon()


def test_model_versions_are_kept_in_the_database(opened) -> None:
    project_store, project = opened
    project_store.record_model_version(
        "project:m1.pt", "/x/m1.pt", "2026-01-01T00:00:00", {"AP": 0.5}
    )
    assert project_store.flush(10)
    assert project_store.model_versions() == [
        {
            "key": "project:m1.pt",
            "path": "/x/m1.pt",
            "created_at": "2026-01-01T00:00:00",
            "info": {"AP": 0.5},
        }
    ]


def test_save_folds_the_journal_into_the_file(opened) -> None:
    project_store, project = opened
    cmd = AddBox("img1.jpg", Box("s", 1, 2, 3, 4, 1))
    cmd.redo(project)
    project_store.record(project, cmd.changed)
    project_store.checkpoint(10)
    wal = Path(f"{project_store.path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_box_attributes_of_other_tools_persist(opened) -> None:
    project_store, project = opened
    stack = UndoStack()
    box = Box("v1", 4, 4, 40, 40, 1, attributes=(("difficult", True), ("pose", "Left")))
    _push(stack, project_store, project, AddBox("img1.jpg", box))
    assert project_store.flush(10)
    back = _reopen_open(project_store)
    assert back.image("img1.jpg").boxes[-1].attributes == (("difficult", True), ("pose", "Left"))
    assert back == project


def test_a_schema_1_database_gains_the_attributes_column_on_open(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    ProjectStore.create(_db(project.root), project).close()
    conn = sqlite3.connect(_db(project.root))
    conn.execute("ALTER TABLE boxes DROP COLUMN attributes")  # as version 1 made it
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    project_store, back = ProjectStore.open(_db(project.root), lazy=False)
    project_store.close()
    assert back == project
    conn = sqlite3.connect(_db(project.root))
    columns = {row[1] for row in conn.execute("PRAGMA table_info(boxes)")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    assert "attributes" in columns and version == 2
