"""A second training style of shapes images, "varied": what synthetic.py never draws.

The demo model learnt from synthetic.py alone knows its look — filled, upright, saturated shapes
on smooth textures — and little else (issue 13). This generator draws the same classes the ways
a user's images may show them: outlined or filled (flat, two-tone or speckled), turned to any
angle, a little squashed, cut by the image edge or partly behind another shape, on cluttered
backgrounds (blobs, grids, multi-scale noise, scribbles), among unlabelled strokes and dots,
then blurred, noised and JPEG-compressed; some images have no object at all. It shares the
class names, polygons-in-COCO output and seeding rules of synthetic.py, not its drawing.
`python -m detr_model synth --style varied` calls `generate_varied_dataset`.
"""

from __future__ import annotations

import colorsys
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from detr_model.data.synthetic import (
    EXTRA_SHAPES,
    SHAPE_CATEGORIES,
    Shape,
    polygon_area,
    write_coco,
)

# An object may be hidden by later ones up to this fraction of its box (its box stays whole).
_MAX_HIDDEN = 0.3


def _colour(rng: np.random.Generator, sat=(0.0, 1.0), val=(0.1, 1.0)) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Returns a cluttered background: multi-scale noise, blobs, a grid or a flat tone."""
    kind = int(rng.integers(0, 5))
    base = np.array(_colour(rng, (0.0, 0.7)), dtype=np.float32)
    if kind == 0:  # noise at a few scales, like a photo's uneven surface
        img = np.zeros((h, w, 3), np.float32)
        for cells, weight in ((3, 60.0), (9, 30.0), (27, 15.0)):
            grid = rng.normal(0, 1, (cells, cells, 3)).astype(np.float32)
            up = Image.fromarray(((grid + 3) * 40).clip(0, 255).astype(np.uint8)).resize(
                (w, h), Image.BICUBIC
            )
            img += (np.asarray(up, np.float32) / 40 - 3) * weight
        img = base + img
    else:
        img = np.broadcast_to(base, (h, w, 3)).copy()
    image = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if kind == 1:  # soft blobs
        for _ in range(int(rng.integers(4, 15))):
            r = rng.uniform(0.05, 0.35) * min(w, h)
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_colour(rng, (0.0, 0.6)))
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(2, 6)))
    elif kind == 2:  # a grid or tiles
        step = int(rng.integers(8, 32))
        ink = _colour(rng, (0.0, 0.5))
        for x in range(int(rng.integers(0, step)), w, step):
            draw.line((x, 0, x, h), fill=ink, width=int(rng.integers(1, 3)))
        for y in range(int(rng.integers(0, step)), h, step):
            draw.line((0, y, w, y), fill=ink, width=int(rng.integers(1, 3)))
    elif kind == 3:  # two-colour diagonal split with a soft edge
        other = _colour(rng, (0.0, 0.7))
        a = rng.uniform(0, math.pi)
        pts = [
            (w / 2 + 2 * w * math.cos(a + t), h / 2 + 2 * h * math.sin(a + t))
            for t in (0, math.pi / 2, math.pi)
        ]
        draw.polygon(pts, fill=other)
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 3)))
    pixels = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(0, 14), (h, w, 1))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def _outline(category: str, cx: float, cy: float, r: float, angle: float, squash: float):
    """Returns the polygon [(x, y), ...] of a shape of radius r turned by angle and squashed."""
    if category == "circle":
        pts = [(math.cos(t), math.sin(t)) for t in np.linspace(0, 2 * math.pi, 32, endpoint=False)]
    elif category == "square":
        pts = [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]
    elif category == "triangle":
        pts = [(math.cos(t), math.sin(t)) for t in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    elif category == "cross":
        a, b = 0.3, 0.9
        pts = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]  # fmt: skip
    else:  # star
        pts = [
            ((1 if k % 2 == 0 else 0.45) * math.sin(math.pi * k / 5), -(1 if k % 2 == 0 else 0.45) * math.cos(math.pi * k / 5))
            for k in range(10)
        ]  # fmt: skip
    cos, sin = math.cos(angle), math.sin(angle)
    return [
        (cx + r * (x * squash * cos - y * sin), cy + r * (x * squash * sin + y * cos))
        for x, y in pts
    ]


def _draw_object(image: Image.Image, rng: np.random.Generator, polygon) -> None:
    draw = ImageDraw.Draw(image)
    colour = _colour(rng, (0.0, 1.0), (0.05, 1.0))
    style = rng.random()
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    size = max(max(xs) - min(xs), max(ys) - min(ys))
    if style < 0.3:  # outline only
        width = max(1, int(rng.uniform(0.04, 0.12) * size))
        draw.line([*polygon, polygon[0]], fill=colour, width=width, joint="curve")
        return
    draw.polygon(polygon, fill=colour)
    if style < 0.5:  # speckled or two-tone fill
        mask = Image.new("L", image.size, 0)
        ImageDraw.Draw(mask).polygon(polygon, fill=255)
        other = np.asarray(image, np.float32) + rng.normal(0, 40, (image.height, image.width, 1))
        if rng.random() < 0.5:
            yy = np.arange(image.height, dtype=np.float32)[:, None, None]
            other = other * (0.6 + 0.8 * (yy - min(ys)) / max(size, 1))
        textured = Image.fromarray(other.clip(0, 255).astype(np.uint8))
        image.paste(textured, (0, 0), mask)
    if rng.random() < 0.3:  # a border of another colour
        draw.line([*polygon, polygon[0]], fill=_colour(rng), width=max(1, int(0.05 * size)))


def _distractors(image: Image.Image, rng: np.random.Generator) -> None:
    """Draws unlabelled strokes, open bends, arcs and dots (never a closed outline: that would
    be an unlabelled shape)."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    for _ in range(int(rng.integers(0, 7))):
        ink, width = _colour(rng), int(rng.integers(1, 4))
        kind = rng.random()
        if kind < 0.5:
            pts = [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(int(rng.integers(2, 4)))]
            draw.line(pts, fill=ink, width=width)
        elif kind < 0.8:
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, 0.4 * min(w, h))
            start = rng.uniform(0, 360)
            draw.arc(
                (x - r, y - r, x + r, y + r),
                start,
                start + rng.uniform(30, 150),
                fill=ink,
                width=width,
            )
        else:
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1, 3)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)


