"""The annotation scene: one image, its boxes and proposals, kept in step with an ImageRecord."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QFont, QImage
from PySide6.QtWidgets import QGraphicsScene, QGraphicsTextItem

from app.annotations.model import Category, ImageRecord
from app.canvas.box_item import BoxItem, ProposalItem
from app.canvas.image_item import ImageItem

UNKNOWN_COLOR = "#aaaaaa"


class AnnotationScene(QGraphicsScene):
    """Scene coordinates are image pixels; (0, 0) is the image's top-left corner."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.image_item = ImageItem()
        self.addItem(self.image_item)
        self.boxes: dict[str, BoxItem] = {}
        self.proposals: dict[str, ProposalItem] = {}
        self.show_proposals = True
        self.proposal_threshold = 0.0
        self._scale = 1.0
        self._image_size: tuple[int, int] | None = None
        self._message = QGraphicsTextItem()
        font = QFont()
        font.setPointSize(12)
        self._message.setFont(font)
        self._message.setDefaultTextColor(QColor("#ffffff"))
        self._message.setZValue(100)
        self._message.setVisible(False)
        self.addItem(self._message)

    # ----- image ---------------------------------------------------------------------------

    def set_image(self, image: QImage, preview: QImage | None = None) -> None:
        """Show an image; the scene rectangle becomes the image rectangle."""
        self._message.setVisible(False)
        self.image_item.set_image(image, preview)
        self._image_size = (image.width(), image.height())
        self.setSceneRect(QRectF(0, 0, image.width(), image.height()))

    def set_image_size(self, width: int, height: int) -> None:
        """Set the image rectangle before the pixels arrive (boxes can show at once)."""
        self._image_size = (width, height)
        self.setSceneRect(QRectF(0, 0, width, height))

    def clear_image(self) -> None:
        """Show no image and no message."""
        self.image_item.clear()
        self._image_size = None
        self._message.setVisible(False)

    def image_size(self) -> tuple[int, int] | None:
        """Return (width, height) of the shown image, or None."""
        return self._image_size

    def image_rect(self) -> QRectF:
        """Return the image rectangle (empty when no image)."""
        if self._image_size is None:
            return QRectF()
        return QRectF(0, 0, *self._image_size)

    def has_pixels(self) -> bool:
        """Return True when the image's pixels are shown (not only its size)."""
        return not self.image_item.image().isNull()

    def show_message(self, text: str, width: float = 480.0) -> QRectF:
        """Show a message instead of the image (e.g. a file that cannot be decoded), wrapped
        to `width` pixels (shown at 100 %); return the scene rectangle to show."""
        self.image_item.clear()
        self._message.setTextWidth(width)
        self._message.setPlainText(text)
        self._message.setVisible(True)
        rect = self._message.boundingRect()
        self.setSceneRect(rect.adjusted(-20, -20, 20, 20))
        self._image_size = None
        return self.sceneRect()

    def message(self) -> str:
        """Return the shown message ("" when none)."""
        return self._message.toPlainText() if self._message.isVisible() else ""

    def message_item(self) -> QGraphicsTextItem:
        """Return the item that draws the message."""
        return self._message

    # ----- boxes ---------------------------------------------------------------------------

    def sync(self, record: ImageRecord | None, categories: Iterable[Category]) -> None:
        """Make the items match `record`'s boxes and proposals; keeps the selection by uid."""
        cats = {c.id: c for c in categories}
        wanted = {b.uid: b for b in record.boxes} if record is not None else {}
        selected = self.selected_uids()
        for uid in list(self.boxes):
            if uid not in wanted:
                self.removeItem(self.boxes.pop(uid))
        for uid, box in wanted.items():
            cat = cats.get(box.category_id)
            name = cat.name if cat else f"? {box.category_id}"
            color = cat.color if cat else UNKNOWN_COLOR
            rect = QRectF(box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1)
            item = self.boxes.get(uid)
            if item is None:
                item = BoxItem(uid, rect, color, name)
                item.set_view_scale(self._scale)
                self.boxes[uid] = item
                self.addItem(item)
            else:
                item.set_rect(rect)
                item.set_label(name, color)
            item.setSelected(uid in selected)
        self._sync_proposals(record, cats)
        self.layout_labels()

    def _sync_proposals(self, record: ImageRecord | None, cats: dict[int, Category]) -> None:
        selected = {uid for uid, item in self.proposals.items() if item.isSelected()}
        for item in self.proposals.values():
            self.removeItem(item)
        self.proposals = {}
        if record is None:
            return
        for prop in record.proposals:
            cat = cats.get(prop.category_id)
            rect = QRectF(prop.x1, prop.y1, prop.x2 - prop.x1, prop.y2 - prop.y1)
            item = ProposalItem(
                prop.uid,
                rect,
                cat.color if cat else UNKNOWN_COLOR,
                cat.name if cat else f"? {prop.category_id}",
                prop.score,
            )
            item.set_view_scale(self._scale)
            self.proposals[prop.uid] = item
            self.addItem(item)
            item.setSelected(prop.uid in selected)
        self.apply_proposal_filter()

    def apply_proposal_filter(self) -> None:
        """Show the proposals whose score reaches the threshold (no model re-run)."""
        for item in self.proposals.values():
            shown = self.show_proposals and item.score >= self.proposal_threshold
            item.setVisible(shown)
            if not shown:
                item.setSelected(False)

    def set_proposal_threshold(self, threshold: float) -> None:
        """Show only proposals scoring at least `threshold` (instant, no re-run)."""
        self.proposal_threshold = threshold
        self.apply_proposal_filter()
        self.layout_labels()

    def layout_labels(self) -> None:
        """Place every tag where it covers no other: boxes first, then proposals best first,
        each at the first free spot of `label_spots`; a tag with none left is faded."""
        items = list(self.boxes.values())
        items += sorted(
            (p for p in self.proposals.values() if p.isVisible()), key=lambda p: -p.score
        )
        taken: list[QRectF] = []
        for item in items:
            spots = item.label_spots(self._scale)
            for spot in spots:
                item.place_label(spot)
                rect = item.label.scene_rect(self._scale)
                if not any(rect.intersects(other) for other in taken):
                    taken.append(rect)
                    break
            else:
                item.place_label(spots[0], faded=True)

    def shown_proposal_uids(self) -> list[str]:
        """Return the uids of the proposals the filter shows."""
        return [uid for uid, item in self.proposals.items() if item.isVisible()]

    def selected_proposal_uids(self) -> list[str]:
        """Return the uids of the selected (shown) proposals."""
        return [uid for uid, item in self.proposals.items() if item.isSelected()]

    def item(self, uid: str) -> BoxItem | None:
        """Return the box or proposal item with this uid."""
        return self.boxes.get(uid) or self.proposals.get(uid)

    def all_items(self) -> list[BoxItem]:
        """Return the box items and the shown proposal items."""
        shown = [item for item in self.proposals.values() if item.isVisible()]
        return list(self.boxes.values()) + shown

    def set_view_scale(self, scale: float) -> None:
        """Pass the view zoom on to the items (handles keep their screen size, tags move)."""
        self._scale = scale
        for item in list(self.boxes.values()) + list(self.proposals.values()):
            item.set_view_scale(scale)
        self.layout_labels()

    def selected_uids(self) -> set[str]:
        """Return the uids of the selected boxes and proposals."""
        return {item.uid for item in self.all_items() if item.isSelected()}

    def select_uids(self, uids: Iterable[str]) -> None:
        """Select exactly these boxes (and shown proposals)."""
        wanted = set(uids)
        for item in list(self.boxes.values()) + list(self.proposals.values()):
            item.setSelected(item.uid in wanted and item.isVisible())

    def box_at(self, point, tolerance: float = 0.0) -> BoxItem | None:
        """Return the box under a scene point; the smallest wins where boxes nest."""
        hits = [
            item
            for item in self.all_items()
            if item.rect().adjusted(-tolerance, -tolerance, tolerance, tolerance).contains(point)
        ]
        if not hits:
            return None
        return min(hits, key=lambda item: item.rect().width() * item.rect().height())

    def set_hover(self, item: BoxItem | None) -> None:
        """Highlight one box (or none)."""
        for other in self.all_items():
            other.set_hover(other is item)
