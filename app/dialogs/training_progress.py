"""The training dialog's live view: progress bar, status line, loss and AP curves, and the
tabs below them (the log, then the outcome's panels the dialog adds)."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.training_snapshot import Snapshot

LOSS_PARTS = (("loss", "total"), ("loss_ce", "class (CE)"), ("loss_bbox", "L1"), ("loss_giou", "GIoU"))  # fmt: skip
AP_WAITING = "AP on the evaluation images after each epoch (the first after epoch 1)"


def duration(seconds: float | None) -> str:
    """Return seconds as "m:ss" or "h:mm:ss" ("?" when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainingProgressView(QWidget):
    """Shows a run's events as they come (or replayed from the controller's record)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.widgets.loss_plot import LossPlot

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.status_label = QLabel("Ready")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
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
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(plots)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        layout.addWidget(self.splitter, 1)

    def clear(self) -> None:
        """Empty the plots, the log and the progress."""
        self.loss_plot.clear()
        self.ap_plot.clear()
        self.log_view.clear()
        self.progress_bar.setValue(0)

    def show_done(self) -> None:
        self.progress_bar.setValue(self.progress_bar.maximum())

    def title_ap_plot(self, snap: Snapshot | None, ended: bool, evaluated: bool) -> None:
        """Say which images the AP curve is measured on, and why it is empty when it is."""
        if snap is None:
            return
        images = f"{snap.val_images} {'image' if snap.val_images == 1 else 'images'}"
        self.ap_plot.title = (
            f"Validation AP ({images} held out)"
            if snap.held_out
            else f"AP on the {images} trained on (too few to hold some out)"
        )
        self.ap_plot.set_empty_text(
            "No epoch ended, so there is no AP." if ended and not evaluated else AP_WAITING
        )

    def on_progress(self, event: dict[str, Any]) -> None:
        """Show one iteration (or feature-caching) event."""
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

    def on_epoch(self, event: dict[str, Any]) -> None:
        """Add an epoch's AP to the AP curve."""
        metrics = event.get("metrics") or {}
        for key in ("AP", "AP50"):
            value = metrics.get(key)
            if isinstance(value, (int, float)):
                self.ap_plot.add_point(key, float(event.get("epoch", 0)), float(value))
