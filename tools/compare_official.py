"""Compare detr_model against the official facebookresearch/detr code on the same weights.

A local check tool, not used by the tests. The official code is imported at run time from the
folder given with --official (nothing of it is committed or imported by the library):

    .venv/bin/python tools/compare_official.py --official /work/official_detr

For each case it builds the official model with random weights (BatchNorm statistics calibrated
on the input so activations stay in a realistic range, biases and norms perturbed so that none
is trivially zero or one), loads its state dict into ours with strict=True, compares eval-mode
outputs (pred_logits, pred_boxes, every aux output) on one image and on a batch of two images of
different sizes, and loads our state dict back into a fresh official model with strict=True.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import warnings
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detr_model.config import ModelConfig  # noqa: E402
from detr_model.detr import build_detr  # noqa: E402

log = logging.getLogger("compare_official")

TOLERANCE = 1e-4


def load_official(official_dir: Path) -> Namespace:
    """Return the official modules (backbone, transformer, detr) imported from official_dir."""
    if not (official_dir / "models" / "detr.py").is_file():
        raise FileNotFoundError(f"{official_dir}: not a facebookresearch/detr checkout")
    sys.path.insert(0, str(official_dir))
    backbone: ModuleType = importlib.import_module("models.backbone")
    transformer: ModuleType = importlib.import_module("models.transformer")
    detr: ModuleType = importlib.import_module("models.detr")
    # The official Backbone asks torchvision for ImageNet weights on the main process; nothing
    # can be downloaded here, so make it build the ResNet with random weights instead.
    backbone.is_main_process = lambda: False
    warnings.filterwarnings("ignore", message=".*(pretrained|weight enum).*", category=UserWarning)
    return Namespace(backbone=backbone, transformer=transformer, detr=detr)


def official_args(config: ModelConfig) -> Namespace:
    """Return the official main.py arguments that describe the same architecture as config."""
    return Namespace(
        backbone=config.backbone,
        dilation=config.dilation,
        position_embedding=config.position_embedding,
        hidden_dim=config.hidden_dim,
        nheads=config.nheads,
        enc_layers=config.num_encoder_layers,
        dec_layers=config.num_decoder_layers,
        dim_feedforward=config.dim_feedforward,
        dropout=config.dropout,
        pre_norm=config.pre_norm,
        num_queries=config.num_queries,
        aux_loss=config.aux_loss,
        lr_backbone=1e-5,
        masks=False,
    )


def build_official(official: Namespace, config: ModelConfig) -> nn.Module:
    """Return the official DETR for config (random weights, nothing downloaded)."""
    args = official_args(config)
    return official.detr.DETR(
        official.backbone.build_backbone(args),
        official.transformer.build_transformer(args),
        num_classes=config.num_classes,
        num_queries=config.num_queries,
        aux_loss=config.aux_loss,
    )


@torch.no_grad()
def randomize_weights(model: nn.Module, images: list[Tensor], seed: int = 0) -> None:
    """Give model realistic random weights: calibrated frozen BatchNorm, non-trivial biases.

    Each frozen BatchNorm gets the per-channel mean and variance of its input on `images`
    (calibrated in forward order, so activations stay O(1) through the ResNet), a random scale
    in [0.5, 1.5] and a random shift; every 1-d parameter (biases, LayerNorm) gets noise.
    """
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        if p.dim() == 1:
            noise = torch.randn(p.shape, generator=gen) * 0.05
            p.add_(noise.to(p.dtype))
    norms = [m for m in model.modules() if type(m).__name__ == "FrozenBatchNorm2d"]

    def calibrate(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        x = inputs[0]
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)))
        n = module.weight.shape[0]
        module.weight.copy_(0.5 + torch.rand(n, generator=gen))
        module.bias.copy_(torch.randn(n, generator=gen) * 0.1)

    handles = [m.register_forward_pre_hook(calibrate) for m in norms]
    try:
        was_training = model.training
        model.eval()
        model(images)
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()


def max_abs_diff(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, float]:
    """Return the max absolute difference per output (final and each aux layer)."""
    diffs = {
        "pred_logits": (ours["pred_logits"] - theirs["pred_logits"]).abs().max().item(),
        "pred_boxes": (ours["pred_boxes"] - theirs["pred_boxes"]).abs().max().item(),
    }
    if ("aux_outputs" in ours) != ("aux_outputs" in theirs):
        raise AssertionError("aux_outputs present in one output only")
    if "aux_outputs" in theirs:
        if len(ours["aux_outputs"]) != len(theirs["aux_outputs"]):
            raise AssertionError("different number of aux outputs")
        for key in ("pred_logits", "pred_boxes"):
            diffs[f"aux_{key}"] = max(
                (a[key] - b[key]).abs().max().item()
                for a, b in zip(ours["aux_outputs"], theirs["aux_outputs"], strict=True)
            )
    return diffs


def make_images(sizes: list[tuple[int, int]], seed: int) -> list[Tensor]:
    """Return normalised-looking random images (3, h, w) for the given sizes."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(3, h, w, generator=gen) for h, w in sizes]


