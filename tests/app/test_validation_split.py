"""Validation by default: a seeded, stratified share of the reviewed images is held out; with
very few images AP is measured on the training images, and the snapshot says so."""

from __future__ import annotations

import json
from pathlib import Path

from app.annotations.model import Box, ImageRecord, ImageStatus, Project, new_uid
from app.training_snapshot import (
    TrainSettings,
    cli_arguments,
    stratified_split,
    validation_count,
    write_snapshot,
)
from tests.app.conftest import write_images


def reviewed_project(folder: Path, classes_per_image: list[list[str]]) -> Project:
    names = write_images(folder, count=len(classes_per_image))
    project = Project(root=folder)
    ids = {}
    for name, classes in zip(names, classes_per_image, strict=True):
        (rec,) = project.add_images([ImageRecord(name, 160, 120, ImageStatus.REVIEWED)])
        for k, cls in enumerate(classes):
            if cls not in ids:
                ids[cls] = project.add_category(cls).id
            rec.boxes.append(Box(new_uid(), 5 + 20 * k, 5, 20 + 20 * k, 30, ids[cls]))
    return project


def test_automatic_validation_holds_out_a_share_from_five_images(tmp_path) -> None:
    assert [validation_count(n, None) for n in (1, 4, 5, 9, 20)] == [0, 0, 1, 2, 4]
    assert validation_count(4, 0.1) == 1  # a chosen share never rounds to nothing
    assert validation_count(1, 0.5) == 0 and validation_count(5, 0.0) == 0
    project = reviewed_project(tmp_path / "five", [["circle"]] * 5)
    snap = write_snapshot(project, tmp_path / "run", TrainSettings())
    assert (snap.train_images, snap.val_images, snap.held_out) == (4, 1, True)
    train = json.loads(snap.train_json.read_text())
    val = json.loads(snap.val_json.read_text())
    assert not {i["id"] for i in train["images"]} & {i["id"] for i in val["images"]}


def test_with_fewer_than_five_images_ap_is_measured_on_the_training_images(tmp_path) -> None:
    project = reviewed_project(tmp_path / "three", [["circle"], ["square"], ["circle"]])
    snap = write_snapshot(project, tmp_path / "run", TrainSettings())
    assert (snap.train_images, snap.val_images, snap.held_out) == (3, 3, False)
    assert snap.val_json.read_text() == snap.train_json.read_text()
    args = cli_arguments(snap, TrainSettings())
    assert args[args.index("--val-json") + 1] == str(snap.val_json)  # every run has AP
    record = json.loads((snap.run_dir / "settings.json").read_text())
    assert record["held_out"] is False and record["likely_duplicates"] == []


def test_the_split_is_seeded_and_keeps_every_class_in_training(tmp_path) -> None:
    # 10 images of circles, 4 with squares too, 2 with a rare triangle.
    layout = [["circle"]] * 4 + [["circle", "square"]] * 4 + [["square", "triangle"]] * 2
    project = reviewed_project(tmp_path / "mix", layout)
    settings = TrainSettings(val_fraction=0.3)
    first = json.loads(write_snapshot(project, tmp_path / "a", settings).val_json.read_text())
    again = json.loads(write_snapshot(project, tmp_path / "b", settings).val_json.read_text())
    other = write_snapshot(project, tmp_path / "c", TrainSettings(val_fraction=0.3, seed=5))
    assert [i["file_name"] for i in first["images"]] == [i["file_name"] for i in again["images"]]
    assert len(first["images"]) == 3
    assert json.loads(other.val_json.read_text())["images"] != first["images"]
    train = json.loads((tmp_path / "a" / "train.json").read_text())
    names = {c["id"]: c["name"] for c in train["categories"]}
    trained = {names[a["category_id"]] for a in train["annotations"]}
    assert trained == {"circle", "square", "triangle"}


def test_each_stratum_gives_images_in_proportion() -> None:
    images = [{"id": i} for i in range(1, 21)]
    # Images 1-15: class 1 only; 16-20: class 2 (rarer) with class 1.
    annotations = [{"image_id": i, "category_id": 1} for i in range(1, 21)]
    annotations += [{"image_id": i, "category_id": 2} for i in range(16, 21)]
    held = stratified_split(images, annotations, 4, seed=0)
    assert len(held) == 4
    assert len(held & set(range(16, 21))) == 1  # 4 × 5/20 from the rare class's stratum
    assert stratified_split(images, annotations, 4, seed=0) == held
