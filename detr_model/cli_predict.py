"""`python -m detr_model predict`: images in, one COCO results file out, sharded under torchrun.

It runs the same `Predictor` as the app (its device, precision and input-size defaults). Under
`torchrun --nproc_per_node N [--nnodes M] -m detr_model predict ...` every process takes every
N-th image of the sorted list, writes its part beside `--out` (`<out>.parts/`, which must be on a
folder every node sees), and process 0 waits for all parts, merges them in image order into
`--out` (written atomically) and removes the parts. Image ids are those of the whole list, so
the merged file is the one a single process writes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from detr_model import distributed as ddp
from detr_model.image_file import ImageReadError, is_image_name

log = logging.getLogger("detr_model.cli")

DEFAULT_DUPLICATE_IOU = 0.7  # as auto-annotate in the app: repeated same-class boxes dropped


def image_files(items: list[Path]) -> list[Path]:
    """Return the image files named or inside the named folders (sorted per folder)."""
    files: list[Path] = []
    for item in items:
        if item.is_dir():
            files += sorted(
                p for p in item.iterdir() if is_image_name(p.name) and not p.name.startswith(".")
            )
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such image file or folder")
    if not files:
        raise ValueError(f"no images found in {', '.join(str(i) for i in items)}")
    return files


def label_to_category(class_names: list[str], categories: list[dict]) -> dict[int, int]:
    """Returns model label -> category id, matching by class name (official ids as fallback)."""
    by_name = {str(c["name"]).strip().lower(): int(c["id"]) for c in categories}
    mapping = {
        i: by_name[n.strip().lower()]
        for i, n in enumerate(class_names)
        if n.strip().lower() in by_name
    }
    if not mapping:
        log.warning("no class name of the model is a category of the JSON: labels used as ids")
        ids = {int(c["id"]) for c in categories}
        mapping = {i: i for i in range(len(class_names)) if i in ids}
    return mapping


def run_predict(args: argparse.Namespace) -> int:
    """Run `predict`; returns the exit status (0)."""
    from detr_model.atomic_file import atomic_write_json
    from detr_model.data.coco import load_coco_json
    from detr_model.devices import pick_device
    from detr_model.predictor import Predictor

    check_output_folder(args.out)  # before any inference, not after it
    ddp.init_distributed()
    try:
        options: dict[str, Any] = {
            "device": pick_device(args.device),
            "precision": args.precision,
            "batch_size": args.batch_size,
        }
        if args.image_size:  # else the checkpoint's own input size, as in the app
            options["min_size"] = args.image_size
        predictor = Predictor.from_checkpoint(args.checkpoint, **options)
        if args.image_size and predictor.max_size is not None:
            predictor.max_size = max(predictor.max_size, args.image_size)
        files = image_files(args.images)
        names = list(predictor.class_names)
        image_ids = {f: i + 1 for i, f in enumerate(files)}
        mapping = {i: i for i in range(len(names))}
        if args.json:
            data = load_coco_json(args.json)
            by_file = {Path(str(img["file_name"])).name: int(img["id"]) for img in data["images"]}
            image_ids = {f: by_file.get(f.name, i + 1) for i, f in enumerate(files)}
            mapping = label_to_category(names, data["categories"])
        rank, world = ddp.rank(), ddp.world_size()
        mine = files[rank::world]
        results, skipped = _detect(predictor, mine, image_ids, mapping, args)
        for line in skipped:
            log.warning("skipped %s", line)
        if world == 1:
            atomic_write_json(args.out, results)
        else:
            parts = _parts_dir(args.out)
            parts.mkdir(parents=True, exist_ok=True)
            atomic_write_json(parts / f"rank-{rank:05d}-of-{world:05d}.json", results)
            ddp.barrier()  # every part is written
            if ddp.is_main_process():
                results = _merge(parts, world, [image_ids[f] for f in files])
                atomic_write_json(args.out, results)
                shutil.rmtree(parts, ignore_errors=True)
            ddp.barrier()
        if ddp.is_main_process():
            shards = f" by {world} processes" if world > 1 else ""
            print(f"wrote {len(results)} detections on {len(files)} images{shards}: {args.out}")
        if skipped:  # every process names its own
            print(f"skipped {len(skipped)} unreadable images (named above)")
    finally:
        ddp.cleanup()
    return 0


def _detect(
    predictor: Any,
    files: list[Path],
    image_ids: dict[Path, int],
    mapping: dict[int, int],
    args: argparse.Namespace,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the COCO results of `files` (image by image, best score first) and a line for
    each image that could not be read (left out; the others are still predicted)."""
    names = predictor.class_names
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    for start in range(0, len(files), 32):
        chunk, prepared = [], []
        for path in files[start : start + 32]:
            try:
                prepared.append(predictor.prepare(path))
            except ImageReadError as exc:
                skipped.append(str(exc))
                continue
            chunk.append(path)
        found = predictor.predict(
            prepared, score_threshold=args.threshold, duplicate_iou=args.duplicate_iou
        )
        for path, det in zip(chunk, found, strict=True):
            for box, score, label in zip(
                det.boxes.tolist(), det.scores.tolist(), det.labels.tolist(), strict=True
            ):
                if int(label) not in mapping:
                    continue
                results.append(
                    {
                        "image_id": image_ids[path],
                        "file_name": str(path),
                        "category_id": mapping[int(label)],
                        "category_name": names[int(label)],
                        "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                        "score": score,
                    }
                )
    return results, skipped


def check_output_folder(out: Path) -> None:
    """Raise OSError naming `out` when its folder does not exist or cannot be written."""
    folder = Path(out).absolute().parent
    if not folder.is_dir():
        raise OSError(f"{out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(f"{out}: cannot write in the folder {folder}")


def _parts_dir(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".parts")


def _merge(parts: Path, world: int, image_order: list[int]) -> list[dict[str, Any]]:
    """Return every rank's results in the order of the image list (each image's own order kept)."""
    position = {image_id: i for i, image_id in enumerate(image_order)}
    merged: list[dict[str, Any]] = []
    for rank in range(world):
        path = parts / f"rank-{rank:05d}-of-{world:05d}.json"
        try:
            merged += json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"{path}: the part of process {rank} is missing ({exc})") from exc
    merged.sort(key=lambda r: position[int(r["image_id"])])  # stable: per-image order stays
    return merged


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Add predict's own options (after --checkpoint, --device, --image-size)."""
    from detr_model.predictor import PRECISIONS

    parser.add_argument("--images", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--json", type=Path, help="COCO file for image and category ids")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward pass")
    parser.add_argument(
        "--duplicate-iou",
        type=float,
        default=DEFAULT_DUPLICATE_IOU,
        help="drop a box overlapping a better one of its class this much (as the app); "
        "1 keeps every query",
    )
    parser.set_defaults(func=run_predict)
