"""Seconds per training iteration (forward, set loss, backward, clip, AdamW step).

    python bench/train_step.py [--models r50,tiny] [--batch 2] [--size 800] [--iters 5]
                               [--device cpu|cuda] [--amp off|bf16] [--threads N]

Random images of size x round(size * 4 / 3) (the paper's test size for a 3:4 photo at 800),
3 random boxes per image, random weights, the paper's optimiser settings. Prints the median
seconds per iteration after one warm-up iteration, and images per second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from detr_model.config import ModelConfig  # noqa: E402
from detr_model.detr import build_detr  # noqa: E402
from detr_model.epoch import make_optimizer, train_one_epoch  # noqa: E402
from detr_model.losses import build_criterion  # noqa: E402
from detr_model.nested import NestedTensor  # noqa: E402
from detr_model.train_config import TrainConfig  # noqa: E402

PRESETS = {"r50": ModelConfig.detr_r50, "r101": ModelConfig.detr_r101, "tiny": ModelConfig.tiny}


def _batch(batch: int, size: int, num_classes: int) -> tuple[NestedTensor, list[dict]]:
    images = torch.randn(batch, 3, size, round(size * 4 / 3))
    targets = [
        {
            "labels": torch.randint(1, num_classes, (3,)),
            "boxes": torch.rand(3, 4) * 0.4 + 0.3,
        }
        for _ in range(batch)
    ]
    return NestedTensor.from_batch(images), targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="r50,tiny")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=800)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", choices=("off", "bf16"), default="off")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = torch.bfloat16 if args.amp == "bf16" else None
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"batch {args.batch} x {args.size}x{round(args.size * 4 / 3)}, amp {args.amp}"
    )
    print(f"{'model':6s} {'s/iter':>8s} {'images/s':>9s} {'loss':>8s}")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build_detr(PRESETS[name](num_classes=91)).to(device)
        config = TrainConfig()
        criterion = build_criterion(model.config, config).to(device)
        optimizer = make_optimizer(model, config)
        loader = [_batch(args.batch, args.size, 91)]
        times, loss = [], float("nan")
        for i in range(args.iters + 1):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = train_one_epoch(
                model, criterion, loader, optimizer, device, amp_dtype=amp, clip_max_norm=0.1
            )
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:  # the first iteration is warm-up
                times.append(time.perf_counter() - start)
            loss = result.losses["loss"]
        per_iter = statistics.median(times)
        print(f"{name:6s} {per_iter:8.3f} {args.batch / per_iter:9.2f} {loss:8.3f}", flush=True)


if __name__ == "__main__":
    main()
