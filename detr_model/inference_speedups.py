"""Inference-only rewrites of a DETR model that make it faster on a CPU.

- fold_frozen_batchnorm: the backbone's frozen (or eval-mode) BatchNorm layers become the bias
  and scale of the convolution before them (same function, one pass over memory less per layer).
- backbone_to_bfloat16: the ResNet body runs in bfloat16 (fast on CPUs with AMX or AVX-512
  BF16); its output is cast back, so the transformer, heads and post-processing stay float32.

Both change the module structure or dtypes, so apply them to a copy used only for inference
(the state dict of a folded model no longer matches the official layout).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from detr_model.backbone import FrozenBatchNorm2d

log = logging.getLogger(__name__)


def cpu_has_fast_bfloat16() -> bool:
    """Return True when the CPU has AMX tiles or AVX-512 BF16 (bfloat16 matmuls in hardware)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    for name in checks:
        check = getattr(cpu, name, None)
        if check is not None:
            try:
                if check():
                    return True
            except RuntimeError:
                continue
    return False


@torch.no_grad()
def fold_frozen_batchnorm(model: nn.Module) -> int:
    """Return how many BatchNorm layers were folded into the conv before them (in place).

    Frozen BatchNorms (official models) always; trainable nn.BatchNorm2d (the tiny preset's
    backbone) only in eval mode, where it is the same fixed affine map.

    A BatchNorm is folded when its parent holds it as `bnN` beside `convN` (torchvision ResNet
    blocks and stem) or as item 1 after a Conv2d at item 0 (the `downsample` branch).
    """
    folded = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not _foldable(child):
                continue
            conv = _conv_before(parent, name)
            if conv is None:
                continue
            _fold_into(conv, child)
            setattr(parent, name, nn.Identity())  # also replaces item "1" of a Sequential
            folded += 1
    log.debug("folded %d frozen BatchNorm layers", folded)
    return folded


def _foldable(module: nn.Module) -> bool:
    """Return True for a frozen BatchNorm, or a trainable one in eval mode with its statistics."""
    if isinstance(module, FrozenBatchNorm2d):
        return True
    return (
        isinstance(module, nn.BatchNorm2d)
        and not module.training
        and module.affine
        and module.running_mean is not None
        and module.running_var is not None
    )


def _conv_before(parent: nn.Module, bn_name: str) -> nn.Conv2d | None:
    """Return the Conv2d whose output the BatchNorm `bn_name` of `parent` normalises, if known."""
    if bn_name.startswith("bn"):
        conv = getattr(parent, "conv" + bn_name[2:], None)
    elif bn_name.isdigit() and isinstance(parent, nn.Sequential) and int(bn_name) > 0:
        conv = parent[int(bn_name) - 1]
    else:
        conv = None
    return conv if isinstance(conv, nn.Conv2d) else None


def _fold_into(conv: nn.Conv2d, bn: FrozenBatchNorm2d | nn.BatchNorm2d) -> None:
    """Give `conv` the scale and shift of `bn`, so conv alone computes bn(conv(x))."""
    scale = bn.weight * (bn.running_var + bn.eps).rsqrt()  # (C_out,)
    shift = bn.bias - bn.running_mean * scale
    conv.weight.mul_(scale.view(-1, 1, 1, 1).to(conv.weight.dtype))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)


def backbone_to_bfloat16(model: nn.Module) -> None:
    """Run the model's ResNet body (`model.backbone[0].body`) in bfloat16, in place.

    Its input is cast to bfloat16 and its output back to the input's dtype, so everything
    after the body (mask, position encoding, transformer, heads) is unchanged float32.
    """
    body = model.backbone[0].body
    body.to(torch.bfloat16)
    body.register_forward_pre_hook(_cast_input_to_bf16)
    body.register_forward_hook(_cast_output_to_float)


def _cast_input_to_bf16(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return the forward arguments with the image tensor cast to bfloat16."""
    return (args[0].to(torch.bfloat16),) + tuple(args[1:])


def _cast_output_to_float(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
    """Return the body's features cast back to float32."""
    return output.float()
