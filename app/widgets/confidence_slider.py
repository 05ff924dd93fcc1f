"""The confidence slider: shows proposals at or above a score, instantly, without a re-run."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

DEFAULT_THRESHOLD = 0.5


class ConfidenceSlider(QWidget):
    """A 0.00–1.00 slider with its value; emits `threshold_changed(float)` as it moves."""

    threshold_changed = Signal(float)

    def __init__(self, value: float = DEFAULT_THRESHOLD, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(10)
        self.slider.setMinimumWidth(80)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas
        self.slider.setToolTip("Show proposals with at least this confidence (no re-run)")
        self.value_label = QLabel()
        self.value_label.setMinimumWidth(34)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(QLabel("Confidence ≥"))
        layout.addWidget(self.slider)
        layout.addWidget(self.value_label)
        self.slider.valueChanged.connect(self._on_value)
        self.set_threshold(value)
        self._on_value(self.slider.value())

    def threshold(self) -> float:
        """Return the threshold in [0, 1]."""
        return self.slider.value() / 100

    def set_threshold(self, value: float) -> None:
        """Move the slider (emits threshold_changed when the value changes)."""
        self.slider.setValue(int(round(min(max(value, 0.0), 1.0) * 100)))

    def _on_value(self, value: int) -> None:
        self.value_label.setText(f"{value / 100:.2f}")
        self.threshold_changed.emit(value / 100)
