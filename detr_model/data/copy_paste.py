"""Copy-paste of annotated objects between training images (a dataset-level augmentation).

With a few hundred images every object has been seen on only a few backgrounds and beside a few
neighbours; pasting the box crop of another image's object, at its own size relative to the
image, makes new combinations. The crop is a rectangle (it carries a little of its own
background, as a hand-drawn box does). A spot is used only where the paste hides at most
`max_cover` of every box already there, so existing labels stay true; when no such spot is
found in a few tries the object is not pasted.
"""

from __future__ import annotations

import torch
from PIL import Image

from detr_model.data.transforms import Target


def _overlap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Returns the intersection areas of box `a` (4,) with boxes `b` (N, 4)."""
    wh = (torch.minimum(a[2:], b[:, 2:]) - torch.maximum(a[:2], b[:, :2])).clamp(min=0)
    return wh.prod(dim=1)


def paste_objects(
    image: Image.Image,
    target: Target,
    donor_image: Image.Image,
    donor_target: Target,
    *,
    max_objects: int = 2,
    max_cover: float = 0.15,
    tries: int = 10,
) -> tuple[Image.Image, Target]:
    """Returns `image` with up to `max_objects` objects of the donor pasted in, and the target
    with their boxes, labels, areas and masks (when both targets have masks) appended.

    Boxes are absolute x0, y0, x1, y1 (before any transform). Draws from torch's generator.
    """
    donors = donor_target["boxes"]
    if len(donors) == 0:
        return image, target
    w, h = image.size
    dw, dh = donor_image.size
    with_masks = "masks" in target and "masks" in donor_target
    image = image.copy()
    boxes, labels = [target["boxes"].float()], [target["labels"]]
    masks = target["masks"] if with_masks else None
    count = int(torch.randint(1, min(max_objects, len(donors)) + 1, ()))
    for index in torch.randperm(len(donors))[:count].tolist():
        x0, y0, x1, y1 = donors[index].tolist()
        left, top = int(x0), int(y0)
        right, bottom = max(left + 1, int(round(x1))), max(top + 1, int(round(y1)))
        # The object keeps its size relative to the image, give or take 25 %.
        scale = min(w / dw, h / dh) * float(0.75 + 0.5 * torch.rand(()))
        scale = min(scale, 0.6 * w / (right - left), 0.6 * h / (bottom - top))
        pw, ph = max(2, round((right - left) * scale)), max(2, round((bottom - top) * scale))
        spot = _free_spot(torch.cat(boxes), w, h, pw, ph, max_cover, tries)
        if spot is None:
            continue
        px, py = spot
        patch = donor_image.crop((left, top, right, bottom)).resize((pw, ph), Image.BILINEAR)
        image.paste(patch, (px, py))
        sx, sy = pw / (right - left), ph / (bottom - top)
        box = torch.tensor(
            [
                px + (x0 - left) * sx,
                py + (y0 - top) * sy,
                px + (x1 - left) * sx,
                py + (y1 - top) * sy,
            ]
        ).clamp(min=0)
        box = torch.minimum(box, torch.tensor([w, h, w, h], dtype=box.dtype))
        if masks is not None:
            region = (left, top, right, bottom)
            masks = _paste_mask(masks, donor_target["masks"][index], region, (px, py, pw, ph))
        boxes.append(box[None])
        labels.append(donor_target["labels"][index : index + 1])
    out = dict(target)
    out["boxes"] = torch.cat(boxes)
    out["labels"] = torch.cat(labels)
    if "area" in out:
        out["area"] = (out["boxes"][:, 2:] - out["boxes"][:, :2]).prod(dim=1)
    if "iscrowd" in out:
        out["iscrowd"] = torch.zeros(len(out["boxes"]), dtype=torch.int64)
    if masks is not None:
        out["masks"] = masks
    return image, out


def _free_spot(boxes, w: int, h: int, pw: int, ph: int, max_cover: float, tries: int):
    """Returns (x, y) of a pw x ph patch that hides at most `max_cover` of every box, or None."""
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(dim=1).clamp(min=1e-6)
    for _ in range(tries):
        x = int(torch.randint(0, max(1, w - pw + 1), ()))
        y = int(torch.randint(0, max(1, h - ph + 1), ()))
        rect = torch.tensor([x, y, x + pw, y + ph], dtype=boxes.dtype)
        if len(boxes) == 0 or bool((_overlap(rect, boxes) <= max_cover * areas).all()):
            return x, y
    return None


def _paste_mask(masks, donor_mask, region, placement):
    """Returns `masks` (N, H, W) with the patch area cleared (hidden) and the pasted object's
    mask (cropped from `donor_mask`, nearest-resized) appended."""
    left, top, right, bottom = region
    px, py, pw, ph = placement
    masks = masks.clone()
    masks[:, py : py + ph, px : px + pw] = 0
    crop = donor_mask[top:bottom, left:right][None, None].float()
    crop = torch.nn.functional.interpolate(crop, size=(ph, pw), mode="nearest")[0, 0]
    new = torch.zeros_like(masks[:1])
    new[0, py : py + ph, px : px + pw] = crop.to(masks.dtype)
    return torch.cat([masks, new])
