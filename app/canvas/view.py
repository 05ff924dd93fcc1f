"""The canvas view: zoom to the cursor, pan, fit to window, 100 %; mouse input goes to a tool."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

MIN_ZOOM = 0.01
MAX_ZOOM = 64.0
ZOOM_STEP = 1.25


class Tool(Protocol):
    """What the view asks of the active tool (see canvas/tools.py)."""

    def press(self, event: QMouseEvent) -> bool: ...
    def move(self, event: QMouseEvent) -> bool: ...
    def release(self, event: QMouseEvent) -> bool: ...
    def key(self, event: QKeyEvent) -> bool: ...
    def cancel(self) -> None: ...


class CanvasView(QGraphicsView):
    """A QGraphicsView whose scene coordinates are image pixels.

    Ctrl+wheel zooms around the cursor (plain wheel scrolls, Shift+wheel scrolls sideways), the
    middle button pans, `fit()` shows the whole image, `zoom_to(1.0)` is 100 %. Left-button and
    key input goes to `tool` first.
    """

    zoom_changed = Signal(float)
    cursor_moved = Signal(object)  # QPointF in image pixels, or None when outside the view

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.tool: Tool | None = None
        self._pan_from: QPoint | None = None
        self._fit_mode = True  # refit on resize until the user zooms
        self.setRenderHints(QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setBackgroundBrush(Qt.GlobalColor.darkGray)
        self.setAcceptDrops(False)  # drops go to the main window

    # ----- zoom ----------------------------------------------------------------------------

    def zoom(self) -> float:
        """Return the current scale (1.0 = one image pixel per screen pixel)."""
        return self.transform().m11()

    def zoom_to(self, factor: float, anchor: QPointF | None = None) -> None:
        """Set the scale, keeping the scene point under `anchor` (viewport coords) in place."""
        factor = max(MIN_ZOOM, min(MAX_ZOOM, factor))
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        scene_point = self.mapToScene(anchor.toPoint())
        self._fit_mode = False
        self.resetTransform()
        self.scale(factor, factor)
        # Put the same scene point back under the anchor (twice: scroll bars appearing on the
        # first correction shrink the viewport).
        for _ in range(2):
            delta = self.mapFromScene(scene_point) - anchor.toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() + delta.y())
        self.zoom_changed.emit(self.zoom())

    def zoom_in(self) -> None:
        """Zoom in one step around the view centre."""
        self.zoom_to(self.zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        """Zoom out one step around the view centre."""
        self.zoom_to(self.zoom() / ZOOM_STEP)

    def actual_size(self) -> None:
        """Show the image at 100 %."""
        self.zoom_to(1.0)

    def fit(self) -> None:
        """Scale the image to fill the window; keeps fitting on resize until the next zoom."""
        rect = self.image_rect()
        if rect.isEmpty():
            return
        self.resetTransform()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fit_mode = True
        self.zoom_changed.emit(self.zoom())

    def show_rect(self, rect: QRectF) -> None:
        """Show `rect` (scene units) at 100 %, centred; the next image fits the window again."""
        self.resetTransform()
        self.centerOn(rect.center())
        self._fit_mode = True
        self.zoom_changed.emit(self.zoom())

    def image_rect(self) -> QRectF:
        """Return the image's rectangle in scene coordinates (empty when none is shown)."""
        scene = self.scene()
        rect = getattr(scene, "image_rect", None)
        return rect() if callable(rect) else scene.sceneRect()

    # ----- events --------------------------------------------------------------------------

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120.0
            if steps:
                self.zoom_to(self.zoom() * ZOOM_STEP**steps, event.position())
            event.accept()
            return
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            bar = self.horizontalScrollBar()
            bar.setValue(bar.value() - event.angleDelta().y())
            event.accept()
            return
        super().wheelEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self.tool is not None and self.tool.press(event):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta = now - self._pan_from
            self._pan_from = now
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        self.cursor_moved.emit(self.mapToScene(event.position().toPoint()))
        if self.tool is not None and self.tool.move(event):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton and self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            if self.tool is not None and hasattr(self.tool, "update_cursor"):
                self.tool.update_cursor(event.position())
            event.accept()
            return
        if self.tool is not None and self.tool.release(event):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        handler = getattr(self.tool, "double_click", None)
        if handler is not None and handler(event):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def leaveEvent(self, event) -> None:
        self.cursor_moved.emit(None)
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.tool is not None and self.tool.key(event):
            event.accept()
            return
        super().keyPressEvent(event)

    def map_image_to_viewport(self, x: float, y: float) -> QPoint:
        """Return the viewport position of an image pixel coordinate (used by tests and tools)."""
        return self.mapFromScene(QPointF(x, y))
