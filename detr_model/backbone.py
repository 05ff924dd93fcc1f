"""ResNet backbone with frozen BatchNorm, joined with the position encoding."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from .config import ModelConfig
from .nested import NestedTensor
from .position_encoding import build_position_encoding

FROZEN_BN_EPS = 1e-5  # the official FrozenBatchNorm2d's eps


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters, all held as buffers.

    The state dict has weight, bias, running_mean and running_var, and no num_batches_tracked
    (a checkpoint that has one still loads: it is dropped).
    """

    def __init__(self, num_features: int, eps: float = FROZEN_BN_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def forward(self, x: Tensor) -> Tensor:
        """Return x normalised with the stored statistics: x * scale + shift per channel."""
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        # Same operation order as the official code: a fused multiply-add rounds differently,
        # and deep random ResNets amplify that to ~1e-4 on the logits.
        return x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


def _group_norm(num_channels: int) -> nn.GroupNorm:
    """Return GroupNorm with 32 groups (fewer when the channels do not divide)."""
    groups = 32
    while num_channels % groups:
        groups //= 2
    return nn.GroupNorm(groups, num_channels)


NORM_LAYERS = {"frozen_bn": FrozenBatchNorm2d, "bn": nn.BatchNorm2d, "gn": _group_norm}


class Backbone(nn.Module):
    """ResNet body (stem + layer1..4, no pooling/fc) giving stride-32 (or DC5 stride-16) features.

    `body` carries torchvision's ResNet module names, so keys read `body.layer3.0.conv1.weight`.
    The stem and layer1 never train (requires_grad False), as in the official backbone, unless
    `train_stem`. `norm` picks the normalisation (official: frozen BatchNorm); `stride` 16
    without dilation stops after layer3 (layer4 is not built).
    """

    def __init__(
        self,
        name: str,
        dilation: bool,
        *,
        norm: str = "frozen_bn",
        stride: int = 32,
        train_stem: bool = False,
    ) -> None:
        super().__init__()
        resnet = getattr(torchvision.models, name)(
            weights=None,
            replace_stride_with_dilation=[False, False, dilation],
            norm_layer=NORM_LAYERS[norm],
        )
        dropped = ("avgpool", "fc") if stride == 32 or dilation else ("avgpool", "fc", "layer4")
        self.body = nn.Sequential(
            OrderedDict(
                (child_name, child)
                for child_name, child in resnet.named_children()
                if child_name not in dropped
            )
        )
        if not train_stem:
            for param_name, param in self.body.named_parameters():
                if not param_name.startswith(("layer2", "layer3", "layer4")):
                    param.requires_grad_(False)
        self.num_channels = 512 if name in ("resnet18", "resnet34") else 2048
        if "layer4" in dropped:
            self.num_channels //= 2
        self.stride = 16 if dilation or stride == 16 else 32

    def forward(self, images: NestedTensor) -> NestedTensor:
        """Return the last stage's features (B, C, H/s, W/s) with the mask downsampled to them."""
        x = self.body(images.tensors)
        # Nearest-neighbour downsampling of the padding mask, exactly as the official code.
        mask = F.interpolate(images.mask[None].float(), size=x.shape[-2:]).to(torch.bool)[0]
        return NestedTensor(x, mask)


class Joiner(nn.Sequential):
    """Backbone (index 0) and position encoding (index 1), named as the official Joiner."""

    def __init__(self, backbone: Backbone, position_embedding: nn.Module) -> None:
        super().__init__(backbone, position_embedding)
        self.num_channels = backbone.num_channels
        self.stride = backbone.stride

    def forward(self, images: NestedTensor) -> tuple[NestedTensor, Tensor]:  # type: ignore[override]
        """Return (features with mask, position encoding (B, d, H/s, W/s))."""
        features = self[0](images)
        pos = self[1](features.tensors, features.mask)
        return features, pos


def build_backbone(config: ModelConfig) -> Joiner:
    """Return the backbone + position encoding the config asks for, randomly initialised."""
    backbone = Backbone(
        config.backbone,
        config.dilation,
        norm=config.backbone_norm,
        stride=config.feature_stride,
        train_stem=config.train_stem,
    )
    return Joiner(backbone, build_position_encoding(config))
