"""Predictor: images in (PIL, numpy, paths), detections out (numpy boxes in original pixels).

Images are resized as in the paper, normalised on the model's device, grouped into batches of
similar shape (less padding, which also changes DETR's outputs less), run under
torch.inference_mode, and post-processed as the official code does, plus a score threshold.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.ops import batched_nms

from detr_model.checkpoint import Checkpoint, load_checkpoint
from detr_model.coco_classes import NO_CLASS_NAME as PLACEHOLDER
from detr_model.devices import pick_device
from detr_model.download import CancelCallback, ProgressCallback, resolve_model
from detr_model.image_input import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageInput,
    PreparedImage,
    prepare_image,
)
from detr_model.inference_speedups import (
    backbone_to_bfloat16,
    cpu_has_fast_bfloat16,
    fold_frozen_batchnorm,
)
from detr_model.input_size import DEFAULT_MAX_SIZE, DEFAULT_MIN_SIZE
from detr_model.nested import NestedTensor, nested_tensor_from_tensor_list
from detr_model.postprocess import PostProcess

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
_CHUNK_BATCHES = 8  # images are decoded and sorted by shape this many batches at a time


@dataclass(frozen=True)
class Detections:
    """Detections in one image, best score first, in the image's original display pixels."""

    boxes: np.ndarray  # (N, 4) float32 x0, y0, x1, y1
    scores: np.ndarray  # (N,) float32 in [0, 1]
    labels: np.ndarray  # (N,) int64 class slot
    names: list[str] = field(default_factory=list)  # class name of each detection

    def __len__(self) -> int:
        return len(self.scores)