def _hidden_fraction(box, later) -> float:
    area = (box[2] - box[0]) * (box[3] - box[1])
    hidden = 0.0
    for other in later:
        iw = min(box[2], other[2]) - max(box[0], other[0])
        ih = min(box[3], other[3]) - max(box[1], other[1])
        hidden += max(0.0, iw) * max(0.0, ih)
    return hidden / max(area, 1e-6)


def render_varied_image(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    objects: tuple[int, int] = (0, 5),
    shapes: Sequence[str] = SHAPE_CATEGORIES,
) -> tuple[Image.Image, list[Shape]]:
    """Returns an image and its objects (category ids 1.. in the order of `shapes`; a box cut
    by the image edge is the visible part, one partly hidden stays whole)."""
    image = _background(rng, width, height)
    short = min(width, height)
    wanted = int(rng.integers(objects[0], objects[1] + 1))
    boxes: list[list[float]] = []
    found: list[Shape] = []
    if rng.random() < 0.5:
        _distractors(image, rng)  # under the objects
    for _ in range(wanted * 10):
        if len(found) == wanted:
            break
        cat = int(rng.integers(0, len(shapes)))
        r = rng.uniform(0.05, 0.25) * short
        cx = rng.uniform(-0.3 * r, width + 0.3 * r)
        cy = rng.uniform(-0.3 * r, height + 0.3 * r)
        polygon = _outline(
            shapes[cat], cx, cy, r, rng.uniform(0, 2 * math.pi), rng.uniform(0.8, 1.25)
        )
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        full = [min(xs), min(ys), max(xs), max(ys)]
        box = [
            max(0.0, full[0]),
            max(0.0, full[1]),
            min(float(width), full[2]),
            min(float(height), full[3]),
        ]
        inside = (box[2] - box[0]) * (box[3] - box[1]) / ((full[2] - full[0]) * (full[3] - full[1]))
        if inside < 0.65 or min(box[2] - box[0], box[3] - box[1]) < 6:
            continue  # mostly outside the image
        if any(_hidden_fraction(b, [box]) > _MAX_HIDDEN for b in boxes):
            continue
        if any(_hidden_fraction(box, [b]) > 0.6 for b in boxes):
            continue  # would sit almost inside an earlier object
        _draw_object(image, rng, polygon)
        boxes.append(box)
        flat = [v for p in polygon for v in p]
        bbox = (box[0], box[1], box[2] - box[0], box[3] - box[1])
        found.append(Shape(cat + 1, bbox, polygon_area(flat), tuple(flat)))
    if rng.random() < 0.4:
        _distractors(image, rng)  # over them
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    if rng.random() < 0.3:
        noisy = np.asarray(image, np.float32) + rng.normal(
            0, rng.uniform(4, 20), (height, width, 3)
        )
        image = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))
    if rng.random() < 0.5:  # heavy JPEG artefacts, whatever format the file gets
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(15, 60)))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image, found


def generate_varied_dataset(
    out_dir: str | Path,
    num_images: int,
    *,
    seed: int = 0,
    size: int | Sequence[int] = 256,
    objects: tuple[int, int] = (0, 5),
    image_format: str = "jpg",
    shapes: Sequence[str] = SHAPE_CATEGORIES,
) -> Path:
    """Returns the path of the COCO JSON written with `num_images` varied-style images.

    Same arguments and seeding rule as `generate_shapes_dataset` (objects may start at 0).
    """
    known = SHAPE_CATEGORIES + EXTRA_SHAPES
    if not shapes or any(name not in known for name in shapes) or len(set(shapes)) < len(shapes):
        raise ValueError(f"varied: shapes must be distinct names from {known}, got {shapes!r}")
    if not (0 <= objects[0] <= objects[1]):
        raise ValueError(f"varied: objects must be (min, max) with 0 <= min <= max: {objects}")
    rng = np.random.default_rng(seed)

    def draw(width: int, height: int):
        return render_varied_image(rng, width, height, objects=objects, shapes=shapes)

    return write_coco(out_dir, num_images, draw, rng=rng, size=size, image_format=image_format,
                      shapes=shapes, description=f"DETR Studio varied shapes (seed {seed})")  # fmt: skip
