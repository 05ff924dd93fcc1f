"""Exports never leave half a dataset, never overwrite folders they did not write, and split."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.annotations.formats import ExportOptions, SplitSpec, export_dataset, writing
from app.annotations.formats.coco_files import split_paths
from app.annotations.formats.yolo_yaml import class_names, data_yaml, parse_data_yaml
from app.annotations.model import ImageStatus
from tests.annotations.formats.support import project_with_boxes


def test_a_failure_half_way_leaves_the_earlier_export_as_it_was(tmp_path, monkeypatch) -> None:
    project = project_with_boxes(tmp_path / "photos")
    target = tmp_path / "yolo"
    export_dataset("yolo", project, target, ExportOptions())
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    calls = []
    original = writing.place_image

    def fail_on_second(source, dest, summary):
        calls.append(source)
        if len(calls) == 2:
            raise OSError(28, f"{source}: No space left on device")
        original(source, dest, summary)

    monkeypatch.setattr("app.annotations.formats.yolo.place_image", fail_on_second)
    with pytest.raises(OSError, match="No space left"):
        export_dataset("yolo", project, target, ExportOptions())
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_an_earlier_export_is_replaced_whole(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    target = tmp_path / "voc"
    export_dataset("voc", project, target, ExportOptions())
    project.images = project.images[:1]
    project.reindex()
    export_dataset("voc", project, target, ExportOptions())
    assert sorted(p.name for p in (target / "Annotations").rglob("*.xml")) == ["a.xml"]


def test_a_folder_it_did_not_write_is_refused(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        export_dataset("labelme", project, target, ExportOptions())
    with pytest.raises(ValueError, match="project's images"):
        export_dataset("labelme", project, project.root, ExportOptions())
    assert (target / "notes.txt").read_text() == "keep me"


def test_yolo_writes_one_folder_per_split_and_a_data_yaml(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    target = tmp_path / "yolo"
    summary = export_dataset(
        "yolo", project, target, ExportOptions(split=SplitSpec(0.34, 0.33, 0.33, seed=3))
    )
    assert summary.splits == {"train": 1, "val": 1, "test": 1}
    for split in ("train", "val", "test"):
        assert len(list((target / "images" / split).rglob("*.*"))) == 1
        assert len(list((target / "labels" / split).rglob("*.txt"))) == 1
    data = parse_data_yaml((target / "data.yaml").read_text())
    assert data["path"] == os.path.abspath(target)
    assert (data["train"], data["val"], data["test"]) == (
        "images/train",
        "images/val",
        "images/test",
    )
    assert class_names(data) == {0: "cat", 1: "dog"}
    assert summary.linked_images + summary.copied_images == 3


def test_coco_writes_one_file_per_split(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    target = tmp_path / "out" / "data.json"
    target.parent.mkdir()
    export_dataset("coco", project, target, ExportOptions(split=SplitSpec(0.67, 0.33, seed=0)))
    files = split_paths(target, ["train", "val"])
    counts = {s: len(json.loads(p.read_text())["images"]) for s, p in files.items()}
    assert counts == {"train": 2, "val": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["data_train.json", "data_val.json"]


def test_only_reviewed_leaves_the_other_images_out(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    project.images[0].status = ImageStatus.UNLABELED
    summary = export_dataset("labelme", project, tmp_path / "lm", ExportOptions(only_reviewed=True))
    assert summary.images == 2
    assert not (tmp_path / "lm" / "a.json").exists()


@pytest.mark.parametrize(
    "names",
    [
        ["cat", "dog"],
        ["traffic light", "a: b", "# not a comment", "yes", "1", "'q'", 'say "hi"', "ü"],
    ],
)
def test_data_yaml_names_read_back_as_written(names: list[str]) -> None:
    text = data_yaml("/data/x", {"train": "images/train"}, names)
    assert class_names(parse_data_yaml(text)) == dict(enumerate(names))


def test_data_yaml_in_the_forms_ultralytics_users_write() -> None:
    block = "path: ../datasets/x  # root\ntrain: images/train\nnames:\n  - cat\n  - 'big dog'\n"
    flow = "names: ['cat', \"big dog\"]\nnc: 2\n"
    mapping = "names: {0: cat, 1: big dog}\n"
    for text in (block, flow, mapping):
        assert class_names(parse_data_yaml(text)) == {0: "cat", 1: "big dog"}
    assert class_names(parse_data_yaml("nc: 2\n")) == {0: "class_0", 1: "class_1"}


def test_yolo_without_a_val_split_still_names_val_for_ultralytics(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    target = tmp_path / "yolo"
    export_dataset("yolo", project, target, ExportOptions(split=SplitSpec(0.7, 0, 0.3, seed=1)))
    data = parse_data_yaml((target / "data.yaml").read_text())
    assert (data["train"], data["val"], data["test"]) == (
        "images/train",
        "images/test",
        "images/test",
    )
    assert (target / "labels" / "test").is_dir()


def test_a_folder_it_cannot_write_in_gets_a_message_naming_it(tmp_path, monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    project = project_with_boxes(tmp_path / "photos")
    monkeypatch.setattr("app.annotations.formats.writing.tempfile.mkdtemp", refuse)
    with pytest.raises(OSError, match=r"locked/voc: cannot write here \(Permission denied\)"):
        export_dataset("voc", project, tmp_path / "locked" / "voc", ExportOptions())
