"""Turn user images (PIL, numpy arrays, file paths) into resized uint8 tensors for DETR.

Images are taken in display orientation (EXIF orientation applied) and resized as in the paper:
shorter side to `min_size`, longer side at most `max_size`. Normalisation happens later, on the
model's device, so only uint8 pixels travel there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from detr_model.image_file import display_rgb, load_display_image
from detr_model.input_size import DEFAULT_MAX_SIZE, DEFAULT_MIN_SIZE

ImageInput = Image.Image | np.ndarray | str | os.PathLike

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreparedImage:
    """One image ready for the model: resized pixels and the original display size."""

    pixels: Tensor  # (3, h, w) uint8, resized
    original_size: tuple[int, int]  # (height, width) of the display-oriented input


def load_rgb(image: ImageInput) -> Image.Image:
    """Return the image as an RGB PIL image in display orientation (EXIF orientation applied).

    Files are read by the one image reader (`image_file`): its pixel limit, its EXIF rule and
    its ImageReadError naming the file (a FileNotFoundError and ValueError too).
    """
    if isinstance(image, (str, os.PathLike)):
        return load_display_image(image)
    if isinstance(image, Image.Image):
        return display_rgb(image)
    if isinstance(image, np.ndarray):
        return Image.fromarray(_array_to_rgb(image))
    raise TypeError(
        f"expected a PIL image, a numpy array or a file path, got {type(image).__name__}"
    )


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Return an (H, W, 3) uint8 C-contiguous array for an (H, W), (H, W, 3) or (H, W, 4) uint8 one."""
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array, got dtype {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    elif array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an image array (H, W, 3), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"empty image array of shape {array.shape}")
    return np.ascontiguousarray(array)


def resized_size(height: int, width: int, min_size: int, max_size: int | None) -> tuple[int, int]:
    """Return (h, w) with the shorter side min_size and the longer at most max_size (the paper's)."""
    short, long = min(height, width), max(height, width)
    size = min_size
    if max_size is not None and long / short * size > max_size:
        size = int(round(max_size * short / long))
    if short == size:
        return height, width
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def prepare_image(
    image: ImageInput, min_size: int = DEFAULT_MIN_SIZE, max_size: int | None = DEFAULT_MAX_SIZE
) -> PreparedImage:
    """Return the image decoded, display-oriented, resized and as a (3, h, w) uint8 tensor."""
    rgb = load_rgb(image)
    width, height = rgb.size
    new_h, new_w = resized_size(height, width, min_size, max_size)
    if (new_h, new_w) != (height, width):
        rgb = rgb.resize((new_w, new_h), Image.BILINEAR)
    pixels = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)  # (3, h, w) uint8
    return PreparedImage(pixels=pixels, original_size=(height, width))


def normalize(pixels: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Return uint8 pixels (..., 3, h, w) as floats in [0, 1] normalised by ImageNet mean/std."""
    mean = torch.tensor(IMAGENET_MEAN, device=pixels.device, dtype=dtype).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=pixels.device, dtype=dtype).view(3, 1, 1)
    return (pixels.to(dtype) / 255.0 - mean) / std
