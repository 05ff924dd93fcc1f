"""Train the bundled demo model: the tiny DETR on shapes images, reproducibly.

    python tools/train_demo_model.py                       # from scratch, own style, 100 epochs
    python tools/train_demo_model.py --device cuda --workers 2 --threads 4 --minutes 7.5
    python tools/train_demo_model.py --init OLD.pth --varied 1600 --epochs 10 --lr 2e-4 \
        --threads 1 --minutes 47 --out NEW.pth             # a warm start on two styles

The bundled file (issue 13, session 5) is four runs, each starting from the file the one
before wrote:
1. `timeout -s INT 450 python tools/train_demo_model.py --epochs 100 --image-size 160 --device
   cuda --threads 4 --workers 2` on an H100 (session 2; stopped after epoch 37 of the cosine,
   best epoch kept): own-style held-out AP50 0.935, unseen style 0.03;
2. `--init STEP1.pth --varied 1600 --epochs 10 --lr 2e-4 --threads 1 --minutes 47` on this CPU,
   with the small-data augmentation the fine-tuning recipe had then (36 minutes): own 0.90,
   unseen 0.27;
3. `--init STEP2.pth --varied 1600 --epochs 20 --lr 2e-4 --batch-size 8 --threads 1 --minutes
   75` (flip and three sizes, the fine-tuning recipe's default now; 51 minutes on one core):
   own-style AP50 0.948 (AP 0.715), unseen style 0.446 (AP 0.236);
4. `--init STEP3.pth --varied 4000 --varied-seed 15 --epochs 9 --lr 2e-4 --batch-size 8
   --threads 1 --minutes 45` (the same 800 own-style images and 4000 new varied-style ones; 44
   minutes on one core, all 9 epochs): own-style AP50 0.970 (AP 0.741), unseen style 0.563
   (AP 0.317), 7.3 MiB.
Steps 2 and 3 train on the same 800 own-style and 1600 varied-style images (seed 14).
`--threads 1` on a shared machine: there, two threads were ten times slower per step (OpenMP
threads waiting for each other).

Steps, all seeded: generate 800 own-style training images (`python -m detr_model synth`,
circles, squares and triangles) and, with `--varied N`, N varied-style ones (`synth --style
varied`, `--varied-seed`), 100 own-style validation images, and 200 held-out test images of
the own style (seed 13) and of the unseen style (seed 21, `synth --style unseen`, never trained
on); train `--preset tiny` (ModelConfig.tiny_fast + TrainConfig.tiny_fast from scratch,
TrainConfig.finetune from `--init`), keeping the best epoch by own-style validation AP; score
it on both test sets and write it to resources/models/demo.pth with float16 weights (half the
size), its class names, config, training settings and the held-out metrics (own `AP50`...,
unseen `unseen_AP50`...) inside. The held-out AP is measured on the float16 file itself, as
the app will load it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_SEED, VAL_SEED, TEST_SEED = 11, 12, 13  # the demo project's images use seed 7
VARIED_SEED, UNSEEN_SEED = 14, 21  # unseen: the held-out stand-in for a user's images
DATA_SIZE = ("128", "160")  # pixels, drawn per image


def _synth(out: Path, images: int, seed: int, style: str = "own") -> Path:
    from detr_model.cli import main as cli

    if not (out / "annotations.json").is_file():
        args = ["synth", "--out", str(out), "--images", str(images), "--seed", str(seed)]
        if cli([*args, "--size", *DATA_SIZE, "--style", style]) != 0:
            raise SystemExit(f"could not generate {out}")
    return out / "annotations.json"


def _mixture(out: Path, parts: list[Path]) -> Path:
    """Returns one COCO JSON in `out` over the images of the JSONs `parts` (in folders under
    `out`, with the same categories); file names gain their folder."""
    from detr_model.atomic_file import atomic_write_json

    merged: dict = {"images": [], "annotations": [], "categories": None}
    for path in parts:
        data = json.loads(path.read_text())
        if merged["categories"] not in (None, data["categories"]):
            raise SystemExit(f"{path}: its categories differ from the other styles'")
        merged["categories"] = data["categories"]
        new_id = {}
        for image in data["images"]:
            new_id[image["id"]] = len(merged["images"]) + 1
            file_name = f"{path.parent.relative_to(out)}/{image['file_name']}"
            merged["images"].append({**image, "id": new_id[image["id"]], "file_name": file_name})
        for ann in data["annotations"]:
            ann = {**ann, "id": len(merged["annotations"]) + 1, "image_id": new_id[ann["image_id"]]}
            merged["annotations"].append(ann)
    json_path = out / "mixture.json"
    atomic_write_json(json_path, merged)
    return json_path


def _held_out_metrics(checkpoint: Path, test_dir: Path) -> dict[str, float]:
    from detr_model.checkpoint import load_checkpoint
    from detr_model.data import CocoDetection, make_transforms
    from detr_model.evaluation import evaluate

    ckpt = load_checkpoint(checkpoint)
    trained = ckpt.train_config or {}
    transforms = make_transforms(
        "val", scales=[int(trained["eval_size"])], max_size=int(trained["max_size"])
    )
    data = CocoDetection(test_dir, test_dir / "annotations.json", transforms)
    return evaluate(ckpt.build_model(), data)


def _write_half(best: Path, out: Path, metrics: dict) -> None:
    from detr_model.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(best)
    model = ckpt.build_model().half()
    save_checkpoint(
        out,
        model,
        class_names=ckpt.class_names,
        metrics=metrics,
        train_config=ckpt.train_config,
        extra={"weights": "float16", "trained_by": "tools/train_demo_model.py"},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="length of the lr schedule")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--image-size", type=int, default=160, help="training/eval side (px)")
    parser.add_argument("--workers", type=int, default=0, help="data-loader processes")
    parser.add_argument(
        "--minutes", type=float, help="stop training after this long (as Ctrl+C: best so far)"
    )
    parser.add_argument(
        "--init", default="none", help="none (from scratch) | a model file to start from"
    )
    parser.add_argument("--lr", type=float, help="learning rate (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, help="images a step (default: the recipe's)")
    parser.add_argument(
        "--varied", type=int, default=0, help="varied-style training images beside the 800 own"
    )
    parser.add_argument("--varied-seed", type=int, default=VARIED_SEED)
    parser.add_argument("--progress", choices=("bar", "jsonl"), default="bar")
    parser.add_argument("--work", type=Path, default=Path("/tmp/detr-studio-demo-train"))
    parser.add_argument("--out", type=Path, default=ROOT / "resources/models/demo.pth")
    args = parser.parse_args()

    import torch

    from detr_model.cli import main as cli

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    train_json = _synth(args.work / "train", 800, TRAIN_SEED)
    if args.varied:
        varied_json = _synth(args.work / "varied", args.varied, args.varied_seed, "varied")
        train_json = _mixture(args.work, [train_json, varied_json])
    val_json = _synth(args.work / "val", 100, VAL_SEED)
    test_dir = _synth(args.work / "test", 200, TEST_SEED).parent
    unseen_dir = _synth(args.work / "unseen", 200, UNSEEN_SEED, "unseen").parent
    run = args.work / "run"
    if args.minutes:  # the CLI stops after the current iteration on SIGINT and keeps best.pt
        timer = threading.Timer(args.minutes * 60, os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True
        timer.start()
    options = ["--preset", "tiny", "--init", str(args.init)]
    if args.lr is not None:
        options += ["--lr", str(args.lr), "--lr-backbone", str(args.lr)]
    if args.batch_size is not None:
        options += ["--batch-size", str(args.batch_size)]
    code = cli(
        [
            "train",
            "--train-json", str(train_json), "--train-images", str(train_json.parent),
            "--val-json", str(val_json), "--val-images", str(val_json.parent),
            *options, "--epochs", str(args.epochs),
            "--workers", str(args.workers), "--seed", "0", "--out", str(run),
            "--device", args.device,
            "--image-size", str(args.image_size), "--progress", args.progress,
        ]
    )  # fmt: skip
    if code not in (0, 128 + signal.SIGINT):
        return code
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write_half(run / "best.pt", args.out, {})
    metrics = _held_out_metrics(args.out, test_dir)
    unseen = _held_out_metrics(args.out, unseen_dir)
    summary = {k: v for k, v in metrics.items() if not k.startswith("per_class")}
    summary.update({f"unseen_{k}": v for k, v in unseen.items() if not k.startswith("per_class")})
    _write_half(run / "best.pt", args.out, {**summary, "held_out_images": 200})
    minutes = (time.monotonic() - started) / 60
    print(json.dumps({"held_out": metrics, "unseen": unseen, "minutes": minutes}))
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
