"""The welcome page shown instead of an empty canvas: drop zone, open buttons, recent projects."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QFont,
    QPalette,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

MAX_SHOWN = 6
CONTENT_WIDTH = 560
ENTRY_INDENT = 10
SOFT_ALPHA = 150  # of 255: secondary text

STYLE = """
QFrame#drop_zone { border: 2px dashed palette(mid); border-radius: 14px; }
QFrame#drop_zone[dragging="true"] {
    border-color: palette(highlight); background: palette(alternate-base);
}
QPushButton#open_folder, QPushButton#open_demo {
    padding: 7px 18px; border-radius: 6px; border: 1px solid palette(mid);
    background: palette(button);
}
QPushButton#open_folder {
    background: palette(highlight); color: palette(highlighted-text); border-color: palette(highlight);
}
QPushButton#open_folder:hover, QPushButton#open_demo:hover { border-color: palette(dark); }
QPushButton[recent="true"] {
    text-align: left; border: none; border-radius: 6px; padding: 0px; background: transparent;
}
QPushButton[recent="true"]:hover { background: palette(alternate-base); }
"""


def soften(label: QLabel, alpha: int = 0) -> None:
    """Draw a label's text in its normal colour, part transparent (readable on light and dark)."""
    alpha = alpha or SOFT_ALPHA
    palette = QPalette(label.palette())
    colour = QColor(palette.color(QPalette.ColorRole.WindowText))
    colour.setAlpha(alpha)
    palette.setColor(QPalette.ColorRole.WindowText, colour)
    label.setPalette(palette)


def short_path(path: str, limit: int = 64) -> str:
    """Return `path` with the home folder as ~ and the middle elided past `limit` characters."""
    home = str(Path.home())
    if path == home or path.startswith(home + "/"):
        path = "~" + path[len(home) :]
    if len(path) <= limit:
        return path
    keep = (limit - 1) // 2
    return f"{path[:keep]}…{path[-keep:]}"


