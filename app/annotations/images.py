"""Image files: folder scan without decoding, EXIF-aware header sizes, decoding with limits."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
PROJECT_DIR_NAME = ".detr-studio"

# Our own decompression-bomb limit: large enough for 200-megapixel scans and panoramas, small
# enough that a crafted header cannot make us allocate tens of gigabytes.
MAX_IMAGE_PIXELS = 250_000_000

_EXIF_ORIENTATION = 0x0112
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_DIGITS = re.compile(r"(\d+)")
# PIL's own bomb check reads a module-global; we replace it with ours during open.
_PIL_LIMIT_LOCK = threading.Lock()


class ImageReadError(OSError):
    """An image file that cannot be read; the message names the file and the problem."""


def is_image_name(name: str) -> bool:
    """Return True if the file name has one of IMAGE_EXTENSIONS (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def natural_key(path: str) -> tuple:
    """Return a sort key that orders 'img2' before 'img10', folder by folder, ignoring case."""
    parts = []
    for component in path.split("/"):
        pieces = _DIGITS.split(component.casefold())
        parts.append(tuple(int(p) if i % 2 else p for i, p in enumerate(pieces)))
    return (tuple(parts), path)


def scan_folder(
    root: str | os.PathLike, *, recursive: bool = False, sort: bool = True
) -> list[str]:
    """Return the image files under root as relative posix paths, sorted naturally (unless
    `sort` is False: 100,000 names take a second to sort, and a caller may need only a few).

    Only names are looked at (no file is opened). Hidden files and folders, including our own
    .detr-studio folder, are skipped; symlinked folders are not followed. Unreadable subfolders
    are logged and skipped; an unreadable root raises OSError naming it.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    found: list[str] = []
    pending: list[tuple[str, str]] = [(os.fspath(root), "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(".") or name == PROJECT_DIR_NAME:
                        continue
                    if is_image_name(name):
                        if entry.is_file():
                            found.append(prefix + name)
                    elif recursive and entry.is_dir(follow_symlinks=False):
                        pending.append((entry.path, f"{prefix}{name}/"))
        except OSError as exc:
            if not prefix:
                raise OSError(f"{root}: cannot list the folder ({exc.strerror or exc})") from exc
            log.warning("%s: skipped, cannot list (%s)", folder, exc)
    if sort:
        found.sort(key=natural_key)
    return found


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
        raise ImageReadError(f"{name}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{name}: not an image (unknown or damaged format)") from exc
    except OSError as exc:
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


def _format_from_name(path: Path) -> str | None:
    ext = path.suffix.lower().lstrip(".")
    return {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}.get(ext, ext.upper() or None)


def _describe(exc: Exception, fmt: str | None) -> str:
    text = str(exc)
    if "truncated" in text.lower():
        return f"damaged image (truncated {fmt or 'file'})"
    return f"cannot decode ({fmt or 'image'}: {text})"


def load_display_image(
    path: str | os.PathLike, *, max_pixels: int | None = None, name: str | None = None
) -> Image.Image:
    """Return the decoded image as RGB in display orientation (EXIF applied).

    With `max_pixels`, larger images are decoded at reduced size (JPEG draft mode, then an
    area-averaging resize) so the result has at most that many pixels; `info["full_size"]`
    always holds the full display size (w, h), so callers can scale boxes. Raises
    ImageReadError naming the file when it cannot be read.
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
        out = img if img.mode == "RGB" else img.convert("RGB")
        if max_pixels is not None and out.width * out.height > max_pixels:
            scale = math.sqrt(max_pixels / (out.width * out.height))
            size = (max(1, int(out.width * scale)), max(1, int(out.height * scale)))
            out = out.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    except ImageReadError:
        img.close()
        raise
    except (OSError, SyntaxError, ValueError, MemoryError) as exc:
        img.close()
        raise ImageReadError(f"{name}: {_describe(exc, fmt)}") from exc
    if out is not img:
        img.close()
    out.info["full_size"] = full_size
    return out
