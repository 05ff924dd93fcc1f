"""The image list: a model over the project's images, a status filter and navigation."""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QStringListModel,
    Qt,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListView, QVBoxLayout, QWidget

from app.annotations.model import ImageRecord, ImageStatus
from app.annotations.review import (
    DOUBTFUL_BAND,
    is_doubtful,
    is_unreviewed,
    lowest_score,
    next_image,
)
from app.label_check import has_duplicates
from app.session import Session
from app.widgets.phrases import join_phrases
from app.widgets.swatches import broken_mark, dot

STATUS_COLORS = {
    ImageStatus.UNLABELED: "#9e9e9e",
    ImageStatus.PROPOSED: "#ffb300",
    ImageStatus.REVIEWED: "#43a047",
}
# Filter name -> test on a record (None: every image).
FILTERS = {
    "All images": None,
    "Unlabeled": lambda rec: rec.status == ImageStatus.UNLABELED,
    "Proposed": lambda rec: rec.status == ImageStatus.PROPOSED,
    "Reviewed": lambda rec: rec.status == ImageStatus.REVIEWED,
    "Not reviewed": is_unreviewed,
    "With boxes": lambda rec: bool(rec.boxes),
    "Without boxes": lambda rec: not rec.boxes,
    "Doubtful proposals": is_doubtful,
    "Likely duplicate boxes": has_duplicates,
}
BROKEN_FILTER = "Cannot be read"  # images the decoder or the model failed on (this session)
# Sort name -> key on a record (None: folder order). Sorting is stable.
SORTS = {
    "Folder order": None,
    "Least confident first": lambda rec: s if (s := lowest_score(rec)) is not None else 2.0,
}
PathRole = Qt.ItemDataRole.UserRole + 1
StatusRole = Qt.ItemDataRole.UserRole + 2


