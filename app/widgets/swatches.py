"""Small generated icons: colour squares for classes, dots for image statuses, the broken mark."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap


def swatch(color: str, size: int = 14) -> QIcon:
    """Return a square icon filled with `color`."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


def _disc(color: str, size: int, margin: int) -> tuple[QPixmap, QPainter]:
    """Return a transparent pixmap with a disc of `color` and the painter still drawing on it."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(margin, margin, size - 2 * margin, size - 2 * margin)
    return pixmap, painter


@lru_cache(maxsize=32)
def dot(color: str, size: int = 12) -> QIcon:
    """Return a round icon of `color` (cached: the image list asks for it on every paint)."""
    pixmap, painter = _disc(color, size, 1)
    painter.end()
    return QIcon(pixmap)


@lru_cache(maxsize=4)
def broken_mark(color: str = "#d32f2f", size: int = 12) -> QIcon:
    """Return the mark of an image that cannot be read: a red disc with a white cross."""
    pixmap, painter = _disc(color, size, 0)
    painter.setPen(QPen(QColor("#ffffff"), 1.6))
    inset = size * 0.3
    painter.drawLine(QPointF(inset, inset), QPointF(size - inset, size - inset))
    painter.drawLine(QPointF(size - inset, inset), QPointF(inset, size - inset))
    painter.end()
    return QIcon(pixmap)
