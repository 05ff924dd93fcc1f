"""A seeded "shapes" detection dataset: coloured circles, squares and triangles on textures.

Used by the demo, the tests and the benchmarks: no download, any size, COCO JSON out.
`python -m detr_model synth --out DIR --images N --seed S` calls `generate_shapes_dataset`.
"""

from __future__ import annotations

import colorsys
import datetime as _dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from detr_model.atomic_file import atomic_write_json

log = logging.getLogger(__name__)

SHAPE_CATEGORIES: tuple[str, ...] = ("circle", "square", "triangle")
"""Category names; their COCO ids are 1, 2, 3 in this order."""
EXTRA_SHAPES: tuple[str, ...] = ("cross", "star")
"""Shapes that can be added with `shapes=` (e.g. a 4th class for fine-tuning experiments)."""
BACKGROUNDS: tuple[str, ...] = ("noise", "gradient", "stripes")

# A new object may hide at most this fraction of an earlier object (and vice versa).
_MAX_COVER = 0.35


@dataclass(frozen=True)
class Shape:
    """One drawn object: COCO category id, bbox [x, y, w, h] in pixels, area, polygon."""

    category_id: int
    bbox: tuple[float, float, float, float]
    area: float
    polygon: tuple[float, ...]


def _size_range(size: int | Sequence[int]) -> tuple[int, int]:
    lo, hi = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if lo < 32 or hi < lo:
        raise ValueError(f"synthetic: image size must be >= 32 px and min <= max, got {size!r}")
    return lo, hi


def _random_colour(rng: np.random.Generator, saturation: tuple[float, float]) -> np.ndarray:
    hue = rng.random()
    sat = rng.uniform(*saturation)
    val = rng.uniform(0.35, 1.0)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255.0


