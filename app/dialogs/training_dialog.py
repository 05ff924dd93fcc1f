"""The training dialog: settings, progress, live loss and AP curves, log, cancel, and at the
end the model in use and the new model side by side (`training_outcome.py`).

A view of the `TrainingController`: closing the dialog only hides it, training goes on, and a
dialog opened later redraws everything from the controller's record of the run.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.training_outcome import TrainingOutcome
from app.dialogs.training_questions import ask_duplicates
from app.label_check import describe_duplicates, find_duplicates
from app.model_registry import demo_choice, official_choices, project_choices
from app.training_controller import TrainingController
from app.training_snapshot import (
    AUTO_ITERATIONS,
    FEW_BOXES,
    IMAGE_SIZES,
    TrainSettings,
    auto_epochs,
    gpu_likely,
    reviewed_class_counts,
    reviewed_count,
    validation_count,
)
from app.workers.training import TrainingResult
from detr_model.devices import DEVICES

LOSS_PARTS = (("loss", "total"), ("loss_ce", "class (CE)"), ("loss_bbox", "L1"), ("loss_giou", "GIoU"))  # fmt: skip
VAL_CHOICES = (
    ("Automatic (a share of the reviewed images held out)", None),
    ("The training images (none held out)", 0.0),
    ("10 %", 0.1),
    ("20 %", 0.2),
    ("30 %", 0.3),
)
AP_WAITING = "AP on the evaluation images after each epoch (the first after epoch 1)"


def duration(seconds: float | None) -> str:
    """Return seconds as "m:ss" or "h:mm:ss" ("?" when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainingDialog(QDialog):
    """Settings and live view of the project's training run."""

    review_requested = Signal(str, list)  # image path, box uids (likely duplicates to look at)

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.failure_box: QMessageBox | None = None
        self.duplicates: list = []
        self._result_text = ""  # "Finished in 1:02. New model: …"
        self.ask_duplicates = lambda text: ask_duplicates(self, text)  # tests answer it
        self.outcome = TrainingOutcome(controller, self)
        self.setWindowTitle("Train Model")
        self.setModal(False)
        self.resize(900, 720)
        layout = QVBoxLayout(self)
        layout.addWidget(self._settings_box())
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.status_label = QLabel("Ready")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        from app.widgets.loss_plot import LossPlot

        self.loss_plot = LossPlot("Training loss", log_y=True, x_label="epoch")
        for _key, name in LOSS_PARTS:
            self.loss_plot.add_series(name)
        self._loss_names = dict(LOSS_PARTS)
        self.ap_plot = LossPlot("Validation AP", x_label="epoch", y_floor=0.0)
        self.ap_plot.set_empty_text(AP_WAITING)
        self.ap_plot.add_series("AP")
        self.ap_plot.add_series("AP50")
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.ap_plot)
        plots.setStretchFactor(0, 3)
        plots.setStretchFactor(1, 2)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.log_view, "Log")
        self.tabs.addTab(self.outcome.panel, "Before / after")
        self.tabs.addTab(self.outcome.versions, "Versions")
        self.outcome.tabs = self.tabs
        self.outcome.status = self.status_label.setText
        lower = QSplitter(Qt.Orientation.Vertical)
        lower.addWidget(plots)
        lower.addWidget(self.tabs)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 1)
        self.outcome.splitter = lower  # the comparison table gets the room it needs
        layout.addWidget(lower, 1)
        layout.addLayout(self._buttons())
        c = controller
        c.state_changed.connect(self._on_state)
        c.started.connect(self._on_started)
        c.progress.connect(self._on_progress)
        c.epoch.connect(self._on_epoch)
        c.log.connect(self.log_view.appendPlainText)
        c.failed.connect(self._on_failed)
        c.model_registered.connect(self._on_registered)
        c.comparison_changed.connect(self._on_comparison)
        if c.auto is not None:  # "Start from" and the versions follow the model in use
            c.auto.model_changed.connect(lambda _choice: self._on_model_in_use())
        self.replay()

    # ----- building ------------------------------------------------------------------------

    def _settings_box(self) -> QGroupBox:
        box = QGroupBox("Settings")
        form = QFormLayout(box)
        self.base_combo = QComboBox()
        self.base_combo.currentIndexChanged.connect(lambda _index: self._on_base_changed())
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b35900")
        self.review_button = QPushButton("Review the Duplicates")
        self.review_button.clicked.connect(self.review_duplicates)
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
        self.size_combo.setCurrentIndex(self.size_combo.findData(d.image_size))
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
        self._fast_by_default: set[str] = set()  # bases that start in fast mode (no GPU)
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
        form.addRow("", self.freeze_check)
        form.addRow("", self.fast_check)
        self._on_fast_toggled(self.fast_check.isChecked())
        self.settings_box = box
        return box

    def _buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel Training")
        o = self.outcome
        self.keep_button, self.use_button = o.keep_button, o.use_button
        self.reannotate_button = o.reannotate_button
        o.start_button, o.cancel_button = self.start_button, self.cancel_button
        self.close_button = QPushButton("Close")
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel)
        self.close_button.clicked.connect(self.close)
        for b in (self.start_button, self.cancel_button, *o.buttons):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.close_button)
        return row

    # ----- settings ------------------------------------------------------------------------

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
            self._fast_by_default = {c.path for c in official}
        for choice in others:
            if choice.available and choice.path and choice.path != path:
                text = f"{choice.label} · {choice.details}" if choice.details else choice.label
                self.base_combo.addItem(text, (choice.path, choice.label))
        self.base_combo.setCurrentIndex(1 if path else 0)

    def refresh_data(self) -> None:
        """Show the reviewed images, boxes per class and a warning for rare classes."""
        project = self.controller.session.project
        if project is None:
            self.data_label.setText("No folder is open")
            self.warning_label.setText("")
            self.duplicates = []
            self.review_button.setVisible(False)
            return
        n = reviewed_count(project)
        counts = reviewed_class_counts(project)
        n_val = validation_count(n, self.val_combo.currentData())
        per_class = ", ".join(f"{name} {k}" for name, k in counts.items()) or "no classes"
        n_train = n - n_val if n else 0
        epochs = ""
        if not self.epochs_spin.value() and n_train:
            epochs = f" · {auto_epochs(n_train, self.batch_spin.value())} epochs"
        split = f"{n_train} train, {n_val} held out for AP"
        if n and not n_val:
            split = f"all train; AP on the same {n}: too few to hold some out"
        self.data_label.setText(f"{n} reviewed images ({split}) · boxes: {per_class}{epochs}")
        few = [name for name, k in counts.items() if 0 < k < FEW_BOXES]
        none = [name for name, k in counts.items() if k == 0]
        warnings = []
        if n == 0:
            warnings.append("Mark images reviewed (Space) to train on them.")
        if few:
            warnings.append(f"Few boxes (< {FEW_BOXES}) for {', '.join(few)}: expect weak results.")
        if none and n:
            warnings.append(f"No boxes for {', '.join(none)}: the model will not learn them.")
        self.duplicates = find_duplicates(project)
        warnings.append(describe_duplicates(self.duplicates))
        self.review_button.setVisible(bool(self.duplicates))
        warning = " ".join(w for w in warnings if w)
        self.warning_label.setText(warning)
        self.warning_label.setVisible(bool(warning))

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

    def _on_base_changed(self) -> None:
        # Fast mode needs a trained backbone: a random one, frozen, learns nothing.
        base = (self.base_combo.currentData() or ("", ""))[0]
        # "As the model was trained" (the CLI reads the size from the checkpoint) needs a model;
        # the default stays the fast size: fine-tuning the demo model at its own 160 px was not
        # better than at 128 px (docs/convergence.md).
        self.size_combo.model().item(0).setEnabled(bool(base))
        if not base and self.size_combo.currentIndex() == 0:
            self.size_combo.setCurrentIndex(1)
        self.fast_check.setEnabled(bool(base))
        # Measured (docs/convergence.md): on the small demo-like models full fine-tuning learns
        # a new class faster even on a CPU; fast mode pays off where the backbone is most of
        # the work, the official ResNet-50/101 models, and only without a GPU.
        self.fast_check.setChecked(base in self._fast_by_default and not gpu_likely())
        self._on_fast_toggled(self.fast_check.isChecked())

    def start(self) -> bool:
        """Start training with the shown settings; True if it started. Likely duplicate
        boxes on the reviewed images are offered for review first."""
        self.refresh_data()
        if self.duplicates:
            answer = self.ask_duplicates(describe_duplicates(self.duplicates))
            if answer == "review":
                self.review_duplicates()
            if answer != "train":
                return False
        self.clear_view()
        return self.controller.start(self.settings())

    def review_duplicates(self) -> None:
        """Show the first image with likely duplicate boxes, the pair selected."""
        if self.duplicates:
            pair = self.duplicates[0]
            self.review_requested.emit(pair.path, [pair.first, pair.second])

    def _cancel(self) -> None:
        if self.controller.is_comparing():
            self.controller.stop_comparing()
        else:
            self.controller.cancel()

    def _on_model_in_use(self) -> None:
        if not self.controller.is_running():
            self.fill_bases()
        self.outcome.refresh()

    def showEvent(self, event) -> None:
        if not self.controller.is_running():
            self.fill_bases()
            self.refresh_data()
        self.outcome.refresh()
        super().showEvent(event)

    # ----- live view -----------------------------------------------------------------------

    def clear_view(self) -> None:
        """Empty the plots, the log and the progress."""
        self.loss_plot.clear()
        self.ap_plot.clear()
        self.log_view.clear()
        self.progress_bar.setValue(0)

    def replay(self) -> None:
        """Redraw the controller's run so far (a dialog opened during or after training)."""
        c = self.controller
        self.clear_view()
        for line in c.log_lines:
            self.log_view.appendPlainText(line)
        for event in c.iterations:
            self._on_progress(event)
        for event in c.epochs:
            self._on_epoch(event)
        self._on_state(c.state)
        self._on_comparison()

    def _on_state(self, state: str) -> None:
        running = state == "running"
        self.settings_box.setEnabled(not running)
        self.outcome.update_buttons()
        self._title_ap_plot()
        if state == "running" and not self.controller.iterations:
            self.status_label.setText("Starting the training process…")
        elif state == "finished":
            self.progress_bar.setValue(self.progress_bar.maximum())
            self._show_result("Finished")
        elif state == "cancelled":
            self._show_result("Cancelled")
        elif state == "failed":
            first = (self.controller.error or "failed").splitlines()[0]
            self.status_label.setText(f"Training failed: {first}. The model in use is unchanged.")

    def _show_result(self, verb: str) -> None:
        model = self.controller.new_model
        result: TrainingResult | None = self.controller.result
        took = f" in {duration(result.time_s)}" if result is not None and result.time_s else ""
        if model is None:
            self.status_label.setText(f"{verb}{took}: no model was saved")
            return
        metrics = f" ({model.details})" if model.details else ""
        self._result_text = f"{verb}{took}. New model: {model.label}{metrics}."
        self.status_label.setText(self._result_text)

    def _title_ap_plot(self) -> None:
        """Say which images the AP curve is measured on, and why it is empty when it is."""
        snap, c = self.controller.snapshot, self.controller
        if snap is None:
            return
        images = f"{snap.val_images} {'image' if snap.val_images == 1 else 'images'}"
        self.ap_plot.title = (
            f"Validation AP ({images} held out)"
            if snap.held_out
            else f"AP on the {images} trained on (too few to hold some out)"
        )
        ended = c.state in ("finished", "cancelled", "failed")
        evaluated = any((e.get("metrics") or {}).get("AP") is not None for e in c.epochs)
        self.ap_plot.set_empty_text(
            "No epoch ended, so there is no AP." if ended and not evaluated else AP_WAITING
        )

    def _on_comparison(self) -> None:
        self.outcome.refresh()
        c = self.controller
        if c.comparison is not None and not c.is_comparing() and c.state != "running":
            self.status_label.setText(f"{self._result_text} {c.comparison.reason}".strip())

    def _on_started(self, event: dict[str, Any]) -> None:
        snap = self.controller.snapshot
        ap_on = f"{event.get('val_images', 0)} held out for AP"
        if snap is not None and not snap.held_out:
            ap_on = "AP on the same images"
        self.status_label.setText(f"Training on {event.get('images', '?')} images ({ap_on})…")

    def _on_progress(self, event: dict[str, Any]) -> None:
        if event.get("event") == "cache":
            self.status_label.setText(
                f"Fast mode: computing the backbone features of image "
                f"{event.get('done')}/{event.get('total')}…"
            )
            return
        epoch, epochs = int(event.get("epoch", 1)), max(int(event.get("epochs", 1)), 1)
        i, n = int(event.get("iteration", 0)), max(int(event.get("iterations", 1)), 1)
        x = epoch - 1 + i / n
        self.progress_bar.setValue(int(self.progress_bar.maximum() * min(x / epochs, 1.0)))
        losses = {"loss": event.get("loss"), **(event.get("losses") or {})}
        for key, name in self._loss_names.items():
            value = losses.get(key)
            if isinstance(value, (int, float)):
                self.loss_plot.add_point(name, x, float(value))
        loss = event.get("loss")
        loss_text = f" · loss {loss:.4f}" if isinstance(loss, (int, float)) else ""
        self.status_label.setText(
            f"Epoch {epoch}/{epochs} · iteration {i}/{n}{loss_text} · "
            f"{duration(event.get('eta_s'))} left"
        )

    def _on_epoch(self, event: dict[str, Any]) -> None:
        metrics = event.get("metrics") or {}
        for key in ("AP", "AP50"):
            value = metrics.get(key)
            if isinstance(value, (int, float)):
                self.ap_plot.add_point(key, float(event.get("epoch", 0)), float(value))

    def _on_failed(self, message: str) -> None:
        """Show why the run failed, with the last lines of its log, even if the dialog was closed."""
        self._on_state("failed")
        self.log_view.appendPlainText(f"Training failed: {message.splitlines()[0]}")
        self.show()
        box = QMessageBox(QMessageBox.Icon.Warning, "Training failed", message, parent=self)
        box.setInformativeText("The model in use is unchanged.")
        box.setModal(False)
        box.show()
        self.failure_box = box

    def _on_registered(self, _choice: object) -> None:
        self._on_state(self.controller.state)


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


def show_training_dialog(window: Any) -> TrainingDialog:
    """Show the window's training dialog (made once, then reused); return it."""
    dialog = getattr(window, "training_dialog", None)
    if dialog is None:
        dialog = TrainingDialog(window.training, window)
        dialog.review_requested.connect(window.canvas.review_boxes)
        window.training_dialog = dialog
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
