"""The picture under the boxes: draws a full-size QImage, or its preview when zoomed out."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget


class ImageItem(QGraphicsItem):
    """Shows an image at its pixel size in scene coordinates.

    Scaling a 24-megapixel image down on every repaint is slow, so when the image appears
    smaller on screen than the preview (made by the loader thread) the preview is drawn instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self._image = QImage()
        self._preview = QImage()
        self.setZValue(-100)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def set_image(self, image: QImage, preview: QImage | None = None) -> None:
        """Show `image` (full size); `preview` is an optional smaller copy of it."""
        self.prepareGeometryChange()
        self._image = image
        self._preview = preview if preview is not None and not preview.isNull() else QImage()
        self.update()

    def clear(self) -> None:
        """Show nothing."""
        self.set_image(QImage())

    def image(self) -> QImage:
        """Return the full-size image (null when none)."""
        return self._image

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._image.width(), self._image.height())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._image.isNull():
            return
        scale = painter.worldTransform().m11()
        shown_width = self._image.width() * scale
        target = QRectF(option.exposedRect) & self.boundingRect()
        if target.isEmpty():
            return
        if scale < 1.0:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        source_image = self._image
        if not self._preview.isNull() and shown_width <= self._preview.width():
            source_image = self._preview
        fx = source_image.width() / self._image.width()
        fy = source_image.height() / self._image.height()
        source = QRectF(target.x() * fx, target.y() * fy, target.width() * fx, target.height() * fy)
        painter.drawImage(target, source_image, source)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
