"""The export options dialog: format, destination, only reviewed, split ratios and seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.annotations.formats import FORMATS, ExportOptions, SplitSpec, get_format, suggested_target


@dataclass(frozen=True)
class ExportRequest:
    """What the user asked for: the format, where, and how."""

    format_id: str
    target: Path
    options: ExportOptions


def _percent_spin(value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, 100)
    spin.setSuffix(" %")
    spin.setValue(value)
    return spin


class ExportDialog(QDialog):
    """Collects an ExportRequest; the export itself runs in the session."""

    def __init__(self, project_root: Path, format_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Dataset")
        self.setMinimumWidth(600)  # room for a full destination path
        self.project_root = project_root
        self._edited_target = False

        self.format_combo = QComboBox()
        for fmt in FORMATS:
            self.format_combo.addItem(fmt.name, fmt.id)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.target_edit = QLineEdit()
        self.target_edit.textEdited.connect(self._target_edited)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        target_row = QHBoxLayout()
        target_row.addWidget(self.target_edit, 1)
        target_row.addWidget(browse)

        self.only_reviewed = QCheckBox("Only images marked reviewed")
        self.split_check = QCheckBox("Split by image into train / val / test")
        self.train_spin, self.val_spin, self.test_spin = (
            _percent_spin(80),
            _percent_spin(20),
            _percent_spin(0),
        )
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        ratios = QHBoxLayout()
        for label, spin in (
            ("train", self.train_spin),
            ("val", self.val_spin),
            ("test", self.test_spin),
        ):
            ratios.addWidget(QLabel(label))
            ratios.addWidget(spin)
        ratios.addWidget(QLabel("seed"))
        ratios.addWidget(self.seed_spin)
        self.split_note = QLabel(
            "Stratified: every class goes into each split that has room for it."
        )
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #b00020")

        form = QFormLayout()
        form.addRow("Format", self.format_combo)
        form.addRow("", self.description)
        form.addRow("Save to", target_row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.only_reviewed)
        layout.addWidget(self.split_check)
        layout.addLayout(ratios)
        layout.addWidget(self.split_note)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.split_check.toggled.connect(self._update)
        for spin in (self.train_spin, self.val_spin, self.test_spin):
            spin.valueChanged.connect(self._update)
        self.target_edit.textChanged.connect(self._update)
        self.format_combo.setCurrentIndex(self.format_combo.findData(format_id))
        self._format_changed()

    @property
    def format_id(self) -> str:
        return str(self.format_combo.currentData())

    def _target_edited(self) -> None:
        self._edited_target = True

    def _format_changed(self) -> None:
        fmt = get_format(self.format_id)
        self.description.setText(fmt.description)
        if not self._edited_target:
            self.target_edit.setText(str(suggested_target(self.project_root, fmt.id)))
        self._update()

    def _browse(self) -> None:
        fmt = get_format(self.format_id)
        start = self.target_edit.text() or str(self.project_root)
        if fmt.folder:
            path = QFileDialog.getExistingDirectory(self, f"Export {fmt.name} to folder", start)
        else:
            path, _ = QFileDialog.getSaveFileName(
                self, f"Export {fmt.name}", start, "JSON (*.json)"
            )
        if path:
            self._edited_target = True
            self.target_edit.setText(path)

    def _update(self) -> None:
        for widget in (self.train_spin, self.val_spin, self.test_spin, self.seed_spin):
            widget.setEnabled(self.split_check.isChecked())
        self.split_note.setEnabled(self.split_check.isChecked())
        problem = ""
        try:
            self.request()
        except ValueError as exc:
            problem = str(exc)
        self.problem.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)

    def request(self) -> ExportRequest:
        """Return what the fields say (ValueError with a readable reason when they cannot)."""
        text = self.target_edit.text().strip()
        if not text:
            raise ValueError("Choose where to save the export.")
        split = None
        if self.split_check.isChecked():
            split = SplitSpec(
                self.train_spin.value(),
                self.val_spin.value(),
                self.test_spin.value(),
                seed=self.seed_spin.value(),
            )
        options = ExportOptions(only_reviewed=self.only_reviewed.isChecked(), split=split)
        return ExportRequest(self.format_id, Path(text), options)
