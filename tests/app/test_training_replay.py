"""Replay against forgetting (app.training_replay), without Qt: which earlier images join a
new run, how many, each once, with which boxes and classes."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, new_uid
from app.training_replay import earlier_snapshots, replay_set, replays_into
from app.training_snapshot import TrainSettings, write_snapshot

SIZE = (80, 60)


def _image(root: Path, name: str, size: tuple[int, int] = SIZE) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 90, 60)).save(root / name)


def _snapshot(run: Path, images: dict[str, list[tuple[str, list[float]]]], ids: dict) -> Path:
    """Writes run/train.json as a snapshot does: {file: [(class name, xywh)]}, category ids
    `ids` ({name: id}, not the project's)."""
    run.mkdir(parents=True, exist_ok=True)
    data = {"images": [], "annotations": [], "categories": []}
    data["categories"] = [{"id": cid, "name": name} for name, cid in ids.items()]
    for i, (name, boxes) in enumerate(images.items(), start=1):
        data["images"].append({"id": i, "file_name": name, "width": SIZE[0], "height": SIZE[1]})
        for name_, bbox in boxes:
            data["annotations"].append(
                {"id": len(data["annotations"]) + 1, "image_id": i, "bbox": bbox,
                 "category_id": ids[name_], "area": bbox[2] * bbox[3], "iscrowd": 0}
            )  # fmt: skip
    (run / "train.json").write_text(json.dumps(data))
    return run


def _project(root: Path, reviewed: list[str], others: dict[str, ImageStatus] | None = None):
    cats = [Category(1, "square", "#ff0000"), Category(2, "circle", "#00ff00")]
    project = Project(root=root, categories=cats, next_category_id=3)
    for name in reviewed:
        _image(root, name)
        box = Box(new_uid(), 5, 5, 30, 30, 1)
        project.images.append(ImageRecord(name, *SIZE, ImageStatus.REVIEWED, [box]))
    for name, status in (others or {}).items():
        _image(root, name)
        project.images.append(ImageRecord(name, *SIZE, status, []))
    project.reindex()
    return project


def test_replay_draws_at_most_as_many_images_as_asked_in_turn_from_each_snapshot(tmp_path):
    root = tmp_path / "photos"
    project = _project(root, ["new.png"])
    runs = []
    for r in ("run-1", "run-2"):
        names = {f"{r}/{i}.png": [("circle", [1.0, 1.0, 20.0, 20.0])] for i in range(6)}
        for name in names:
            _image(root, name)
        runs.append(_snapshot(tmp_path / "training" / r, names, {"circle": 7}))
    replay = replay_set(project, runs, {"new.png"}, 4, seed=0)
    assert len(replay.images) == 4 and replay.from_runs == {"run-1": 2, "run-2": 2}
    assert len({img["file_name"] for img in replay.images}) == 4
    everything = replay_set(project, runs, {"new.png"}, 100, seed=0)
    assert len(everything.images) == 12  # all there is, each once
    again = replay_set(project, runs, {"new.png"}, 4, seed=0)
    assert again.images == replay.images  # seeded: the same draw for the same run


def test_an_image_in_the_new_run_or_in_two_snapshots_is_replayed_once_or_not_at_all(tmp_path):
    root = tmp_path / "photos"
    project = _project(root, ["a.png"])
    for name in ("b.png", "c.png"):
        _image(root, name)
    boxes = [("square", [2.0, 2.0, 10.0, 10.0])]
    one = _snapshot(tmp_path / "t" / "run-1", {"a.png": boxes, "b.png": boxes}, {"square": 1})
    two = _snapshot(tmp_path / "t" / "run-2", {"b.png": boxes, "c.png": boxes}, {"square": 1})
    replay = replay_set(project, [one, two], {"a.png"}, 10)
    assert sorted(img["file_name"] for img in replay.images) == ["b.png", "c.png"]


def test_an_image_still_in_the_project_brings_its_current_boxes(tmp_path):
    root = tmp_path / "photos"
    project = _project(root, ["new.png"], {"old.png": ImageStatus.PROPOSED})
    project.image("old.png").boxes.append(Box(new_uid(), 40, 10, 70, 50, 2))  # corrected since
    run = _snapshot(
        tmp_path / "t" / "run-1", {"old.png": [("square", [1, 1, 9, 9])]}, {"square": 5}
    )
    replay = replay_set(project, [run], {"new.png"}, 5)
    assert replay.current_boxes == 1
    assert [(a["category_id"], a["bbox"]) for a in replay.annotations] == [(2, [40, 10, 30, 40])]


def test_an_image_removed_from_the_project_brings_its_snapshot_boxes_by_class_name(tmp_path):
    root = tmp_path / "photos"
    project = _project(root, ["new.png"])
    _image(root, "gone.png")  # its file is still there, the project no longer lists it
    boxes = [("circle", [1.0, 2.0, 10.0, 12.0]), ("triangle", [5.0, 5.0, 5.0, 5.0])]
    run = _snapshot(tmp_path / "t" / "run-1", {"gone.png": boxes}, {"triangle": 1, "circle": 9})
    replay = replay_set(project, [run], {"new.png"}, 5)
    # circle is category 2 in the project (9 in the snapshot); triangle is no class any more
    assert [(a["category_id"], a["bbox"]) for a in replay.annotations] == [(2, [1, 2, 10, 12])]
    assert replay.current_boxes == 0


def test_images_that_cannot_be_read_or_changed_size_are_left_out_and_named(tmp_path):
    root = tmp_path / "photos"
    project = _project(root, ["new.png"])
    _image(root, "resized.png", (40, 40))
    run = _snapshot(
        tmp_path / "t" / "run-1",
        {"deleted.png": [("square", [1, 1, 5, 5])], "resized.png": [("square", [1, 1, 5, 5])]},
        {"square": 1},
    )
    replay = replay_set(project, [run], {"new.png"}, 5)
    assert replay.images == []
    assert any("deleted.png" in why for why in replay.left_out)
    assert any("resized.png: 40x40 on disk but 80x60" in why for why in replay.left_out)
    (tmp_path / "t" / "bad").mkdir()
    (tmp_path / "t" / "bad" / "train.json").write_text("{")
    broken = replay_set(project, [tmp_path / "t" / "bad"], set(), 5)
    assert "bad/train.json: not a readable training snapshot" in broken.left_out[0]


def test_replay_is_for_models_this_project_trained(tmp_path):
    models = tmp_path / ".detr-studio" / "models"
    models.mkdir(parents=True)
    assert replays_into(str(models / "model-1.pt"), models)
    assert not replays_into(str(tmp_path / "demo.pth"), models)
    assert not replays_into("", models) and not replays_into(str(models / "m.pt"), None)
    training = tmp_path / "training"
    for name in ("run-2", "run-1", "run-3"):
        (training / name).mkdir(parents=True)
    for name in ("run-1", "run-3"):
        (training / name / "train.json").write_text("{}")
    assert [p.name for p in earlier_snapshots(training)] == ["run-1", "run-3"]
    assert earlier_snapshots(training, besides=training / "run-3") == [training / "run-1"]
    assert earlier_snapshots(tmp_path / "none") == []


def test_the_snapshot_trains_on_replay_images_but_measures_ap_on_new_ones_only(tmp_path):
    root = tmp_path / "photos"
    new = [f"new{i}.png" for i in range(10)]
    project = _project(root, new)
    old = {f"old{i}.png": [("circle", [1.0, 1.0, 20.0, 20.0])] for i in range(20)}
    for name in old:
        _image(root, name)
    run = _snapshot(root / "training" / "run-1", old, {"circle": 3})
    snap = write_snapshot(project, tmp_path / "run-2", TrainSettings(), [run])
    train = json.loads(snap.train_json.read_text())
    val = json.loads(snap.val_json.read_text())
    assert (snap.train_images, snap.val_images, snap.replay_images) == (16, 2, 8)
    assert {i["file_name"] for i in val["images"]} <= set(new)
    assert sum(i["file_name"].startswith("old") for i in train["images"]) == 8
    assert len({i["id"] for i in train["images"]}) == 16  # ids stay unique
    assert len({a["id"] for a in train["annotations"]}) == len(train["annotations"])
    # circle has boxes only on replayed images: it stays a class, in both files alike
    assert [c["name"] for c in train["categories"]] == ["square", "circle"] == snap.class_names
    assert val["categories"] == train["categories"]
    record = json.loads((tmp_path / "run-2" / "settings.json").read_text())
    assert record["replay"] == {"images": 8, "from_runs": {"run-1": 8}, "with_current_boxes": 0}
    plain = write_snapshot(project, tmp_path / "run-3", TrainSettings())
    assert plain.replay_images == 0 and plain.class_names == ["square"]
