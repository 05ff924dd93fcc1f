"""Read a ModelConfig out of an official facebookresearch/detr checkpoint (keys and `args`).

The official files hold only `{"model": state_dict}` (training checkpoints add `args`, an
argparse.Namespace). Most of the architecture can be read off the key names and shapes; the
number of heads and DC5 cannot, so they come from `args` or the released file's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from detr_model.config import ModelConfig

_BLOCK_COUNTS = {  # (bottleneck?, blocks in layer3) -> torchvision ResNet
    (False, 2): "resnet18",
    (False, 6): "resnet34",
    (True, 6): "resnet50",
    (True, 23): "resnet101",
}


class UnknownLayoutError(ValueError):
    """The state dict does not have the layout of a DETR model we can build."""


def infer_config(
    state_dict: Mapping[str, Tensor],
    *,
    dilation: bool = False,
    nheads: int = 8,
    aux_loss: bool = True,
    dropout: float = 0.1,
) -> ModelConfig:
    """Return the ModelConfig whose model has this state dict's layout (heads and DC5 as given)."""
    required = ("class_embed.weight", "query_embed.weight", "backbone.0.body.conv1.weight")
    missing = [k for k in required if k not in state_dict]
    if missing:
        raise UnknownLayoutError(f"not a DETR state dict: no {', '.join(missing)}")
    num_classes = state_dict["class_embed.weight"].shape[0] - 1
    num_queries, hidden_dim = state_dict["query_embed.weight"].shape
    bottleneck = "backbone.0.body.layer1.0.conv3.weight" in state_dict
    layer3_blocks = _count_indices(state_dict, r"backbone\.0\.body\.layer3\.(\d+)\.")
    backbone = _BLOCK_COUNTS.get((bottleneck, layer3_blocks))
    if backbone is None:
        kind = "bottleneck" if bottleneck else "basic"
        raise UnknownLayoutError(
            f"unknown ResNet: {layer3_blocks} {kind} blocks in layer3 (known: ResNet-18/34/50/101)"
        )
    enc_layers = _count_indices(state_dict, r"transformer\.encoder\.layers\.(\d+)\.")
    dec_layers = _count_indices(state_dict, r"transformer\.decoder\.layers\.(\d+)\.")
    ffn_key = (
        "transformer.encoder.layers.0.linear1.weight"
        if enc_layers
        else "transformer.decoder.layers.0.linear1.weight"
    )
    if ffn_key not in state_dict:
        raise UnknownLayoutError(f"not a DETR state dict: no {ffn_key}")
    return ModelConfig(
        num_classes=int(num_classes),
        backbone=backbone,
        dilation=dilation,
        position_embedding="learned" if "backbone.1.row_embed.weight" in state_dict else "sine",
        hidden_dim=int(hidden_dim),
        nheads=nheads,
        num_encoder_layers=enc_layers,
        num_decoder_layers=dec_layers,
        dim_feedforward=int(state_dict[ffn_key].shape[0]),
        dropout=dropout,
        num_queries=int(num_queries),
        # Only the pre-norm transformer has a final encoder LayerNorm.
        pre_norm="transformer.encoder.norm.weight" in state_dict,
        aux_loss=aux_loss,
    )


def settings_from_args(args: Any) -> dict[str, Any]:
    """Return infer_config keyword settings read from an official `args` namespace (or {})."""
    if args is None:
        return {}
    values = args if isinstance(args, Mapping) else getattr(args, "__dict__", {})
    settings: dict[str, Any] = {}
    for name, kind in (("dilation", bool), ("nheads", int), ("aux_loss", bool), ("dropout", float)):
        value = values.get(name)
        if isinstance(value, kind) or (kind is float and isinstance(value, int)):
            settings[name] = kind(value)
    return settings


def strip_module_prefix(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Return the state dict without the "module." prefix DataParallel/DDP wrappers add."""
    keys = list(state_dict)
    if keys and all(k.startswith("module.") for k in keys):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def _count_indices(state_dict: Mapping[str, Tensor], pattern: str) -> int:
    """Return 1 + the largest index matched by `pattern`'s group in the keys (0 if none)."""
    regex = re.compile(pattern)
    indices = [int(m.group(1)) for key in state_dict if (m := regex.match(key))]
    return max(indices) + 1 if indices else 0
