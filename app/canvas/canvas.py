"""The canvas: view + scene + tools, kept in step with the session and the image loader."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QMenu, QVBoxLayout, QWidget

from app.annotations.model import Box
from app.annotations.review import without_repeats
from app.canvas.scene import AnnotationScene
from app.canvas.tools import DrawTool, Rect, SelectTool
from app.canvas.view import CanvasView
from app.session import Session
from app.widgets.swatches import swatch
from app.workers.image_loader import ImageLoader, LoadedImage

log = logging.getLogger(__name__)


class Navigator(Protocol):
    """Image order as the user sees it (the image list panel provides it)."""

    def next_path(self) -> str | None: ...
    def neighbours(self, path: str, count: int = 2) -> list[str]: ...
    def go_next(self) -> None: ...


class Canvas(QWidget):
    """Shows the session's current image with its boxes; turns gestures into session edits."""

    image_shown = Signal(str)  # relative path, once its pixels are on screen
    image_failed = Signal(str, str)  # relative path, message
    draw_mode_changed = Signal(bool)
    selection_changed_signal = Signal(int)  # number of selected boxes

    def __init__(self, session: Session, loader: ImageLoader, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.loader = loader
        self.navigator: Navigator | None = None
        self.scene = AnnotationScene(self)
        self.view = CanvasView(self.scene, self)
        self.view.tool = self
        self.select_tool = SelectTool(self.view, self.scene, self)
        self.draw_tool = DrawTool(self.view, self.scene, self)
        self.tool = self.select_tool
        self._clipboard: list[Box] = []
        self._shown_path = ""  # relative path whose pixels are on screen
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.setFocusProxy(self.view)

        session.current_image_changed.connect(self._on_current_changed)
        session.image_changed.connect(self._on_image_changed)
        session.categories_changed.connect(self.refresh)
        session.project_opened.connect(self._on_project_opened)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)
        self.view.zoom_changed.connect(self.scene.set_view_scale)

    # ----- showing images ------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw the boxes of the current image from the project."""
        self.scene.sync(self.session.current_record(), self._categories())

    def shown_path(self) -> str:
        """Return the relative path whose pixels are on screen ("" while loading or none)."""
        return self._shown_path

    def _categories(self):
        return self.session.project.categories if self.session.project else []

    def _on_project_opened(self) -> None:
        self.loader.forget()
        self._shown_path = ""
        self.scene.clear_image()
        self.refresh()

    def _on_current_changed(self, path: str) -> None:
        self.tool.cancel()
        self.scene.select_uids(())
        self._shown_path = ""
        rec = self.session.current_record()
        if rec is None:
            self.scene.clear_image()
            self.refresh()
            return
        self.scene.clear_image()
        if rec.size is not None:
            self.scene.set_image_size(*rec.size)
        self.refresh()
        prefetch = []
        if self.navigator is not None:
            prefetch = [self.session.absolute_path(p) for p in self.navigator.neighbours(path)]
        self.loader.request(self.session.absolute_path(path), prefetch)

    def _relative(self, absolute: str) -> str:
        project = self.session.project
        if project is None:
            return ""
        try:
            return Path(absolute).relative_to(project.root).as_posix()
        except ValueError:
            return ""

    def _on_loaded(self, loaded: LoadedImage) -> None:
        path = self._relative(loaded.path)
        if not path or path != self.session.current_path:
            return
        first = not self.scene.has_pixels() and self.view._fit_mode
        self.scene.set_image(loaded.image, loaded.preview)
        self.session.set_image_size(path, loaded.image.width(), loaded.image.height())
        self.refresh()
        if first or self.view._fit_mode:
            self.view.fit()
        self._shown_path = path
        self.image_shown.emit(path)

    def _on_failed(self, absolute: str, message: str) -> None:
        path = self._relative(absolute)
        if not path or path != self.session.current_path:
            return
        message = message.removeprefix(f"{absolute}: ")  # the path is said once
        text = f"Cannot show {path}:\n{message}"
        # At 100 % and wrapped to the view: readable whatever the zoom was.
        width = max(240.0, self.view.viewport().width() - 60.0)
        self.view.show_rect(self.scene.show_message(text, width))
        self.refresh()
        self.session.message.emit(f"Cannot show {path}: {message}")
        self.image_failed.emit(path, message)

    def _on_image_changed(self, path: str) -> None:
        if path == self.session.current_path:
            self.refresh()

    # ----- tool switching (the view sends its input here) ----------------------------------

    def is_draw_mode(self) -> bool:
        """Return True while dragging draws boxes."""
        return self.tool is self.draw_tool

    def set_draw_mode(self, on: bool) -> None:
        """Switch between drawing and selecting."""
        if on == self.is_draw_mode():
            return
        self.tool.deactivate()
        self.tool = self.draw_tool if on else self.select_tool
        self.tool.activate()
        self.draw_mode_changed.emit(on)

    def toggle_draw_mode(self) -> None:
        """Switch drawing on or off (W)."""
        self.set_draw_mode(not self.is_draw_mode())

    def press(self, event: QMouseEvent) -> bool:
        return self.tool.press(event)

    def move(self, event: QMouseEvent) -> bool:
        return self.tool.move(event)

    def release(self, event: QMouseEvent) -> bool:
        return self.tool.release(event)

    def key(self, event: QKeyEvent) -> bool:
        if self.tool.key(event):
            return True
        if event.key() == Qt.Key.Key_Escape and self.is_draw_mode():
            self.set_draw_mode(False)
            return True
        return False

    def cancel(self) -> None:
        self.tool.cancel()

    def update_cursor(self, pos: QPointF) -> None:
        self.tool.update_cursor(pos)

    # ----- the Editor protocol of the tools ------------------------------------------------

    def add_box(self, rect: Rect) -> None:
        # The new box is selected, so a class key (1-9) or Delete acts on it at once.
        box = self.session.add_box(rect)
        if box is not None:
            self.scene.select_uids([box.uid])
            self.selection_changed()

    def set_box_rects(self, rects: dict[str, Rect], text: str) -> None:
        # A proposal moved or resized is accepted where the user put it (the session's rule).
        self.session.set_box_rects(rects, text)

    def accept_proposals(self, uids: list[str]) -> None:
        """Turn proposals of the current image into boxes (one undo step)."""
        if uids and self.session.current_path:
            self.session.accept_proposals(uids)
            self.selection_changed()

    def double_click(self, event: QMouseEvent) -> bool:
        handler = getattr(self.tool, "double_click", None)
        return bool(handler is not None and handler(event))

    def selection_changed(self) -> None:
        self.selection_changed_signal.emit(len(self.scene.selected_uids()))

    # ----- right-click menu ----------------------------------------------------------------

    def _context_menu(self, pos: QPoint) -> None:
        """Offer class changes and delete for the box under the pointer (or the selection)."""
        item = self.scene.box_at(self.view.mapToScene(pos))
        if item is not None and not item.isSelected():
            self.scene.select_uids([item.uid])
            self.selection_changed()
        menu = self.build_context_menu()
        if not menu.isEmpty():
            menu.exec(self.view.viewport().mapToGlobal(pos))

    def build_context_menu(self) -> QMenu:
        """Return the right-click menu for the current selection."""
        menu = QMenu(self)
        uids = self.selected_uids()
        project = self.session.project
        if self.scene.selected_proposal_uids():
            menu.addAction("Accept proposal", self.accept_selected_proposals)
            menu.addAction("Reject proposal", self.delete_selected)
            menu.addSeparator()
        if uids and project is not None:
            for n, cat in enumerate(project.categories, start=1):
                text = f"{n}  {cat.name}" if n <= 9 else f"    {cat.name}"
                action = menu.addAction(swatch(cat.color), text)
                action.triggered.connect(
                    lambda _c=False, cid=cat.id: self.session.change_category(
                        self.selected_uids(), cid
                    )
                )
            menu.addSeparator()
            menu.addAction("Delete", self.delete_selected)
            menu.addAction("Copy to next image", self.copy_boxes_to_next)
        return menu

    # ----- commands from the action table --------------------------------------------------

    def selected_uids(self) -> list[str]:
        """Return the uids of the selected boxes in the image's order."""
        rec = self.session.current_record()
        chosen = self.scene.selected_uids()
        return [b.uid for b in rec.boxes if b.uid in chosen] if rec else []

    def delete_selected(self) -> None:
        """Delete the selected boxes and reject the selected proposals (one undo step)."""
        uids = self.selected_uids()
        proposals = self.scene.selected_proposal_uids()
        if uids or proposals:
            self.session.delete_boxes(uids, proposals)
            self.selection_changed()

    def accept_selected_proposals(self) -> None:
        """Accept the selected proposals (Enter)."""
        uids = self.scene.selected_proposal_uids()
        if not uids:
            self.session.message.emit("Click a proposal first (dashed box), then Enter")
            return
        self.accept_proposals(uids)

    def accept_shown_proposals(self) -> None:
        """Accept every proposal the confidence filter shows on this image, except one that
        repeats a box of its class (or a better proposal accepted with it)."""
        rec = self.session.current_record()
        uids = self.scene.shown_proposal_uids()
        if rec is None or not uids:
            self.session.message.emit("No proposals shown on this image")
            return
        accept, skipped = without_repeats(rec, uids)
        self.accept_proposals(accept)
        if skipped:
            n = len(skipped)
            self.session.message.emit(
                f"Accepted {len(accept)}; left {n} proposal{'s' if n > 1 else ''} that "
                "repeat a box of the same class (Shift+Delete rejects them)"
            )

    def review_boxes(self, path: str, uids: list[str]) -> None:
        """Show `path` with these boxes selected (e.g. likely duplicates before training)."""
        if self.session.project is None or not self.session.project.has_image(path):
            return
        self.set_draw_mode(False)
        self.session.set_current(path)
        self.scene.select_uids(uids)
        self.selection_changed()
        self.setFocus()

    def reject_shown_proposals(self) -> None:
        """Reject every proposal the confidence filter shows on this image."""
        uids = self.scene.shown_proposal_uids()
        if uids and self.session.current_path:
            self.session.reject_proposals(uids)
            self.selection_changed()

    def set_proposal_threshold(self, threshold: float) -> None:
        """Show only proposals scoring at least `threshold` (the confidence slider)."""
        self.scene.set_proposal_threshold(threshold)
        self.selection_changed()

    def select_all(self) -> None:
        """Select every box of the image."""
        self.set_draw_mode(False)
        self.scene.select_uids(self.scene.boxes)
        self.selection_changed()

    def use_class(self, number: int) -> None:
        """Make the n-th class active and give it to the selected boxes (keys 1-9)."""
        cat = self.session.category_for_hotkey(number)
        if cat is None:
            self.session.message.emit(f"No class on key {number}")
            return
        self.session.set_active_category(cat.id)
        uids = self.selected_uids()
        if uids:
            self.session.change_category(uids, cat.id)
        self.session.message.emit(f"Class: {cat.name}")

    def _boxes_to_copy(self) -> list[Box]:
        rec = self.session.current_record()
        if rec is None:
            return []
        chosen = self.scene.selected_uids()
        return [b for b in rec.boxes if b.uid in chosen] or list(rec.boxes)

    def copy_boxes(self) -> None:
        """Remember the selected boxes (all boxes when none is selected) for pasting."""
        self._clipboard = self._boxes_to_copy()
        self.session.message.emit(f"Copied {len(self._clipboard)} boxes")

    def paste_boxes(self) -> None:
        """Paste copied boxes onto the current image."""
        if self.session.current_path and self._clipboard:
            n = self.session.paste_boxes(self.session.current_path, self._clipboard)
            self.session.message.emit(f"Pasted {n} boxes")

    def copy_boxes_to_next(self) -> None:
        """Copy the selected (or all) boxes onto the next image and go there."""
        boxes = self._boxes_to_copy()
        target = self.navigator.next_path() if self.navigator else None
        if not boxes or target is None:
            self.session.message.emit("Nothing to copy" if not boxes else "No next image")
            return
        n = self.session.paste_boxes(target, boxes)
        self.navigator.go_next()
        self.session.message.emit(f"Copied {n} boxes to {target}")
