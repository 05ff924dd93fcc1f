"""Drawing pieces of the unseen-style generator: backgrounds, outlines, masks, paints, camera.

Written apart from `synthetic.py` (no shared drawing code) so that models tuned on that
generator meet pictures they were not built around. Everything random takes a numpy Generator;
pictures are float32 (H, W, 3) arrays in 0..255 and masks bool (H, W) arrays.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

BACKGROUND_KINDS: tuple[str, ...] = ("texture", "gradient", "clutter", "horizon")
DISTRACTOR_KINDS: tuple[str, ...] = ("blob", "arrow", "crescent")

Polygon = list[tuple[float, float]]


def random_colour(
    rng: np.random.Generator,
    value: tuple[float, float] = (0.1, 1.0),
    saturation: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """Returns an RGB colour (3,) in 0..255 drawn in HSV."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value))
    return np.asarray(rgb, np.float32) * 255


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: float, channels=1):
    """Returns noise in 0..1, (H, W, channels), with about `cells` blobs along the long side."""
    long_side = max(width, height)
    gw = max(2, round(cells * width / long_side) + 1)
    gh = max(2, round(cells * height / long_side) + 1)
    grid = (rng.random((gh, gw, channels)) * 255).astype(np.uint8)
    small = Image.fromarray(grid[..., 0] if channels == 1 else grid)
    big = small.resize((width, height), Image.Resampling.BICUBIC)
    out = np.asarray(big, np.float32) / 255
    return out[..., None] if channels == 1 else out


def _ramp(width: int, height: int, angle: float) -> np.ndarray:
    """Returns 0..1 (H, W) rising along `angle` (radians) across the whole picture."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xx * math.cos(angle) + yy * math.sin(angle)
    return (t - t.min()) / max(float(np.ptp(t)), 1e-6)


def _gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    t = _ramp(width, height, rng.uniform(0, 2 * math.pi))
    stops = np.stack([random_colour(rng) for _ in range(int(rng.integers(2, 4)))])
    at = np.linspace(0, 1, len(stops))
    return np.stack([np.interp(t, at, stops[:, c]) for c in range(3)], axis=-1)


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    octaves = [(c, rng.random()) for c in (3, 7, 16, 40)]
    total = sum(w for _, w in octaves) or 1.0
    n = sum(w * _smooth_noise(rng, width, height, c) for c, w in octaves) / total
    n = (n - n.min()) / max(float(np.ptp(n)), 1e-6)
    low, high = random_colour(rng), random_colour(rng)
    tint = (_smooth_noise(rng, width, height, 4, channels=3) - 0.5) * rng.uniform(0, 70)
    return low + (high - low) * n + tint


def _blob(rng: np.random.Generator, cx: float, cy: float, radius: float) -> Polygon:
    """A lobed, wavy outline (two harmonics of the radius) that reads as none of the classes."""
    k1, k2 = int(rng.integers(2, 4)), int(rng.integers(6, 9))  # 5 bumps would read as a star
    a1, a2 = rng.uniform(0.22, 0.35), rng.uniform(0.1, 0.2)
    p1, p2 = rng.uniform(0, 2 * math.pi, 2)
    angles = np.linspace(0, 2 * math.pi, 40, endpoint=False)
    radii = radius * (1 + a1 * np.sin(k1 * angles + p1) + a2 * np.sin(k2 * angles + p2)) / 1.5
    return [
        (cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)
    ]


def _clutter(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    base = _gradient(rng, width, height) if rng.random() < 0.5 else _texture(rng, width, height)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    side = min(width, height)
    for _ in range(int(rng.integers(8, 30))):
        colour = tuple(int(v) for v in random_colour(rng, saturation=(0.0, 0.6)))
        if rng.random() < 0.6:
            points = [tuple(rng.uniform(-10, [width + 10, height + 10])) for _ in range(2)]
            draw.line(points, fill=colour, width=int(rng.integers(1, 4)))
        else:
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            draw.polygon(_blob(rng, cx, cy, side * rng.uniform(0.03, 0.15)), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    return np.asarray(image, np.float32)


def _horizon(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Two regions split by a tilted soft line, like sky over ground."""
    upper, lower = _gradient(rng, width, height), _texture(rng, width, height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    tilt = math.tan(rng.uniform(-0.4, 0.4))
    line = height * rng.uniform(0.2, 0.8) + (xx - width / 2) * tilt
    soft = max(1.0, height * rng.uniform(0.005, 0.08))
    mix = np.clip((yy - line) / soft + 0.5, 0, 1)[..., None]
    return upper * (1 - mix) + lower * mix


def render_background(rng: np.random.Generator, width: int, height: int, kind: str) -> np.ndarray:
    """Returns a (H, W, 3) float32 background of one of BACKGROUND_KINDS."""
    makers = {"texture": _texture, "gradient": _gradient, "clutter": _clutter}
    picture = makers.get(kind, _horizon)(rng, width, height)
    return np.clip(picture, 0, 255).astype(np.float32)


# outlines ---------------------------------------------------------------------------------------


def _turn(points: list[tuple[float, float]], angle: float, cx: float, cy: float) -> Polygon:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]


