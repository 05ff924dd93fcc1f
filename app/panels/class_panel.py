"""The class panel: the project's classes with hotkeys and counts; add, rename, recolour,
merge and delete (each an undoable session edit)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QGridLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.session import Session
from app.widgets.swatches import swatch

CategoryRole = Qt.ItemDataRole.UserRole + 1


class ClassPanel(QWidget):
    """Lists classes as "1  name  (count)"; the selected row is the class for new boxes.

    Questions go through `ask_text`, `ask_item`, `ask_color` and `confirm` (dialogs by
    default) so tests can answer them.
    """

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = QListWidget()
        self.list.itemSelectionChanged.connect(self._on_selected)
        self.list.itemDoubleClicked.connect(lambda _item: self.rename_selected())
        buttons = QGridLayout()
        buttons.setSpacing(4)
        self.buttons: dict[str, QPushButton] = {}
        for n, (key, text, handler) in enumerate(
            (
                ("add", "Add", self.add_class),
                ("rename", "Rename", self.rename_selected),
                ("color", "Colour", self.recolor_selected),
                ("merge", "Merge", self.merge_selected),
                ("delete", "Delete", self.delete_selected),
            )
        ):
            button = QPushButton(text)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(handler)
            buttons.addWidget(button, n // 3, n % 3)
            self.buttons[key] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.ask_text: Callable[[str, str, str], str | None] = self._dialog_text
        self.ask_item: Callable[[str, str, list[str]], str | None] = self._dialog_item
        self.ask_color: Callable[[str], str | None] = self._dialog_color
        self.confirm: Callable[[str, str], bool] = self._dialog_confirm
        # Counts walk every box of the project: coalesce bursts of edits into one refresh.
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(50)
        self._refresh_timer.timeout.connect(self.refresh)
        session.categories_changed.connect(self.refresh)
        session.counts_changed.connect(self._refresh_timer.start)
        session.active_category_changed.connect(self._select_active)
        self._updating = False
        self.refresh()

    # ----- showing -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the rows from the project."""
        project = self.session.project
        self._updating = True
        self.list.clear()
        if project is not None:
            counts = project.box_counts()
            for n, cat in enumerate(project.categories, start=1):
                key = f"{n}  " if n <= 9 else "    "
                item = QListWidgetItem(swatch(cat.color), f"{key}{cat.name}  ({counts[cat.id]})")
                item.setData(CategoryRole, cat.id)
                item.setToolTip(
                    f"{cat.name}: {counts[cat.id]} boxes" + (f", key {n}" if n <= 9 else "")
                )
                self.list.addItem(item)
        self._updating = False
        self._select_active(self.session.active_category_id)
        enabled = project is not None
        for key, button in self.buttons.items():
            button.setEnabled(enabled and (key == "add" or bool(project.categories)))

    def _select_active(self, category_id: int) -> None:
        self._updating = True
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setSelected(item.data(CategoryRole) == category_id)
            if item.isSelected():
                self.list.setCurrentItem(item)
        self._updating = False

    def selected_id(self) -> int | None:
        """Return the id of the selected class (None when none)."""
        items = self.list.selectedItems()
        return items[0].data(CategoryRole) if items else None

    def _on_selected(self) -> None:
        cid = self.selected_id()
        if not self._updating and cid is not None:
            self.session.set_active_category(cid)

    # ----- edits ---------------------------------------------------------------------------

    def add_class(self) -> None:
        """Ask for a name and create the class."""
        if self.session.project is None:
            return
        name = self.ask_text("Add class", "Name of the new class:", "")
        if name and name.strip():
            cat = self.session.add_category(name)
            if cat is not None:
                self.session.set_active_category(cat.id)

    def rename_selected(self) -> None:
        """Ask for a new name for the selected class."""
        cid = self.selected_id()
        if cid is None:
            return
        old = self.session.project.category(cid).name
        name = self.ask_text("Rename class", f"New name for {old!r}:", old)
        if name and name.strip() and name.strip() != old:
            self.session.rename_category(cid, name)

    def recolor_selected(self) -> None:
        """Ask for a new colour for the selected class."""
        cid = self.selected_id()
        if cid is None:
            return
        color = self.ask_color(self.session.project.category(cid).color)
        if color:
            self.session.recolor_category(cid, color)

    def merge_selected(self) -> None:
        """Move every box of the selected class into another class, which stays."""
        cid = self.selected_id()
        project = self.session.project
        if cid is None or project is None:
            return
        source = project.category(cid)
        others = [c.name for c in project.categories if c.id != cid]
        if not others:
            self.session.message.emit("Merging needs a second class")
            return
        usage = self.session.category_usage(cid)
        target_name = self.ask_item(
            "Merge class",
            f"Move the {usage.boxes} boxes of {source.name!r} into:",
            others,
        )
        target = project.category_by_name(target_name) if target_name else None
        if target is None:
            return
        moved = self.session.merge_categories(cid, target.id)
        self.session.message.emit(f"Merged {source.name!r} into {target.name!r}: {moved} boxes")

    def delete_selected(self) -> None:
        """Delete the selected class and its boxes, after saying how many it touches."""
        cid = self.selected_id()
        project = self.session.project
        if cid is None or project is None:
            return
        cat = project.category(cid)
        usage = self.session.category_usage(cid)
        text = (
            f"Delete class {cat.name!r}?\n\nThis deletes {usage.boxes} boxes and "
            f"{usage.proposals} proposals on {usage.images} images (Undo brings them back)."
        )
        if self.confirm("Delete class", text):
            gone = self.session.delete_category(cid)
            self.session.message.emit(f"Deleted class {cat.name!r} and {gone} boxes")

    # ----- default dialogs -----------------------------------------------------------------

    def _dialog_text(self, title: str, label: str, value: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text if ok else None

    def _dialog_item(self, title: str, label: str, items: list[str]) -> str | None:
        item, ok = QInputDialog.getItem(self, title, label, items, 0, False)
        return item if ok else None

    def _dialog_color(self, current: str) -> str | None:
        color = QColorDialog.getColor(QColor(current), self, "Class colour")
        return color.name() if color.isValid() else None

    def _dialog_confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes
