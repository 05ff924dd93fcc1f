"""Decodes images off the GUI thread, prefetches neighbours and keeps a small LRU cache."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from app.workers.threads import PriorityPool
from detr_model.image_file import load_display_image

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
PREVIEW_SIDE = 2048  # longest side of the preview drawn when zoomed out
_BAND_BYTES = 8 * 1024 * 1024  # pixels converted for Qt at a time


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image ready to draw: full size in display orientation plus a preview."""

    path: str
    image: QImage
    preview: QImage

    @property
    def nbytes(self) -> int:
        return self.image.sizeInBytes() + self.preview.sizeInBytes()


def _to_qimage(pil: Image.Image) -> QImage:
    """Return a QImage holding a copy of the pixels of an RGB or L (grayscale) PIL image.

    Grayscale stays one byte a pixel (Grayscale8); RGB becomes opaque ARGB32, the format Qt
    draws fastest. The copy goes band by band, so only the PIL image, the QImage and one band
    exist at once: a whole-image RGBA conversion and its BGRA bytes held two more full copies
    (a 15000 x 15000 PNG took 3.5 GB). Each step runs in C on a band, so the GUI thread
    keeps running.
    """
    width, height = pil.size
    gray = pil.mode == "L"
    fmt = QImage.Format.Format_Grayscale8 if gray else QImage.Format.Format_ARGB32_Premultiplied
    qimage = QImage(width, height, fmt)
    if qimage.isNull():
        raise MemoryError(f"not enough memory for a {width}x{height} image")
    channels = 1 if gray else 4
    row_bytes = width * channels
    # Qt pads each line to 4 bytes: write through a (height, bytesPerLine) view.
    target = np.frombuffer(qimage.bits(), dtype=np.uint8).reshape(height, qimage.bytesPerLine())
    rows = max(1, _BAND_BYTES // row_bytes)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        band = pil.crop((0, top, width, bottom))
        data = band.tobytes() if gray else band.convert("RGBA").tobytes("raw", "BGRA")
        target[top:bottom, :row_bytes] = np.frombuffer(data, dtype=np.uint8).reshape(-1, row_bytes)
    return qimage


def decode(path: str, max_preview_side: int = PREVIEW_SIDE) -> LoadedImage:
    """Return the image at `path` in display orientation, with a preview when it is large.

    Raises the reader's ImageReadError naming the file on a broken or too large file.
    """
    pil = load_display_image(path, allow_gray=True)
    preview = QImage()
    longest = max(pil.size)
    if longest > max_preview_side:
        factor = -(-longest // max_preview_side)  # ceil: preview side <= max_preview_side
        preview = _to_qimage(pil.reduce(factor))
    return LoadedImage(path, _to_qimage(pil), preview)


class _Signals(QObject):
    done = Signal(object)  # LoadedImage
    failed = Signal(str, str)  # path, message
    skipped = Signal(str)  # no longer wanted when its turn came


class ImageLoader(QObject):
    """Asynchronous image decoding for the canvas.

    `request(path, prefetch=[...])` emits `loaded(LoadedImage)` for `path` (at once from the
    cache, else when the pool thread is done) and decodes `prefetch` paths into the cache at low
    priority. `failed(path, message)` reports a file that cannot be decoded. `shutdown()` must
    be called before the application quits (the main window does it in closeEvent).
    """

    loaded = Signal(object)
    failed = Signal(str, str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        threads: int = 2,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        super().__init__(parent)
        self._pool = PriorityPool(threads, name="image-loader")
        self._cache: OrderedDict[str, LoadedImage] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._pending: set[str] = set()
        self._wanted: str | None = None
        self._errors: dict[str, str] = {}
        self._stopping = threading.Event()
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._signals.skipped.connect(self._on_skipped)
        self._live: frozenset[str] = frozenset()  # read by pool threads; replaced, never mutated

    def request(self, path: str, prefetch: list[str] | tuple[str, ...] = ()) -> None:
        """Ask for `path` to be shown; warm the cache with `prefetch`."""
        self._wanted = path
        self._live = frozenset([path, *prefetch])
        cached = self._cache.get(path)
        if cached is not None:
            self._cache.move_to_end(path)
            self.loaded.emit(cached)
        elif path in self._errors:
            self.failed.emit(path, self._errors[path])
        else:
            self._start(path, priority=10)
        for other in prefetch:
            if other not in self._cache and other not in self._errors:
                self._start(other, priority=0)

    def cached(self, path: str) -> LoadedImage | None:
        """Return the decoded image if it is in the cache."""
        return self._cache.get(path)

    def forget(self, path: str | None = None) -> None:
        """Drop one path (or everything) from the cache and the error memory."""
        if path is None:
            self._cache.clear()
            self._errors.clear()
        else:
            self._cache.pop(path, None)
            self._errors.pop(path, None)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Drop queued work and wait for running decodes; returns True if all stopped."""
        self._stopping.set()
        done = self._pool.stop(timeout_ms / 1000)
        self._pending.clear()
        return done

    # ----- internals -----------------------------------------------------------------------

    def _start(self, path: str, priority: int) -> None:
        if self._stopping.is_set():
            return
        self._pending.add(path)
        self._pool.submit(path, lambda: self._decode(path), priority)

    def _decode(self, path: str) -> None:
        """Decode one file on a pool thread and report through queued signals."""
        if self._stopping.is_set():
            return
        if path not in self._live:
            # The user moved on before this decode started: skip it (fast flipping).
            self._signals.skipped.emit(path)
            return
        try:
            loaded = decode(path)
        except Exception as exc:  # every decode error becomes a message, never a dead thread
            log.warning("cannot decode %s: %s", path, exc)
            if not self._stopping.is_set():
                self._signals.failed.emit(path, str(exc) or type(exc).__name__)
            return
        if not self._stopping.is_set():
            self._signals.done.emit(loaded)

    def _on_skipped(self, path: str) -> None:
        self._pending.discard(path)

    def _on_done(self, loaded: LoadedImage) -> None:
        self._pending.discard(loaded.path)
        self._cache[loaded.path] = loaded
        self._cache.move_to_end(loaded.path)
        self._trim()
        if loaded.path == self._wanted:
            self.loaded.emit(loaded)

    def _on_failed(self, path: str, message: str) -> None:
        self._pending.discard(path)
        self._errors[path] = message
        if path == self._wanted:
            self.failed.emit(path, message)

    def _trim(self) -> None:
        total = sum(item.nbytes for item in self._cache.values())
        while total > self._cache_bytes and len(self._cache) > 1:
            oldest = next(iter(self._cache))
            if oldest == self._wanted:
                self._cache.move_to_end(oldest)
                oldest = next(iter(self._cache))
            total -= self._cache.pop(oldest).nbytes
