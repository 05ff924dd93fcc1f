"""What a training run trains on: its settings and a frozen COCO snapshot of the reviewed images.

The snapshot is written once, when the run starts, into the run's folder
(`<project>/.detr-studio/training/<run>/train.json`, `val.json`, `settings.json`): the child
process reads only these files, so editing the project during training changes nothing it sees.
No Qt and no torch here.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.annotations.coco import build_coco
from app.annotations.model import ImageStatus, Project
from app.label_check import find_duplicates
from app.training_replay import REPLAY_SHARE, Replay, replay_set
from detr_model.atomic_file import atomic_write_text
from detr_model.image_file import ImageReadError, read_size
from detr_model.input_size import TINY_FAST_SIZE
from detr_model.train_defaults import FINETUNE_BATCH_SIZE, auto_epochs

IMAGE_SIZES = {"fast": TINY_FAST_SIZE, "balanced": 256, "accurate": 512}  # shorter side, px
# From this many reviewed images "automatic" validation holds a seeded, stratified share out;
# with fewer, every image trains and AP is measured on the training images (the dialog says so).
AUTO_VAL_MIN_IMAGES = 5
AUTO_VAL_FRACTION = 0.2
FEW_BOXES = 10  # a class with fewer boxes than this gets a warning


def gpu_likely() -> bool:
    """Return True when a CUDA GPU is probably there, without importing torch when it is not
    imported yet (the driver's files or nvidia-smi tell)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


@dataclass(frozen=True)
class TrainSettings:
    """The training dialog's fields; every default makes a run that works on a CPU."""

    base: str = ""  # checkpoint to start from ("" = tiny model from scratch)
    base_label: str = "Tiny model from scratch"
    epochs: int | None = None  # None: automatic (auto_epochs)
    batch_size: int = FINETUNE_BATCH_SIZE  # the CLI's for a model file too
    image_size: int | None = None  # None: the size the base model was trained at (the CLI's)
    val_fraction: float | None = None  # None: automatic; 0: AP on the training images
    lr: float | None = None  # None: the recipe's default
    freeze_backbone: bool = False
    fast: bool = False  # frozen backbone, its features cached (the CLI's --fast)
    device: str = "auto"
    processes: int = 1  # > 1: one process a GPU through torchrun
    workers: int | None = None  # data-loader processes (None: 0 for small sets, else 2)
    seed: int = 0  # of the train/validation split (and of the replay draw)
    replay: bool = True  # a model this project trained: mix earlier snapshots in (replay.py)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-able data."""
        return asdict(self)


@dataclass
class Snapshot:
    """The files of one frozen training set."""

    run_dir: Path
    train_json: Path
    val_json: Path | None
    images_dir: Path
    train_images: int
    val_images: int  # images AP is measured on (the training images when none is held out)
    class_names: list[str] = field(default_factory=list)
    held_out: bool = True  # False: too few images, AP is measured on the training images
    left_out: list[str] = field(default_factory=list)  # "path: why", images not in the snapshot
    replay_images: int = 0  # of train_images, those drawn from earlier snapshots


def reviewed_class_counts(project: Project) -> dict[str, int]:
    """Return the number of boxes per class name on reviewed images (every class listed)."""
    counts = {c.id: 0 for c in project.categories}
    for rec in project.images:
        if rec.status == ImageStatus.REVIEWED:
            for box in rec.boxes:
                if box.category_id in counts:
                    counts[box.category_id] += 1
    return {project.category(cid).name: n for cid, n in counts.items()}


def reviewed_count(project: Project) -> int:
    """Return the number of reviewed images."""
    return sum(1 for rec in project.images if rec.status == ImageStatus.REVIEWED)


def validation_count(images: int, fraction: float | None) -> int:
    """Return how many of `images` are held out for validation (0: AP is measured on the
    training images). A share that rounds to nothing still holds one image out; at least one
    image stays for training."""
    if fraction is None:
        fraction = AUTO_VAL_FRACTION if images >= AUTO_VAL_MIN_IMAGES else 0.0
    count = max(int(round(images * fraction)), 1) if fraction > 0 else 0
    return max(0, min(count, images - 1))


def write_snapshot(
    project: Project,
    run_dir: Path,
    settings: TrainSettings,
    replay_from: Sequence[Path] = (),
) -> Snapshot:
    """Write the reviewed images' COCO files (train and validation) and the settings; return them.

    Raises ValueError when no image is reviewed or the reviewed images have no box. Images
    that cannot be read now, or whose size changed since they were annotated, are left out.
    With `replay_from` (earlier snapshots' run folders), images of those join the training
    split by the rules of `app.training_replay`.
    """
    data, summary = build_coco(project, only_reviewed=True)
    left_out = summary.skipped_images + _leave_out_unreadable(data, project.root)
    if not data["images"] and left_out:
        raise ValueError(f"None of the reviewed images can be read, e.g. {left_out[0]}")
    if not data["images"]:
        raise ValueError("No image is marked reviewed: review some images (Space) first")
    if not data["annotations"]:
        raise ValueError("The reviewed images have no boxes: nothing to learn from")
    n_images = len(data["images"])
    n_val = validation_count(n_images, settings.val_fraction)
    val_ids = stratified_split(data["images"], data["annotations"], n_val, settings.seed)
    train = _subset(data, val_ids, keep=False)
    replay = replay_set(
        project,
        list(replay_from),
        {img["file_name"] for img in data["images"]},
        int(len(train["images"]) * REPLAY_SHARE),
        settings.seed,
    )
    train = _with_replay(train, replay)
    # A class only the replay images have boxes of stays a class (that is what replay keeps).
    used = {a["category_id"] for a in data["annotations"] + replay.annotations}
    data["categories"] = [c for c in data["categories"] if c["id"] in used]
    train["categories"] = data["categories"]
    left_out += replay.left_out
    run_dir.mkdir(parents=True, exist_ok=True)
    train_json, val_json = run_dir / "train.json", run_dir / "val.json"
    train_text = json.dumps(train)
    atomic_write_text(train_json, train_text)
    # Too few images to hold some out: AP on the new training images (not the replayed ones),
    # so every run has a curve.
    val_text = json.dumps(_subset(data, val_ids, keep=bool(n_val)))
    if not n_val and not replay.images:
        val_text = train_text
    atomic_write_text(val_json, val_text)
    record = {
        "settings": settings.to_dict(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "train_images": n_images - n_val + len(replay.images),
        "val_images": n_val or n_images,
        "held_out": bool(n_val),
        "replay": {
            "images": len(replay.images),
            "from_runs": replay.from_runs,
            "with_current_boxes": replay.current_boxes,
        },
        "skipped_images": left_out,
        # Same-class boxes at IoU >= 0.7 the user chose to train on anyway (label_check).
        "likely_duplicates": [[d.path, d.first, d.second] for d in find_duplicates(project)],
    }
    atomic_write_text(run_dir / "settings.json", json.dumps(record, indent=1))
    return Snapshot(
        run_dir,
        train_json,
        val_json,
        project.root,
        n_images - n_val + len(replay.images),
        n_val or n_images,
        [c["name"] for c in sorted(data["categories"], key=lambda c: c["id"])],
        held_out=bool(n_val),
        left_out=left_out,
        replay_images=len(replay.images),
    )


def stratified_split(
    images: list[dict[str, Any]], annotations: list[dict[str, Any]], count: int, seed: int
) -> set[int]:
    """Return the ids of `count` images to hold out, drawn per stratum with a seeded shuffle.

    An image's stratum is its rarest class (fewest boxes over all images; images without
    boxes form one more stratum), so every class is held out in proportion and a rare class is
    never held out whole: each stratum keeps an image for training while another one can give.
    """
    if count <= 0:
        return set()
    totals: dict[int, int] = {}
    classes: dict[int, set[int]] = {img["id"]: set() for img in images}
    for a in annotations:
        totals[a["category_id"]] = totals.get(a["category_id"], 0) + 1
        classes.setdefault(a["image_id"], set()).add(a["category_id"])
    strata: dict[int, list[int]] = {}
    for img in sorted(images, key=lambda i: i["id"]):
        present = classes[img["id"]]
        key = min(present, key=lambda c: (totals[c], c)) if present else -1
        strata.setdefault(key, []).append(img["id"])
    rng = random.Random(seed)
    for ids in strata.values():
        rng.shuffle(ids)
    n = len(images)
    quota = {k: count * len(ids) / n for k, ids in strata.items()}
    take = {k: min(int(quota[k]), len(ids) - 1) for k, ids in strata.items()}
    # Largest remainders first; a stratum gives its last image only when all others are down
    # to one (count < number of images, so that always ends).
    for keep_one in (True, False):
        order = sorted(strata, key=lambda k: (take[k] - quota[k], k))
        while sum(take.values()) < count:
            room = [k for k in order if take[k] < len(strata[k]) - (1 if keep_one else 0)]
            if not room:
                break
            take[room[0]] += 1
            order = sorted(strata, key=lambda k: (take[k] - quota[k], k))
    return {i for k, ids in strata.items() for i in ids[: take[k]]}


def _leave_out_unreadable(data: dict[str, Any], root: Path) -> list[str]:
    """Drop from COCO `data` the images that cannot be read now or whose size changed since
    they were annotated (deleted, truncated, replaced on disk); return "path: why" for each."""
    problems: list[str] = []
    bad: set[int] = set()
    for img in data["images"]:
        name = img["file_name"]
        try:
            size = read_size(root / name, name=name)
        except ImageReadError as exc:
            problems.append(str(exc))
            bad.add(img["id"])
            continue
        if size != (img["width"], img["height"]):
            problems.append(
                f"{name}: {size[0]}x{size[1]} on disk but {img['width']}x{img['height']} when "
                "annotated (replaced since?)"
            )
            bad.add(img["id"])
    if bad:
        data["images"] = [img for img in data["images"] if img["id"] not in bad]
        data["annotations"] = [a for a in data["annotations"] if a["image_id"] not in bad]
    return problems


def _with_replay(train: dict[str, Any], replay: Replay) -> dict[str, Any]:
    """Return the training split with the replay images appended (ids after its own)."""
    if not replay.images:
        return train
    image_base = max((img["id"] for img in train["images"]), default=0)
    box_base = max((a["id"] for a in train["annotations"]), default=0)
    images = [{**img, "id": img["id"] + image_base} for img in replay.images]
    annotations = [
        {**a, "id": a["id"] + box_base, "image_id": a["image_id"] + image_base}
        for a in replay.annotations
    ]
    return {
        **train,
        "images": train["images"] + images,
        "annotations": train["annotations"] + annotations,
    }


def _subset(data: dict[str, Any], ids: set[int], *, keep: bool) -> dict[str, Any]:
    images = [img for img in data["images"] if (img["id"] in ids) == keep]
    chosen = {img["id"] for img in images}
    annotations = [a for a in data["annotations"] if a["image_id"] in chosen]
    return {**data, "images": images, "annotations": annotations}


def cli_arguments(snapshot: Snapshot, settings: TrainSettings) -> list[str]:
    """Return the `python -m detr_model train` arguments for this snapshot and these settings."""
    batch = min(settings.batch_size, max(snapshot.train_images, 1))
    args = [
        "--train-json", str(snapshot.train_json),
        "--train-images", str(snapshot.images_dir),
        "--labels", "contiguous",
        "--init", settings.base or "none",
        "--preset", "tiny",
        "--epochs", str(settings.epochs or auto_epochs(snapshot.train_images, batch)),
        "--batch-size", str(batch),
        "--device", settings.device,
        "--out", str(snapshot.run_dir),
    ]  # fmt: skip
    if settings.image_size is not None or not settings.base:  # scratch: always a size
        args += ["--image-size", str(settings.image_size or IMAGE_SIZES["fast"])]
    if snapshot.val_json is not None:
        args += ["--val-json", str(snapshot.val_json), "--val-images", str(snapshot.images_dir)]
    if settings.lr is not None:
        args += ["--lr", repr(settings.lr)]
    if settings.fast and settings.base:  # a random backbone is worth nothing frozen
        args += ["--fast"]
    elif settings.freeze_backbone:
        args += ["--lr-backbone", "0"]
    workers = settings.workers
    if workers is None:
        workers = 0 if snapshot.train_images < 200 else 2
    args += ["--workers", str(workers)]
    return args
