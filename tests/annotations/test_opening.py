"""Opening a dropped or named path without Qt: the plan, the project it opens, the first image,
and a recovery question answered as the user would."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.annotations import legacy_json, store
from app.annotations.opening import (
    LAST_IMAGE_KEY,
    OpenPlan,
    folder_plan,
    plan_open,
    start_image,
)
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
    (root / "labels.json").write_text(json.dumps({"images": [], "annotations": []}))
    return root


def test_each_kind_of_path_has_its_plan(folder: Path) -> None:
    assert plan_open(folder, project_open=False) == OpenPlan(folder=folder.resolve())
    image = plan_open(folder / "b.jpg", project_open=True)
    assert image == OpenPlan(folder=folder.resolve(), image="b.jpg")
    coco = folder.resolve() / "labels.json"
    # Into the open project, or into its own folder's project when none is open.
    assert plan_open(coco, project_open=True) == OpenPlan(coco=coco)
    assert not plan_open(coco, project_open=True).opens
    assert plan_open(coco, project_open=False) == OpenPlan(folder=folder.resolve(), coco=coco)
    db = folder / "project.sqlite"
    db.write_bytes(b"")
    assert plan_open(db, project_open=True) == OpenPlan(project_file=db.resolve())


def test_a_path_that_is_neither_is_refused_before_anything_is_left(folder: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        folder_plan(folder / "a.jpg")
    with pytest.raises(FileNotFoundError, match="no such file"):
        plan_open(folder / "gone", project_open=True)
    (folder / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="notes.txt: not an image"):
        plan_open(folder / "notes.txt", project_open=True)


def test_opening_a_folder_shows_the_image_left_last_time(folder: Path) -> None:
    doc = folder_plan(folder).open()
    try:
        assert start_image(doc.project) == "a.jpg"
        doc.project.meta[LAST_IMAGE_KEY] = "b.jpg"
        doc.record()
    finally:
        assert doc.close().saved
    again = plan_open(folder, project_open=False).open()
    try:
        assert start_image(again.project) == "b.jpg"
        again.project.meta[LAST_IMAGE_KEY] = "gone.jpg"  # deleted since: the first image
        assert start_image(again.project) == "a.jpg"
    finally:
        again.close()


@pytest.mark.parametrize("answer", [True, False])
def test_an_earlier_versions_newer_autosave_is_offered_and_the_answer_kept(
    folder: Path, answer: bool
) -> None:
    old = folder / ".detr-studio"
    project = make_project(folder)
    legacy_json.save_json(project, old / legacy_json.PROJECT_FILE_NAME)
    project.image("img1.jpg").boxes = []  # the autosave lost the boxes: easy to tell apart
    autosave = legacy_json.save_json(project, old / legacy_json.AUTOSAVE_FILE_NAME)
    later = autosave.stat().st_mtime + 10
    os.utime(autosave, (later, later))
    asked: list[str] = []

    def ask(question: str) -> bool:
        asked.append(question)
        return answer

    doc = plan_open(folder, project_open=False).open(ask)
    try:
        assert len(asked) == 1
        boxes = doc.project.image("img1.jpg").boxes
        assert (boxes == []) is answer  # Yes: the autosave's edits; No: the project file's
    finally:
        doc.close()
