"""Download an official model with a progress dialog and Cancel; offline fails fast and clearly."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from app.model_registry import ModelChoice

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 10.0  # per network read: an offline machine fails within this


class _Bridge(QObject):
    progress = Signal(object, object)  # bytes done, total or None
    done = Signal(str, str)  # path, error message ("" when fine)


class DownloadDialog(QProgressDialog):
    """Runs detr_model's download on a plain thread and shows its progress."""

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
        self._cancel = threading.Event()
        self._bridge = _Bridge()
        self._bridge.progress.connect(self._on_progress)
        self._bridge.done.connect(self._on_done)
        self.canceled.connect(self._cancel.set)
        self._thread = threading.Thread(target=self._download, name="model-download", daemon=True)

    def run(self) -> str:
        """Download (showing the dialog); return the file path, "" on failure or cancel."""
        self._thread.start()
        self.exec()
        self._cancel.set()
        self._thread.join(DOWNLOAD_TIMEOUT_S + 5)
        return self.path

    def _download(self) -> None:
        try:
            from detr_model.download import download_official

            path = download_official(
                self.choice.official_name,
                progress=lambda done, total: self._bridge.progress.emit(done, total),
                cancel=self._cancel.is_set,
                timeout=DOWNLOAD_TIMEOUT_S,
            )
        except Exception as exc:  # shown to the user, never a dead thread
            log.warning("download of %s failed: %s", self.choice.official_name, exc)
            self._bridge.done.emit("", str(exc) or type(exc).__name__)
            return
        self._bridge.done.emit(str(path), "")

    def _on_progress(self, done: int, total: int | None) -> None:
        if total:
            self.setRange(0, 1000)
            self.setValue(int(1000 * done / total))
            self.setLabelText(
                f"Downloading {self.choice.label}…\n{done / 1e6:.0f} of {total / 1e6:.0f} MB"
            )
        else:
            self.setLabelText(f"Downloading {self.choice.label}…\n{done / 1e6:.0f} MB")

    def _on_done(self, path: str, error: str) -> None:
        self.path, self.error = path, error
        self.done(0)


def download_choice(parent: QWidget | None, choice: ModelChoice) -> ModelChoice | None:
    """Download an official model; return the choice with its file, None (with a message) if not."""
    dialog = DownloadDialog(choice, parent)
    path = dialog.run()
    if path:
        return replace(choice, path=path, details=choice.details.replace("download", "downloaded"))
    if dialog.error and "cancelled" not in dialog.error:
        QMessageBox.warning(
            parent,
            "Download failed",
            f"Could not download {choice.label}.\n\n{dialog.error}\n\n"
            "Check the internet connection, or choose the demo model or a checkpoint file.",
        )
    return None
