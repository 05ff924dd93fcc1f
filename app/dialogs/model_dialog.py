"""The model picker: demo, official COCO models, fine-tuned in this project, checkpoint files."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.model_registry import DEVICES, ModelChoice, all_choices, file_choice

log = logging.getLogger(__name__)

GROUPS = {
    "demo": "Bundled",
    "official": "Official COCO models (downloaded on first use)",
    "project": "Fine-tuned in this project",
    "file": "Checkpoint files",
}
DEVICE_NAMES = {
    "auto": "Automatic (CUDA, then MPS, then CPU)",
    "cuda": "CUDA GPU",
    "mps": "Apple GPU (MPS)",
    "cpu": "CPU",
}
ChoiceRole = Qt.ItemDataRole.UserRole + 1


class ModelDialog(QDialog):
    """Lists the models by group; "Open checkpoint file…" adds a file; a device can be forced."""

    def __init__(
        self,
        choices: list[ModelChoice],
        current_key: str = "",
        device: str = "auto",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a model")
        self.list = QListWidget()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.device_box = QComboBox()
        for name in DEVICES:
            self.device_box.addItem(DEVICE_NAMES[name], name)
        self.device_box.setCurrentIndex(max(0, DEVICES.index(device) if device in DEVICES else 0))
        open_file = QPushButton("Open checkpoint file…")
        open_file.clicked.connect(self.open_file)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Device:", self.device_box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.details)
        layout.addWidget(open_file, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.set_choices(choices, current_key)
        self.resize(560, 480)

    def set_choices(self, choices: list[ModelChoice], current_key: str = "") -> None:
        """Fill the list, grouped, and select `current_key` (else the first usable model)."""
        self.list.clear()
        select: QListWidgetItem | None = None
        for kind, title in GROUPS.items():
            group = [c for c in choices if c.kind == kind]
            if not group:
                continue
            header = QListWidgetItem(title)
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            self.list.addItem(header)
            for choice in group:
                text = f"    {choice.label}"
                if choice.details and choice.available:
                    text += f"  —  {choice.details}"
                item = QListWidgetItem(text)
                item.setData(ChoiceRole, choice)
                if not choice.available:
                    item.setFlags(Qt.ItemFlag.NoItemFlags)
                    item.setToolTip(f"Put a checkpoint at {choice.details} to bundle one")
                self.list.addItem(item)
                if choice.available and (select is None or choice.key == current_key):
                    select = item
        if select is not None:
            self.list.setCurrentItem(select)
        self._on_current(self.list.currentItem(), None)

    def chosen(self) -> ModelChoice | None:
        """Return the selected model (None when nothing usable is selected)."""
        item = self.list.currentItem()
        choice = item.data(ChoiceRole) if item is not None else None
        return choice if isinstance(choice, ModelChoice) and choice.available else None

    def device(self) -> str:
        """Return the chosen device setting."""
        return str(self.device_box.currentData())

    def open_file(self) -> None:
        """Ask for a checkpoint file and add it to the list, selected."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a DETR checkpoint", "", "PyTorch checkpoints (*.pth *.pt);;All files (*)"
        )
        if path:
            self.add_file(path)

    def add_file(self, path: str | Path) -> ModelChoice:
        """Add a checkpoint file to the list and select it; return its choice."""
        choice = file_choice(path)
        choices = [
            self.list.item(i).data(ChoiceRole)
            for i in range(self.list.count())
            if isinstance(self.list.item(i).data(ChoiceRole), ModelChoice)
        ]
        choices = [c for c in choices if c.key != choice.key] + [choice]
        self.set_choices(choices, choice.key)
        return choice

    def _on_current(self, item: QListWidgetItem | None, _previous) -> None:
        choice = item.data(ChoiceRole) if item is not None else None
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(isinstance(choice, ModelChoice) and choice.available)
        if isinstance(choice, ModelChoice):
            where = choice.path or "not downloaded yet"
            self.details.setText(f"{choice.label}\n{choice.details}\n{where}".strip())
        else:
            self.details.setText("")


def pick_model(
    parent: QWidget | None,
    models_dir: Path | None,
    recent: list[str],
    current_key: str,
    device: str,
) -> tuple[ModelChoice, str] | None:
    """Show the picker; return (model, device setting), or None when cancelled."""
    dialog = ModelDialog(all_choices(models_dir, recent), current_key, device, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted or dialog.chosen() is None:
        return None
    return dialog.chosen(), dialog.device()
