"""The DETR detector: backbone, transformer, class and box heads over learned object queries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .anchors import QueryAnchors, inverse_sigmoid
from .backbone import Joiner, build_backbone
from .config import ModelConfig
from .denoising import DenoisingBatch, DenoisingQueries, query_attention_mask
from .nested import BackboneFeatures, NestedTensor, nested_tensor_from_tensor_list
from .transformer import Transformer, build_transformer

Images = NestedTensor | Tensor | Sequence[Tensor]


@dataclass(frozen=True, eq=False)
class DetrOutput(Mapping[str, Any]):
    """DETR predictions; also a read-only mapping with the official dict's keys.

    pred_logits: (B, Q, C+1), the last slot is "no object".
    pred_boxes: (B, Q, 4), sigmoid (cx, cy, w, h) relative to each image's unpadded size.
    aux_outputs: one {"pred_logits", "pred_boxes"} dict per earlier decoder layer, or None
    (then the key is absent) when the model was built with aux_loss off.
    """

    pred_logits: Tensor
    pred_boxes: Tensor
    aux_outputs: list[dict[str, Tensor]] | None = None
    dn_outputs: dict[str, Any] | None = None
    """Training with denoising only: {"pred_logits", "pred_boxes", "aux_outputs", "batch"} of
    the denoising queries (key "dn_outputs" absent otherwise)."""
    group_outputs: dict[str, Any] | None = None
    """Training with query groups only: {"pred_logits", "pred_boxes", "aux_outputs", "groups"}
    of object query groups 1.. folded into the batch, group-major ((G-1)*B, Q, ...)."""

    def _keys(self) -> tuple[str, ...]:
        keys = ("pred_logits", "pred_boxes")
        if self.aux_outputs is not None:
            keys += ("aux_outputs",)
        if self.dn_outputs is not None:
            keys += ("dn_outputs",)
        if self.group_outputs is not None:
            keys += ("group_outputs",)
        return keys

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


class MLP(nn.Module):
    """A plain multi-layer perceptron with ReLU between layers (the box head)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out, strict=True))

    def forward(self, x: Tensor) -> Tensor:
        """Return the MLP output (..., output_dim)."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == last else F.relu(layer(x))
        return x


class DETR(nn.Module):
    """DETR object detector with the official module names (state dicts load both ways)."""

    def __init__(self, backbone: Joiner, transformer: Transformer, config: ModelConfig) -> None:
        super().__init__()
        hidden_dim = transformer.d_model
        self.config = config
        self.num_queries = config.num_queries
        self.aux_loss = config.aux_loss
        self.transformer = transformer
        self.class_embed = nn.Linear(hidden_dim, config.num_classes + 1)
        self.bbox_embed = MLP(hidden_dim, hidden_dim, 4, 3)
        self.query_embed = nn.Embedding(config.num_queries, hidden_dim)
        self.input_proj = nn.Conv2d(backbone.num_channels, hidden_dim, kernel_size=1)
        self.backbone = backbone
        if config.dn_groups > 0:  # training-only extra parameters, absent when off
            self.denoising = DenoisingQueries(
                config.num_classes,
                hidden_dim,
                config.dn_groups,
                config.dn_label_noise,
                config.dn_box_noise,
                embed_boxes=not config.query_anchors,
            )
        if config.query_groups > 1:  # training-only object query groups (Group DETR)
            rows = config.num_queries * (config.query_groups - 1)
            self.group_query_embed = nn.Embedding(rows, hidden_dim)
        if config.query_anchors:
            self.anchors = QueryAnchors(config.num_queries * config.query_groups, hidden_dim)

    def forward(
        self, images: Images, targets: Sequence[Mapping[str, Tensor]] | None = None
    ) -> DetrOutput:
        """Return DetrOutput for a NestedTensor, a (B, 3, H, W) batch or a list of (3, H, W).

        Images are normalised float tensors; a list of differently sized images is padded at
        the bottom/right and the padding is masked out of attention. `targets` are used only
        in training with denoising on (config.dn_groups > 0): they give the denoising queries.
        `BackboneFeatures` (cached by a frozen backbone) skip the backbone body.
        """
        samples = _to_nested(images)
        if isinstance(samples, BackboneFeatures):  # cached by a frozen backbone
            features, pos = samples, self.backbone[1](samples.tensors, samples.mask)
        else:
            features, pos = self.backbone(_backbone_layout(samples, self.backbone))
        dn = None
        if self.training and targets is not None and hasattr(self, "denoising"):
            dn = self.denoising(targets, self.num_queries)
        groups = self.config.query_groups if self.training else 1
        query_pos, content, extra, reference, mask = self._queries(samples.tensors.shape[0], dn)
        hs = self.transformer(
            self.input_proj(features.tensors),
            features.mask,
            query_pos,
            pos,
            return_intermediate=self.aux_loss,
            extra_queries=extra,
            self_attn_mask=mask,
            query_content=content,
        )  # (L, B, N+G*Q, d); L = 1 without aux_loss; N = 0 without denoising, G = 1 in eval
        logits = self.class_embed(hs)  # (L, B, N+G*Q, C+1)
        offsets = self.bbox_embed(hs)  # (L, B, N+G*Q, 4)
        if reference is not None:  # in fp32: bf16 would round boxes to ~1/128 of the image
            offsets = offsets.float() + inverse_sigmoid(reference.float())
        boxes = offsets.sigmoid()
        dn_outputs = group_outputs = None
        if dn is not None:
            n = dn.num_queries
            dn_outputs = _layer_outputs(logits[:, :, :n], boxes[:, :, :n], self.aux_loss)
            dn_outputs["batch"] = dn
            logits, boxes = logits[:, :, n:], boxes[:, :, n:]
        if groups > 1:  # groups 1.. folded into the batch: (L, (G-1)*B, Q, ...), group-major
            q = self.num_queries
            rest = [
                (logits[:, :, g * q : (g + 1) * q], boxes[:, :, g * q : (g + 1) * q])
                for g in range(1, groups)
            ]
            group_outputs = _layer_outputs(
                torch.cat([r[0] for r in rest], dim=1),
                torch.cat([r[1] for r in rest], dim=1),
                self.aux_loss,
            )
            group_outputs["groups"] = groups - 1
            logits, boxes = logits[:, :, :q], boxes[:, :, :q]
        out = _layer_outputs(logits, boxes, self.aux_loss)
        return DetrOutput(**out, dn_outputs=dn_outputs, group_outputs=group_outputs)

    def _queries(self, bsz: int, dn: DenoisingBatch | None):
        """Return the decoder inputs: object query positions (G*Q, d), their content (or None),
        the extra (denoising) queries, reference boxes (B, N+G*Q, 4) or None, the self-attention
        mask or None."""
        groups = self.config.query_groups if self.training else 1
        q = self.num_queries
        query_pos, content, reference, extra = self.query_embed.weight, None, None, None
        if groups > 1:
            query_pos = torch.cat([query_pos, self.group_query_embed.weight[: (groups - 1) * q]])
        if dn is not None:
            extra = (dn.content, dn.position)
        if hasattr(self, "anchors"):  # position from the reference box, content learned
            boxes = self.anchors.boxes()[: groups * q]
            query_pos, content = self.anchors.position(boxes), query_pos
            reference = boxes[None].expand(bsz, -1, -1)
            if dn is not None:
                extra = (dn.content, self.anchors.position(dn.noisy_boxes))
                reference = torch.cat([dn.noisy_boxes, reference], dim=1)
        mask = None
        if dn is not None or groups > 1:
            mask = query_attention_mask(
                dn.groups if dn else 0, dn.group_size if dn else 0, q, groups, query_pos.device
            )
        return query_pos, content, extra, reference, mask


def _layer_outputs(logits: Tensor, boxes: Tensor, aux_loss: bool) -> dict[str, Any]:
    """Return the last layer's logits/boxes and, with aux_loss, every earlier layer's."""
    aux = None
    if aux_loss:
        aux = [
            {"pred_logits": a, "pred_boxes": b}
            for a, b in zip(logits[:-1], boxes[:-1], strict=True)
        ]
    return {"pred_logits": logits[-1], "pred_boxes": boxes[-1], "aux_outputs": aux}


def _backbone_layout(samples: NestedTensor, backbone: Joiner) -> NestedTensor:
    """Return the samples in channels_last when the model was moved to it, else unchanged."""
    # A quantized body (detr_model.int8) is a graph module whose stem has no float weight.
    stem_weight = getattr(getattr(backbone[0].body, "conv1", None), "weight", None)
    if (
        isinstance(stem_weight, Tensor)
        and stem_weight.is_contiguous(memory_format=torch.channels_last)
        and not stem_weight.is_contiguous()
    ):
        return NestedTensor(
            samples.tensors.contiguous(memory_format=torch.channels_last), samples.mask
        )
    return samples


def _to_nested(images: Images) -> NestedTensor:
    """Return images as a NestedTensor (a plain batch gets an all-False mask)."""
    if isinstance(images, NestedTensor):
        return images
    if isinstance(images, Tensor):
        if images.dim() == 4:
            return NestedTensor.from_batch(images)
        if images.dim() == 3:
            return NestedTensor.from_batch(images[None])
        raise ValueError(
            f"DETR: expected images (B, 3, H, W) or (3, H, W), got {tuple(images.shape)}"
        )
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        return nested_tensor_from_tensor_list(list(images))
    raise TypeError(f"DETR: unsupported image input type {type(images).__name__}")


def build_detr(config: ModelConfig) -> DETR:
    """Return a randomly initialised DETR for the config; nothing is downloaded."""
    return DETR(build_backbone(config), build_transformer(config), config)
