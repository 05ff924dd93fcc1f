"""Paired (PIL image, target) augmentations of the DETR paper, and the batch collate.

Before `Normalize`, target boxes are absolute x0, y0, x1, y1 pixels; `Normalize` turns them into
cx, cy, w, h divided by the image size, the format the matcher and criterion expect.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor
from torchvision.ops import box_convert

from detr_model.nested import NestedTensor, nested_tensor_from_tensor_list

Target = dict[str, Tensor]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAPER_SCALES = (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)


def crop(image: Image.Image, target: Target, region: tuple[int, int, int, int]):
    """Returns the image cropped to region (top, left, h, w) and the boxes still inside it."""
    top, left, h, w = region
    image = TF.crop(image, top, left, h, w)
    target = dict(target)
    target["size"] = torch.tensor([h, w], dtype=torch.int64)
    boxes = target["boxes"] - torch.tensor([left, top, left, top], dtype=torch.float32)
    boxes = torch.min(boxes.reshape(-1, 2, 2), torch.tensor([w, h], dtype=torch.float32))
    boxes = boxes.clamp(min=0)
    keep = torch.all(boxes[:, 1, :] > boxes[:, 0, :], dim=1)
    target["area"] = (boxes[:, 1, :] - boxes[:, 0, :]).prod(dim=1)
    target["boxes"] = boxes.reshape(-1, 4)
    for field in ("boxes", "labels", "area", "iscrowd"):
        if field in target:
            target[field] = target[field][keep]
    return image, target


def hflip(image: Image.Image, target: Target):
    """Returns the image mirrored left-right with its boxes mirrored too."""
    w = image.width
    target = dict(target)
    boxes = target["boxes"]
    target["boxes"] = boxes[:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + torch.tensor(
        [w, 0, w, 0]
    )
    return TF.hflip(image), target


def resized_shape(width: int, height: int, size: int, max_size: int | None) -> tuple[int, int]:
    """Returns (h, w) with the shorter side `size`, the longer at most `max_size` (paper rule)."""
    short, long = float(min(width, height)), float(max(width, height))
    if max_size is not None and long / short * size > max_size:
        size = int(round(max_size * short / long))
    if (width <= height and width == size) or (height <= width and height == size):
        return height, width
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def resize(image: Image.Image, target: Target | None, size: int, max_size: int | None = None):
    """Returns the image resized so its shorter side is `size` (capped by `max_size`), boxes too."""
    h, w = resized_shape(image.width, image.height, size, max_size)
    resized = TF.resize(image, [h, w])
    if target is None:
        return resized, None
    rw, rh = w / image.width, h / image.height
    target = dict(target)
    target["boxes"] = target["boxes"] * torch.tensor([rw, rh, rw, rh])
    if "area" in target:
        target["area"] = target["area"] * (rw * rh)
    target["size"] = torch.tensor([h, w], dtype=torch.int64)
    return resized, target


class RandomHorizontalFlip:
    """Flips image and boxes left-right with probability p."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, image, target):
        return hflip(image, target) if random.random() < self.p else (image, target)


class RandomResize:
    """Resizes the shorter side to a size drawn from `sizes`, the longer side capped."""

    def __init__(self, sizes: Sequence[int], max_size: int | None = None):
        self.sizes = list(sizes)
        self.max_size = max_size

    def __call__(self, image, target):
        return resize(image, target, random.choice(self.sizes), self.max_size)


class RandomSizeCrop:
    """Crops a random region whose sides are drawn in [min_size, max_size] (within the image)."""

    def __init__(self, min_size: int, max_size: int):
        self.min_size = min_size
        self.max_size = max_size

    def __call__(self, image, target):
        w = random.randint(min(self.min_size, image.width), min(image.width, self.max_size))
        h = random.randint(min(self.min_size, image.height), min(image.height, self.max_size))
        top = random.randint(0, image.height - h)
        left = random.randint(0, image.width - w)
        return crop(image, target, (top, left, h, w))


class RandomSelect:
    """Applies `first` with probability p, otherwise `second`."""

    def __init__(self, first: Callable, second: Callable, p: float = 0.5):
        self.first, self.second, self.p = first, second, p

    def __call__(self, image, target):
        return self.first(image, target) if random.random() < self.p else self.second(image, target)


class ToTensor:
    """Converts the PIL image to a (3, H, W) float tensor in [0, 1]."""

    def __call__(self, image, target):
        return TF.to_tensor(image), target


class Normalize:
    """Normalises the image (ImageNet mean/std) and turns boxes into normalised cx, cy, w, h."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.mean, self.std = list(mean), list(std)

    def __call__(self, image: Tensor, target: Target | None):
        image = TF.normalize(image, mean=self.mean, std=self.std)
        if target is None:
            return image, None
        target = dict(target)
        h, w = image.shape[-2:]
        boxes = box_convert(target["boxes"], "xyxy", "cxcywh")
        target["boxes"] = boxes / torch.tensor([w, h, w, h], dtype=torch.float32)
        return image, target


class Compose:
    """Applies the transforms in order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, image, target):
        for t in self.transforms:
            image, target = t(image, target)
        return image, target

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


def make_transforms(
    split: str,
    *,
    scales: Sequence[int] = PAPER_SCALES,
    max_size: int = 1333,
    crop: tuple[int, int] | None = (384, 600),
    crop_scales: Sequence[int] | None = None,
    eval_size: int | None = None,
    flip: bool = True,
) -> Compose:
    """Returns the paper's train ("train") or evaluation ("val") transforms for the given scales.

    Train: random flip, then half the time a multi-scale resize of the shorter side to one of
    `scales`, half the time resize to one of `crop_scales` → random-size crop in `crop` → multi-
    scale resize. `crop=None` turns the crop branch off. `crop_scales` defaults to the paper's
    (400, 500, 600) scaled by max(scales) / 800; `eval_size` defaults to max(scales).
    """
    normalize = Compose([ToTensor(), Normalize()])
    if not scales:
        raise ValueError("make_transforms: scales is empty")
    eval_size = eval_size or max(scales)
    if split in ("val", "test", "eval"):
        return Compose([RandomResize([eval_size], max_size=max_size), normalize])
    if split != "train":
        raise ValueError(f"make_transforms: split must be 'train' or 'val', got {split!r}")
    steps: list[Callable] = [RandomHorizontalFlip()] if flip else []
    multiscale = RandomResize(scales, max_size=max_size)
    if crop is None:
        steps.append(multiscale)
    else:
        factor = max(scales) / 800
        crop_scales = crop_scales or [max(1, round(s * factor)) for s in (400, 500, 600)]
        steps.append(
            RandomSelect(
                multiscale,
                Compose([RandomResize(crop_scales), RandomSizeCrop(*crop), multiscale]),
            )
        )
    return Compose([*steps, normalize])


def collate_fn(batch: Sequence[tuple[Tensor, Target]]) -> tuple[NestedTensor, list[Target]]:
    """Returns the images padded into a NestedTensor (mask True on padding) and the targets."""
    images = [item[0] for item in batch]
    targets = [item[1] for item in batch]
    return nested_tensor_from_tensor_list(images), targets
