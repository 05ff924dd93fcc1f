"""Class-head surgery for fine-tuning: a new class list, keeping rows of classes known by name.

Everything but the class head (backbone, transformer, queries, box head) is kept as is. A class
whose name exists in the checkpoint keeps its trained row (a COCO "person" stays "person"); the
"no object" row (last) is kept; other classes get a freshly initialised row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from detr_model.checkpoint import Checkpoint
    from detr_model.detr import DETR

log = logging.getLogger(__name__)

_UNNAMED = {"", "n/a"}
DN_LABEL_KEY = "denoising.label_embed.weight"


@dataclass
class HeadSurgery:
    """What `adapt_class_head` did: new class index -> old index kept, names re-initialised."""

    kept: dict[int, int] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)


def _key(name: str) -> str:
    return " ".join(str(name).strip().lower().split())


def adapt_class_head(
    state_dict: Mapping[str, Tensor],
    old_names: Sequence[str],
    new_names: Sequence[str],
    *,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, Tensor], HeadSurgery]:
    """Returns a state dict whose class head has len(new_names) + 1 rows, and what was kept.

    Rows are matched by class name (case and spaces ignored; "N/A" slots never match); the
    last row ("no object") is always kept. Other rows get nn.Linear's default initialisation.
    """
    weight, bias = state_dict["class_embed.weight"], state_dict["class_embed.bias"]
    if weight.shape[0] != len(old_names) + 1:
        raise ValueError(
            f"adapt_class_head: the class head has {weight.shape[0] - 1} classes but "
            f"{len(old_names)} old names were given"
        )
    dim = weight.shape[1]
    bound = 1 / math.sqrt(dim)
    rows = len(new_names) + 1
    new_weight = (torch.rand(rows, dim, generator=generator) * 2 - 1) * bound
    new_bias = (torch.rand(rows, generator=generator) * 2 - 1) * bound
    new_weight, new_bias = new_weight.to(weight), new_bias.to(bias)
    old_index: dict[str, int] = {}
    for i, name in enumerate(old_names):
        if _key(name) not in _UNNAMED:
            old_index.setdefault(_key(name), i)
    surgery = HeadSurgery()
    for i, name in enumerate(new_names):
        j = old_index.get(_key(name)) if _key(name) not in _UNNAMED else None
        if j is None:
            if _key(name) not in _UNNAMED:
                surgery.new.append(str(name))
            continue
        new_weight[i], new_bias[i] = weight[j], bias[j]
        surgery.kept[i] = j
    new_weight[-1], new_bias[-1] = weight[-1], bias[-1]
    out = dict(state_dict)
    out["class_embed.weight"], out["class_embed.bias"] = new_weight, new_bias
    if DN_LABEL_KEY in out:  # denoising label embeddings: the same rows kept, N(0, 1) new ones
        old_embed = out[DN_LABEL_KEY]
        embed = torch.randn(rows, old_embed.shape[1], generator=generator).to(old_embed)
        for i, j in surgery.kept.items():
            embed[i] = old_embed[j]
        embed[-1] = old_embed[-1]
        out[DN_LABEL_KEY] = embed
    return out, surgery


def adapt_queries(
    state_dict: Mapping[str, Tensor], num_queries: int, *, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """Returns a state dict with `num_queries` query embeddings (first rows kept, new ones N(0, 1))."""
    old = state_dict["query_embed.weight"]
    if old.shape[0] == num_queries:
        return dict(state_dict)
    new = torch.randn(num_queries, old.shape[1], generator=generator).to(old)
    keep = min(num_queries, old.shape[0])
    new[:keep] = old[:keep]
    out = dict(state_dict)
    out["query_embed.weight"] = new
    return out


def finetune_model(
    checkpoint: Checkpoint,
    class_names: Sequence[str],
    *,
    generator: torch.Generator | None = None,
    **config_changes: Any,
) -> tuple[DETR, HeadSurgery]:
    """Returns a model built from `checkpoint` for `class_names`, ready to fine-tune, and the surgery.

    `config_changes` may change fields that do not alter the weights' shapes (dropout,
    aux_loss, ...) and num_queries (extra queries are initialised, surplus ones dropped).
    """
    from detr_model.detr import build_detr

    config = checkpoint.config.replace(num_classes=len(class_names), **config_changes)
    state, surgery = adapt_class_head(
        checkpoint.state_dict, checkpoint.class_names, class_names, generator=generator
    )
    state = adapt_queries(state, config.num_queries, generator=generator)
    model = build_detr(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"{checkpoint.path.name}: the weights do not fit the changed config ({exc})"
        ) from exc
    kept = [class_names[i] for i in sorted(surgery.kept)]
    log.info(
        "%s: fine-tuning for %d classes; kept %s; new %s",
        checkpoint.path.name,
        len(class_names),
        kept or "none",
        surgery.new or "none",
    )
    return model, surgery
