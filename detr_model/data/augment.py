"""The small-data augmentation recipe (issue 13), on torchvision.transforms.v2.

The paper's recipe (transforms.py) was made for 118k COCO photos; from a few hundred images a
model learns the generator's look instead of the objects. This recipe changes what the model
sees far more: colours (photometric distortion), object scale (zoom-out, IoU crop, scale
jitter), pose (a small rotation and affine, boxes re-fitted around the turned corners), focus
and sensor (blur, noise), and, at the dataset level, which objects meet which backgrounds
(copy-paste, copy_paste.py). Every op is a `TrainConfig` field; `train_transforms(config)`
builds the recipe the config names. Each step draws from torch's generator; boxes left under
`MIN_SIDE` pixels are dropped after every geometric step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from detr_model.data.transforms import (
    IMAGENET_MEAN,
    Compose,
    Normalize,
    RandomHorizontalFlip,
    Target,
    ToTensor,
    boxes_of,
    make_transforms,
    masks_of,
    moved,
    resize,
)

if TYPE_CHECKING:
    from detr_model.train_config import TrainConfig

BILINEAR = v2.InterpolationMode.BILINEAR
MIN_SIDE = 1.0
"""Boxes with a side under this many pixels are dropped after a small-data step."""
MEAN_COLOUR = tuple(round(255 * m) for m in IMAGENET_MEAN)
FILL = {tv_tensors.Mask: 0, "others": MEAN_COLOUR}
"""What a zoom-out or rotation uncovers: the mean colour (0 after Normalize), no object."""


def _chance(p: float) -> bool:
    return p > 0 and (p >= 1 or float(torch.rand(())) < p)


class WithBoxes:
    """Applies a v2 geometric transform to image, boxes and masks together with probability p,
    then drops the boxes it left degenerate."""

    def __init__(self, transform: v2.Transform, p: float = 1.0, *, needs_boxes: bool = False):
        self.transform, self.p, self.needs_boxes = transform, p, needs_boxes

    def __call__(self, image, target: Target):
        if not _chance(self.p) or (self.needs_boxes and len(target["boxes"]) == 0):
            return image, target
        masks = masks_of(target)
        inputs = (image, boxes_of(target, image)) + ((masks,) if masks is not None else ())
        out = self.transform(*inputs)
        return out[0], moved(
            target, out[1], out[2] if masks is not None else None, min_side=MIN_SIDE
        )

    def __repr__(self) -> str:
        return f"WithBoxes({self.transform!r}, p={self.p})"


class Photometric:
    """Changes colours only (v2 transforms that leave boxes as they are) with probability p."""

    def __init__(self, transform: Callable, p: float):
        self.transform, self.p = transform, p

    def __call__(self, image, target: Target):
        return (self.transform(image), target) if _chance(self.p) else (image, target)

    def __repr__(self) -> str:
        return f"Photometric({self.transform!r}, p={self.p})"


def photometric_distortion(p: float) -> Photometric:
    """Returns brightness, contrast, saturation and hue changes (each half the time) and,
    rarely, swapped colour channels: a red circle may come out blue, as a user's may be."""
    return Photometric(
        v2.RandomPhotometricDistort(
            brightness=(0.7, 1.3),
            contrast=(0.6, 1.4),
            saturation=(0.5, 1.5),
            hue=(-0.1, 0.1),
            p=0.5,
        ),
        p,
    )


def zoom_out(p: float, max_ratio: float) -> WithBoxes:
    """Returns a step that puts the image on a canvas up to `max_ratio` times larger: smaller
    objects and more background."""
    return WithBoxes(v2.RandomZoomOut(fill=FILL, side_range=(1.0, max_ratio), p=1.0), p)


def iou_crop(p: float) -> WithBoxes:
    """Returns the SSD crop (a region overlapping some box by a drawn IoU): larger objects,
    cut objects; boxes whose centre falls outside the region are dropped."""
    return WithBoxes(v2.RandomIoUCrop(), p, needs_boxes=True)


def small_affine(p: float, degrees: float) -> WithBoxes:
    """Returns a rotation of up to `degrees` with a little shift and scale; each box becomes
    the box around its turned corners (loose by up to sin(degrees) of the side for round
    objects)."""
    affine = v2.RandomAffine(
        degrees=degrees, translate=(0.05, 0.05), scale=(0.9, 1.1), fill=FILL, interpolation=BILINEAR
    )
    return WithBoxes(affine, p)


class JitteredResize:
    """Resizes the shorter side to one of `scales` times a factor in [1 - jitter, 1 + jitter]
    (longer side capped): the same objects at more pixel sizes than the scales alone give."""

    def __init__(self, scales: Sequence[int], max_size: int, jitter: float):
        self.scales, self.max_size, self.jitter = list(scales), max_size, jitter

    def __call__(self, image, target: Target):
        scale = self.scales[int(torch.randint(len(self.scales), ()))]
        factor = 1.0 + self.jitter * (2 * float(torch.rand(())) - 1)
        return resize(image, target, max(16, round(scale * factor)), self.max_size)

    def __repr__(self) -> str:
        return f"JitteredResize({self.scales}, max_size={self.max_size}, jitter={self.jitter})"


def blur(p: float) -> Photometric:
    """Returns a Gaussian blur (5 px kernel, sigma 0.1..1.2): soft, out-of-focus edges."""
    return Photometric(v2.GaussianBlur(kernel_size=5, sigma=(0.1, 1.2)), p)


class Noise:
    """Adds Gaussian pixel noise (sigma `sigma` of the range) to a [0, 1] tensor image."""

    def __init__(self, p: float, sigma: float = 0.04):
        self.p, self.noise = p, v2.GaussianNoise(sigma=sigma, clip=True)

    def __call__(self, image, target: Target):
        return (self.noise(image), target) if _chance(self.p) else (image, target)

    def __repr__(self) -> str:
        return f"Noise(p={self.p})"


def small_data_transforms(config: TrainConfig) -> Compose:
    """Returns the small-data training recipe with the op probabilities of `config`."""
    steps: list[Callable] = [RandomHorizontalFlip()]
    steps.append(photometric_distortion(config.photometric_p))
    steps.append(zoom_out(config.zoom_out_p, config.zoom_out_max))
    steps.append(iou_crop(config.iou_crop_p))
    steps.append(small_affine(config.affine_p, config.affine_degrees))
    steps.append(JitteredResize(config.scales, config.max_size, config.scale_jitter))
    steps.append(blur(config.blur_p))
    steps += [ToTensor(), Noise(config.noise_p), Normalize()]
    return Compose(steps)


def train_transforms(config: TrainConfig) -> Compose:
    """Returns the training transforms `config` names: the paper's (random flip, multi-scale,
    crop), the small-data recipe, or, with augment off, the evaluation resize only."""
    if not config.augment:
        return make_transforms("val", scales=[config.eval_size], max_size=config.max_size)
    if config.augment_recipe == "small_data":
        return small_data_transforms(config)
    return make_transforms(
        "train", scales=config.scales, max_size=config.max_size, crop=config.crop
    )


def copy_paste_of(config: TrainConfig) -> float:
    """Returns the copy-paste probability for a training set under `config` (0: off)."""
    small_data = config.augment and config.augment_recipe == "small_data"
    return config.copy_paste_p if small_data else 0.0


def rotated_box_growth(degrees: float) -> float:
    """Returns how much wider the re-fitted box of a round object gets at most (a factor)."""
    a = math.radians(degrees)
    return math.cos(a) + math.sin(a)