def render_background(rng: np.random.Generator, width: int, height: int, kind: str) -> np.ndarray:
    """Returns an (H, W, 3) float32 texture in [0, 255]: smooth noise, a gradient or stripes."""
    c0 = _random_colour(rng, (0.0, 0.5))
    c1 = _random_colour(rng, (0.0, 0.5))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "noise":
        cells = int(rng.integers(3, 9))
        coarse = rng.random((cells, cells)).astype(np.float32)
        iy = np.minimum((yy * cells / height).astype(int), cells - 1)
        ix = np.minimum((xx * cells / width).astype(int), cells - 1)
        t = coarse[iy, ix]
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        proj = xx * math.cos(angle) + yy * math.sin(angle)
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    elif kind == "stripes":
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(6, max(8.0, min(width, height) / 4))
        proj = xx * math.cos(angle) + yy * math.sin(angle)
        t = 0.5 + 0.5 * np.sin(proj * (2 * math.pi / period))
    else:
        raise ValueError(f"synthetic: unknown background {kind!r}; choose from {BACKGROUNDS}")
    img = c0 + t[..., None] * (c1 - c0)
    img += rng.normal(0.0, 12.0, size=(height, width, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.float32)


def _shape_polygon(category: str, x: float, y: float, side: float) -> tuple[float, ...]:
    if category == "circle":
        r, cx, cy = side / 2, x + side / 2, y + side / 2
        pts = [
            (cx + r * math.cos(a), cy + r * math.sin(a))
            for a in np.linspace(0, 2 * math.pi, 24, endpoint=False)
        ]
    elif category == "square":
        pts = [(x, y), (x + side, y), (x + side, y + side), (x, y + side)]
    elif category == "cross":  # a plus sign with arms a third of the side wide
        a, b = side / 3, 2 * side / 3
        pts = [
            (x + a, y), (x + b, y), (x + b, y + a), (x + side, y + a), (x + side, y + b),
            (x + b, y + b), (x + b, y + side), (x + a, y + side), (x + a, y + b), (x, y + b),
            (x, y + a), (x + a, y + a),
        ]  # fmt: skip
    elif category == "star":  # five points, the box's inscribed circle
        r, cx, cy = side / 2, x + side / 2, y + side / 2
        pts = [
            (
                cx + (r if k % 2 == 0 else 0.4 * r) * math.sin(math.pi * k / 5),
                cy - (r if k % 2 == 0 else 0.4 * r) * math.cos(math.pi * k / 5),
            )
            for k in range(10)
        ]
    else:  # triangle pointing up, equilateral-ish, filling the box
        pts = [(x + side / 2, y), (x + side, y + side), (x, y + side)]
    return tuple(v for p in pts for v in p)


def _overlaps_too_much(box: np.ndarray, placed: list[np.ndarray]) -> bool:
    for other in placed:
        iw = min(box[2], other[2]) - max(box[0], other[0])
        ih = min(box[3], other[3]) - max(box[1], other[1])
        if iw <= 0 or ih <= 0:
            continue
        inter = iw * ih
        area_a = (box[2] - box[0]) * (box[3] - box[1])
        area_b = (other[2] - other[0]) * (other[3] - other[1])
        if inter > _MAX_COVER * min(area_a, area_b):
            return True
    return False


def render_shapes_image(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    objects: tuple[int, int] = (1, 4),
    object_scale: tuple[float, float] = (0.15, 0.45),
    backgrounds: Sequence[str] = BACKGROUNDS,
    shapes: Sequence[str] = SHAPE_CATEGORIES,
) -> tuple[Image.Image, list[Shape]]:
    """Returns an RGB image with a few shapes and their annotations (later shapes on top).

    Category ids are 1.. in the order of `shapes`.
    """
    bg = render_background(rng, width, height, str(rng.choice(list(backgrounds))))
    image = Image.fromarray(bg.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    wanted = int(rng.integers(objects[0], objects[1] + 1))
    placed: list[np.ndarray] = []
    drawn: list[Shape] = []
    for _ in range(wanted * 10):
        if len(drawn) == wanted:
            break
        side = float(round(max(8.0, rng.uniform(*object_scale) * short)))
        x = float(rng.integers(0, max(1, int(width - side) + 1)))
        y = float(rng.integers(0, max(1, int(height - side) + 1)))
        box = np.array([x, y, x + side, y + side])
        if _overlaps_too_much(box, placed):
            continue
        cat_index = int(rng.integers(0, len(shapes)))
        category = shapes[cat_index]
        colour = tuple(int(c) for c in _random_colour(rng, (0.6, 1.0)))
        polygon = _shape_polygon(category, x, y, side)
        if category == "circle":
            draw.ellipse((x, y, x + side - 1, y + side - 1), fill=colour)
            area = math.pi * (side / 2) ** 2
        else:
            draw.polygon(polygon, fill=colour)
            area = polygon_area(polygon)
        placed.append(box)
        drawn.append(Shape(cat_index + 1, (x, y, side, side), area, polygon))
    return image, drawn


def polygon_area(polygon: Sequence[float]) -> float:
    """Returns the area of a flat (x0, y0, x1, y1, ...) polygon (shoelace formula)."""
    xs, ys = np.asarray(polygon[0::2]), np.asarray(polygon[1::2])
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2)


def generate_shapes_dataset(
    out_dir: str | Path,
    num_images: int,
    *,
    seed: int = 0,
    size: int | Sequence[int] = 256,
    objects: tuple[int, int] = (1, 4),
    object_scale: tuple[float, float] = (0.15, 0.45),
    backgrounds: Sequence[str] = BACKGROUNDS,
    image_format: str = "jpg",
    json_name: str = "annotations.json",
    shapes: Sequence[str] = SHAPE_CATEGORIES,
) -> Path:
    """Returns the path of the COCO JSON written with `num_images` images into `out_dir`.

    `size` is the side in pixels (square images) or a (min, max) range for width and height
    drawn independently. The same seed gives the same images and annotations. `shapes` lists
    the categories (ids 1.. in order), e.g. SHAPE_CATEGORIES + ("cross",) for a 4th class.
    """
    known = SHAPE_CATEGORIES + EXTRA_SHAPES
    if not shapes or any(name not in known for name in shapes) or len(set(shapes)) < len(shapes):
        raise ValueError(f"synthetic: shapes must be distinct names from {known}, got {shapes!r}")
    if not (1 <= objects[0] <= objects[1]):
        raise ValueError(f"synthetic: objects must be (min, max) with 1 <= min <= max: {objects}")

    def draw(width: int, height: int) -> tuple[Image.Image, list[Shape]]:
        return render_shapes_image(
            rng,
            width,
            height,
            objects=objects,
            object_scale=object_scale,
            backgrounds=backgrounds,
            shapes=shapes,
        )

    rng = np.random.default_rng(seed)
    description = f"DETR Studio synthetic shapes (seed {seed})"
    return write_coco(
        out_dir, num_images, draw, rng=rng, size=size, image_format=image_format,
        shapes=shapes, description=description, json_name=json_name,
    )  # fmt: skip


def write_coco(
    out_dir: str | Path,
    num_images: int,
    draw: Callable[[int, int], tuple[Image.Image, list[Shape]]],
    *,
    rng: np.random.Generator,
    size: int | Sequence[int],
    image_format: str,
    shapes: Sequence[str],
    description: str,
    json_name: str = "annotations.json",
) -> Path:
    """Returns the COCO JSON path after writing `num_images` images `draw(width, height)` made
    (width and height drawn from `rng` in `size` first, image by image) and their shapes."""
    if num_images < 0:
        raise ValueError(f"synthetic: number of images must be >= 0, got {num_images}")
    if image_format.lower() not in ("jpg", "jpeg", "png"):
        raise ValueError(f"synthetic: image format must be jpg or png, got {image_format!r}")
    lo, hi = _size_range(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = "png" if image_format.lower() == "png" else "jpg"
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    digits = max(6, len(str(num_images)))
    for index in range(num_images):
        width, height = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
        image, drawn = draw(width, height)
        file_name = f"{index + 1:0{digits}d}.{ext}"
        if ext == "jpg":
            image.save(out / file_name, quality=92)
        else:
            image.save(out / file_name)
        image_id = index + 1
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": width,
                "height": height,
                "license": 1,
                "date_captured": "",
            }
        )
        for shape in drawn:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": shape.category_id,
                    "bbox": list(shape.bbox),
                    "area": round(shape.area, 2),
                    "segmentation": [[round(v, 2) for v in shape.polygon]],
                    "iscrowd": 0,
                }
            )
    coco = {
        "info": {
            "description": description,
            "version": "1.0",
            "year": _dt.date.today().year,
            "contributor": "detr_model.data.synthetic",
            "date_created": _dt.date.today().isoformat(),
        },
        "licenses": [{"id": 1, "name": "CC0 1.0", "url": ""}],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(shapes)
        ],
    }
    json_path = out / json_name
    atomic_write_json(json_path, coco)
    log.info("wrote %d images, %d boxes to %s", len(images), len(annotations), out)
    return json_path
