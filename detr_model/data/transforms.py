"""Paired (PIL image, target) augmentations of the DETR paper on torchvision.transforms.v2, and
the batch collate.

Before `Normalize`, target boxes are absolute x0, y0, x1, y1 pixels; `Normalize` turns them into
cx, cy, w, h divided by the image size, the format the matcher and criterion expect. Each
geometric step moves the boxes (and per-object `masks`, when a target has them) as
`tv_tensors.BoundingBoxes` / `tv_tensors.Mask` through the v2 kernels, then drops the boxes left
degenerate (v2's sanitize_bounding_boxes), with their labels, areas and masks. The paper recipe
draws its random numbers from Python's `random` exactly as the hand-written version before it
did, so a seed gives the same sizes and boxes; the one difference: a box thinner than
`PAPER_MIN_SIDE` (a thousandth of a pixel) is dropped, where the old code kept any side > 0.
The small-data recipe is in augment.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch import Tensor
from torchvision import tv_tensors
from torchvision.ops import box_convert
from torchvision.transforms.v2 import functional as F

from detr_model.nested import NestedTensor, nested_tensor_from_tensor_list

Target = dict[str, Tensor]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAPER_SCALES = (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)
PAPER_MIN_SIDE = 1e-3
"""Boxes with a side below this many pixels are dropped after a paper-recipe step."""
PER_BOX = ("labels", "area", "iscrowd", "masks")
"""Target fields with one row per box, filtered with the boxes."""


def image_size(image: Image.Image | Tensor) -> tuple[int, int]:
    """Returns (h, w) of a PIL image or a (..., H, W) tensor."""
    h, w = F.get_size(image)
    return int(h), int(w)


def boxes_of(target: Target, image: Image.Image | Tensor) -> tv_tensors.BoundingBoxes:
    """Returns the target's boxes as XYXY `BoundingBoxes` on the image's canvas."""
    return tv_tensors.BoundingBoxes(
        target["boxes"].reshape(-1, 4).float(), format="XYXY", canvas_size=image_size(image)
    )


def masks_of(target: Target) -> tv_tensors.Mask | None:
    """Returns the target's per-object masks (N, H, W) as a v2 `Mask`, or None."""
    return tv_tensors.Mask(target["masks"]) if "masks" in target else None


def moved(
    target: Target,
    boxes: tv_tensors.BoundingBoxes,
    masks: Tensor | None = None,
    *,
    min_side: float = PAPER_MIN_SIDE,
    area: str | float = "boxes",
) -> Target:
    """Returns `target` after a geometric step gave `boxes` (and `masks`): boxes with a side
    under `min_side` dropped with their per-box fields, `size` set to the new canvas.

    `area`: "boxes" makes each area its box's, a number scales the old areas by it.
    """
    boxes, keep = F.sanitize_bounding_boxes(boxes, min_size=min_side, min_area=min_side**2)
    out = dict(target)
    h, w = boxes.canvas_size
    out["size"] = torch.tensor([h, w], dtype=torch.int64)
    if masks is not None:
        out["masks"] = masks.as_subclass(Tensor)
    if "area" in out and not isinstance(area, str):
        out["area"] = out["area"] * area
    for field in PER_BOX:
        if field in out:
            out[field] = out[field][keep]
    out["boxes"] = boxes.as_subclass(Tensor).float()
    if area == "boxes" and "area" in out:
        out["area"] = (out["boxes"][:, 2:] - out["boxes"][:, :2]).prod(dim=1)
    return out


def apply_geometric(
    kernel: Callable, image, target: Target, *, min_side: float = PAPER_MIN_SIDE, area="boxes",
    **params,
):  # fmt: skip
    """Returns (image, target) with the v2 `kernel` (F.crop, F.resize, ...) applied to the image,
    the boxes and the masks alike."""
    boxes = kernel(boxes_of(target, image), **params)
    masks = masks_of(target)
    if masks is not None:
        masks = kernel(masks, **params)
    return kernel(image, **params), moved(target, boxes, masks, min_side=min_side, area=area)


def crop(image: Image.Image, target: Target, region: tuple[int, int, int, int]):
    """Returns the image cropped to region (top, left, h, w) and the boxes still inside it."""
    top, left, h, w = region
    return apply_geometric(F.crop, image, target, top=top, left=left, height=h, width=w)


def hflip(image: Image.Image, target: Target):
    """Returns the image mirrored left-right with its boxes mirrored too."""
    return apply_geometric(F.horizontal_flip, image, target, area=1.0)


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
    old_h, old_w = image_size(image)
    h, w = resized_shape(old_w, old_h, size, max_size)
    if target is None:
        return F.resize(image, [h, w]), None
    scale = (w / old_w) * (h / old_h)
    return apply_geometric(F.resize, image, target, area=scale, size=[h, w])


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
        image = F.to_dtype(F.to_image(image), torch.float32, scale=True)
        return image.as_subclass(Tensor), target


class Normalize:
    """Normalises the image (ImageNet mean/std) and turns boxes into normalised cx, cy, w, h."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.mean, self.std = list(mean), list(std)

    def __call__(self, image: Tensor, target: Target | None):
        image = F.normalize(image, mean=self.mean, std=self.std)
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