def shape_outline(rng: np.random.Generator, name: str, cx: float, cy: float, size: float):
    """Returns the polygon of a class shape about `size` px across, at a random rotation."""
    r = size / 2
    if name == "circle":  # an ellipse of slight aspect: circles seen a little askew
        aspect = rng.uniform(0.86, 1.16)
        count = max(16, int(r * 1.6))
        points = [
            (r * aspect * math.cos(a), r / aspect * math.sin(a))
            for a in np.linspace(0, 2 * math.pi, count, endpoint=False)
        ]
        return _turn(points, rng.uniform(0, math.pi), cx, cy)
    if name == "square":
        h = r * 0.78
        w = h * rng.uniform(0.93, 1.07)
        return _turn([(-w, -h), (w, -h), (w, h), (-w, h)], rng.uniform(0, math.pi / 2), cx, cy)
    if name == "triangle":  # not always equilateral: corners moved by up to 14 degrees
        angles = np.radians([90, 210, 330] + rng.uniform(-14, 14, 3))
        radii = r * rng.uniform(0.9, 1.0, 3)
        points = [(q * math.cos(a), -q * math.sin(a)) for a, q in zip(angles, radii, strict=True)]
        return _turn(points, rng.uniform(0, 2 * math.pi), cx, cy)
    if name == "cross":
        t = r * rng.uniform(0.2, 0.34)
        arm = [(t, t), (t, r), (-t, r), (-t, t)]
        points = [p for k in range(4) for p in _turn(arm, k * math.pi / 2, 0, 0)]
        return _turn(points, rng.uniform(0, math.pi / 2), cx, cy)
    if name == "star":
        inner = r * rng.uniform(0.36, 0.5)
        points = [
            ((r if k % 2 == 0 else inner) * math.cos(k * math.pi / 5),
             (r if k % 2 == 0 else inner) * math.sin(k * math.pi / 5))
            for k in range(10)
        ]  # fmt: skip
        return _turn(points, rng.uniform(0, 2 * math.pi), cx, cy)
    raise ValueError(f"unseen: no outline for shape {name!r}")


def distractor_outline(rng: np.random.Generator, kind: str, cx: float, cy: float, size: float):
    """Returns (polygon, hole or None) of a shape that belongs to no class."""
    r = size / 2
    if kind == "arrow":
        t, head = r * rng.uniform(0.12, 0.22), r * rng.uniform(0.35, 0.5)
        body = [(-r, -t), (r - head, -t), (r - head, -2.2 * t), (r, 0), (r - head, 2.2 * t)]
        points = body + [(r - head, t), (-r, t)]
        return _turn(points, rng.uniform(0, 2 * math.pi), cx, cy), None
    if kind == "crescent":
        circle = [(r * math.cos(a), r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 32)]
        shift = r * rng.uniform(0.35, 0.6)
        angle = rng.uniform(0, 2 * math.pi)
        hole = [(x + shift, y) for x, y in circle]
        return _turn(circle, angle, cx, cy), _turn(hole, angle, cx, cy)
    return _blob(rng, cx, cy, r), None


