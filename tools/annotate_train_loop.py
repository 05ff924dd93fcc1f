"""The annotate -> train -> annotate loop, measured twice: per-class AP50 after each round,
with replay of the earlier snapshot against forgetting and without.

    python tools/annotate_train_loop.py [--base resources/models/demo.pth] [--images 30]
                                        [--replay off,on] [--threads 1] [--parallel]

What a user of the app does, with the app's own code paths and defaults (`TrainSettings`,
`write_snapshot`, `cli_arguments`: start from the model in use, automatic epochs, batch 4,
the model's own image size, full fine-tuning of a small model; the replay rows in
docs/convergence.md were measured when the dialog's default was 128 px):

1. round 1: a folder of `--images` shapes images that include a class the base model does not
   know ("cross") is annotated (its ground truth stands for the corrected proposals), reviewed
   and trained on, starting from the base model: model A;
2. round 2: the first batch leaves the project (its files stay in the folder) and a second
   batch of `--images` images, in which circles are rare (`--rare` images have one), is
   annotated and trained on, starting from model A, the model the project trained: once
   without replay and once with the snapshot of round 1 replayed (`app.training_replay`).

Every model is scored on the same 100 held-out images with all four shapes. The old classes
should stay within 0.05 AP50 of model A's with replay (issue 13).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = ("circle", "square", "triangle", "cross")
RARE = "circle"
TRAIN_SEED, TEST_SEED, SECOND_SEED = 21, 22, 23
SIZE = (128, 160)


def _shapes(folder: Path, images: int, seed: int) -> Path:
    from detr_model.data import generate_shapes_dataset

    if not (folder / "annotations.json").is_file():
        generate_shapes_dataset(folder, images, seed=seed, size=SIZE, shapes=SHAPES)
    return folder / "annotations.json"


def _batch(root: Path, sub: str, images: int, seed: int, rare: int | None) -> dict:
    """Writes a batch of images under root/sub and returns its COCO dict (file names relative
    to root). With `rare`, a pool three times the size is drawn and only `rare` of the kept images
    show a circle."""
    coco = json.loads(_shapes(root / sub, images if rare is None else images * 3, seed).read_text())
    circle = next(c["id"] for c in coco["categories"] if c["name"] == RARE)
    with_rare = {a["image_id"] for a in coco["annotations"] if a["category_id"] == circle}
    kept = coco["images"]
    if rare is not None:
        some = [i for i in kept if i["id"] in with_rare][:rare]
        others = [i for i in kept if i["id"] not in with_rare][: images - len(some)]
        kept = sorted(some + others, key=lambda i: i["id"])
    ids = {i["id"] for i in kept}
    return {
        **coco,
        "images": [{**i, "file_name": f"{sub}/{i['file_name']}"} for i in kept],
        "annotations": [a for a in coco["annotations"] if a["image_id"] in ids],
    }


def _reviewed_project(root: Path, coco: dict, name: str):
    """Returns the app's Project of `root` with `coco` imported and every image reviewed."""
    from app.annotations.coco_import import import_coco
    from app.annotations.model import ImageStatus, Project

    path = root / f"{name}.json"
    path.write_text(json.dumps(coco))
    result = import_coco(path, root)
    project = Project(root=root, categories=result.categories, images=result.images)
    for rec in project.images:
        rec.status = ImageStatus.REVIEWED
    return project


def _counts(coco: dict) -> str:
    names = {c["id"]: c["name"] for c in coco["categories"]}
    counts = {n: 0 for n in SHAPES}
    for a in coco["annotations"]:
        counts[names[a["category_id"]]] += 1
    return ", ".join(f"{counts[n]} {n}" for n in SHAPES)


def _ap50_per_class(checkpoint: Path, test_dir: Path) -> dict[str, float]:
    """Returns {class: AP50} of a checkpoint on the held-out images (classes matched by name;
    a class the model has no row for scores 0)."""
    from detr_model.checkpoint import load_checkpoint
    from detr_model.data import CocoDetection, make_transforms
    from detr_model.evaluation import evaluate

    ckpt = load_checkpoint(checkpoint)
    size, max_size = ckpt.input_size()  # as the app's auto-annotate resizes for this model
    tf = make_transforms("val", scales=[size], max_size=max_size)
    data = CocoDetection(test_dir, test_dir / "annotations.json", tf)
    names = [data.class_names[data.category_to_label[cid]] for cid in data.category_ids]
    by_name = dict(zip(names, data.category_ids, strict=True))
    label_map = {i: by_name[n] for i, n in enumerate(ckpt.class_names) if n in by_name}
    metrics = evaluate(ckpt.build_model(), data, label_to_category=label_map)
    per_class = metrics["per_class_ap50"]
    return {n: round(per_class.get(n, 0.0), 3) if n in ckpt.class_names else 0.0 for n in SHAPES}