class Predictor:
    """Runs a DETR model on images and returns Detections (numpy, no torch needed to read).

    precision: "fp32"; "bf16" (bfloat16 autocast on CUDA; a bfloat16 ResNet body on the CPU,
    float32 transformer and heads); "auto" = bf16 on CUDA and on CPUs with AMX/AVX-512 BF16,
    fp32 elsewhere. For inference the frozen BatchNorms are folded into the convolutions and
    the model uses channels_last; unless copy_model is False this happens on a copy, so the
    model passed in is left as it was.
    """

    def __init__(
        self,
        model: nn.Module,
        class_names: Sequence[str],
        *,
        device: str | torch.device = "auto",
        min_size: int = DEFAULT_MIN_SIZE,
        max_size: int | None = DEFAULT_MAX_SIZE,
        batch_size: int = 4,
        precision: str = "auto",
        copy_model: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if batch_size < 1 or min_size < 1:
            raise ValueError(f"batch_size and min_size must be >= 1, got {batch_size}, {min_size}")
        self.device = pick_device(device)
        self.class_names = list(class_names)
        self.min_size = min_size
        self.max_size = max_size
        self.batch_size = batch_size
        self.precision = _resolve_precision(precision, self.device)
        self.config = getattr(model, "config", None)
        self.checkpoint: Checkpoint | None = None  # metadata when built by from_checkpoint
        self.model = self._inference_model(model, copy_model)
        # (pixels / 255 - mean) / std  ==  pixels * scale + shift
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        self._scale = (1.0 / (255.0 * std)).to(self.device)
        self._shift = (-mean / std).to(self.device)
        # Placeholder slots ("N/A", the gaps between COCO category ids) are never reported.
        self._postprocess = PostProcess(
            getattr(self.config, "class_score", "softmax"),
            ignore_labels=[i for i, name in enumerate(self.class_names) if name == PLACEHOLDER],
        )
        log.info("predictor on %s, precision %s", self.device, self.precision)

    @classmethod
    def from_checkpoint(
        cls,
        path_or_name: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
        **options: object,
    ) -> Predictor:
        """Return a Predictor for a checkpoint file or an official model name (downloaded once).

        Unless min_size / max_size are given, images are resized as the checkpoint says
        (`Checkpoint.input_size()`: as its model was evaluated in training, the paper's
        800 / 1333 for official files): a model trained on 128-pixel images is lost at 800.
        """
        path = resolve_model(path_or_name, progress=progress, cancel=cancel)
        official_name = str(path_or_name) if not Path(path_or_name).is_file() else None
        ckpt = load_checkpoint(path, official_name=official_name)
        trained = ckpt.input_size()
        for option, size in zip(("min_size", "max_size"), trained, strict=True):
            if options.get(option) is None:
                options[option] = size
        model = ckpt.build_model()
        predictor = cls(model, ckpt.class_names, copy_model=False, **options)  # type: ignore[arg-type]
        predictor.checkpoint = replace(ckpt, state_dict={})  # the weights live in the model
        return predictor

    def prepare(self, image: ImageInput) -> PreparedImage:
        """Return the image decoded, display-oriented and resized for this predictor.

        Safe to call from worker threads, to decode the next images while the model runs.
        """
        return prepare_image(image, self.min_size, self.max_size)

    def predict(
        self,
        images: Sequence[ImageInput | PreparedImage] | ImageInput,
        *,
        score_threshold: float = 0.5,
        duplicate_iou: float | None = None,
    ) -> list[Detections]:
        """Return one Detections per image, in input order, keeping scores >= score_threshold.

        `duplicate_iou` drops a detection that overlaps a better one of the same class at least
        that much (IoU): DETR needs no NMS once trained, but a short-trained model repeats
        objects. None, the default, keeps every query as the official model does.
        """
        if isinstance(images, (Image.Image, np.ndarray, str, os.PathLike, PreparedImage)):
            images = [images]
        images = list(images)
        results: list[Detections | None] = [None] * len(images)
        chunk = self.batch_size * _CHUNK_BATCHES
        for start in range(0, len(images), chunk):
            prepared = [
                im if isinstance(im, PreparedImage) else self.prepare(im)
                for im in images[start : start + chunk]
            ]
            # Similar shapes together: less padding per batch.
            order = sorted(range(len(prepared)), key=lambda i: _shape_key(prepared[i]))
            for b in range(0, len(order), self.batch_size):
                batch = order[b : b + self.batch_size]
                found = self._run_batch([prepared[i] for i in batch], score_threshold)
                if duplicate_iou is not None:
                    found = [_drop_duplicates(det, duplicate_iou) for det in found]
                for i, det in zip(batch, found, strict=True):
                    results[start + i] = det
        return [r for r in results if r is not None]

    def _run_batch(self, batch: list[PreparedImage], score_threshold: float) -> list[Detections]:
        """Return the Detections of one batch of prepared images."""
        # Pad as uint8 on the CPU, send once, normalise on the device, zero the padding again.
        # (Pinning the batch first made the CUDA path slower on the measured H100 VM.)
        padded = nested_tensor_from_tensor_list([p.pixels for p in batch])
        pixels = padded.tensors.to(self.device)
        mask = padded.mask.to(self.device)
        sizes = torch.tensor([p.original_size for p in batch], device=self.device)
        images = torch.addcmul(self._shift, pixels.float(), self._scale)  # (B, 3, H, W)
        samples = NestedTensor(images.masked_fill(mask[:, None], 0.0), mask)
        with torch.inference_mode(), self._autocast():
            out = self.model(samples)
        outputs = {
            "pred_logits": out["pred_logits"].float(),
            "pred_boxes": out["pred_boxes"].float(),
        }
        found = self._postprocess(outputs, sizes)
        table = torch.stack(
            [
                torch.cat((f["scores"][:, None], f["labels"][:, None].float(), f["boxes"]), 1)
                for f in found
            ]
        )  # (B, Q, 6): score, label, x0, y0, x1, y1
        table = table.cpu().numpy()  # the one device-to-host transfer
        return [
            self._detections(t[:, 0], t[:, 1].astype(np.int64), t[:, 2:], score_threshold, p)
            for t, p in zip(table, batch, strict=True)
        ]

    def _detections(
        self,
        scores: np.ndarray,
        labels: np.ndarray,
        boxes: np.ndarray,
        threshold: float,
        image: PreparedImage,
    ) -> Detections:
        """Return the Detections above `threshold`, best first, with their class names.

        Detections whose box is not finite are left out (a NaN score is never >= threshold).
        """
        keep = np.flatnonzero((scores >= threshold) & np.isfinite(boxes).all(axis=1))
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        kept_labels = labels[keep].astype(np.int64)
        return Detections(
            boxes=_clip_to_image(
                boxes[keep].astype(np.float32).reshape(-1, 4), image.original_size
            ),
            scores=scores[keep].astype(np.float32),
            labels=kept_labels,
            names=[self._name(int(label)) for label in kept_labels],
        )

    def _name(self, label: int) -> str:
        """Return the class name of a label (a placeholder for slots without a name)."""
        return self.class_names[label] if label < len(self.class_names) else f"class {label}"

    def _autocast(self) -> torch.autocast:
        """Return the autocast context for this device and precision (disabled if none)."""
        on_cuda = self.device.type == "cuda" and self.precision == "bf16"
        return torch.autocast(
            device_type=self.device.type if on_cuda else "cpu",
            dtype=torch.bfloat16,
            enabled=on_cuda,
        )

    def _inference_model(self, model: nn.Module, copy_model: bool) -> nn.Module:
        """Return the model rewritten for fast inference on this device, in eval mode."""
        if copy_model:
            model = copy.deepcopy(model)
        model.eval()
        for param in model.parameters():
            param.requires_grad_(False)
        fold_frozen_batchnorm(model)
        if self.device.type in ("cpu", "cuda"):
            model = model.to(memory_format=torch.channels_last)
        if self.device.type == "cpu" and self.precision == "bf16":
            backbone_to_bfloat16(model)
        return model.to(self.device)


def _clip_to_image(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return xyxy boxes clipped to an image of (height, width) pixels."""
    height, width = size
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return boxes


def _shape_key(image: PreparedImage) -> tuple[float, int]:
    """Return a sort key that puts images of similar aspect ratio and size together."""
    h, w = image.pixels.shape[-2:]
    return (w / h, h * w)


def _resolve_precision(precision: str, device: torch.device) -> str:
    """Return "fp32" or "bf16" for the requested precision on `device`."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    if device.type == "cpu" and cpu_has_fast_bfloat16():
        return "bf16"
    return "fp32"


def _drop_duplicates(det: Detections, iou: float) -> Detections:
    """Return `det` without the detections that overlap a better one of their class >= iou."""
    if len(det.scores) < 2:
        return det
    keep = batched_nms(
        torch.from_numpy(det.boxes), torch.from_numpy(det.scores), torch.from_numpy(det.labels), iou
    ).numpy()
    keep.sort()  # batched_nms orders by score; the order was best first already
    return Detections(
        boxes=det.boxes[keep],
        scores=det.scores[keep],
        labels=det.labels[keep],
        names=[det.names[i] for i in keep],
    )
