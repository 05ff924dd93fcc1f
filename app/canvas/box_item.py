"""Graphics items for boxes and proposals: class colour, class-name label, eight handles."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

HANDLE_PX = 8.0  # handle size on screen, whatever the zoom
LABEL_FONT_PT = 9
FADED_LABEL = 0.3  # opacity of a tag that found no free place (it would cover another)

# Handle names: which rectangle edges each handle moves (left, top, right, bottom).
HANDLES: dict[str, tuple[bool, bool, bool, bool]] = {
    "tl": (True, True, False, False),
    "t": (False, True, False, False),
    "tr": (False, True, True, False),
    "r": (False, False, True, False),
    "br": (False, False, True, True),
    "b": (False, False, False, True),
    "bl": (True, False, False, True),
    "l": (True, False, False, False),
}

HANDLE_CURSORS = {
    "tl": Qt.CursorShape.SizeFDiagCursor,
    "br": Qt.CursorShape.SizeFDiagCursor,
    "tr": Qt.CursorShape.SizeBDiagCursor,
    "bl": Qt.CursorShape.SizeBDiagCursor,
    "t": Qt.CursorShape.SizeVerCursor,
    "b": Qt.CursorShape.SizeVerCursor,
    "l": Qt.CursorShape.SizeHorCursor,
    "r": Qt.CursorShape.SizeHorCursor,
}


def handle_points(rect: QRectF) -> dict[str, QPointF]:
    """Return the scene position of each of the eight handles of `rect`."""
    cx, cy = rect.center().x(), rect.center().y()
    return {
        "tl": rect.topLeft(),
        "t": QPointF(cx, rect.top()),
        "tr": rect.topRight(),
        "r": QPointF(rect.right(), cy),
        "br": rect.bottomRight(),
        "b": QPointF(cx, rect.bottom()),
        "bl": rect.bottomLeft(),
        "l": QPointF(rect.left(), cy),
    }


class LabelItem(QGraphicsItem):
    """A class-name tag drawn at constant screen size above its box's top-left corner."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self._text = ""
        self._color = QColor("#ffffff")
        self._font = QFont()
        self._font.setPointSize(LABEL_FONT_PT)
        self._rect = QRectF()

    def set_text(self, text: str, color: QColor) -> None:
        """Show `text` on a tag of colour `color`."""
        self.prepareGeometryChange()
        self._text = text
        self._color = QColor(color)
        metrics = QFontMetricsF(self._font)
        width = metrics.horizontalAdvance(text) + 8
        height = metrics.height() + 2
        self._rect = QRectF(0, -height, width, height) if text else QRectF()
        self.update()

    def text(self) -> str:
        """Return the tag text."""
        return self._text

    def size_px(self) -> tuple[float, float]:
        """Return the tag's (width, height) on screen."""
        return self._rect.width(), self._rect.height()

    def scene_rect(self, scale: float) -> QRectF:
        """Return the tag's rectangle in scene coordinates at view zoom `scale`."""
        w, h = self.size_px()
        pos = self.scenePos()
        return QRectF(pos.x(), pos.y() - h / scale, w / scale, h / scale)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if not self._text:
            return
        painter.fillRect(self._rect, self._color)
        luminance = 0.299 * self._color.red() + 0.587 * self._color.green()
        luminance += 0.114 * self._color.blue()
        painter.setPen(QColor("#000000") if luminance > 150 else QColor("#ffffff"))
        painter.setFont(self._font)
        painter.drawText(
            self._rect.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter, self._text
        )


class BoxItem(QGraphicsItem):
    """One box on the canvas. Position and size live in `rect()` (scene = image pixels).

    The item never edits the project: the select tool reads and previews rectangles and turns
    finished drags into session commands.
    """

    dashed = False

    def __init__(self, uid: str, rect: QRectF, color: str, label: str) -> None:
        super().__init__()
        self.uid = uid
        self._rect = QRectF(rect)
        self._color = QColor(color)
        self._hover = False
        self._scale = 1.0
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setAcceptHoverEvents(False)
        self.setZValue(10)
        self.label = LabelItem(self)
        self.set_label(label, color)
        self._place_label()

    # ----- state ---------------------------------------------------------------------------

    def rect(self) -> QRectF:
        """Return the box rectangle in image pixels."""
        return QRectF(self._rect)

    def set_rect(self, rect: QRectF) -> None:
        """Move or resize the box (display only)."""
        self.prepareGeometryChange()
        self._rect = QRectF(rect).normalized()
        self._place_label()
        self.update()

    def color(self) -> QColor:
        """Return the class colour."""
        return QColor(self._color)

    def set_label(self, text: str, color: str) -> None:
        """Set the class name and colour."""
        self._color = QColor(color)
        self.label.set_text(text, self._color)
        self.update()

    def set_view_scale(self, scale: float) -> None:
        """Tell the item the view's zoom so handles keep their screen size."""
        if scale > 0 and scale != self._scale:
            self.prepareGeometryChange()
            self._scale = scale

    def set_hover(self, hover: bool) -> None:
        """Highlight the box while the pointer is over it."""
        if hover != self._hover:
            self._hover = hover
            self.update()

    def _place_label(self) -> None:
        self.label.setPos(self._rect.topLeft())
        self.label.setOpacity(1.0)

    def label_spots(self, scale: float) -> list[QPointF]:
        """Return where the tag may go (its bottom-left corner), best first: above the box,
        inside its top, below it, inside its bottom."""
        h = self.label.size_px()[1] / scale
        r = self._rect
        return [
            r.topLeft(),
            QPointF(r.left(), r.top() + h),
            QPointF(r.left(), r.bottom() + h),
            r.bottomLeft(),
        ]

    def place_label(self, spot: QPointF, faded: bool = False) -> None:
        """Put the tag's bottom-left corner at `spot`; a faded tag lets others show through."""
        self.label.setPos(spot)
        self.label.setOpacity(FADED_LABEL if faded else 1.0)

    # ----- painting ------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        margin = (HANDLE_PX + 2) / self._scale
        return self._rect.adjusted(-margin, -margin, margin, margin)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        selected = self.isSelected()
        width = 3 if selected else 2
        fill = QColor(self._color)
        fill.setAlpha(60 if selected else (35 if self._hover else 0))
        painter.setBrush(QBrush(fill) if fill.alpha() else Qt.BrushStyle.NoBrush)
        # A dark halo under the class colour keeps the outline visible on any background,
        # also on an object of the same colour.
        halo = QPen(QColor(0, 0, 0, 140), width + 2)
        halo.setCosmetic(True)
        painter.setPen(halo)
        painter.drawRect(self._rect)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        pen = QPen(self._color, width)
        pen.setCosmetic(True)
        if self.dashed:
            pen.setDashPattern([4, 3])
        painter.setPen(pen)
        painter.drawRect(self._rect)
        if selected:
            scale = painter.worldTransform().m11() or 1.0
            half = HANDLE_PX / scale / 2
            handle_pen = QPen(QColor("#000000"), 1)
            handle_pen.setCosmetic(True)
            painter.setPen(handle_pen)
            painter.setBrush(QColor("#ffffff"))
            for point in handle_points(self._rect).values():
                painter.drawRect(QRectF(point.x() - half, point.y() - half, 2 * half, 2 * half))


class ProposalItem(BoxItem):
    """A model detection waiting for review: dashed, with its score in the label."""

    dashed = True

    def __init__(self, uid: str, rect: QRectF, color: str, label: str, score: float) -> None:
        self.score = score
        super().__init__(uid, rect, color, f"{label} {score:.2f}")
        self.setZValue(5)
