"""Model configuration: a frozen dataclass whose defaults are the DETR paper's numbers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101")
POSITION_EMBEDDINGS = ("sine", "learned")
BACKBONE_NORMS = ("frozen_bn", "bn", "gn")
CLASS_SCORES = ("softmax", "sigmoid")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a DETR model (defaults: DETR-R50 of the paper, 91 COCO class slots)."""

    num_classes: int = 91
    """Class slots (official COCO: max category id + 1); "no object" is added as slot num_classes."""
    backbone: str = "resnet50"
    """ResNet body: resnet18 | resnet34 | resnet50 | resnet101."""
    dilation: bool = False
    """DC5: dilate the last ResNet stage instead of striding (stride 16 features)."""
    position_embedding: str = "sine"
    """Spatial position encoding: sine (fixed) | learned (row/column embeddings)."""
    hidden_dim: int = 256
    """Transformer width d."""
    nheads: int = 8
    """Attention heads in every attention layer."""
    num_encoder_layers: int = 6
    """Transformer encoder layers."""
    num_decoder_layers: int = 6
    """Transformer decoder layers."""
    dim_feedforward: int = 2048
    """Hidden size of the feed-forward block in each transformer layer."""
    dropout: float = 0.1
    """Dropout in the transformer (training only)."""
    num_queries: int = 100
    """Object queries: the most objects one image can have."""
    pre_norm: bool = False
    """LayerNorm before each sub-layer (pre-norm) instead of after it (the paper's post-norm)."""
    aux_loss: bool = True
    """Return predictions of every earlier decoder layer as aux_outputs."""
    # Options for models trained from scratch (issue 8); the defaults are the official model.
    backbone_norm: str = "frozen_bn"
    """Backbone normalisation: frozen_bn (official) | bn (trainable BatchNorm) | gn (GroupNorm)."""
    feature_stride: int = 32
    """32: last ResNet stage (official); 16: layer3 output, layer4 dropped (no dilation)."""
    train_stem: bool = False
    """Train the stem and layer1 too (the official backbone freezes them)."""
    class_score: str = "softmax"
    """softmax over classes + "no object" (official) | sigmoid per class (focal loss)."""
    query_anchors: bool = False
    """Object queries carry learned reference boxes; boxes are offsets from them (DAB-DETR)."""
    query_groups: int = 1
    """Object query groups in training (Group DETR), each matched on its own; 1 = off."""
    dn_groups: int = 0
    """Denoising query groups in training (DN-DETR); 0 turns denoising off."""
    dn_label_noise: float = 0.2
    """Probability that a denoising query's label is replaced by a random class."""
    dn_box_noise: float = 0.4
    """Denoising box noise: centre shift up to this x half the size, sides scaled by 1 +- this."""

    def __post_init__(self) -> None:
        _check_types(self)
        if self.backbone not in BACKBONES:
            raise ValueError(
                f"ModelConfig: backbone must be one of {BACKBONES}, got {self.backbone!r}"
            )
        if self.dilation and self.backbone in ("resnet18", "resnet34"):
            raise ValueError(
                f"ModelConfig: dilation (DC5) needs a bottleneck ResNet (resnet50 or resnet101), "
                f"got {self.backbone!r}"
            )
        if self.position_embedding not in POSITION_EMBEDDINGS:
            raise ValueError(
                f"ModelConfig: position_embedding must be one of {POSITION_EMBEDDINGS}, "
                f"got {self.position_embedding!r}"
            )
        for name in (
            "num_classes",
            "hidden_dim",
            "nheads",
            "num_decoder_layers",
            "dim_feedforward",
            "num_queries",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelConfig: {name} must be >= 1, got {getattr(self, name)}")
        if self.backbone_norm not in BACKBONE_NORMS:
            raise ValueError(
                f"ModelConfig: backbone_norm must be one of {BACKBONE_NORMS}, "
                f"got {self.backbone_norm!r}"
            )
        if self.feature_stride not in (16, 32):
            raise ValueError(
                f"ModelConfig: feature_stride must be 16 or 32, got {self.feature_stride}"
            )
        if self.feature_stride == 16 and self.dilation:
            raise ValueError(
                "ModelConfig: feature_stride 16 drops layer4; dilation (DC5) keeps it dilated: "
                "choose one"
            )
        if self.class_score not in CLASS_SCORES:
            raise ValueError(
                f"ModelConfig: class_score must be one of {CLASS_SCORES}, got {self.class_score!r}"
            )
        if (self.dn_groups > 0 or self.query_anchors) and self.hidden_dim % 8:
            raise ValueError(
                f"ModelConfig: denoising and query anchors need hidden_dim divisible by 8, "
                f"got {self.hidden_dim}"
            )
        if self.query_groups < 1:
            raise ValueError(f"ModelConfig: query_groups must be >= 1, got {self.query_groups}")
        if self.dn_groups < 0:
            raise ValueError(f"ModelConfig: dn_groups must be >= 0, got {self.dn_groups}")
        for name in ("dn_label_noise", "dn_box_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"ModelConfig: {name} must be in [0, 1], got {getattr(self, name)}"
                )
        if self.num_encoder_layers < 0:
            raise ValueError(
                f"ModelConfig: num_encoder_layers must be >= 0, got {self.num_encoder_layers}"
            )
        if self.hidden_dim % self.nheads != 0:
            raise ValueError(
                f"ModelConfig: hidden_dim ({self.hidden_dim}) must be divisible by "
                f"nheads ({self.nheads})"
            )
        if self.position_embedding == "sine" and self.hidden_dim % 2 != 0:
            raise ValueError(f"ModelConfig: hidden_dim must be even, got {self.hidden_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig: dropout must be in [0, 1), got {self.dropout}")

    # Presets -------------------------------------------------------------------------------

    @classmethod
    def detr_r50(cls, num_classes: int = 91) -> ModelConfig:
        """Return the configuration of the official DETR-R50."""
        return cls(num_classes=num_classes, backbone="resnet50")

    @classmethod
    def detr_r101(cls, num_classes: int = 91) -> ModelConfig:
        """Return the configuration of the official DETR-R101."""
        return cls(num_classes=num_classes, backbone="resnet101")

    @classmethod
    def detr_r50_dc5(cls, num_classes: int = 91) -> ModelConfig:
        """Return the configuration of the official DETR-R50-DC5 (dilated last stage)."""
        return cls(num_classes=num_classes, backbone="resnet50", dilation=True)

    @classmethod
    def detr_r101_dc5(cls, num_classes: int = 91) -> ModelConfig:
        """Return the configuration of the official DETR-R101-DC5 (dilated last stage)."""
        return cls(num_classes=num_classes, backbone="resnet101", dilation=True)

    @classmethod
    def tiny(cls, num_classes: int = 91) -> ModelConfig:
        """Return a small ResNet-18 configuration that runs and trains on a CPU."""
        return cls(
            num_classes=num_classes,
            backbone="resnet18",
            hidden_dim=128,
            nheads=8,
            num_encoder_layers=2,
            num_decoder_layers=2,
            dim_feedforward=512,
            num_queries=12,
        )

    @classmethod
    def tiny_fast(cls, num_classes: int = 91) -> ModelConfig:
        """Return the tiny configuration that trains fastest from scratch (docs/convergence.md)."""
        return cls.tiny(num_classes).replace(**TINY_FAST_CHANGES)

    # Serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a plain JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Return the ModelConfig described by `data`; ValueError on an unknown or bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"ModelConfig.from_dict: expected a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"ModelConfig.from_dict: unknown field(s) {unknown}")
        return cls(**data)

    def replace(self, **changes: Any) -> ModelConfig:
        """Return a copy with the given fields changed."""
        return dataclasses.replace(self, **changes)


TINY_FAST_CHANGES: dict[str, Any] = {
    "backbone_norm": "bn",
    "feature_stride": 16,
    "train_stem": True,
    "dropout": 0.0,
    "num_queries": 30,
    "query_anchors": True,
    "dn_groups": 5,
}
"""What `ModelConfig.tiny_fast` changes in `ModelConfig.tiny` (measured in docs/convergence.md)."""


_FIELD_TYPES: dict[str, type] = {"int": int, "bool": bool, "str": str, "float": float}


def _check_types(config: ModelConfig) -> None:
    """Raise ValueError naming the first field whose value has the wrong type."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        expected = _FIELD_TYPES.get(str(field.type))
        if expected is None:  # a field type this check does not know: left to __post_init__
            continue
        if expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok:
                object.__setattr__(config, field.name, float(value))
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise ValueError(
                f"ModelConfig: field {field.name!r} must be {expected.__name__}, "
                f"got {type(value).__name__} {value!r}"
            )