class RecentEntry(QPushButton):
    """One recent project: its folder name, then where it is (greyed when it is gone)."""

    def __init__(self, path: str, missing: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.missing = missing
        self.setProperty("recent", True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{path} — not found" if missing else f"Open {path}")
        name = QLabel(short_path(Path(path).name or path, 32))
        where = QLabel(("not found · " if missing else "") + short_path(str(Path(path).parent)))
        bold = QFont(name.font())
        bold.setBold(not missing)
        name.setFont(bold)
        soften(where)
        if missing:
            soften(name, SOFT_ALPHA // 2)
            soften(where, SOFT_ALPHA // 2)
            font = QFont(name.font())
            font.setStrikeOut(True)
            name.setFont(font)
        for label in (name, where):
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        # A long place is cut at the right edge rather than widening the page (tooltip has it).
        where.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout(self)
        row.setContentsMargins(ENTRY_INDENT, 4, ENTRY_INDENT, 4)
        row.setSpacing(14)
        row.addWidget(name)
        row.addWidget(where, 1)
        self.name_label, self.where_label = name, where
        self.setMinimumHeight(name.sizeHint().height() + 12)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


class WelcomePage(QWidget):
    """What the window shows while no project is open; it only asks, the window acts."""

    open_folder_requested = Signal()
    open_demo_requested = Signal()
    open_recent_requested = Signal(str)
    paths_dropped = Signal(list)  # local paths

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome_page")
        self.setAcceptDrops(True)
        self.setStyleSheet(STYLE)
        self.entries: list[RecentEntry] = []

        title = QLabel("DETR Studio")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        subtitle = self._grey_label(
            "Bounding-box datasets with a detector in the loop:\n"
            "auto-annotate, correct, export COCO, fine-tune."
        )
        subtitle.setWordWrap(True)
        subtitle.setAlignment(Qt.AlignmentFlag.AlignCenter)

        column = QVBoxLayout()
        column.setSpacing(10)
        column.addWidget(title)
        column.addWidget(subtitle)
        column.addSpacing(18)
        column.addWidget(self._drop_zone())
        column.addSpacing(22)
        self.recent_title = QLabel("Recent projects")
        heading = QFont(self.recent_title.font())
        heading.setBold(True)
        self.recent_title.setFont(heading)
        self.recent_title.setContentsMargins(ENTRY_INDENT, 0, 0, 0)  # over the entries' text
        column.addWidget(self.recent_title)
        self.recent_box = QVBoxLayout()
        self.recent_box.setSpacing(2)
        column.addLayout(self.recent_box)
        self.no_recent = self._grey_label("None yet: the folders you open appear here.")
        self.no_recent.setContentsMargins(ENTRY_INDENT, 0, 0, 0)
        column.addWidget(self.no_recent)

        content = QWidget()
        content.setLayout(column)
        content.setMaximumWidth(CONTENT_WIDTH)
        content.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        centred = QWidget()
        inner = QVBoxLayout(centred)
        inner.addStretch(2)
        inner.addWidget(content, 0, Qt.AlignmentFlag.AlignHCenter)
        inner.addStretch(3)
        # In a scroll area, so the page never makes the window wider than the user wants.
        scroll = QScrollArea(self)
        scroll.setWidget(centred)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.set_recent([])

    def _grey_label(self, text: str) -> QLabel:
        label = QLabel(text)
        soften(label)
        return label

    def _drop_zone(self) -> QFrame:
        zone = QFrame(self)
        zone.setObjectName("drop_zone")
        zone.setProperty("dragging", False)
        icon = QLabel()
        icon.setPixmap(
            QApplication.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon).pixmap(48, 48)
        )
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        drop = QLabel("Drop an image folder here")
        font = QFont(drop.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        drop.setFont(font)
        drop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        also = self._grey_label("…or an image, a project file or a COCO file")
        also.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.open_folder_button = QPushButton("Open Folder…")
        self.open_folder_button.setObjectName("open_folder")
        self.open_folder_button.setToolTip("Choose an image folder (Ctrl+O)")
        self.open_folder_button.clicked.connect(self.open_folder_requested)
        self.open_demo_button = QPushButton("Open Demo Project")
        self.open_demo_button.setObjectName("open_demo")
        self.open_demo_button.setToolTip(
            "60 synthetic shape images in your data folder, ready to auto-annotate"
        )
        self.open_demo_button.clicked.connect(self.open_demo_requested)
        for button in (self.open_folder_button, self.open_demo_button):
            button.setCursor(Qt.CursorShape.PointingHandCursor)
        buttons = QHBoxLayout()
        buttons.setSpacing(12)
        buttons.addStretch(1)
        buttons.addWidget(self.open_folder_button)
        buttons.addWidget(self.open_demo_button)
        buttons.addStretch(1)
        hint = self._grey_label("New here? The demo shows the whole loop in a minute.")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)

        layout = QVBoxLayout(zone)
        layout.setContentsMargins(24, 26, 24, 22)
        layout.setSpacing(8)
        layout.addWidget(icon)
        layout.addWidget(drop)
        layout.addWidget(also)
        layout.addSpacing(12)
        layout.addLayout(buttons)
        layout.addSpacing(4)
        layout.addWidget(hint)
        self.drop_zone = zone
        return zone

    # ----- recent projects -----------------------------------------------------------------

    def set_recent(
        self, paths: list[str], missing: set[str] | frozenset[str] = frozenset()
    ) -> None:
        """Show these recent folders (newest first); those in `missing` greyed out."""
        for entry in self.entries:
            self.recent_box.removeWidget(entry)
            entry.hide()  # deleteLater waits for the event loop; hidden, it cannot linger on screen
            entry.deleteLater()
        self.entries = []
        for path in paths[:MAX_SHOWN]:
            entry = RecentEntry(path, path in missing, self)
            entry.clicked.connect(lambda _checked=False, p=path: self.open_recent_requested.emit(p))
            self.recent_box.addWidget(entry)
            self.entries.append(entry)
        # The places line up in a column after the longest name.
        widest = max((e.name_label.sizeHint().width() for e in self.entries), default=0)
        for entry in self.entries:
            entry.name_label.setMinimumWidth(widest)
        self.no_recent.setVisible(not self.entries)

    # ----- drag and drop -------------------------------------------------------------------

    def _set_dragging(self, on: bool) -> None:
        self.drop_zone.setProperty("dragging", on)
        self.drop_zone.style().unpolish(self.drop_zone)
        self.drop_zone.style().polish(self.drop_zone)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
            self._set_dragging(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._set_dragging(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_dragging(False)
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.paths_dropped.emit(paths)
