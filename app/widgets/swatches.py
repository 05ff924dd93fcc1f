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


@lru_cache(maxsize=32)
def dot(color: str, size: int = 12) -> QIcon:
    """Return a round icon of `color` (cached: the image list asks for it on every paint)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)


@lru_cache(maxsize=4)
def broken_mark(color: str = "#d32f2f", size: int = 12) -> QIcon:
    """Return the mark of an image that cannot be read: a red disc with a white cross."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(0, 0, size, size)
    pen = QPen(QColor("#ffffff"), 1.6)
    painter.setPen(pen)
    inset = size * 0.3
    painter.drawLine(QPointF(inset, inset), QPointF(size - inset, size - inset))
    painter.drawLine(QPointF(size - inset, inset), QPointF(inset, size - inset))
    painter.end()
    return QIcon(pixmap)
