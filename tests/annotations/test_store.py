"""Where the project database lives, whole-project round trips, and damaged or foreign files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.annotations import store
from app.annotations.project_lock import ProjectLock, ProjectLockedError
from app.annotations.store import (
    add_new_images,
    default_project_file,
    load_project,
    new_project,
    project_file_for,
    save_project,
)
from tests.annotations.test_legacy_json import make_project


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))


def test_save_and_load_round_trip_exactly(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    path = save_project(project)
    assert path == tmp_path / "photos" / ".detr-studio" / "project.sqlite"
    loaded = load_project(path)
    assert loaded == project
    assert loaded.image("img1.jpg").boxes[0].rect == (0.1, 0.2, 10.3, 20.7)
    assert loaded.meta == {"model": {"labels": {"1": "cat"}}}
    assert loaded.add_category("bird").id == 3
    assert not list(path.parent.glob("*.tmp"))


def test_a_moved_folder_keeps_its_project(tmp_path: Path) -> None:
    save_project(make_project(tmp_path / "photos"))
    shutil.move(tmp_path / "photos", tmp_path / "moved")
    loaded = load_project(default_project_file(tmp_path / "moved"))
    assert loaded.root == tmp_path / "moved"


def test_read_only_folders_keep_their_project_in_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "cdrom")
    monkeypatch.setattr(store, "can_write", lambda folder: False)
    path = project_file_for(project.root)
    assert (tmp_path / "userdata") in path.parents
    save_project(project, path)
    assert load_project(path).root == project.root
    monkeypatch.setattr(store, "can_write", lambda folder: True)
    assert project_file_for(project.root) == path  # an existing database wins


def test_when_both_places_hold_a_database_the_newer_one_wins(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    beside = save_project(project, default_project_file(project.root))
    user = save_project(project, store.user_project_file(project.root))
    os.utime(beside, (1_000_000, 1_000_000))
    assert project_file_for(project.root) == user
    os.utime(user, (900_000, 900_000))
    assert project_file_for(project.root) == beside


def test_saving_over_a_project_open_elsewhere_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    path = save_project(project)
    with ProjectLock(path, "photos"), pytest.raises(ProjectLockedError, match="open in another"):
        save_project(project, path)


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
