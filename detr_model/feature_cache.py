"""Fast fine-tuning with a frozen backbone: its features computed once per image, then reused.

With the backbone frozen, every epoch would recompute the same ResNet features, which are most of
a step's cost on a CPU. `FeatureCache.build` runs the backbone once per training image, per
cached scale and per horizontal flip, and keeps the features (float16, on the CPU). Training then
feeds them to `DETR.forward` as `BackboneFeatures`, which skips the backbone body: only the
input projection, the transformer and the heads train. Each epoch draws one cached variant
(scale, flip) per image, the way the random augmentation draws one.

The trade: no random crop, a fixed set of scales, and the backbone (its normalisation too) stays
as it is. Validation and the saved model are the ordinary full DETR.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from detr_model import distributed as ddp
from detr_model.data.transforms import Compose, Normalize, RandomResize, ToTensor, hflip
from detr_model.nested import BackboneFeatures

log = logging.getLogger(__name__)

MAX_CACHED_SCALES = 3
"""At most this many training scales are cached (the largest, the smallest, one between)."""
DEFAULT_MEMORY_LIMIT = 4 * 2**30
"""Bytes the cached features may take before caching stops with a clear error."""


class FeatureCacheError(RuntimeError):
    """The features cannot be cached (too large for the memory limit, stopped, ...)."""


def cached_scales(scales: Sequence[int], eval_size: int) -> tuple[int, ...]:
    """Returns the training sizes to cache: all of `scales` when few, else three of them."""
    chosen = sorted(set(scales)) or [eval_size]
    if len(chosen) > MAX_CACHED_SCALES:
        chosen = [chosen[0], chosen[len(chosen) // 2], chosen[-1]]
    return tuple(chosen)


@dataclass
class _Variant:
    features: Tensor  # (C, h, w) float16
    target: dict[str, Tensor]


class FeatureCache(torch.utils.data.Dataset):
    """Cached backbone features of a training set: item i is one random variant of image i.

    Items are (features (C, h, w) float32, target) with the target as the training transforms
    give it (normalised cx, cy, w, h boxes, labels, size). `collate_fn` pads a batch into
    `BackboneFeatures`. `class_names` and `num_variants` describe what was cached.
    """

    def __init__(self, variants: list[list[_Variant]], class_names: Sequence[str]) -> None:
        self.variants = variants
        self.class_names = list(class_names)

    @classmethod
    def build(
        cls,
        backbone: nn.Module,
        dataset: Any,
        *,
        scales: Sequence[int],
        max_size: int,
        flips: bool = True,
        device: torch.device | str = "cpu",
        autocast_dtype: torch.dtype | None = None,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        on_progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> FeatureCache:
        """Returns the cache of `backbone` (DETR.backbone[0]) over every image of `dataset`.

        `dataset` gives raw samples through `load(i)` -> (PIL image, target with absolute xyxy
        boxes), like `CocoDetection`, and has `class_names`. `on_progress(done, total)` is
        called after each image. Raises FeatureCacheError when the features would exceed
        `memory_limit` bytes or when `should_stop()` turns true.
        """
        device = torch.device(device)
        resize = {s: Compose([RandomResize([s], max_size=max_size), ToTensor(), Normalize()])
                  for s in scales}  # fmt: skip
        was_training = backbone.training
        backbone.eval()
        variants: list[list[_Variant]] = []
        used = 0
        total = len(dataset)
        try:
            for index in range(total):
                if should_stop is not None and should_stop():
                    raise FeatureCacheError(f"caching stopped after {index} of {total} images")
                image, target = dataset.load(index)
                mirrored = [(image, target)]
                if flips:
                    mirrored.append(hflip(image, target))
                per_image = []
                for source, raw in mirrored:
                    for size in scales:
                        pixels, prepared = resize[size](source, raw)
                        features = _run_backbone(backbone, pixels, device, autocast_dtype)
                        used += features.numel() * features.element_size()
                        per_image.append(_Variant(features, prepared))
                if used > memory_limit:
                    raise FeatureCacheError(
                        f"the cached features would exceed {memory_limit / 2**20:,.0f} MiB after "
                        f"{index + 1} of {total} images ({dataset.image_path(index).name} is "
                        f"{image.width}x{image.height} px): train with fewer or smaller images, "
                        "or without fast mode"
                    )
                variants.append(per_image)
                if on_progress is not None:
                    on_progress(index + 1, total)
        finally:
            backbone.train(was_training)
        cache = cls(variants, dataset.class_names)
        log.info(
            "cached %d variants of %d images (%.0f MiB)", cache.num_variants, total, used / 2**20
        )
        return cache

    @property
    def num_variants(self) -> int:
        """Cached variants per image (scales x flips)."""
        return len(self.variants[0]) if self.variants else 0

    @property
    def nbytes(self) -> int:
        """Bytes taken by the cached features."""
        return sum(
            v.features.numel() * v.features.element_size() for vs in self.variants for v in vs
        )

    def __len__(self) -> int:
        return len(self.variants)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        variant = random.choice(self.variants[index])
        return variant.features.float(), dict(variant.target)

    @staticmethod
    def collate_fn(batch: Sequence[tuple[Tensor, dict]]) -> tuple[BackboneFeatures, list[dict]]:
        """Returns the features padded at the bottom/right (mask True there) and the targets."""
        maps = [item[0] for item in batch]
        c = maps[0].shape[0]
        h = max(m.shape[1] for m in maps)
        w = max(m.shape[2] for m in maps)
        tensors = maps[0].new_zeros((len(maps), c, h, w))
        mask = torch.ones((len(maps), h, w), dtype=torch.bool)
        for m, padded, pad_mask in zip(maps, tensors, mask, strict=True):
            padded[:, : m.shape[1], : m.shape[2]].copy_(m)
            pad_mask[: m.shape[1], : m.shape[2]] = False
        return BackboneFeatures(tensors, mask), [item[1] for item in batch]


@torch.no_grad()
def _run_backbone(
    backbone: nn.Module, pixels: Tensor, device: torch.device, dtype: torch.dtype | None
) -> Tensor:
    """Returns the backbone's features of one normalised image (3, H, W) as (C, h, w), 16 bits."""
    from detr_model.nested import NestedTensor

    batch = NestedTensor.from_batch(pixels[None].to(device))
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        features = backbone(batch).tensors[0].float()
    half = features.to("cpu", torch.float16)
    # float16 keeps 3 more bits than bfloat16 but overflows past 65504; then keep the range.
    return half if torch.isfinite(half).all() else features.to("cpu", torch.bfloat16)


