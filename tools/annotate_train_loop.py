"""The annotate -> train -> better proposals loop, measured: per-class AP50 before and after.

    python tools/annotate_train_loop.py [--base resources/models/demo.pth] [--images 30]
                                        [--modes fast,full] [--threads 2]

What a user of the app does, with the app's own code paths and defaults: a folder of shapes
that includes a class the model does not know ("cross") is annotated (here: its ground truth
stands for the corrected proposals), every image is marked reviewed, and the training dialog's
defaults (TrainSettings: start from the model in use, 50 epochs, batch 4, 128 px, fast mode
without a GPU) are turned into the CLI call the dialog makes (`write_snapshot` +
`cli_arguments`). The base model and each fine-tuned model are scored on 100 held-out images
with the same four shapes: AP50 per class, and the wall-clock time of each training run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = ("circle", "square", "triangle", "cross")
TRAIN_SEED, TEST_SEED = 21, 22
SIZE = (128, 160)


def _shapes(folder: Path, images: int, seed: int) -> Path:
    from detr_model.data import generate_shapes_dataset

    if not (folder / "annotations.json").is_file():
        generate_shapes_dataset(folder, images, seed=seed, size=SIZE, shapes=SHAPES)
    return folder / "annotations.json"


def _reviewed_project(folder: Path, coco: Path):
    """Returns the app's Project of `folder` with `coco` imported and every image reviewed."""
    from app.annotations.coco_import import import_coco
    from app.annotations.model import ImageStatus, Project

    result = import_coco(coco, folder)
    project = Project(root=folder, categories=result.categories, images=result.images)
    for rec in project.images:
        rec.status = ImageStatus.REVIEWED
    return project


def _ap50_per_class(checkpoint: Path, test_dir: Path) -> dict[str, float]:
    """Returns {class: AP50} of a checkpoint on the held-out images (classes matched by name)."""
    from detr_model.checkpoint import load_checkpoint
    from detr_model.data import CocoDetection, make_transforms
    from detr_model.evaluation import evaluate

    ckpt = load_checkpoint(checkpoint)
    size, max_size = ckpt.input_size()  # as the app's auto-annotate resizes for this model
    tf = make_transforms("val", scales=[size], max_size=max_size)
    data = CocoDetection(test_dir, test_dir / "annotations.json", tf)
    by_name = {name: cid for cid, name in zip(data.category_ids, _names(data), strict=True)}
    label_map = {i: by_name[n] for i, n in enumerate(ckpt.class_names) if n in by_name}
    metrics = evaluate(ckpt.build_model(), data, label_to_category=label_map)
    return {name: round(metrics["per_class_ap50"][name], 3) for name in SHAPES}


def _names(data) -> list[str]:
    return [data.class_names[data.category_to_label[cid]] for cid in data.category_ids]


def _train(project, base: Path, run_dir: Path, fast: bool, args) -> tuple[Path, float]:
    """Runs the dialog's training call; returns (best checkpoint, wall-clock seconds)."""
    from app.training_snapshot import TrainSettings, cli_arguments, write_snapshot

    settings = replace(TrainSettings(), base=str(base), base_label=base.name, fast=fast)
    if args.epochs:
        settings = replace(settings, epochs=args.epochs)
    if args.image_size:
        settings = replace(settings, image_size=args.image_size)
    if args.lr:
        settings = replace(settings, lr=args.lr)
    snapshot = write_snapshot(project, run_dir, settings)
    argv = [sys.executable, "-m", "detr_model", "train", *cli_arguments(snapshot, settings)]
    env = {"OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    subprocess.run(argv, cwd=ROOT, check=True, env={**os.environ, **env})
    return run_dir / "best.pt", time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=ROOT / "resources/models/demo.pth")
    parser.add_argument("--images", type=int, default=30, help="annotated images")
    parser.add_argument("--modes", default="fast,full", help="fast (cached features) and/or full")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="instead of the dialog's default")
    parser.add_argument("--image-size", type=int, help="instead of the dialog's default")
    parser.add_argument("--lr", type=float, help="instead of the recipe's (the dialog's field)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/detr-studio-loop"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    folder = args.work / "photos"
    coco = _shapes(folder, args.images, TRAIN_SEED)
    test_dir = _shapes(args.work / "held_out", 100, TEST_SEED).parent
    project = _reviewed_project(folder, coco)
    rows = {"before (base model)": (_ap50_per_class(args.base, test_dir), 0.0)}
    for mode in args.modes.split(","):
        run = args.work / f"run-{mode}-{time.strftime('%H%M%S')}"
        best, seconds = _train(project, args.base, run, mode == "fast", args)
        rows[f"after, {mode} fine-tuning"] = (_ap50_per_class(best, test_dir), seconds)
    print(f"\n{args.images} annotated images, held-out: 100 images; AP50 per class")
    print("| model | training s | " + " | ".join(SHAPES) + " |")
    print("|---|---|" + "---|" * len(SHAPES))
    for label, (ap, seconds) in rows.items():
        cells = " | ".join(f"{ap[name]:.3f}" for name in SHAPES)
        print(f"| {label} | {seconds:.0f} | {cells} |")
    print(json.dumps({label: ap for label, (ap, _) in rows.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