class ImageListModel(QStringListModel):
    """One row per shown image (the filtered subset of `session.project.images`).

    Built on QStringListModel so that the row count and indexes stay in C++: QListView walks
    every row on each layout, and a Python `rowCount` made that 30 ms per image switch with
    10,000 images. Only `data` (what a visible row shows) is Python.
    """

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self._rows: list[ImageRecord] = []
        self._row_of: dict[str, int] = {}
        self._filter_name = "All images"
        self._sort_name = "Folder order"
        self._broken: dict[str, str] = {}  # path -> why it cannot be read (not saved)
        self._bold = QFont()
        self._bold.setBold(True)
        session.project_opened.connect(self.forget_broken)
        session.project_opened.connect(self.rebuild)
        session.images_added.connect(self.rebuild)
        session.image_changed.connect(self._on_image_changed)
        session.current_image_changed.connect(self._on_current_changed)
        self._current = ""

    # ----- filtering -----------------------------------------------------------------------

    def set_filter(self, name: str) -> None:
        """Show only the images passing a filter from FILTERS (or BROKEN_FILTER)."""
        if name not in FILTERS and name != BROKEN_FILTER:
            raise KeyError(f"unknown image filter {name!r}")
        self._filter_name = name
        self.rebuild()

    def filter_name(self) -> str:
        return self._filter_name

    def sort_name(self) -> str:
        return self._sort_name

    def set_sort(self, name: str) -> None:
        """Order the shown images by a key from SORTS."""
        if name not in SORTS:
            raise KeyError(f"unknown image order {name!r}")
        self._sort_name = name
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute the rows from the project and the filter."""
        project = self.session.project
        if self._filter_name == BROKEN_FILTER:
            test = lambda rec: rec.path in self._broken  # noqa: E731
        else:
            test = FILTERS[self._filter_name]
        images = project.images if project is not None else []
        self._rows = list(images) if test is None else [r for r in images if test(r)]
        if (key := SORTS[self._sort_name]) is not None:
            self._rows.sort(key=key)
        self._row_of = {rec.path: i for i, rec in enumerate(self._rows)}
        self._current = self.session.current_path
        self.setStringList([rec.path for rec in self._rows])

    def mark_broken(self, path: str, message: str) -> None:
        """Remember that an image cannot be read (its own mark, the "Cannot be read" filter)."""
        if self._broken.get(path) != message:
            self._broken[path] = message
            self._on_image_changed(path)

    def clear_broken(self, path: str) -> None:
        """Forget an earlier failure (the image was read after all)."""
        if self._broken.pop(path, None) is not None:
            self._on_image_changed(path)

    def broken(self) -> dict[str, str]:
        """Return the images that cannot be read, with why."""
        return dict(self._broken)

    def forget_broken(self) -> None:
        """Forget every failure (another project opened)."""
        self._broken.clear()

    # ----- lookups -------------------------------------------------------------------------

    def path_at(self, row: int) -> str:
        """Return the relative path shown in `row`."""
        return self._rows[row].path

    def row_of(self, path: str) -> int:
        """Return the row showing `path`, or -1 when filtered out."""
        return self._row_of.get(path, -1)

    def paths(self) -> list[str]:
        """Return the shown paths in order."""
        return [rec.path for rec in self._rows]

    # ----- Qt model ------------------------------------------------------------------------

    def flags(self, index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        rec = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{rec.path}  ({len(rec.boxes)})" if rec.boxes else rec.path
        if role == Qt.ItemDataRole.DecorationRole:
            return broken_mark() if rec.path in self._broken else dot(STATUS_COLORS[rec.status])
        if role == Qt.ItemDataRole.ToolTipRole:
            if rec.path in self._broken:
                return f"{rec.path}\nCannot be read: {self._broken[rec.path]}"
            size = f"{rec.width}×{rec.height}, " if rec.size else ""
            low = lowest_score(rec)
            extra = f", {len(rec.proposals)} proposals (lowest {low:.2f})" if rec.proposals else ""
            return f"{rec.path}\n{size}{rec.status.value}, {len(rec.boxes)} boxes{extra}"
        if role == Qt.ItemDataRole.FontRole and rec.path == self._current:
            return self._bold
        if role == PathRole:
            return rec.path
        if role == StatusRole:
            return rec.status.value
        return None

    def _on_image_changed(self, path: str) -> None:
        row = self._row_of.get(path, -1)
        if row >= 0:
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def _on_current_changed(self, path: str) -> None:
        old, self._current = self._current, path
        for p in (old, path):
            self._on_image_changed(p)


class ImageListPanel(QWidget):
    """The dock content: filter, counts, the list; navigation used by the actions (A, D, N)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = ImageListModel(session, self)
        self.filter_box = QComboBox()
        self.filter_box.addItems([*FILTERS, BROKEN_FILTER])
        self.filter_box.currentTextChanged.connect(self._on_filter)
        self.sort_box = QComboBox()
        self.sort_box.addItems(list(SORTS))
        self.sort_box.currentTextChanged.connect(self.model.set_sort)
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        self.list = QListView()
        self.list.setUniformItemSizes(True)  # constant-time layout for 10,000+ rows
        self.list.setModel(self.model)
        self.list.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.list.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.list.selectionModel().currentChanged.connect(self._on_row_chosen)
        top = QHBoxLayout()
        top.addWidget(self.filter_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.sort_box)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.counts)
        session.current_image_changed.connect(self._select_current)
        session.counts_changed.connect(self.update_counts)
        session.project_opened.connect(self.update_counts)
        self.model.modelReset.connect(lambda: self._select_current(session.current_path))

    # ----- navigation ----------------------------------------------------------------------

    def _step_path(self, step: int) -> str | None:
        paths_count = self.model.rowCount()
        if not paths_count:
            return None
        row = self.model.row_of(self.session.current_path)
        if row < 0:
            row = self._nearest_row()
            if step > 0:
                row -= 1
        target = row + step
        if 0 <= target < paths_count:
            return self.model.path_at(target)
        return None

    def _nearest_row(self) -> int:
        """Row of the first shown image after the current one in project order."""
        project = self.session.project
        if project is None or not self.session.current_path:
            return 0
        order = {rec.path: i for i, rec in enumerate(project.images)}
        here = order.get(self.session.current_path, 0)
        for row, path in enumerate(self.model.paths()):
            if order[path] > here:
                return row
        return self.model.rowCount()

    def next_path(self) -> str | None:
        """Return the path after the current one in the list (None at the end)."""
        return self._step_path(1)

    def neighbours(self, path: str, count: int = 2) -> list[str]:
        """Return up to `count` paths after and one before `path` (prefetch order)."""
        row = self.model.row_of(path)
        if row < 0:
            return []
        rows = [row + i for i in range(1, count + 1)] + [row - 1]
        return [self.model.path_at(r) for r in rows if 0 <= r < self.model.rowCount()]

    def go_next(self) -> None:
        """Show the next image of the list (D)."""
        path = self._step_path(1)
        if path is None:
            self.session.message.emit("This is the last image")
        else:
            self.session.set_current(path)

    def go_previous(self) -> None:
        """Show the previous image of the list (A)."""
        path = self._step_path(-1)
        if path is None:
            self.session.message.emit("This is the first image")
        else:
            self.session.set_current(path)

    def go_next_unlabeled(self) -> None:
        """Show the next image not yet reviewed, wrapping around the whole project (N)."""
        project = self.session.project
        if project is None or not project.images:
            return
        path = next_image(project, self.session.current_path, is_unreviewed)
        if path is None:
            self.session.message.emit("Every image is reviewed")
        else:
            self.session.set_current(path)

    def go_next_doubtful(self) -> None:
        """Show the next image with a proposal in the doubtful band (Shift+N)."""
        project = self.session.project
        path = next_image(project, self.session.current_path, is_doubtful) if project else None
        if path is None:
            low, high = DOUBTFUL_BAND
            self.session.message.emit(f"No image has proposals scored {low:.1f}–{high:.1f}")
        else:
            self.session.set_current(path)

    def selected_paths(self) -> list[str]:
        """Return the images selected in the list, in list order."""
        rows = sorted(index.row() for index in self.list.selectionModel().selectedRows())
        return [self.model.path_at(r) for r in rows if r < self.model.rowCount()]

    # ----- view sync -----------------------------------------------------------------------

    def _on_filter(self, name: str) -> None:
        self.model.set_filter(name)

    def _on_row_chosen(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            path = self.model.path_at(current.row())
            if path != self.session.current_path:
                self.session.set_current(path)

    def _select_current(self, path: str) -> None:
        row = self.model.row_of(path)
        selection = self.list.selectionModel()
        if row < 0:
            selection.clearSelection()
            return
        index = self.model.index(row)
        if selection.currentIndex() != index:
            selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.list.scrollTo(index)

    def update_counts(self) -> None:
        """Show how many images are in each status and how many boxes there are."""
        project = self.session.project
        if project is None:
            self.counts.setText("No folder open")
            return
        counts = project.status_counts()
        boxes = sum(project.box_counts().values())  # kept by the store: no walk over every box
        phrases = [
            f"{len(project.images)} images",
            f"{counts[ImageStatus.REVIEWED]} reviewed",
            f"{counts[ImageStatus.PROPOSED]} proposed",
            f"{counts[ImageStatus.UNLABELED]} unlabeled",
            f"{boxes} boxes",
        ]
        if broken := len(self.model.broken()):
            phrases.append(f"{broken} cannot be read")
        self.counts.setText(join_phrases(phrases))  # wraps only between phrases

    def mark_broken(self, path: str, message: str) -> None:
        """Mark an image that cannot be read (the canvas or auto-annotate failed on it)."""
        self.model.mark_broken(path, message)
        self.update_counts()

    def clear_broken(self, path: str) -> None:
        """Clear the mark of an image that was read after all."""
        self.model.clear_broken(path)
        self.update_counts()