def compare_case(
    official: Namespace,
    name: str,
    config: ModelConfig,
    single: list[tuple[int, int]],
    batch: list[tuple[int, int]],
    channels_last: bool = False,
) -> float:
    """Return the worst difference over the case's inputs; log each number."""
    torch.manual_seed(0)
    theirs = build_official(official, config)
    randomize_weights(theirs, make_images(batch, seed=1))
    theirs.eval()
    ours = build_detr(config)
    ours.load_state_dict(theirs.state_dict(), strict=True)  # official -> ours
    ours.eval()
    back = build_official(official, config)
    back.load_state_dict(ours.state_dict(), strict=True)  # ours -> official
    back.eval()
    if channels_last:
        ours = ours.to(memory_format=torch.channels_last)
    worst = 0.0
    for label, sizes, seed in (("one image", single, 2), ("batch of two", batch, 3)):
        images = make_images(sizes, seed)
        with torch.inference_mode():
            t0 = time.perf_counter()
            expected = theirs(images)
            t1 = time.perf_counter()
            got = ours(images)
            t2 = time.perf_counter()
            round_trip = back(images)
        diffs = max_abs_diff(got, expected)
        reverse = max_abs_diff(round_trip, expected)
        case_worst = max(diffs.values())
        worst = max(worst, case_worst)
        log.info(
            "%-22s %-13s %s  max=%.2e  (ours->official reload max=%.1e; official %.0f ms, "
            "ours %.0f ms)",
            name,
            label,
            " ".join(f"{k}={v:.1e}" for k, v in diffs.items()),
            case_worst,
            max(reverse.values()),
            (t1 - t0) * 1e3,
            (t2 - t1) * 1e3,
        )
        if max(reverse.values()) != 0.0:
            raise AssertionError(f"{name}: official model reloaded from ours gives other outputs")
    return worst


def main(argv: list[str] | None = None) -> int:
    """Run every comparison case; return 0 when all are within TOLERANCE."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="facebookresearch/detr dir")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="only the small and R50 cases")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    official = load_official(args.official)

    small = ModelConfig(
        num_classes=5,
        backbone="resnet18",
        hidden_dim=64,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=128,
        num_queries=10,
    )
    single, batch = [(320, 416)], [(320, 416), (384, 288)]
    cases: list[tuple[str, ModelConfig, bool]] = [
        ("small", small, False),
        ("small pre_norm", small.replace(pre_norm=True), False),
        ("small learned pos", small.replace(position_embedding="learned"), False),
        ("small no aux", small.replace(aux_loss=False), False),
        ("DETR-R50", ModelConfig.detr_r50(), False),
        ("DETR-R50 channels_last", ModelConfig.detr_r50(), True),
    ]
    if not args.quick:
        cases += [
            ("DETR-R101", ModelConfig.detr_r101(), False),
            ("DETR-R50-DC5", ModelConfig.detr_r50_dc5(), False),
            ("DETR-R101-DC5", ModelConfig.detr_r101_dc5(), False),
        ]
    worst = 0.0
    for name, config, channels_last in cases:
        worst = max(worst, compare_case(official, name, config, single, batch, channels_last))
    ok = worst <= TOLERANCE
    log.info(
        "worst max abs difference %.2e (tolerance %.0e): %s",
        worst,
        TOLERANCE,
        "PASS" if ok else "FAIL",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
