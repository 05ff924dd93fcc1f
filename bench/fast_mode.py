"""Time per epoch of fast mode (cached backbone features) against full and frozen fine-tuning.

    python bench/fast_mode.py [--model r50] [--size 512] [--images 16] [--threads 1]

Times one epoch of each on seeded synthetic images with a randomly initialised model (speed
does not depend on the weights): `full` trains what the fine-tuning recipe trains (backbone at
lr/10 for frozen-BN backbones), `frozen` sets the backbone's lr to 0, `fast` caches the
backbone's features once (the caching time is printed apart) and trains the rest on them.
Prints seconds per epoch and the ratios to `full`. AP after N minutes is measured by
`bench/convergence.py finetune --modes full,frozen,fast` (it needs a trained base model).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from detr_model.config import ModelConfig  # noqa: E402
from detr_model.data import CocoDetection, generate_shapes_dataset, make_transforms  # noqa: E402
from detr_model.detr import build_detr  # noqa: E402
from detr_model.engine import fit  # noqa: E402
from detr_model.losses import build_criterion  # noqa: E402
from detr_model.train_config import TrainConfig  # noqa: E402

MODELS = {"r50": ModelConfig.detr_r50, "tiny": ModelConfig.tiny_fast}


def _epoch_seconds(
    config: ModelConfig, data, train: TrainConfig, epochs: int
) -> tuple[float, float]:
    """Returns (mean seconds per epoch after the first, seconds spent caching features)."""
    torch.manual_seed(0)
    model = build_detr(config)
    started, cached = time.monotonic(), [0.0]
    times: list[float] = []

    def on_progress(event: dict) -> None:
        if event["event"] == "cache" and event["done"] == event["total"]:
            cached[0] = time.monotonic() - started
        elif event["event"] == "epoch":
            times.append(event["time_s"])

    fit(model, build_criterion(config, train), data, None, train, on_progress=on_progress)
    steady = times[1:] or times
    return sum(steady) / len(steady), cached[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="r50")
    parser.add_argument("--size", type=int, default=512, help="shorter image side (px)")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2, help="per mode; the first is not timed")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = MODELS[args.model](num_classes=4)
    with tempfile.TemporaryDirectory() as tmp:
        ann = generate_shapes_dataset(
            Path(tmp) / "data", args.images, seed=1, size=(args.size, round(args.size * 4 / 3))
        )
        base = TrainConfig.finetune(args.size).replace(
            epochs=args.epochs, batch_size=2, out_dir=str(Path(tmp) / "run"), log_every=10**6
        )
        if config.backbone_norm == "frozen_bn":
            base = base.replace(lr_backbone=base.lr / 10)
        transforms = make_transforms("train", scales=base.scales, max_size=base.max_size, crop=None)
        data = CocoDetection(ann.parent, ann, transforms)
        modes = {
            "full": base,
            "frozen": base.replace(lr_backbone=0.0),
            "fast": base.replace(lr_backbone=0.0, feature_cache=True),
        }
        rows = {
            name: _epoch_seconds(config, data, train, args.epochs) for name, train in modes.items()
        }
    full = rows["full"][0]
    print(f"\n{args.model}, {args.images} images at {args.size} px, batch 2, "
          f"{torch.get_num_threads()} thread(s), amp {base.amp}")  # fmt: skip
    print("| mode | s/epoch | × full | caching s |")
    print("|---|---|---|---|")
    for name, (seconds, cache) in rows.items():
        print(f"| {name} | {seconds:.1f} | {seconds / full:.2f} | {cache:.0f} |")


if __name__ == "__main__":
    main()
