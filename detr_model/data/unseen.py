"""A second shapes generator, the stand-in for a user's own pictures: nothing trains on it.

It shares no drawing code with `synthetic.py`, only the class names: other backgrounds
(textures, gradients at angles, clutter, two-region scenes), filled and outline-only shapes,
rotated squares and triangles, slightly elliptic circles, shapes of no class and thin strokes
as distractors, objects hidden in part by others or by the frame, small to large objects, blur,
noise, poor JPEG and empty images. Each box is tight around the visible pixels of its object;
an object less than 30% visible is not annotated (placement keeps that rare).
`python -m detr_model synth --style unseen --out DIR --images N` calls
`generate_unseen_dataset`.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from detr_model.atomic_file import atomic_write_json
from detr_model.data import unseen_draw as draw
from detr_model.data.synthetic import EXTRA_SHAPES, SHAPE_CATEGORIES

log = logging.getLogger(__name__)

KNOWN_SHAPES: tuple[str, ...] = SHAPE_CATEGORIES + EXTRA_SHAPES
MIN_VISIBLE = 0.3  # an object less visible than this is not annotated
_PLACE_VISIBLE = 0.45  # placement keeps every object at least this visible
_MIN_PIXELS = 12
_TRIES = 12


@dataclass(frozen=True)
class UnseenObject:
    """One annotated object: COCO category id, bbox [x, y, w, h] of its visible pixels, area
    (visible pixels) and the visible fraction of the whole shape."""

    category_id: int
    bbox: tuple[float, float, float, float]
    area: float
    visible: float


@dataclass
class _Layer:
    owner: int  # object number (1..), -1 for a distractor
    mask: np.ndarray
    paint: draw.Paint


@dataclass
class Scene:
    """A planned picture: background, layers bottom to top, annotations and camera."""

    background: np.ndarray
    camera: draw.Camera
    layers: list[_Layer] = field(default_factory=list)
    objects: list[UnseenObject] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)  # the layer owner of each object


def _contrasting(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """Returns a colour that stands out from the mean colour `under` it (so that a person
    would see the object at all)."""
    for _ in range(8):
        colour = draw.random_colour(rng)
        if float(np.linalg.norm(colour - under)) > 80:
            return colour
    light = rng.uniform(195, 255, 3)
    return np.where(under > 127, 255 - light, light).astype(np.float32)


class _Planner:
    """Places layers one by one over a map of which object owns each pixel."""

    def __init__(self, rng: np.random.Generator, background: np.ndarray) -> None:
        self.rng = rng
        self.height, self.width = background.shape[:2]
        self.background = background
        self.flat = background.copy()  # each layer in its main colour: what a new one is on
        self.owner = np.zeros((self.height, self.width), np.int16)
        self.full: dict[int, int] = {}  # object number -> its pixel count with nothing cut off
        self.categories: dict[int, int] = {}
        self.layers: list[_Layer] = []

    def keeps_objects(self, mask: np.ndarray) -> bool:
        """Returns whether every object stays visible enough under a new top layer."""
        return all(
            int(((self.owner == n) & ~mask).sum()) >= _PLACE_VISIBLE * full
            for n, full in self.full.items()
        )

    def paint(self, number: int, mask: np.ndarray, *, plain: bool = False) -> np.ndarray:
        colour = _contrasting(self.rng, self.flat[mask].mean(axis=0))
        self.layers.append(_Layer(number, mask, draw.random_paint(self.rng, colour, plain=plain)))
        self.owner[mask] = number
        self.flat[mask] = colour
        return colour

    def add_object(self, name: str, category_id: int, scale: tuple[float, float]) -> None:
        rng, side = self.rng, min(self.width, self.height)
        number = len(self.full) + 1
        for _ in range(_TRIES):
            size = max(8.0, side * math.exp(rng.uniform(math.log(scale[0]), math.log(scale[1]))))
            margin = size * 0.35  # centres may lie past the frame: cut-off objects
            cx = rng.uniform(-margin, self.width + margin)
            cy = rng.uniform(-margin, self.height + margin)
            polygon = draw.shape_outline(rng, name, cx, cy, size)
            stroke = 0
            if rng.random() < 0.3 and size >= 24:  # outline only (smaller reads as a ring)
                stroke = int(np.clip(round(size * rng.uniform(0.05, 0.12)), 2, 6))
            mask = draw.polygon_mask(self.width, self.height, polygon, stroke=stroke)
            full = draw.full_pixel_count(polygon, stroke=stroke)
            if mask.sum() < max(_MIN_PIXELS, _PLACE_VISIBLE * full) or not self.keeps_objects(mask):
                continue
            colour = self.paint(number, mask, plain=stroke > 0)
            if not stroke and rng.random() < 0.3:  # an edge in another colour
                edge = draw.polygon_mask(
                    self.width, self.height, polygon, stroke=int(rng.integers(1, 3))
                )
                dark = np.clip(colour * rng.uniform(0.2, 0.6), 0, 255)
                self.layers.append(
                    _Layer(number, edge & mask, draw.random_paint(rng, dark, plain=True))
                )
            self.full[number] = full
            self.categories[number] = category_id
            return

    def add_distractor(self, *, stroke_only: bool) -> None:
        rng, width, height = self.rng, self.width, self.height
        for _ in range(_TRIES):
            if stroke_only:  # a thin straight or curved line: never angled, no outline triangles
                ends = rng.uniform(-5, [width + 5, height + 5], (2, 2))
                bend = rng.uniform(-0.4, 0.4) * np.linalg.norm(ends[1] - ends[0])
                normal = np.array([ends[0, 1] - ends[1, 1], ends[1, 0] - ends[0, 0]])
                middle = ends.mean(axis=0) + bend * normal / max(np.linalg.norm(normal), 1e-6)
                t = np.linspace(0, 1, 12)[:, None]
                curve = (1 - t) ** 2 * ends[0] + 2 * t * (1 - t) * middle + t**2 * ends[1]
                points = [(float(x), float(y)) for x, y in curve]
                mask = _line_mask(width, height, points, int(rng.integers(1, 3)))
            else:
                size = min(width, height) * rng.uniform(0.1, 0.45)
                kind = str(rng.choice(draw.DISTRACTOR_KINDS))
                cx, cy = rng.uniform(0, width), rng.uniform(0, height)
                polygon, hole = draw.distractor_outline(rng, kind, cx, cy, size)
                mask = draw.polygon_mask(width, height, polygon, hole=hole)
            if mask.any() and (stroke_only or self.keeps_objects(mask)):
                self.paint(-1, mask)
                return

    def annotations(self) -> tuple[list[UnseenObject], list[int]]:
        """Returns the objects visible enough, with boxes tight around their visible pixels."""
        objects, owners = [], []
        for number, full in self.full.items():
            visible = self.owner == number
            pixels = int(visible.sum())
            if pixels < _MIN_PIXELS or pixels < MIN_VISIBLE * full:
                continue
            ys, xs = np.nonzero(visible)
            x0, y0 = int(xs.min()), int(ys.min())
            box = (float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1))
            category = self.categories[number]
            objects.append(UnseenObject(category, box, float(pixels), min(1.0, pixels / full)))
            owners.append(number)
        return objects, owners


def _line_mask(width: int, height: int, points, line_width: int) -> np.ndarray:
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).line(points, fill=255, width=line_width, joint="curve")
    return np.asarray(image) > 0


def plan_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    shapes: Sequence[str] = SHAPE_CATEGORIES,
    objects: tuple[int, int] = (0, 5),
    object_scale: tuple[float, float] = (0.1, 0.55),
) -> Scene:
    """Returns a planned picture with its annotations (category ids 1.. in `shapes` order)."""
    kind = str(rng.choice(draw.BACKGROUND_KINDS))
    planner = _Planner(rng, draw.render_background(rng, width, height, kind))
    for _ in range(int(rng.integers(0, 3))):  # shapes of no class, under the objects
        planner.add_distractor(stroke_only=False)
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        index = int(rng.integers(len(shapes)))
        planner.add_object(shapes[index], index + 1, object_scale)
    for _ in range(int(rng.integers(0, 4))):  # thin strokes over everything
        planner.add_distractor(stroke_only=True)
    if rng.random() < 0.25:  # a shape of no class in front
        planner.add_distractor(stroke_only=False)
    found, owners = planner.annotations()
    return Scene(planner.background, draw.random_camera(rng), planner.layers, found, owners)


def paint_scene(scene: Scene, *, omit: int | None = None, camera: bool = True) -> Image.Image:
    """Returns the RGB picture of `scene`; `omit` leaves out object `omit` (an index into
    scene.objects), `camera=False` leaves out blur, noise and the other camera effects."""
    picture = scene.background.copy()
    skip = scene.owners[omit] if omit is not None else None
    for layer in scene.layers:
        if layer.owner != skip:
            picture[layer.mask] = draw.paint_mask(layer.paint, layer.mask)
    if camera:
        return draw.through_camera(picture, scene.camera)
    return Image.fromarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8))


def render_unseen_image(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    shapes: Sequence[str] = SHAPE_CATEGORIES,
    objects: tuple[int, int] = (0, 5),
) -> tuple[Image.Image, list[UnseenObject], int]:
    """Returns an RGB picture, its annotations and the JPEG quality it is meant to be saved at."""
    scene = plan_scene(rng, width, height, shapes=shapes, objects=objects)
    return paint_scene(scene), scene.objects, scene.camera.jpeg_quality


def _check(shapes: Sequence[str], num_images: int, objects, image_format: str, size):
    if not shapes or any(n not in KNOWN_SHAPES for n in shapes) or len(set(shapes)) < len(shapes):
        raise ValueError(
            f"unseen: shapes must be distinct names from {', '.join(KNOWN_SHAPES)}; "
            f"got {', '.join(map(str, shapes)) or 'none'}"
        )
    if num_images < 0:
        raise ValueError(f"unseen: number of images must be >= 0, got {num_images}")
    if image_format.lower() not in ("jpg", "jpeg", "png"):
        raise ValueError(f"unseen: image format must be jpg or png, got {image_format!r}")
    if not (0 <= objects[0] <= objects[1]):
        raise ValueError(f"unseen: objects must be (min, max) with 0 <= min <= max: {objects}")
    lo, hi = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if lo < 32 or hi < lo:
        raise ValueError(f"unseen: image size must be >= 32 px and min <= max, got {size!r}")
    return lo, hi


def generate_unseen_dataset(
    out_dir: str | Path,
    num_images: int,
    *,
    seed: int = 0,
    size: int | Sequence[int] = 256,
    shapes: Sequence[str] = SHAPE_CATEGORIES,
    objects: tuple[int, int] = (0, 5),
    image_format: str = "jpg",
    json_name: str = "annotations.json",
) -> Path:
    """Returns the path of the COCO JSON written with `num_images` unseen-style images.

    The layout is `generate_shapes_dataset`'s: images 000001.jpg..., categories 1.. in `shapes`
    order, bbox [x, y, w, h] of the visible pixels, area = visible pixels. `size` is a side or a
    (min, max) range for width and height. The same seed writes the same bytes. PNG pictures go
    through JPEG once in memory so that they carry the same artefacts.
    """
    lo, hi = _check(shapes, num_images, objects, image_format, size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = "png" if image_format.lower() == "png" else "jpg"
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    digits = max(6, len(str(num_images)))
    for index in range(num_images):
        width, height = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
        image, found, quality = render_unseen_image(
            rng, width, height, shapes=shapes, objects=objects
        )
        file_name = f"{index + 1:0{digits}d}.{ext}"
        if ext == "jpg":
            image.save(out / file_name, quality=quality)
        else:
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=quality)
            Image.open(buffer).convert("RGB").save(out / file_name)
        image_id = index + 1
        images.append(
            {"id": image_id, "file_name": file_name, "width": width, "height": height,
             "license": 1, "date_captured": ""}
        )  # fmt: skip
        for obj in found:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": obj.category_id,
                 "bbox": list(obj.bbox), "area": obj.area, "iscrowd": 0}
            )  # fmt: skip
    coco = {
        "info": {
            "description": f"DETR Studio unseen-style shapes (seed {seed})",
            "version": "1.0",
            "contributor": "detr_model.data.unseen",
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
    log.info("wrote %d unseen-style images, %d boxes to %s", len(images), len(annotations), out)
    return json_path
