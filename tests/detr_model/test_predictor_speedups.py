"""Inference rewrites: folded frozen BatchNorm and a bfloat16 backbone keep the outputs."""

from __future__ import annotations

import copy

import numpy as np
import torch

from detr_model.backbone import FrozenBatchNorm2d
from detr_model.config import ModelConfig
from detr_model.detr import DETR, build_detr
from detr_model.inference_speedups import backbone_to_bfloat16, fold_frozen_batchnorm
from detr_model.predictor import Predictor


def _model_with_real_looking_batchnorm() -> DETR:
    """Return a tiny model whose frozen BatchNorms are not the identity (as after training)."""
    torch.manual_seed(0)
    model = build_detr(ModelConfig.tiny(num_classes=5)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FrozenBatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return model


def _run(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    images = [torch.randn(3, 96, 128), torch.randn(3, 80, 112)]
    with torch.inference_mode():
        out = model(images)
    return out["pred_logits"], out["pred_boxes"]


def test_folding_frozen_batchnorm_keeps_the_outputs() -> None:
    model = _model_with_real_looking_batchnorm()
    expected = _run(model)
    folded = copy.deepcopy(model)
    bn_count = sum(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert fold_frozen_batchnorm(folded) == bn_count == 20  # ResNet-18: stem, 16, 3 downsample
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in folded.modules())
    for got, want in zip(_run(folded), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_channels_last_folded_model_keeps_the_outputs() -> None:
    model = _model_with_real_looking_batchnorm()
    expected = _run(model)
    fast = copy.deepcopy(model)
    fold_frozen_batchnorm(fast)
    fast = fast.to(memory_format=torch.channels_last)
    for got, want in zip(_run(fast), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_bfloat16_backbone_keeps_float32_outputs_close() -> None:
    model = _model_with_real_looking_batchnorm()
    logits, boxes = _run(model)
    fast = copy.deepcopy(model)
    fold_frozen_batchnorm(fast)
    backbone_to_bfloat16(fast)
    got_logits, got_boxes = _run(fast)
    assert got_logits.dtype == torch.float32
    assert fast.transformer.encoder.layers[0].linear1.weight.dtype == torch.float32
    assert fast.backbone[0].body.conv1.weight.dtype == torch.bfloat16
    prob, got_prob = logits.softmax(-1), got_logits.softmax(-1)
    assert (got_prob - prob).abs().max() < 0.02
    assert (got_boxes - boxes).abs().max() < 0.01


def test_predictor_bf16_and_fp32_on_cpu_agree_closely() -> None:
    model = _model_with_real_looking_batchnorm()
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    small = {"device": "cpu", "min_size": 96, "max_size": 128}
    [fp32] = Predictor(model, list("abcde"), precision="fp32", **small).predict(
        image, score_threshold=0
    )
    [bf16] = Predictor(model, list("abcde"), precision="bf16", **small).predict(
        image, score_threshold=0
    )
    np.testing.assert_allclose(np.sort(bf16.scores), np.sort(fp32.scores), atol=0.02)
    # Score order may differ: match each float32 box to its nearest bfloat16 box.
    gaps = np.abs(fp32.boxes[:, None, :] - bf16.boxes[None, :, :]).max(axis=2)  # (N, N)
    assert gaps.min(axis=1).max() < 0.01 * 120