def _start(project, base: Path, run_dir: Path, replay_from: list[Path], args):
    """Writes the dialog's snapshot and starts its training call; returns (process, snapshot)."""
    from app.training_snapshot import TrainSettings, cli_arguments, write_snapshot

    settings = replace(TrainSettings(), base=str(base), base_label=base.name, seed=args.seed)
    if args.epochs:
        settings = replace(settings, epochs=args.epochs)
    snapshot = write_snapshot(project, run_dir, settings, replay_from)
    argv = [sys.executable, "-m", "detr_model", "train", *cli_arguments(snapshot, settings)]
    env = {"OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}
    log = open(run_dir / "train.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log)
    return process, snapshot


def _train_all(jobs: list[tuple], args) -> dict[str, float]:
    """Runs (label, project, base, run_dir, replay_from) trainings, in parallel with
    --parallel; returns {label: wall-clock seconds}."""
    seconds: dict[str, float] = {}
    batches = [jobs] if args.parallel else [[job] for job in jobs]
    for batch in batches:
        started, running = time.monotonic(), []
        for label, project, base, run_dir, replay_from in batch:
            process, snap = _start(project, base, run_dir, replay_from, args)
            print(
                f"{label}: {snap.train_images} training images ({snap.replay_images} replayed), "
                f"{snap.val_images} for AP",
                flush=True,
            )
            running.append((label, process, run_dir))
        while running:  # each run's own time, whichever ends first
            time.sleep(0.5)
            for label, process, run_dir in list(running):
                if process.poll() is None:
                    continue
                if process.returncode != 0:
                    raise SystemExit(f"{label}: training failed, see {run_dir / 'train.log'}")
                seconds[label] = time.monotonic() - started
                running.remove((label, process, run_dir))
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=ROOT / "resources/models/demo.pth")
    parser.add_argument("--images", type=int, default=30, help="annotated images a round")
    parser.add_argument("--rare", type=int, default=2, help="round-2 images showing a circle")
    parser.add_argument("--replay", default="off,on", help="round 2 without and/or with replay")
    parser.add_argument("--threads", type=int, default=1, help="torch threads a training")
    parser.add_argument("--parallel", action="store_true", help="the round-2 runs side by side")
    parser.add_argument("--epochs", type=int, help="instead of the dialog's automatic epochs")
    parser.add_argument("--seed", type=int, default=0, help="of the split and the replay draw")
    parser.add_argument("--work", type=Path, default=Path("/tmp/detr-studio-loop"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    root, training = args.work / "photos", args.work / "training"
    test_dir = _shapes(args.work / "held_out", 100, TEST_SEED).parent
    first = _batch(root, "a", args.images, TRAIN_SEED, None)
    second = _batch(root, "b", args.images, SECOND_SEED, args.rare)
    print(f"round 1: {args.images} images ({_counts(first)} boxes)")
    print(f"round 2: {args.images} images ({_counts(second)} boxes)", flush=True)
    run_a = training / "run-1"
    if not (run_a / "best.pt").is_file():  # round 1 is the same for every round-2 mode
        shutil.rmtree(run_a, ignore_errors=True)
        run_a.mkdir(parents=True)
        first_project = _reviewed_project(root, first, "round1")
        seconds = _train_all([("round 1", first_project, args.base, run_a, [])], args)
    else:
        seconds = {"round 1": None}  # trained by an earlier call: reused, not timed
    from app.training_replay import earlier_snapshots

    # Round 2's earlier snapshot is round 1's (runs of other round-2 modes or seeds are not).
    earlier = [run for run in earlier_snapshots(training) if run == run_a]
    second_project = _reviewed_project(root, second, "round2")
    jobs = []
    for mode in args.replay.split(","):
        run = training / f"run-2-seed{args.seed}-replay-{mode}-{time.strftime('%H%M%S')}"
        run.mkdir(parents=True)
        label = f"round 2, replay {mode}"
        jobs.append(
            (label, second_project, run_a / "best.pt", run, earlier if mode == "on" else [])
        )
    seconds.update(_train_all(jobs, args))
    rows = {"before (base model)": (_ap50_per_class(args.base, test_dir), None)}
    rows["model A (round 1)"] = (_ap50_per_class(run_a / "best.pt", test_dir), seconds["round 1"])
    for label, _p, _b, run, _r in jobs:
        rows[label] = (_ap50_per_class(run / "best.pt", test_dir), seconds[label])
    print(f"\n{args.images} annotated images a round; held-out: 100 images; AP50 per class")
    print("| model | training s | " + " | ".join(SHAPES) + " |")
    print("|---|---|" + "---|" * len(SHAPES))
    for label, (ap, secs) in rows.items():
        cells = " | ".join(f"{ap[name]:.3f}" for name in SHAPES)
        took = "–" if secs is None else f"{secs:.0f}"  # base model, or round 1 reused
        print(f"| {label} | {took} | {cells} |")
    print(json.dumps({label: ap for label, (ap, _) in rows.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
