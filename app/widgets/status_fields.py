"""Permanent status-bar fields: zoom, cursor position, image size, counts."""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QLabel, QStatusBar

from app.widgets.elided_label import ElidedLabel


class StatusFields:
    """Four labels added to the right of a status bar."""

    def __init__(self, bar: QStatusBar) -> None:
        self.zoom = QLabel()
        self.cursor = QLabel()
        self.size = QLabel()
        self.counts = ElidedLabel()  # gives way first when the status bar is short of room
        for label, width in ((self.cursor, 110), (self.size, 90), (self.zoom, 60)):
            label.setMinimumWidth(width)
        for label in (self.counts, self.cursor, self.size, self.zoom):
            bar.addPermanentWidget(label)
        self.set_zoom(1.0)
        self.set_cursor(None)
        self.set_size(None)

    def set_zoom(self, factor: float) -> None:
        """Show the zoom as a percentage."""
        self.zoom.setText(f"{factor * 100:.0f} %")

    def set_cursor(self, point: QPointF | None, inside: bool = True) -> None:
        """Show the cursor position in image pixels (blank when outside the image)."""
        if point is None or not inside:
            self.cursor.setText("")
        else:
            self.cursor.setText(f"x {point.x():.0f}, y {point.y():.0f}")

    def set_size(self, size: tuple[int, int] | None) -> None:
        """Show the image size."""
        self.size.setText(f"{size[0]} × {size[1]}" if size else "")

    def set_counts(self, text: str) -> None:
        """Show the counts line."""
        self.counts.setText(text)