def polygon_mask(
    width: int,
    height: int,
    polygon: Polygon,
    *,
    stroke: int = 0,
    hole: Polygon | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Returns the pixels a polygon covers, filled or (stroke > 0) as an outline that wide."""
    dx, dy = offset
    moved = [(x + dx, y + dy) for x, y in polygon]
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    if stroke:
        draw.polygon(moved, outline=255, width=stroke)
    else:
        draw.polygon(moved, fill=255)
    if hole:
        draw.polygon([(x + dx, y + dy) for x, y in hole], fill=0)
    return np.asarray(image) > 0


def full_pixel_count(polygon: Polygon, *, stroke: int = 0, hole: Polygon | None = None) -> int:
    """Returns how many pixels the polygon covers when nothing is cut off by the frame."""
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    x0, y0 = math.floor(min(xs)) - 2, math.floor(min(ys)) - 2
    w, h = math.ceil(max(xs)) - x0 + 3, math.ceil(max(ys)) - y0 + 3
    return int(polygon_mask(w, h, polygon, stroke=stroke, hole=hole, offset=(-x0, -y0)).sum())


# paints -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paint:
    """How a layer's pixels are coloured: solid, gradient, grainy texture or stripes."""

    kind: str
    colour: tuple[float, float, float]
    colour2: tuple[float, float, float]
    angle: float = 0.0
    period: float = 6.0
    grain: float = 0.0
    seed: int = 0


def random_paint(rng: np.random.Generator, colour: np.ndarray, *, plain: bool = False) -> Paint:
    """Returns a paint around `colour` (plain: solid or a faint gradient, for thin outlines)."""
    kinds = ("solid", "gradient") if plain else ("solid", "solid", "gradient", "texture", "stripes")
    kind = str(rng.choice(kinds))
    shift = rng.uniform(-60, 60, 3) if kind != "stripes" else rng.uniform(-120, 120, 3)
    second = np.clip(colour + shift, 0, 255)
    return Paint(
        kind,
        tuple(float(v) for v in colour),
        tuple(float(v) for v in second),
        angle=float(rng.uniform(0, 2 * math.pi)),
        period=float(rng.uniform(3, 9)),
        grain=float(rng.uniform(4, 25)),
        seed=int(rng.integers(2**31)),
    )


def paint_mask(paint: Paint, mask: np.ndarray) -> np.ndarray:
    """Returns the (N, 3) colours of `paint` at the N pixels of `mask` (row-major order); a
    gradient runs across the masked pixels, stripes and grain are fixed to the frame."""
    a, b = np.asarray(paint.colour, np.float32), np.asarray(paint.colour2, np.float32)
    ys, xs = np.nonzero(mask)
    if paint.kind == "solid":
        return np.broadcast_to(a, (len(xs), 3))
    phase = (xs * math.cos(paint.angle) + ys * math.sin(paint.angle)).astype(np.float32)
    if paint.kind == "gradient":
        t = (phase - phase.min()) / max(float(np.ptp(phase)), 1e-6) if len(phase) else phase
        return a + (b - a) * t[:, None]
    if paint.kind == "stripes":
        on = (np.sin(phase * 2 * math.pi / paint.period) > 0)[:, None]
        return np.where(on, a, b)
    grain = np.random.default_rng(paint.seed).normal(0, paint.grain, (len(xs), 1))
    return a + grain.astype(np.float32)


# camera -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    """What the picture goes through after drawing: contrast, vignette, blur, noise, JPEG."""

    contrast: float
    gamma: float
    vignette: float
    blur: float
    noise: float
    jpeg_quality: int
    seed: int


def random_camera(rng: np.random.Generator) -> Camera:
    """Returns camera effects: often blurred or noisy, JPEG quality from poor to good."""
    return Camera(
        contrast=float(rng.uniform(0.7, 1.2)),
        gamma=float(rng.uniform(0.75, 1.35)),
        vignette=float(rng.uniform(0, 0.45)) if rng.random() < 0.4 else 0.0,
        blur=float(rng.uniform(0.4, 1.4)) if rng.random() < 0.4 else 0.0,
        noise=float(rng.uniform(2, 14)) if rng.random() < 0.5 else 0.0,
        jpeg_quality=int(rng.integers(25, 91)),
        seed=int(rng.integers(2**31)),
    )


def through_camera(picture: np.ndarray, camera: Camera) -> Image.Image:
    """Returns the RGB image of `picture` after the camera's effects (JPEG is left to saving)."""
    height, width = picture.shape[:2]
    x = np.clip(picture, 0, 255) / 255
    x = np.clip((x - 0.5) * camera.contrast + 0.5, 0, 1) ** camera.gamma
    if camera.vignette:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        d2 = ((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2
        x = x * (1 - camera.vignette * np.minimum(d2 * 2, 1))[..., None]
    image = Image.fromarray((x * 255 + 0.5).astype(np.uint8))
    if camera.blur:
        image = image.filter(ImageFilter.GaussianBlur(camera.blur))
    if camera.noise:
        noise = np.random.default_rng(camera.seed).normal(0, camera.noise, (height, width, 3))
        image = Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))
    return image