def cache_training_features(
    model: nn.Module,
    dataset: Any,
    config: Any,
    device: torch.device,
    emit: Callable[[dict[str, Any]], None],
    should_stop: Callable[[], bool] | None = None,
) -> FeatureCache:
    """Returns the FeatureCache that `fit` trains on in fast mode (TrainConfig.feature_cache).

    Scales: the training scales (at most MAX_CACHED_SCALES of them) with augmentation on, else
    the evaluation size; flips with augmentation on. Emits {"event": "cache", "done", "total"}
    about twenty times while caching.
    """
    if not hasattr(dataset, "load"):
        raise FeatureCacheError(
            f"fast mode needs a dataset with load(i) like CocoDetection, got {type(dataset).__name__}"
        )
    scales = (
        cached_scales(config.scales, config.eval_size) if config.augment else (config.eval_size,)
    )
    total = len(dataset)
    step = max(1, total // 20)

    def progress(done: int, n: int) -> None:
        if done % step == 0 or done == n:
            emit({"event": "cache", "done": done, "total": n, "scales": list(scales)})

    return FeatureCache.build(
        model.backbone[0],
        dataset,
        scales=scales,
        max_size=config.max_size,
        flips=config.augment,
        device=device,
        autocast_dtype=ddp.autocast_dtype(config.amp, device),
        on_progress=progress,
        should_stop=should_stop,
    )
