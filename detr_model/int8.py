"""Int8 post-training quantization of DETR's ResNet body for the CPU (x86, oneDNN/FBGEMM).

torch.ao's FX graph mode quantizes the body's convolutions (BatchNorm fused into them,
ReLU fused after) with the "x86" qconfig: per-channel int8 weights, activations observed on a
few calibration images. The transformer and heads stay float32. (The PT2E flow with the
X86InductorQuantizer moved out of torch into the separate torchao package and needs
torch.compile, which takes minutes on a small CPU; the FX path needs neither.)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)


def prepare_int8_backbone(model: nn.Module, example: Tensor) -> nn.Module:
    """Return the model with its ResNet body replaced by an observing copy (in place).

    Run a few images through the model, then call `convert_int8_backbone`. Images must be
    contiguous float32 (B, 3, H, W); the observed body runs in float32.
    """
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    torch.backends.quantized.engine = "x86"
    body = model.backbone[0].body
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        observed = prepare_fx(body.eval(), get_default_qconfig_mapping("x86"), (example,))
    model.backbone[0].body = observed
    return model


def convert_int8_backbone(model: nn.Module) -> nn.Module:
    """Return the model with its observed body converted to int8 (in place)."""
    from torch.ao.quantization.quantize_fx import convert_fx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.backbone[0].body = convert_fx(model.backbone[0].body)
    log.info("ResNet body quantized to int8")
    return model


def calibrate(model: nn.Module, batches: Iterable[object]) -> None:
    """Run the model on calibration batches (NestedTensors or tensors) without gradients."""
    with torch.inference_mode():
        for batch in batches:
            model(batch)
