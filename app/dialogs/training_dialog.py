"""The training dialog: settings, progress, live loss and AP curves, log, cancel, and at the
end the model in use and the new model side by side (`training_outcome.py`).

A view of the `TrainingController`: closing the dialog only hides it, training goes on, and a
dialog opened later redraws everything from the controller's record of the run. The settings
form is `training_settings.py`, the live view `training_progress.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.training_outcome import TrainingOutcome
from app.dialogs.training_progress import TrainingProgressView, duration
from app.dialogs.training_questions import ask_duplicates
from app.dialogs.training_settings import TrainingSettingsForm
from app.label_check import describe_duplicates
from app.training_controller import TrainingController
from app.training_snapshot import TrainSettings
from app.workers.training import TrainingResult


class TrainingDialog(QDialog):
    """Settings and live view of the project's training run."""

    review_requested = Signal(str, list)  # image path, box uids (likely duplicates to look at)

    def __init__(self, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.failure_box: QMessageBox | None = None
        self._result_text = ""  # "Finished in 1:02. New model: …"
        self.ask_duplicates = lambda text: ask_duplicates(self, text)  # tests answer it
        self.outcome = TrainingOutcome(controller, self)
        self.setWindowTitle("Train Model")
        self.setModal(False)
        self.resize(900, 720)
        layout = QVBoxLayout(self)
        self.form = f = TrainingSettingsForm(controller)
        f.review_button.clicked.connect(self.review_duplicates)
        self.settings_box = f
        # The dialog's fields by their names (tests and the outcome reach them).
        self.base_combo, self.data_label = f.base_combo, f.data_label
        self.warning_label, self.epochs_spin = f.warning_label, f.epochs_spin
        self.batch_spin, self.size_combo = f.batch_spin, f.size_combo
        self.fast_check, self.freeze_check = f.fast_check, f.freeze_check
        layout.addWidget(f)
        self.view = v = TrainingProgressView()
        self.progress_bar, self.status_label = v.progress_bar, v.status_label
        self.log_view, self.tabs = v.log_view, v.tabs
        self.loss_plot, self.ap_plot = v.loss_plot, v.ap_plot
        self.tabs.addTab(self.outcome.panel, "Before / after")
        self.tabs.addTab(self.outcome.versions, "Versions")
        self.outcome.tabs = self.tabs
        self.outcome.status = self.status_label.setText
        self.outcome.splitter = v.splitter  # the comparison table gets the room it needs
        layout.addWidget(v, 1)
        layout.addLayout(self._buttons())
        c = controller
        c.state_changed.connect(self._on_state)
        c.started.connect(self._on_started)
        c.progress.connect(self._on_progress)
        c.epoch.connect(v.on_epoch)
        c.log.connect(self.log_view.appendPlainText)
        c.failed.connect(self._on_failed)
        c.model_registered.connect(self._on_registered)
        c.comparison_changed.connect(self._on_comparison)
        if c.auto is not None:  # "Start from" and the versions follow the model in use
            c.auto.model_changed.connect(lambda _choice: self._on_model_in_use())
        self.replay()

    @property
    def duplicates(self) -> list:
        """The likely duplicate boxes on the reviewed images (label_check), found last."""
        return self.form.duplicates

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
        """List the models to start from (the settings form's "Start from")."""
        self.form.fill_bases()

    def refresh_data(self) -> None:
        """Show the reviewed images, boxes per class and the warnings."""
        self.form.refresh_data()

    def settings(self) -> TrainSettings:
        """Return the settings the fields show."""
        return self.form.settings()

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
        self.view.clear()

    def replay(self) -> None:
        """Redraw the controller's run so far (a dialog opened during or after training)."""
        c = self.controller
        self.clear_view()
        for line in c.log_lines:
            self.log_view.appendPlainText(line)
        for event in c.iterations:
            self._on_progress(event)
        for event in c.epochs:
            self.view.on_epoch(event)
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
            self.view.show_done()
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
        c = self.controller
        ended = c.state in ("finished", "cancelled", "failed")
        evaluated = any((e.get("metrics") or {}).get("AP") is not None for e in c.epochs)
        self.view.title_ap_plot(c.snapshot, ended, evaluated)

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
        self.view.on_progress(event)

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


def show_training_dialog(
    dialog: TrainingDialog | None,
    controller: TrainingController,
    review: Callable[[str, list], Any],
    parent: QWidget,
) -> TrainingDialog:
    """Show `dialog`, made first (for `controller`, duplicates reviewed by `review`) when
    None; return it, to be reused next time."""
    if dialog is None:
        dialog = TrainingDialog(controller, parent)
        dialog.review_requested.connect(review)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
