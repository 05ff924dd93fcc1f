"""The list of model versions with their metrics; one click on "Use" switches to one."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

COLUMNS = ("Version", "Metrics", "Trained", "")


class VersionTable(QTableWidget):
    """Rows of `app.model_versions.Version`; emits `use_requested(ModelChoice)`."""

    use_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.buttons: dict[str, QPushButton] = {}  # model key -> its "Use" button

    def set_versions(self, versions: list) -> None:
        """Show these versions; the one in use says so instead of offering a button."""
        self.setRowCount(len(versions))
        self.buttons = {}
        for row, version in enumerate(versions):
            label = version.choice.label.removeprefix("Fine-tuned: ")
            texts = (label, version.metrics, version.trained)
            for col, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(version.choice.path)
                self.setItem(row, col, item)
            if version.in_use:
                self.removeCellWidget(row, 3)
                self.setItem(row, 3, QTableWidgetItem("in use"))
                continue
            button = QPushButton("Use")
            button.setToolTip(f"Auto-annotate with {version.choice.label}")
            button.clicked.connect(lambda _c=False, c=version.choice: self.use_requested.emit(c))
            self.setItem(row, 3, QTableWidgetItem(""))
            self.setCellWidget(row, 3, button)
            self.buttons[version.choice.key] = button
