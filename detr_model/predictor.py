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
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.ops import batched_nms

from detr_model import exported_model
from detr_model.accuracy_guard import compare_detections, input_pixel_tolerance
from detr_model.checkpoint import Checkpoint, load_checkpoint
from detr_model.coco_classes import NO_CLASS_NAME as PLACEHOLDER
from detr_model.devices import pick_device
from detr_model.download import CancelCallback, ProgressCallback, resolve_model
from detr_model.exported_model import ExportedModel, export_onnx
from detr_model.image_input import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageInput,
    PreparedImage,
    prepare_image,
)
from detr_model.inference_speedups import (
    backbone_to_bfloat16,
    fold_frozen_batchnorm,
)
from detr_model.input_size import DEFAULT_MAX_SIZE, DEFAULT_MIN_SIZE
from detr_model.nested import NestedTensor, nested_tensor_from_tensor_list
from detr_model.postprocess import PostProcess
from detr_model.precision import (
    PRECISIONS,
    RUNTIME_BACKENDS,
    resolve_precision,
    torch_precision,
)

log = logging.getLogger(__name__)

_CHUNK_BATCHES = 8  # images are decoded and sorted by shape this many batches at a time
_CALIBRATION_IMAGES = 4  # int8: images observed before the backbone is quantized


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
    float32 transformer and heads); CPU only: "int8" (ResNet body quantized, calibrated on the
    first images predicted), "onnxruntime" and "openvino" (the model exported to ONNX once,
    cached, and run by that package; OpenVINO runs bfloat16 on AMX/AVX-512-BF16 CPUs).
    "auto" = bf16 on CUDA; on the CPU OpenVINO when it is installed, checked on the first
    batch against float32 (detections within 2 px, same classes; else it falls back), then
    bf16 on CPUs with AMX/AVX-512 BF16, fp32 elsewhere. A back-end whose package is missing or
    whose export fails falls back the same way and logs why. For inference the BatchNorms
    are folded into the convolutions and the model uses channels_last; unless copy_model is
    False this happens on a copy, so the model passed in is left as it was.
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
        self.precision = resolve_precision(precision, self.device)
        self.config = getattr(model, "config", None)
        self.checkpoint: Checkpoint | None = None  # metadata when built by from_checkpoint
        # "auto" keeps the float32 model until its back-end passed the first-batch check.
        self._guarded = precision == "auto" and self.precision in RUNTIME_BACKENDS
        self._export_pending = False  # a runtime back-end starts on the first batch
        self._reference: nn.Module | None = None
        self._calibrating = False  # int8: the body observes images until it is quantized
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
            if self._calibrating:
                self._calibrate_int8(prepared[:_CALIBRATION_IMAGES])
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
        if self._export_pending:
            self._start_runtime()
        samples = self._samples(batch)
        found = self._detect(self.model, samples, batch, score_threshold)
        if self._guarded:
            found = self._check_backend(samples, batch, found, score_threshold)
        return found

    def _samples(self, batch: list[PreparedImage]) -> NestedTensor:
        """Return the batch padded, on the device, normalised, with its padding mask."""
        padded = nested_tensor_from_tensor_list([p.pixels for p in batch])
        pixels = padded.tensors.to(self.device)
        mask = padded.mask.to(self.device)
        images = torch.addcmul(self._shift, pixels.float(), self._scale)  # (B, 3, H, W)
        return NestedTensor(images.masked_fill(mask[:, None], 0.0), mask)

    def _detect(
        self,
        model: Any,
        samples: NestedTensor,
        batch: list[PreparedImage],
        score_threshold: float,
    ) -> list[Detections]:
        """Return the Detections of `model` on one prepared batch."""
        sizes = torch.tensor([p.original_size for p in batch], device=self.device)
        with torch.inference_mode(), self._autocast():
            out = model(samples)
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

    def _inference_model(self, model: nn.Module, copy_model: bool) -> Any:
        """Return the model rewritten for fast inference on this device, in eval mode."""
        if copy_model:
            model = copy.deepcopy(model)
        model.eval()
        for param in model.parameters():
            param.requires_grad_(False)
        fold_frozen_batchnorm(model)
        if self.precision in RUNTIME_BACKENDS:
            if exported_model.runtime_available(self.precision):
                # Exported on the first batch, not here: building a Predictor stays cheap.
                self._export_pending = True
                return model.to(memory_format=torch.channels_last)
            log.warning("%s is not installed: using torch", self.precision)
            self.precision = torch_precision(self.device)
            self._guarded = False
        if self.precision == "int8":
            from detr_model.int8 import prepare_int8_backbone

            self._calibrating = True
            return prepare_int8_backbone(model, torch.zeros(1, 3, 64, 64))
        if self.device.type in ("cpu", "cuda"):
            model = model.to(memory_format=torch.channels_last)
        if self.device.type == "cpu" and self.precision == "bf16":
            backbone_to_bfloat16(model)
        return model.to(self.device)

    def _start_runtime(self) -> None:
        """Export the float32 model and open it in its runtime; on failure fall back, logged."""
        self._export_pending = False
        torch_model = self.model
        try:
            exported = ExportedModel(export_onnx(torch_model), self.precision)
        except Exception as exc:  # an optional back-end never stops inference
            log.warning("cannot run the model with %s (%s): using torch", self.precision, exc)
            self._guarded = False
            self.precision = torch_precision(self.device)
            if self.precision == "bf16":
                backbone_to_bfloat16(torch_model)
            return
        log.info("model runs on %s (%s)", self.precision, exported.precision)
        if self._guarded:
            self._reference = torch_model  # until the first batch is checked
        self.model = exported

    def _check_backend(
        self,
        samples: NestedTensor,
        batch: list[PreparedImage],
        found: list[Detections],
        score_threshold: float,
    ) -> list[Detections]:
        """Return the first batch's Detections, having checked the back-end against float32.

        When a detection moved more than 2 px (in the model's input pixels) or changed class,
        the Predictor falls back to torch for good and returns float32's detections.
        """
        reference_model, self._reference, self._guarded = self._reference, None, False
        threshold = min(score_threshold, 0.5)
        ref = self._detect(reference_model, samples, batch, threshold)
        got = self._detect(self.model, samples, batch, threshold)
        tolerances = [input_pixel_tolerance(p.original_size, p.pixels.shape[-2:]) for p in batch]
        report = compare_detections(ref, got, max_px=tolerances)
        if report.ok:
            log.info(
                "%s agrees with float32 (%d detections checked)", self.precision, report.compared
            )
            return found
        log.warning(
            "%s moved %d of %d detections from float32's on the first batch: using torch",
            self.precision,
            report.unmatched,
            report.compared,
        )
        self.precision = torch_precision(self.device)
        if self.precision == "bf16":
            backbone_to_bfloat16(reference_model)
        self.model = reference_model
        return self._detect(self.model, samples, batch, score_threshold)

    def _calibrate_int8(self, images: list[PreparedImage]) -> None:
        """Observe a few images with the float32 body, then quantize it to int8."""
        from detr_model.int8 import calibrate, convert_int8_backbone

        calibrate(self.model, [self._samples([p]) for p in images])
        convert_int8_backbone(self.model)
        self._calibrating = False


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
