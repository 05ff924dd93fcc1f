"""Image files, read the same way everywhere: one pixel limit, one EXIF rule, one error type.

The app's annotation core (sizes for COCO), its canvas loader, the Predictor and the training
dataset all decode through this module, so an image that opens on the canvas also
auto-annotates and trains, and a bad file gets the same message wherever it is met. PIL only
(no torch, no Qt): `app.annotations` imports it.

The EXIF rule: sizes read from the header swap width and height for orientations 5-8
(a missing, unreadable or out-of-range tag counts as 1); decoded pixels are turned with
`ImageOps.exif_transpose`. Everything downstream (boxes, COCO sizes, the model's input) is in
this display orientation.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

MAX_IMAGE_PIXELS = 250_000_000
"""Images with more pixels are refused before decoding (decompression bombs). Ours, not PIL's
179 MP: the app has opened up to 250 MP (200-megapixel scans and panoramas) since it shipped,
so nothing that opened before is refused now, and the model reads what the canvas shows. At
4 bytes a pixel a decode then stays under 1 GB."""

_WIDE_GRAY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})  # 16 bits a pixel
_EXIF_ORIENTATION = 0x0112
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
# PIL's own bomb check reads a module global; ours replaces it while a header is opened.
_PIL_LIMIT_LOCK = threading.Lock()


class ImageReadError(OSError, ValueError):
    """An image file that cannot be read; the message names the file and the problem.

    Both an OSError (what the app catches) and a ValueError (what the library raised for
    unreadable images before), so callers of either keep working.
    """


class ImageNotFoundError(ImageReadError, FileNotFoundError):
    """The image file does not exist."""


def is_image_name(name: str) -> bool:
    """Return True if the file name has one of IMAGE_EXTENSIONS (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def read_size(path: str | os.PathLike, *, name: str | None = None) -> tuple[int, int]:
    """Return (width, height) in display orientation, read from the header only.

    `name` is how errors refer to the file (default: the path).
    """
    name = name or os.fspath(path)
    img = _open(Path(path), name)
    try:
        return _display_size(img)
    finally:
        img.close()


def load_display_image(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = None,
    name: str | None = None,
    allow_gray: bool = False,
) -> Image.Image:
    """Return the decoded image as RGB in display orientation (EXIF applied).

    With `allow_gray`, a grayscale ("L") image stays grayscale: a quarter of the memory of
    RGB's 4 bytes a pixel, for callers that convert anyway. With `max_pixels`, larger images
    are decoded at reduced size (JPEG draft mode, then an area-averaging resize) so the result
    has at most that many pixels; `info["full_size"]` always holds the full display size
    (w, h), so callers can scale boxes. Raises ImageReadError naming the file when it cannot
    be read (ImageNotFoundError when it does not exist).
    """
    name = name or os.fspath(path)
    img = _open(Path(path), name)
    fmt = img.format
    try:
        w, h = img.size
        full_size = _display_size(img)
        if max_pixels is not None and w * h > max_pixels:
            scale = math.sqrt(max_pixels / (w * h))
            # draft keeps the JPEG DCT scale at or above the requested size: a cheap first cut.
            img.draft("RGB", (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
        img.load()
        ImageOps.exif_transpose(img, in_place=True)
        out = _eight_bit(img)
        if not (out.mode == "RGB" or (allow_gray and out.mode == "L")):
            out = flatten_to_rgb(out)
        if max_pixels is not None and out.width * out.height > max_pixels:
            scale = math.sqrt(max_pixels / (out.width * out.height))
            size = (max(1, int(out.width * scale)), max(1, int(out.height * scale)))
            out = out.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    except Image.DecompressionBombError as exc:  # a format that checks again while decoding
        img.close()
        raise ImageReadError(f"{name}: too large ({exc})") from exc
    except (OSError, SyntaxError, ValueError, MemoryError) as exc:
        img.close()
        raise ImageReadError(f"{name}: {_describe(exc, fmt)}") from exc
    if out is not img:
        img.close()
    out.info["full_size"] = full_size
    return out


def display_rgb(image: Image.Image) -> Image.Image:
    """Return an in-memory PIL image as RGB in display orientation, by the same EXIF rule.

    Transparent areas become white, as in load_display_image.
    """
    image = _eight_bit(ImageOps.exif_transpose(image))
    return image if image.mode == "RGB" else flatten_to_rgb(image)


def flatten_to_rgb(img: Image.Image) -> Image.Image:
    """Return `img` as RGB with transparent areas on white, as image viewers show them.

    A plain convert("RGB") keeps the colour hidden under transparent pixels, usually black; the
    canvas, the model and training all see the white the user sees.
    """
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _eight_bit(image: Image.Image) -> Image.Image:
    """Return 16-bit greyscale as 8-bit "L" (value / 256); any other image unchanged.

    PIL's own conversion clips at 255 instead of scaling, which made a 16-bit PNG almost all
    white on the canvas and for the model.
    """
    if image.mode not in _WIDE_GRAY_MODES:
        return image
    return image.convert("I").point(lambda v: v * (1 / 256)).convert("L")


def _open(path: Path, name: str) -> Image.Image:
    """Return the lazily opened image (header only) or raise ImageReadError."""
    try:
        with _PIL_LIMIT_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                img = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except FileNotFoundError as exc:
        raise ImageNotFoundError(f"{name}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{name}: not an image (unknown or damaged format)") from exc
    except OSError as exc:
        if exc.errno is None:  # the decoder's own complaint, not the file system's
            raise ImageReadError(f"{name}: {_describe(exc, _format_from_name(path))}") from exc
        raise ImageReadError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    except (SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{name}: {_describe(exc, _format_from_name(path))}") from exc
    w, h = img.size
    if w <= 0 or h <= 0:
        img.close()
        raise ImageReadError(f"{name}: not an image (size {w}x{h})")
    if w * h > MAX_IMAGE_PIXELS:
        img.close()
        raise ImageReadError(
            f"{name}: too large ({w}x{h}, {w * h / 1e6:.0f} megapixels; "
            f"the limit is {MAX_IMAGE_PIXELS / 1e6:.0f})"
        )
    return img


def _orientation(img: Image.Image) -> int:
    """Return the EXIF orientation from the header (1 when absent or unreadable)."""
    try:
        # The base-class getexif reads what the header already holds; PNG's override would
        # decode the whole image to look for a late eXIf chunk.
        value = Image.Image.getexif(img).get(_EXIF_ORIENTATION, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # a malformed EXIF block must not make the image unreadable
        return 1


def _display_size(img: Image.Image) -> tuple[int, int]:
    """Return the size the image has once its EXIF orientation is applied."""
    w, h = img.size
    if img.format == "TIFF":
        # Recent Pillow reports TIFF sizes already rotated (and rotates on load); the size
        # tags hold the stored layout on every version.
        w, h = img.tag_v2.get(256, w), img.tag_v2.get(257, h)
    if _orientation(img) in _SWAPPING_ORIENTATIONS:
        return (h, w)
    return (w, h)


def _format_from_name(path: Path) -> str | None:
    ext = path.suffix.lower().lstrip(".")
    return {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}.get(ext, ext.upper() or None)


def _describe(exc: Exception, fmt: str | None) -> str:
    text = str(exc)
    if "truncated" in text.lower():
        return f"damaged image (truncated {fmt or 'file'})"
    return f"cannot decode ({fmt or 'image'}: {text})"
