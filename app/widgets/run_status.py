"""Status-bar widgets for auto-annotate: run progress with Cancel, and the model's device."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from app.run_progress import RunProgress
from app.widgets.elided_label import ElidedLabel


class RunStatus(QWidget):
    """Progress bar, "12/100 · 3.4 img/s · 0:25 left" and a Cancel button; hidden when idle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(140)
        self.bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop auto-annotate; proposals made so far stay")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Auto-annotate:"))
        layout.addWidget(self.bar)
        layout.addWidget(self.label)
        layout.addWidget(self.cancel_button)
        self.setVisible(False)

    def show_progress(self, progress: RunProgress) -> None:
        """Show a RunProgress (hide when the run is over)."""
        self.setVisible(progress.running)
        if progress.loading or not progress.total:
            self.bar.setRange(0, 0)  # busy indicator while the model loads
        else:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(progress.done)
        text = progress.text()
        self.label.setText(text)
        # Never narrower than its text (the fields beside it elide first), and never
        # narrower during a run than it was, so it does not jitter as the numbers change.
        width = self.label.fontMetrics().horizontalAdvance(text) + 4
        floor = self.label.minimumWidth() if progress.running else 0
        self.label.setMinimumWidth(max(width, floor))


class DeviceLabel(ElidedLabel):
    """Shows which model and device auto-annotate uses."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setContentsMargins(0, 0, 12, 0)

    def set_model(self, model: str, device: str, *, gpu_busy: bool = False) -> None:
        """Show "Model: <name> · <device>" (device blank until the model is loaded), and that
        auto-annotate uses the CPU while training holds the GPU."""
        # The short name ("Demo model", not "Demo model (bundled, works offline)"): the status
        # bar's messages need the room; the whole name is in the tooltip.
        text = f"Model: {model.split(' (')[0]}" if model else "No model"
        if gpu_busy:
            text += f" · {device.upper() or 'CPU'} while training uses the GPU"
        elif device:
            text += f" · {device.upper()}"
        self.setText(text)
        self.setToolTip(f"Auto-annotate uses {model}" if model else "No model chosen")
