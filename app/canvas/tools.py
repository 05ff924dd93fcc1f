"""Canvas tools: select/move/resize/nudge and draw. A finished drag becomes one edit."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPen
from PySide6.QtWidgets import QGraphicsLineItem, QGraphicsRectItem

from app.canvas.box_item import (
    HANDLE_CURSORS,
    HANDLE_PX,
    HANDLES,
    BoxItem,
    ProposalItem,
    handle_points,
)
from app.canvas.scene import AnnotationScene
from app.canvas.view import CanvasView

Rect = tuple[float, float, float, float]
MIN_BOX_PX = 2.0  # a drag smaller than this (image pixels) is a click, not a box
NUDGE_KEYS = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}


class Editor(Protocol):
    """What tools ask of the canvas: turn gestures into session edits."""

    def add_box(self, rect: Rect) -> None: ...
    def accept_proposals(self, uids: list[str]) -> None: ...
    def set_box_rects(self, rects: dict[str, Rect], text: str) -> None: ...
    def selection_changed(self) -> None: ...


def as_tuple(rect: QRectF) -> Rect:
    """Return (x1, y1, x2, y2) of a QRectF."""
    r = rect.normalized()
    return (r.left(), r.top(), r.right(), r.bottom())


def clamp_point(point: QPointF, bounds: QRectF) -> QPointF:
    """Return `point` moved inside `bounds`."""
    x = min(max(point.x(), bounds.left()), bounds.right())
    y = min(max(point.y(), bounds.top()), bounds.bottom())
    return QPointF(x, y)


def clamp_shift(rects: list[QRectF], dx: float, dy: float, bounds: QRectF) -> tuple[float, float]:
    """Return the shift (dx, dy) limited so every rectangle stays inside `bounds`."""
    for r in rects:
        dx = max(dx, bounds.left() - r.left())
        dx = min(dx, bounds.right() - r.right())
        dy = max(dy, bounds.top() - r.top())
        dy = min(dy, bounds.bottom() - r.bottom())
    return dx, dy


def resized(rect: QRectF, handle: str, point: QPointF) -> QRectF:
    """Return `rect` with the edges of `handle` moved to `point` (normalized)."""
    left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
    moves_left, moves_top, moves_right, moves_bottom = HANDLES[handle]
    if moves_left:
        left = point.x()
    if moves_right:
        right = point.x()
    if moves_top:
        top = point.y()
    if moves_bottom:
        bottom = point.y()
    return QRectF(QPointF(left, top), QPointF(right, bottom)).normalized()


class SelectTool:
    """Click selects (Ctrl toggles), drag moves the selection, a handle resizes, arrows nudge."""

    def __init__(self, view: CanvasView, scene: AnnotationScene, editor: Editor) -> None:
        self.view, self.scene, self.editor = view, scene, editor
        self._press: QPointF | None = None
        self._resizing: tuple[BoxItem, str, QRectF] | None = None
        self._moving: dict[str, QRectF] = {}

    def activate(self) -> None:
        self.view.viewport().setCursor(Qt.CursorShape.ArrowCursor)

    def deactivate(self) -> None:
        self.cancel()
        self.scene.set_hover(None)

    def handle_at(self, view_pos: QPointF) -> tuple[BoxItem, str] | None:
        """Return the selected box and handle name within reach of a viewport position."""
        reach = HANDLE_PX * 0.75 + 2
        for item in self.scene.all_items():
            if not item.isSelected():
                continue
            for name, point in handle_points(item.rect()).items():
                p = self.view.mapFromScene(point)
                if abs(p.x() - view_pos.x()) <= reach and abs(p.y() - view_pos.y()) <= reach:
                    return item, name
        return None

    def press(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        pos = self.view.mapToScene(event.position().toPoint())
        hit = self.handle_at(event.position())
        if hit is not None:
            item, name = hit
            self._press = pos
            self._resizing = (item, name, item.rect())
            return True
        item = self.scene.box_at(pos)
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if item is None:
            if not ctrl:
                self.scene.select_uids(())
                self.editor.selection_changed()
            return True
        if ctrl:
            item.setSelected(not item.isSelected())
            self.editor.selection_changed()
            return True
        if not item.isSelected():
            self.scene.select_uids([item.uid])
            self.editor.selection_changed()
        self._press = pos
        self._moving = {uid: self.scene.item(uid).rect() for uid in self.scene.selected_uids()}
        self.view.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
        return True

    def move(self, event: QMouseEvent) -> bool:
        pos = self.view.mapToScene(event.position().toPoint())
        bounds = self.scene.image_rect()
        if self._resizing is not None:
            item, name, start = self._resizing
            item.set_rect(resized(start, name, clamp_point(pos, bounds)))
            return True
        if self._moving and self._press is not None:
            delta = pos - self._press
            dx, dy = clamp_shift(list(self._moving.values()), delta.x(), delta.y(), bounds)
            for uid, start in self._moving.items():
                self.scene.item(uid).set_rect(start.translated(dx, dy))
            return True
        self.update_cursor(event.position())
        return False

    def release(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        if self._resizing is not None:
            item, _, start = self._resizing
            self._resizing = None
            new = item.rect()
            if new.width() < MIN_BOX_PX or new.height() < MIN_BOX_PX:
                item.set_rect(start)
            elif new != start:
                self.editor.set_box_rects({item.uid: as_tuple(new)}, "Resize box")
            self.update_cursor(event.position())
            return True
        if self._moving:
            items = {uid: self.scene.item(uid) for uid in self._moving}
            moved = {
                uid: as_tuple(items[uid].rect())
                for uid, start in self._moving.items()
                if items[uid] is not None and items[uid].rect() != start
            }
            self._moving = {}
            if moved:
                text = "Move box" if len(moved) == 1 else f"Move {len(moved)} boxes"
                self.editor.set_box_rects(moved, text)
            self.update_cursor(event.position())
            return True
        return True

    def double_click(self, event: QMouseEvent) -> bool:
        """Accept the proposal under the pointer."""
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        item = self.scene.box_at(self.view.mapToScene(event.position().toPoint()))
        if isinstance(item, ProposalItem):
            self.editor.accept_proposals([item.uid])
            return True
        return False

    def key(self, event: QKeyEvent) -> bool:
        step = NUDGE_KEYS.get(Qt.Key(event.key()))
        selected = self.scene.selected_uids()
        if step is not None and selected:
            size = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
            rects = [self.scene.item(uid).rect() for uid in selected]
            dx, dy = clamp_shift(rects, step[0] * size, step[1] * size, self.scene.image_rect())
            if dx or dy:
                moved = {
                    uid: as_tuple(self.scene.item(uid).rect().translated(dx, dy))
                    for uid in selected
                }
                self.editor.set_box_rects(moved, "Nudge box")
            return True
        if event.key() == Qt.Key.Key_Escape and selected:
            self.scene.select_uids(())
            self.editor.selection_changed()
            return True
        return False

    def cancel(self) -> None:
        """Put a half-done drag back where it started."""
        if self._resizing is not None:
            item, _, start = self._resizing
            item.set_rect(start)
        for uid, start in self._moving.items():
            if (item := self.scene.item(uid)) is not None:
                item.set_rect(start)
        self._resizing, self._moving, self._press = None, {}, None

    def update_cursor(self, view_pos: QPointF) -> None:
        """Show a resize, move or arrow cursor for what is under the pointer."""
        hit = self.handle_at(view_pos)
        if hit is not None:
            self.view.viewport().setCursor(HANDLE_CURSORS[hit[1]])
            return
        item = self.scene.box_at(self.view.mapToScene(view_pos.toPoint()))
        self.scene.set_hover(item)
        shape = Qt.CursorShape.SizeAllCursor if item is not None else Qt.CursorShape.ArrowCursor
        self.view.viewport().setCursor(shape)


class DrawTool:
    """Drag to draw a box (kept inside the image) with crosshair guide lines."""

    def __init__(self, view: CanvasView, scene: AnnotationScene, editor: Editor) -> None:
        self.view, self.scene, self.editor = view, scene, editor
        self._start: QPointF | None = None
        self._rubber: QGraphicsRectItem | None = None
        pen = QPen(QColor(255, 255, 255, 180), 1, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._guides = (QGraphicsLineItem(), QGraphicsLineItem())
        for line in self._guides:
            line.setPen(pen)
            line.setZValue(50)
            line.setVisible(False)
            scene.addItem(line)

    def activate(self) -> None:
        self.view.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.scene.select_uids(())
        self.editor.selection_changed()

    def deactivate(self) -> None:
        self.cancel()
        for line in self._guides:
            line.setVisible(False)

    def press(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        bounds = self.scene.image_rect()
        if bounds.isEmpty():
            return True
        self._start = clamp_point(self.view.mapToScene(event.position().toPoint()), bounds)
        pen = QPen(QColor("#ffffff"), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._rubber = self.scene.addRect(QRectF(self._start, self._start), pen)
        self._rubber.setZValue(40)
        return True

    def move(self, event: QMouseEvent) -> bool:
        bounds = self.scene.image_rect()
        pos = clamp_point(self.view.mapToScene(event.position().toPoint()), bounds)
        self._show_guides(pos, bounds)
        if self._start is not None and self._rubber is not None:
            self._rubber.setRect(QRectF(self._start, pos).normalized())
            return True
        return False

    def release(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._start is None:
            return False
        bounds = self.scene.image_rect()
        end = clamp_point(self.view.mapToScene(event.position().toPoint()), bounds)
        rect = QRectF(self._start, end).normalized()
        self.cancel()
        if rect.width() >= MIN_BOX_PX and rect.height() >= MIN_BOX_PX:
            self.editor.add_box(as_tuple(rect))
        return True

    def key(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and self._start is not None:
            self.cancel()
            return True
        return False

    def cancel(self) -> None:
        """Drop a box being drawn."""
        if self._rubber is not None:
            self.scene.removeItem(self._rubber)
        self._rubber, self._start = None, None

    def update_cursor(self, view_pos: QPointF) -> None:
        self.view.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def _show_guides(self, pos: QPointF, bounds: QRectF) -> None:
        if bounds.isEmpty():
            return
        horizontal, vertical = self._guides
        horizontal.setLine(bounds.left(), pos.y(), bounds.right(), pos.y())
        vertical.setLine(pos.x(), bounds.top(), pos.x(), bounds.bottom())
        horizontal.setVisible(True)
        vertical.setVisible(True)
