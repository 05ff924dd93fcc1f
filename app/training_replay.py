"""Replay against forgetting: images of earlier training snapshots mixed into a new run.

Fine-tuning a model on a few dozen new images forgets the classes those images have few boxes
of (measured: circle 0.808 -> 0.555 AP50 after 24 images, docs/convergence.md). So when the
base is a model this project trained before, the training images of the earlier snapshots
(`<project>/.detr-studio/training/<run>/train.json`) join the new ones:

- at most as many replay images as new training images (REPLAY_SHARE), so the new batch is
  still half of every epoch;
- drawn in turn from each earlier snapshot (a seeded shuffle within each), so an old run with
  many images does not crowd out the others;
- each image once: those in the new run already (reviewed now) are not replayed, and an image
  in several snapshots is one candidate;
- an image still in the project brings its CURRENT boxes (the user may have corrected them
  since); one removed from the project since brings the boxes of the newest snapshot holding
  it; one that cannot be read now, or whose size changed, is left out and named;
- classes match by name: a box of a class the project no longer has is dropped.

Replay goes into the training split only; AP is still measured on the new held-out images.
No Qt, no torch.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.annotations.geometry import clamp_rect, is_valid_rect, xyxy_to_xywh
from app.annotations.model import Project
from detr_model.image_file import ImageReadError, read_size

REPLAY_SHARE = 1.0  # replay images per new training image, at most


@dataclass
class SnapshotImage:
    """One image of an earlier snapshot: its file, size and boxes ((class name, xywh))."""

    file_name: str
    width: int
    height: int
    boxes: list[tuple[str, list[float]]] = field(default_factory=list)


@dataclass
class Replay:
    """The replay images of a new run, as COCO entries with the project's category ids."""

    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    from_runs: dict[str, int] = field(default_factory=dict)  # run folder name -> images drawn
    current_boxes: int = 0  # images that brought the project's boxes, not the snapshot's
    left_out: list[str] = field(default_factory=list)  # "path: why"


def replays_into(base: str, models_dir: Path | None) -> bool:
    """Return True when `base` is a model this project trained (a file in its models folder):
    only then did earlier snapshots teach the model what replay keeps."""
    if not base or models_dir is None:
        return False
    try:
        return Path(base).resolve().parent == Path(models_dir).resolve()
    except OSError:
        return False


def earlier_snapshots(training_dir: Path | None, *, besides: Path | None = None) -> list[Path]:
    """Return the run folders under `training_dir` that hold a snapshot, oldest first
    (`besides`, the new run's folder, excluded)."""
    if training_dir is None or not Path(training_dir).is_dir():
        return []
    runs = [
        p
        for p in Path(training_dir).iterdir()
        if p.is_dir() and (p / "train.json").is_file() and p != besides
    ]
    return sorted(runs, key=lambda p: p.name)


def replay_candidates(snapshots: list[Path], exclude: set[str]) -> int:
    """Return how many distinct images of `snapshots` are not in `exclude` (before any is
    checked on disk: what the dialog shows ahead of a run)."""
    names: set[str] = set()
    for run in snapshots:
        try:
            names.update(e.file_name for e in read_snapshot(run))
        except ValueError:
            continue
    return len(names - exclude)


def read_snapshot(run_dir: Path) -> list[SnapshotImage]:
    """Return the training images of one snapshot; ValueError naming the file if it is not
    the COCO file a snapshot writes."""
    path = Path(run_dir) / "train.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = {c["id"]: str(c["name"]) for c in data["categories"]}
        images = {
            img["id"]: SnapshotImage(str(img["file_name"]), int(img["width"]), int(img["height"]))
            for img in data["images"]
        }
        for a in data["annotations"]:
            if a["image_id"] in images and a["category_id"] in names:
                bbox = [float(v) for v in a["bbox"]]
                images[a["image_id"]].boxes.append((names[a["category_id"]], bbox))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable training snapshot ({exc})") from exc
    return list(images.values())


def replay_set(
    project: Project,
    snapshots: list[Path],
    exclude: set[str],
    count: int,
    seed: int = 0,
) -> Replay:
    """Return up to `count` replay images from `snapshots` (oldest first) for the project, none
    of whose file names is in `exclude` (the new run's images), by the rules above."""
    replay = Replay()
    newest: dict[str, tuple[str, SnapshotImage]] = {}  # file name -> (run, its newest entry)
    queues: list[tuple[str, list[str]]] = []
    rng = random.Random(seed)
    for run in snapshots:
        try:
            entries = read_snapshot(run)
        except ValueError as exc:
            replay.left_out.append(str(exc))
            continue
        for entry in entries:
            newest[entry.file_name] = (run.name, entry)
        names = sorted({e.file_name for e in entries} - exclude)
        rng.shuffle(names)
        queues.append((run.name, names))
    taken: set[str] = set()
    while len(replay.images) < count and any(names for _run, names in queues):
        for run, names in queues:
            while names and len(replay.images) < count:
                name = names.pop()
                if name in taken:
                    continue
                taken.add(name)
                if _add(replay, project, newest[name][1]):
                    replay.from_runs[run] = replay.from_runs.get(run, 0) + 1
                    break
    return replay


def _add(replay: Replay, project: Project, entry: SnapshotImage) -> bool:
    """Append one image with its boxes (current ones where the project still has it); False
    (and the reason in left_out) when it cannot be used."""
    name = entry.file_name
    try:
        size = read_size(project.root / name, name=name)
    except ImageReadError as exc:
        replay.left_out.append(f"replay: {exc}")
        return False
    boxes = _current_boxes(project, name, size) if project.has_image(name) else None
    if boxes is None:
        if size != (entry.width, entry.height):
            replay.left_out.append(
                f"replay: {name}: {size[0]}x{size[1]} on disk but {entry.width}x{entry.height} "
                "in the earlier snapshot (replaced since?)"
            )
            return False
        boxes = []
        for class_name, bbox in entry.boxes:
            cat = project.category_by_name(class_name)
            if cat is not None:  # a class removed from the project since is not taught again
                boxes.append((cat.id, bbox))
    else:
        replay.current_boxes += 1
    image_id = len(replay.images) + 1
    replay.images.append({"id": image_id, "file_name": name, "width": size[0], "height": size[1]})
    for category_id, (x, y, w, h) in boxes:
        replay.annotations.append(
            {
                "id": len(replay.annotations) + 1,
                "image_id": image_id,
                "category_id": category_id,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
        )
    return True


def _current_boxes(
    project: Project, name: str, size: tuple[int, int]
) -> list[tuple[int, list[float]]] | None:
    """Return the project's boxes of image `name` as (category id, xywh) clipped to the image,
    or None when its record's size differs from the file's (then the snapshot's boxes, which
    were checked against the file when they were written, are no better: the caller decides)."""
    rec = project.image(name)
    if rec.size is not None and rec.size != size:
        return None
    known = {c.id for c in project.categories}
    out = []
    for box in rec.boxes:
        if box.category_id not in known:
            continue
        rect = clamp_rect(box.rect, *size)
        if is_valid_rect(rect):
            out.append((box.category_id, list(xyxy_to_xywh(rect))))
    return out
