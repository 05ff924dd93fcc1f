"""Project file: location, exact round trip, broken files kept, autosave and crash recovery."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.annotations import store
from app.annotations.model import Box, ImageRecord, ImageStatus, Project, Proposal
from app.annotations.store import (
    ProjectFileError,
    add_new_images,
    autosave,
    autosave_path,
    default_project_file,
    discard_autosave,
    find_recovery,
    load_project,
    new_project,
    project_file_for,
    recover,
    save_project,
)
from detr_model import atomic_file as atomic


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))


def _project(root: Path) -> Project:
    root.mkdir(exist_ok=True)
    project = Project(root=root, meta={"model": {"labels": {"1": "cat"}}})
    cat = project.add_category("cat")
    dog = project.add_category("dog", "#123456")
    project.images = [
        ImageRecord(
            "img1.jpg",
            640,
            480,
            ImageStatus.REVIEWED,
            boxes=[
                Box("b1", 0.1, 0.2, 10.3, 20.7, cat.id),
                Box("b2", 1, 2, 3, 4, dog.id, 0.5, "model"),
            ],
            proposals=[Proposal("p1", 5, 5, 9, 9, dog.id, 0.31, "v2")],
        ),
        ImageRecord("sub/img2.jpg"),
    ]
    project.reindex()
    return project


def _set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def test_save_and_load_round_trip_exactly(tmp_path: Path) -> None:
    project = _project(tmp_path / "photos")
    path = save_project(project)
    assert path == tmp_path / "photos" / ".detr-studio" / "project.json"
    loaded = load_project(path)
    assert loaded == project
    assert loaded.image("img1.jpg").boxes[0].rect == (0.1, 0.2, 10.3, 20.7)
    assert loaded.add_category("bird").id == 3


def test_a_moved_folder_keeps_its_project(tmp_path: Path) -> None:
    save_project(_project(tmp_path / "photos"))
    shutil.move(tmp_path / "photos", tmp_path / "moved")
    loaded = load_project(default_project_file(tmp_path / "moved"))
    assert loaded.root == tmp_path / "moved"


def test_read_only_folders_keep_their_project_in_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path / "cdrom")
    monkeypatch.setattr(store, "_can_write", lambda folder: False)
    path = project_file_for(project.root)
    assert (tmp_path / "userdata") in path.parents
    save_project(project, path)
    assert load_project(path).root == project.root
    monkeypatch.setattr(store, "_can_write", lambda folder: True)
    assert project_file_for(project.root) == path  # an existing project file wins


def test_broken_json_names_the_file_and_keeps_a_copy(tmp_path: Path) -> None:
    path = save_project(_project(tmp_path / "photos"))
    path.write_text('{"format": "detr-studio-project", "images": [')
    with pytest.raises(ProjectFileError, match=r"project.json: not valid JSON \(line 1") as err:
        load_project(path)
    copies = list(path.parent.glob("project.json.broken-*"))
    assert len(copies) == 1 and copies[0].name in str(err.value)
    assert copies[0].read_text() == path.read_text()


def test_damaged_content_and_newer_versions_are_refused(tmp_path: Path) -> None:
    path = save_project(_project(tmp_path / "photos"))
    text = path.read_text()
    path.write_text(text.replace('"b1",0.1', '"b1","x"'))
    with pytest.raises(ProjectFileError, match="not a valid project file"):
        load_project(path)
    path.write_text(text.replace('"version":1', '"version":99'))
    with pytest.raises(ProjectFileError, match="newer DETR Studio"):
        load_project(path)


def test_a_failed_save_keeps_the_old_project_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path / "photos")
    path = save_project(project)
    old = path.read_text()
    project.add_category("bird")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_project(project, path)
    assert path.read_text() == old
    assert sorted(p.name for p in path.parent.iterdir()) == ["project.json"]


def test_an_interrupted_save_leaves_a_temp_file_that_is_ignored(tmp_path: Path) -> None:
    project = _project(tmp_path / "photos")
    path = save_project(project)
    (path.parent / ".project.json.k3j4.tmp").write_text('{"format": "detr-st')  # the crash
    assert load_project(path) == project
    found = recover(project.root)
    assert found is not None and not found.from_autosave and found.project == project
    assert find_recovery(project.root) is None


def test_a_newer_autosave_wins_and_is_offered_for_recovery(tmp_path: Path) -> None:
    project = _project(tmp_path / "photos")
    path = save_project(project)
    project.image("sub/img2.jpg").boxes.append(Box("b9", 1, 1, 5, 5, 1))
    auto = autosave(project)
    assert auto == autosave_path(path)
    _set_mtime(path, 1_000_000)
    _set_mtime(auto, 1_000_010)
    offer = find_recovery(project.root)
    assert offer is not None and "newer than the project" in offer.describe()
    assert offer.load() == project
    found = recover(project.root)
    assert found is not None and found.from_autosave and found.project == project
    assert found.project_file == path


def test_an_older_autosave_loses_and_discard_removes_it(tmp_path: Path) -> None:
    project = _project(tmp_path / "photos")
    path = save_project(project)
    stale = _project(tmp_path / "photos")
    stale.images.pop()
    auto = autosave(stale)
    _set_mtime(auto, 1_000_000)
    _set_mtime(path, 1_000_010)
    found = recover(project.root)
    assert found is not None and not found.from_autosave and found.project == project
    discard_autosave(project.root)
    assert not auto.exists()


def test_autosave_of_a_never_saved_project_is_recovered(tmp_path: Path) -> None:
    project = _project(tmp_path / "photos")
    autosave(project)
    offer = find_recovery(project.root)
    assert offer is not None and "never saved" in offer.describe()
    assert recover(project.root).project == project


def test_a_broken_project_file_falls_back_to_the_autosave(tmp_path: Path) -> None:
    project = _project(tmp_path / "photos")
    path = save_project(project)
    autosave(project)
    _set_mtime(autosave_path(path), 1_000_000)
    _set_mtime(path, 1_000_010)
    path.write_text("garbage")
    _set_mtime(path, 1_000_010)
    found = recover(project.root)
    assert found is not None and found.from_autosave and found.project == project
    assert list(path.parent.glob("project.json.broken-*"))


def test_recover_finds_nothing_in_a_new_folder(tmp_path: Path) -> None:
    assert recover(tmp_path) is None and find_recovery(tmp_path) is None


def test_new_project_lists_images_and_new_files_are_added_in_natural_order(tmp_path: Path) -> None:
    for name in ("img10.jpg", "img2.jpg", "sub/img1.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    project = new_project(tmp_path)
    assert [r.path for r in project.images] == ["img2.jpg", "img10.jpg"]
    save_project(project)  # the .detr-studio folder must not show up as images
    (tmp_path / "img3.jpg").write_bytes(b"")
    added = add_new_images(project)
    assert [r.path for r in added] == ["img3.jpg"]
    assert [r.path for r in project.images] == ["img2.jpg", "img3.jpg", "img10.jpg"]
    assert [r.path for r in add_new_images(project, recursive=True)] == ["sub/img1.jpg"]
    assert project.image("img3.jpg").status == ImageStatus.UNLABELED
