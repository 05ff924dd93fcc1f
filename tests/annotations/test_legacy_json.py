"""Earlier versions' project.json and autosave.json: read exactly, damage refused by name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.annotations.legacy_json import (
    ProjectFileError,
    autosave_path,
    find_recovery,
    load_json,
    recover,
    save_json,
)
from app.annotations.model import Box, ImageRecord, ImageStatus, Project, Proposal
from detr_model import atomic_file as atomic


def make_project(root: Path) -> Project:
    """Return a small project with two classes, boxes, a proposal and settings."""
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


def _legacy_file(root: Path) -> Path:
    return root / ".detr-studio" / "project.json"


def _set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def test_a_legacy_file_loads_exactly(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    path = save_json(project, _legacy_file(project.root))
    loaded = load_json(path)
    assert loaded == project
    assert loaded.image("img1.jpg").boxes[0].rect == (0.1, 0.2, 10.3, 20.7)
    assert loaded.add_category("bird").id == 3


def test_broken_json_names_the_file_and_keeps_a_copy(tmp_path: Path) -> None:
    path = save_json(make_project(tmp_path / "photos"), _legacy_file(tmp_path / "photos"))
    path.write_text('{"format": "detr-studio-project", "images": [')
    with pytest.raises(ProjectFileError, match=r"project.json: not valid JSON \(line 1") as err:
        load_json(path)
    copies = list(path.parent.glob("project.json.broken-*"))
    assert len(copies) == 1 and copies[0].name in str(err.value)
    assert copies[0].read_text() == path.read_text()


def test_damaged_content_and_newer_versions_are_refused(tmp_path: Path) -> None:
    path = save_json(make_project(tmp_path / "photos"), _legacy_file(tmp_path / "photos"))
    text = path.read_text()
    path.write_text(text.replace('"b1",0.1', '"b1","x"'))
    with pytest.raises(ProjectFileError, match="not a valid project file"):
        load_json(path)
    path.write_text(text.replace('"version":1', '"version":99'))
    with pytest.raises(ProjectFileError, match="newer DETR Studio"):
        load_json(path)


def test_a_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "photos")
    path = save_json(project, _legacy_file(project.root))
    old = path.read_text()
    project.add_category("bird")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_json(project, path)
    assert path.read_text() == old
    assert sorted(p.name for p in path.parent.iterdir()) == ["project.json"]


def test_a_newer_autosave_is_offered_with_both_answers_spelled_out(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    path = save_json(project, _legacy_file(project.root))
    newer = make_project(tmp_path / "photos")
    newer.image("sub/img2.jpg").boxes.append(Box("b9", 1, 1, 5, 5, 1))
    auto = save_json(newer, autosave_path(path))
    _set_mtime(path, 1_000_000)
    _set_mtime(auto, 1_000_010)
    offer = find_recovery(path)
    assert offer is not None
    assert "Yes imports the unsaved changes. No imports the saved project." in offer.describe()
    assert recover(path).project == newer
    chosen = recover(path, prefer_autosave=False)
    assert not chosen.from_autosave and chosen.project == project


def test_an_autosave_without_a_project_file_says_what_no_does(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    save_json(project, autosave_path(_legacy_file(project.root)))
    offer = find_recovery(_legacy_file(project.root))
    text = offer.describe()
    assert "never saved" in text and "No starts from the folder's images" in text
    assert "last saved project" not in text  # the old prompt promised a project that did not exist
    assert recover(_legacy_file(project.root)).project == project


def test_an_older_autosave_loses(tmp_path: Path) -> None:
    project = make_project(tmp_path / "photos")
    path = save_json(project, _legacy_file(project.root))
    stale = make_project(tmp_path / "photos")
    stale.images.pop()
    auto = save_json(stale, autosave_path(path))
    _set_mtime(auto, 1_000_000)
    _set_mtime(path, 1_000_010)
    assert find_recovery(path) is None
    found = recover(path)
    assert not found.from_autosave and found.project == project


def test_the_written_json_has_the_version_one_layout(tmp_path: Path) -> None:
    path = save_json(make_project(tmp_path / "photos"), _legacy_file(tmp_path / "photos"))
    data = json.loads(path.read_text())
    assert data["format"] == "detr-studio-project" and data["version"] == 1
    assert data["images"][0]["boxes"][0] == ["b1", 0.1, 0.2, 10.3, 20.7, 1, None, "manual"]
