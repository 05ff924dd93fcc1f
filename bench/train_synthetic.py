"""AP50 over wall-clock time of the `tiny` preset trained from scratch on synthetic shapes.

    python bench/train_synthetic.py [--minutes 15] [--images 800] [--val-images 100]
                                    [--size 128 256] [--batch 8] [--lr 1e-4] [--lr-backbone 1e-5]
                                    [--workers 2] [--amp off|bf16|auto] [--queries N] [--data DIR]

Generates (or reuses, with --data) a seeded shapes dataset, trains ModelConfig.tiny with
engine.fit and the paper's recipe scaled to the image size, evaluates on the validation images
after every epoch and stops when the time budget is spent. Prints one line per epoch (minutes,
loss, AP, AP50) and the AP50 reached by each full minute at the end. Time includes evaluation.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from detr_model.config import ModelConfig  # noqa: E402
from detr_model.data import (  # noqa: E402
    CocoDetection,
    collate_fn,
    generate_shapes_dataset,
    make_transforms,
)
from detr_model.detr import build_detr  # noqa: E402
from detr_model.engine import fit  # noqa: E402
from detr_model.evaluation import evaluate  # noqa: E402
from detr_model.losses import build_criterion  # noqa: E402
from detr_model.train_config import TrainConfig  # noqa: E402


def _data(root: Path, images: int, val_images: int, size: tuple[int, int]) -> tuple[Path, Path]:
    train, val = root / "train", root / "val"
    if not (train / "annotations.json").is_file():
        generate_shapes_dataset(train, images, seed=1, size=size)
    if not (val / "annotations.json").is_file():
        generate_shapes_dataset(val, val_images, seed=2, size=size)
    return train, val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--size", type=int, nargs=2, default=[128, 256])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--lr-backbone", type=float, default=1e-5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--amp", choices=("off", "bf16", "auto"), default="auto")
    parser.add_argument("--queries", type=int)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--data", type=Path, help="folder to keep the generated data in")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--log-every", type=int, default=25)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp) / "data"
        train_dir, val_dir = _data(root, args.images, args.val_images, tuple(args.size))
        config = TrainConfig.small_images(
            args.size[1],
            epochs=args.epochs,
            lr_drop=max(1, args.epochs * 2 // 3),
            batch_size=args.batch,
            lr=args.lr,
            lr_backbone=args.lr_backbone,
            num_workers=args.workers,
            amp=args.amp,
            log_every=args.log_every,
            out_dir=str(Path(tmp) / "run"),
        )
        train = CocoDetection(
            train_dir,
            train_dir / "annotations.json",
            make_transforms(
                "train", scales=config.scales, max_size=config.max_size, crop=config.crop
            ),
        )
        val = CocoDetection(
            val_dir,
            val_dir / "annotations.json",
            make_transforms("val", scales=[config.eval_size], max_size=config.max_size),
        )
        model_config = ModelConfig.tiny(num_classes=train.num_classes)
        if args.queries:
            model_config = model_config.replace(num_queries=args.queries)
        torch.manual_seed(0)
        model = build_detr(model_config)
        print(
            f"tiny from scratch: {len(train)} train / {len(val)} val images "
            f"{args.size[0]}-{args.size[1]} px, batch {args.batch}, lr {args.lr}/"
            f"{args.lr_backbone}, amp {args.amp}, threads {torch.get_num_threads()}, "
            f"budget {args.minutes} min",
            flush=True,
        )
        print(f"{'min':>6s} {'epoch':>5s} {'loss':>8s} {'AP':>6s} {'AP50':>6s}", flush=True)
        started = time.monotonic()
        curve: list[tuple[float, float]] = []

        def on_progress(event: dict) -> None:
            if event["event"] == "iteration":
                print(
                    f"{(time.monotonic() - started) / 60:6.2f} {event['epoch']:5d} "
                    f"{event['loss']:8.3f}   (iteration {event['iteration']}/"
                    f"{event['iterations']})",
                    flush=True,
                )
                return
            minutes = (time.monotonic() - started) / 60
            metrics = event.get("metrics") or {}
            ap50 = float(metrics.get("AP50", float("nan")))
            curve.append((minutes, ap50))
            print(
                f"{minutes:6.2f} {event['epoch']:5d} {event['loss']:8.3f} "
                f"{metrics.get('AP', float('nan')):6.3f} {ap50:6.3f}",
                flush=True,
            )

        def out_of_time() -> bool:
            return time.monotonic() - started > args.minutes * 60

        result = fit(
            model,
            build_criterion(model_config, config),
            train,
            val,
            config,
            on_progress=on_progress,
            should_stop=out_of_time,
        )
        if result.stopped:  # the budget ended inside an epoch: score the weights reached
            loader = DataLoader(val, batch_size=args.batch, collate_fn=collate_fn)
            metrics = evaluate(model, loader, val.coco(), label_to_category=val.label_to_category)
            minutes = (time.monotonic() - started) / 60
            curve.append((minutes, metrics["AP50"]))
            print(
                f"{minutes:6.2f} {'end':>5s} {'':8s} {metrics['AP']:6.3f} {metrics['AP50']:6.3f}",
                flush=True,
            )
    print("AP50 reached by minute:", flush=True)
    for minute in range(1, int(math.ceil(max([args.minutes, *(t for t, _ in curve)]))) + 1):
        reached = [ap for t, ap in curve if t <= minute]
        print(f"  {minute:3d} min: {max(reached) if reached else float('nan'):.3f}")


if __name__ == "__main__":
    main()
