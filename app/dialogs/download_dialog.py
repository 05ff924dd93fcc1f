"""Download an official model with a progress dialog and Cancel; offline fails fast and clearly.

The download runs in app.workers.download (the worker vocabulary of DESIGN.md); this dialog
only shows its progress and outcome.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from app.model_registry import ModelChoice
from app.workers.download import DownloadWorker


class DownloadDialog(QProgressDialog):
    """Shows a DownloadWorker's progress; Cancel stops it."""

    def __init__(self, choice: ModelChoice, parent: QWidget | None = None) -> None:
        super().__init__(f"Downloading {choice.label}…", "Cancel", 0, 0, parent)
        self.setWindowTitle("Downloading a model")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.choice = choice
        self.path = ""
        self.error = ""
        self.worker = DownloadWorker(choice.official_name)
        self.worker.progress.connect(self._on_progress)
        self.worker.result.connect(self._on_result)
        self.worker.failed.connect(self._on_failed)
        self.worker.finished.connect(lambda _cancelled: self.done(0))
        self.canceled.connect(self.worker.cancel.set)

    def run(self) -> str:
        """Download (showing the dialog); return the file path, "" on failure or cancel."""
        self.worker.start()
        self.exec()
        self.worker.stop()
        return self.path

    def _on_progress(self, done: int, total: int | None, _message: str) -> None:
        if total:
            self.setRange(0, 1000)
            self.setValue(int(1000 * done / total))
            self.setLabelText(
                f"Downloading {self.choice.label}…\n{done / 1e6:.0f} of {total / 1e6:.0f} MB"
            )
        else:
            self.setLabelText(f"Downloading {self.choice.label}…\n{done / 1e6:.0f} MB")

    def _on_result(self, path: str) -> None:
        self.path = path

    def _on_failed(self, message: str) -> None:
        self.error = message


def download_choice(parent: QWidget | None, choice: ModelChoice) -> ModelChoice | None:
    """Download an official model; return the choice with its file, None (with a message) if not."""
    dialog = DownloadDialog(choice, parent)
    path = dialog.run()
    if path:
        return replace(choice, path=path, details=choice.details.replace("download", "downloaded"))
    if dialog.error:  # a cancel is no failure: nothing to say
        QMessageBox.warning(
            parent,
            "Download failed",
            f"Could not download {choice.label}.\n\n{dialog.error}\n\n"
            "Check the internet connection, or choose the demo model or a checkpoint file.",
        )
    return None
