"""A batch of images of different sizes: one zero-padded tensor plus a padding mask."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class NestedTensor:
    """Padded images (B, 3, H, W) and their mask (B, H, W), True where a pixel is padding."""

    def __init__(self, tensors: Tensor, mask: Tensor) -> None:
        if tensors.dim() != 4:
            raise ValueError(
                f"NestedTensor: tensors must be (B, C, H, W), got {tuple(tensors.shape)}"
            )
        expected = (tensors.shape[0], tensors.shape[2], tensors.shape[3])
        if mask.shape != expected:
            raise ValueError(
                f"NestedTensor: mask must be (B, H, W) = {expected}, got {tuple(mask.shape)}"
            )
        if mask.dtype != torch.bool:
            raise ValueError(f"NestedTensor: mask must be bool, got {mask.dtype}")
        self.tensors = tensors
        self.mask = mask

    @classmethod
    def from_batch(cls, tensors: Tensor) -> NestedTensor:
        """Return a NestedTensor for a (B, 3, H, W) batch with no padding (mask all False)."""
        b, _, h, w = tensors.shape
        mask = torch.zeros((b, h, w), dtype=torch.bool, device=tensors.device)
        return cls(tensors, mask)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> NestedTensor:
        """Return a copy of the images and mask on `device` (of the same class)."""
        return type(self)(
            self.tensors.to(device, non_blocking=non_blocking),
            self.mask.to(device, non_blocking=non_blocking),
        )

    def decompose(self) -> tuple[Tensor, Tensor]:
        """Return (tensors, mask)."""
        return self.tensors, self.mask

    @property
    def device(self) -> torch.device:
        """Return the device of the images."""
        return self.tensors.device

    def __len__(self) -> int:
        return self.tensors.shape[0]

    def __repr__(self) -> str:
        return f"NestedTensor(tensors={tuple(self.tensors.shape)}, mask={tuple(self.mask.shape)})"


class BackboneFeatures(NestedTensor):
    """Features the backbone body already computed (B, C, h, w) with their padding mask.

    DETR.forward skips the backbone body for these (see feature_cache.py); the position
    encoding is still computed from the mask.
    """


def nested_tensor_from_tensor_list(images: Sequence[Tensor]) -> NestedTensor:
    """Return the images zero-padded at the bottom/right to the batch's max H and W, with mask."""
    if len(images) == 0:
        raise ValueError("nested_tensor_from_tensor_list: the image list is empty")
    for i, img in enumerate(images):
        if not isinstance(img, Tensor) or img.dim() != 3:
            raise ValueError(
                f"nested_tensor_from_tensor_list: image {i} must be (C, H, W), "
                f"got {tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__}"
            )
    c = max(img.shape[0] for img in images)
    h = max(img.shape[1] for img in images)
    w = max(img.shape[2] for img in images)
    first = images[0]
    tensors = first.new_zeros((len(images), c, h, w))
    mask = torch.ones((len(images), h, w), dtype=torch.bool, device=first.device)
    for img, padded, m in zip(images, tensors, mask, strict=True):
        padded[: img.shape[0], : img.shape[1], : img.shape[2]].copy_(img)
        m[: img.shape[1], : img.shape[2]] = False
    return NestedTensor(tensors, mask)
