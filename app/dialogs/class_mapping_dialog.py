"""Map each model class to a project class, a new class, or "ignore"."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from app.annotations.model import Category

IGNORE = "ignore"
NEW = "new"

# A dialog answer: model class -> category id, a new class name (str), or None (ignore).
Answer = dict[str, "int | str | None"]


class ClassMappingDialog(QDialog):
    """One row per model class with a choice: a project class, a new class, or ignore."""

    def __init__(
        self,
        model_name: str,
        names: list[str],
        categories: list[Category],
        current: dict[str, int | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Map model classes to project classes")
        self.names = list(names)
        self.categories = list(categories)
        current = current or {}
        intro = QLabel(
            f"The model <b>{model_name}</b> knows classes this project does not. Choose for "
            "each what its detections become. The choice is remembered for this model."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(len(self.names), 2)
        self.table.setHorizontalHeaderLabels(["Model class", "Becomes"])
        self.table.verticalHeader().setVisible(False)
        self.combos: list[QComboBox] = []
        by_name = {c.name.casefold(): c.id for c in self.categories}
        for row, name in enumerate(self.names):
            self.table.setCellWidget(row, 0, QLabel(f" {name}"))
            combo = QComboBox()
            combo.addItem("Ignore", (IGNORE, None))
            combo.addItem(f"New class “{name}”", (NEW, name))
            for cat in self.categories:
                combo.addItem(cat.name, ("category", cat.id))
            wanted = current.get(name, by_name.get(name.casefold()))
            if wanted is not None:
                # findData does not compare tuples reliably in PySide: look for it by hand.
                for index in range(combo.count()):
                    if combo.itemData(index) == ("category", wanted):
                        combo.setCurrentIndex(index)
            elif not self.categories:
                combo.setCurrentIndex(1)  # an empty project takes the model's classes
            self.table.setCellWidget(row, 1, combo)
            self.combos.append(combo)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        add_all = QPushButton("Add all as new classes")
        add_all.clicked.connect(lambda: self.set_all(NEW))
        ignore_all = QPushButton("Ignore all")
        ignore_all.clicked.connect(lambda: self.set_all(IGNORE))
        tools = QHBoxLayout()
        tools.addWidget(add_all)
        tools.addWidget(ignore_all)
        tools.addStretch(1)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(tools)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(480, min(640, 160 + 30 * len(self.names)))

    def set_all(self, what: str) -> None:
        """Set every row to "new class" or "ignore"."""
        for combo in self.combos:
            combo.setCurrentIndex(1 if what == NEW else 0)

    def answer(self) -> Answer:
        """Return the chosen target of every model class."""
        result: Answer = {}
        for name, combo in zip(self.names, self.combos, strict=True):
            kind, value = combo.currentData()
            result[name] = None if kind == IGNORE else value
        return result


def ask_class_mapping(
    parent: QWidget | None,
    model_name: str,
    names: list[str],
    categories: list[Category],
    current: dict[str, int | None] | None = None,
) -> Answer | None:
    """Show the dialog; return the mapping, or None when cancelled."""
    dialog = ClassMappingDialog(model_name, names, categories, current, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.answer()
