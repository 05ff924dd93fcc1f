"""The training dialog's settings form: what to start from, the data, and the run's fields.

A view: the defaults come from `app.training_summary` (the CLI's rules for the same model),
the data line and its warnings too; this form only shows them and reads the fields back as
`TrainSettings`.
"""

from __future__ import annotations

import contextlib

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.model_registry import demo_choice, official_choices, project_choices
from app.training_controller import TrainingController
from app.training_snapshot import IMAGE_SIZES, TrainSettings, gpu_likely
from app.training_summary import data_summary, defaults_for
from detr_model.devices import DEVICES
from detr_model.train_defaults import AUTO_ITERATIONS

VAL_CHOICES = (
    ("Automatic (a share of the reviewed images held out)", None),
    ("The training images (none held out)", 0.0),
    ("10 %", 0.1),
    ("20 %", 0.2),
    ("30 %", 0.3),
)


class TrainingSettingsForm(QGroupBox):
    """The fields of the next run; `settings()` reads them."""

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__("Settings", parent)
        self.controller = controller
        self.duplicates: list = []
        form = QFormLayout(self)
        self.base_combo = QComboBox()
        self.base_combo.currentIndexChanged.connect(lambda _index: self._on_base_changed())
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b35900")
        self.review_button = QPushButton("Review the Duplicates")
        self.review_button.setVisible(False)
        self.val_combo = QComboBox()
        for text, value in VAL_CHOICES:
            self.val_combo.addItem(text, value)
        self.val_combo.currentIndexChanged.connect(self.refresh_data)
        d = TrainSettings()
        self.epochs_spin = _spin(0, 2000, d.epochs or 0)
        self.epochs_spin.setSpecialValueText("automatic")
        self.epochs_spin.setToolTip(f"Automatic: about {AUTO_ITERATIONS} iterations")
        self.batch_spin = _spin(1, 256, d.batch_size)
        for spin in (self.epochs_spin, self.batch_spin):  # the automatic epochs change
            spin.valueChanged.connect(lambda _value: self.refresh_data())
        self.size_combo = QComboBox()
        self.size_combo.addItem("As the model was trained", None)
        for name, px in IMAGE_SIZES.items():
            self.size_combo.addItem(f"{name.capitalize()} ({px} px)", px)
        self.size_combo.setCurrentIndex(0)  # as the model was trained; the base sets it
        self._size_chosen = False  # the user picked a size: a new base keeps it
        self.size_combo.activated.connect(self._on_size_chosen)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(0.0, 0.1)
        self.lr_spin.setSingleStep(1e-5)
        self.lr_spin.setSpecialValueText("recipe default")
        self.freeze_check = QCheckBox("Freeze the backbone (faster, less memory)")
        self.fast_check = QCheckBox(
            "Fast mode: compute the frozen backbone's features once and train the rest on them"
        )
        self.fast_check.setToolTip(
            "Many epochs in minutes on a CPU, no random crops, the backbone does not adapt. "
            "On by default for the official COCO models when there is no GPU."
        )
        self.replay_check = QCheckBox("Replay earlier runs' images")
        self.replay_check.setToolTip(
            "Starting from a model this project trained: mix in images of its earlier training "
            "runs, so classes these images have few boxes of are not forgotten"
        )
        self.replay_check.setChecked(d.replay)
        self.replay_check.toggled.connect(lambda _on: self.refresh_data())
        self.official_bases: set[str] = set()  # the official models' files: fast without a GPU
        self._freeze_forced = False  # fast mode ticked "freeze", not the user
        self.fast_check.setChecked(d.fast)
        self.fast_check.toggled.connect(self._on_fast_toggled)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.gpus_spin = _spin(1, 16, 1)
        self.gpus_spin.setToolTip("Processes, one a GPU (torchrun); with the cuda device only")
        self.gpus_spin.setEnabled(False)
        self.device_combo.currentTextChanged.connect(
            lambda device: self.gpus_spin.setEnabled(device == "cuda")
        )
        row = QHBoxLayout()
        for label, widget in (
            ("Epochs", self.epochs_spin),
            ("Batch", self.batch_spin),
            ("Images", self.size_combo),
            ("Device", self.device_combo),
            ("GPUs", self.gpus_spin),
        ):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        form.addRow("Start from", self.base_combo)
        form.addRow("Training data", self.data_label)
        form.addRow("", self.warning_label)
        form.addRow("", self.review_button)
        form.addRow("Validation", self.val_combo)
        form.addRow("", row)
        form.addRow("Learning rate", self.lr_spin)
        checks = QHBoxLayout()
        checks.addWidget(self.freeze_check)
        checks.addWidget(self.replay_check)
        checks.addStretch(1)
        form.addRow("", checks)
        form.addRow("", self.fast_check)
        self._on_fast_toggled(self.fast_check.isChecked())

    def fill_bases(self) -> None:
        """List the models to start from: scratch, the model in use, earlier versions of this
        project, the bundled demo model and the official COCO models already downloaded."""
        self.base_combo.clear()
        path, label = self.controller.default_base()
        self.base_combo.addItem(TrainSettings.base_label, ("", TrainSettings.base_label))
        if path:
            self.base_combo.addItem(f"Model in use: {label}", (path, label))
        others = [*project_choices(self.controller.models_dir()), demo_choice()]
        with contextlib.suppress(ImportError, OSError):  # no model library, unreadable cache
            official = [c for c in official_choices() if c.path]
            others += official
            self.official_bases = {c.path for c in official}
        for choice in others:
            if choice.available and choice.path and choice.path != path:
                text = f"{choice.label} · {choice.details}" if choice.details else choice.label
                self.base_combo.addItem(text, (choice.path, choice.label))
        self.base_combo.setCurrentIndex(1 if path else 0)

    def refresh_data(self) -> None:
        """Show the reviewed images, boxes per class and a warning for rare classes."""
        summary = data_summary(
            self.controller.session.project,
            self.val_combo.currentData(),
            self.epochs_spin.value() or None,
            self.batch_spin.value(),
            self.controller.replay_from(self.settings()),
        )
        self.data_label.setText(summary.text)
        self.duplicates = summary.duplicates
        self.review_button.setVisible(bool(self.duplicates))
        self.warning_label.setText(summary.warning)
        self.warning_label.setVisible(bool(summary.warning))

    def settings(self) -> TrainSettings:
        """Return the settings the fields show."""
        base, label = self.base_combo.currentData() or ("", TrainSettings.base_label)
        lr = self.lr_spin.value()
        return TrainSettings(
            base=base,
            base_label=label,
            epochs=self.epochs_spin.value() or None,
            batch_size=self.batch_spin.value(),
            image_size=self.size_combo.currentData(),
            val_fraction=self.val_combo.currentData(),
            lr=lr if lr > 0 else None,
            freeze_backbone=self.freeze_check.isChecked(),
            fast=self.fast_check.isChecked() and self.fast_check.isEnabled(),
            device=self.device_combo.currentText(),
            processes=self.gpus_spin.value() if self.gpus_spin.isEnabled() else 1,
            replay=self.replay_check.isChecked(),
        )

    def _on_fast_toggled(self, fast: bool) -> None:
        # Fast mode freezes the backbone by definition.
        fast = fast and self.fast_check.isEnabled()
        self.freeze_check.setEnabled(not fast)
        if fast and not self.freeze_check.isChecked():
            self.freeze_check.setChecked(True)
            self._freeze_forced = True
        elif not fast and self._freeze_forced:
            self.freeze_check.setChecked(False)  # give back the user's choice
            self._freeze_forced = False

    def _on_size_chosen(self, _index: int) -> None:
        self._size_chosen = True

    def _on_base_changed(self) -> None:
        base = (self.base_combo.currentData() or ("", ""))[0]
        defaults = defaults_for(base, self.official_bases, gpu=gpu_likely())
        # The CLI's size: the one the model was trained at (read from the checkpoint), the
        # fast size from scratch, where there is no model to ask.
        self.size_combo.model().item(0).setEnabled(not defaults.needs_size)
        as_trained = self.size_combo.currentIndex() == 0
        if not self._size_chosen or (defaults.needs_size and as_trained):
            wanted = defaults.image_size
            self.size_combo.setCurrentIndex(
                0 if wanted is None else self.size_combo.findData(wanted)
            )
        self.fast_check.setEnabled(defaults.fast_allowed)
        self.fast_check.setChecked(defaults.fast)
        self._on_fast_toggled(self.fast_check.isChecked())
        self.refresh_data()  # replay and with it the automatic epochs follow the base


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin
