"""The training dialog's before/after panel: the model in use and the new model side by side."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model_comparison import NEW, OLD, Comparison, ModelScore, where

COLORS = {NEW: "#2e7d32", OLD: "#b35900"}


class ComparisonPanel(QWidget):
    """Shows AP, AP50 and AP per class of both models on the same images, and the verdict."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.verdict = QLabel("After a run, the model in use and the new model are scored here.")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 2)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.verdict)
        layout.addWidget(self.table, 1)

    def show_busy(self, text: str) -> None:
        """Show what the comparison is doing while it runs."""
        self.verdict.setStyleSheet("")
        self.verdict.setText(text)

    def show_comparison(self, comparison: Comparison | None) -> None:
        """Fill the table from a finished comparison (None: empty it)."""
        if comparison is None:
            self.table.setVisible(False)
            self.verdict.setStyleSheet("")
            self.verdict.setText("After a run, the model in use and the new model are scored here.")
            return
        color = COLORS.get(comparison.choice, "")
        self.verdict.setStyleSheet(f"color: {color}; font-weight: bold" if color else "")
        self.verdict.setText(comparison.reason)
        scores = [s for s in (comparison.old, comparison.new) if s is not None]
        roles = ([OLD] if comparison.old is not None else []) + [NEW]
        names = sorted({n for s in scores for n in s.per_class})
        rows = [("AP", lambda s: s.ap), ("AP50", lambda s: s.ap50)]
        rows += [(f"AP · {n}", lambda s, n=n: s.per_class.get(n)) for n in names]
        self.table.clear()
        self.table.setColumnCount(len(scores))
        self.table.setRowCount(len(rows))
        on = where(comparison.images, comparison.held_out)
        self.table.setToolTip(f"COCO box AP on {on}, each model as auto-annotate runs it")
        bold = QFont(self.font())
        bold.setBold(True)
        for col, (role, score) in enumerate(zip(roles, scores, strict=True)):
            who = "Model in use" if role == OLD else "New model"
            mark = "  ✓ recommended" if comparison.choice == role else ""
            header = QTableWidgetItem(f"{who}: {score.label}{mark}")
            self.table.setHorizontalHeaderItem(col, header)
            for row, (_name, value_of) in enumerate(rows):
                item = QTableWidgetItem(_cell(score, value_of(score)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if comparison.choice == role:
                    item.setFont(bold)
                self.table.setItem(row, col, item)
        self.table.setVerticalHeaderLabels([name for name, _ in rows])
        self.table.setVisible(True)

    def wanted_height(self) -> int:
        """Return the height that shows the verdict and every row of the table."""
        table = self.table
        rows = table.verticalHeader().length() + table.horizontalHeader().height()
        shown = rows + 2 * table.frameWidth() + 4 if table.isVisibleTo(self) else 0
        verdict = self.verdict.heightForWidth(max(self.width() - 8, 300))  # wrapped as shown
        if verdict < 0:
            verdict = self.verdict.sizeHint().height()
        return verdict + shown + 16

    def cell_text(self, row_name: str, column: int) -> str:
        """Return the text of a cell by row name (tests and screenshots read it)."""
        for row in range(self.table.rowCount()):
            header = self.table.verticalHeaderItem(row)
            if header is not None and header.text() == row_name:
                item = self.table.item(row, column)
                return item.text() if item is not None else ""
        raise KeyError(row_name)


def _cell(score: ModelScore, value: float | None) -> str:
    if not score.ok:
        return score.error or "not scored"
    if value is None:
        return "—"
    return "no boxes" if value < 0 else f"{value:.3f}"
