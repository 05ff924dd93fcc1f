"""The download worker: fetches an official model's weights off the GUI thread.

`DownloadWorker` speaks the worker vocabulary of DESIGN.md (`progress`, `result`, `failed`,
`finished`). Like the comparison worker it stays a QObject of the GUI thread while its `run`
executes on a Python thread of its own, so its signals reach the GUI thread queued. Cancel is
a threading.Event that detr_model.download checks between chunks; a network read waits at most
`timeout_s`, so an offline machine fails fast and `stop` returns soon after a cancel.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 10.0  # per network read: an offline machine fails within this


class DownloadWorker(QObject):
    """Downloads one official model (detr_model.download) on a thread of its own."""

    progress = Signal(object, object, str)  # bytes done, total bytes (None: unknown), message
    result = Signal(str)  # the local file
    failed = Signal(str)  # why it could not be downloaded (not sent when cancelled)
    finished = Signal(bool)  # cancelled; always the last signal

    def __init__(self, official_name: str, *, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> None:
        super().__init__()
        self.official_name = official_name
        self.timeout_s = timeout_s
        self.cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start downloading in the background (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="model-download", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float | None = None) -> bool:
        """Cancel and wait for the thread; True when it ended in time."""
        self.cancel.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(self.timeout_s + 5 if timeout_s is None else timeout_s)
        if thread.is_alive():
            log.error("the download of %s did not stop in time", self.official_name)
            return False
        return True

    def run(self) -> None:
        """Download (called on the worker thread); the outcome comes as signals."""
        try:
            # Imported here: the detr_model package loads torch, which the window does not need
            # at start (and tests replace this function).
            from detr_model.download import download_official

            path = download_official(
                self.official_name,
                progress=lambda done, total: self.progress.emit(done, total, ""),
                cancel=self.cancel.is_set,
                timeout=self.timeout_s,
            )
        except Exception as exc:  # shown to the user, never a dead thread
            if self.cancel.is_set():
                self.finished.emit(True)
                return
            log.warning("download of %s failed: %s", self.official_name, exc)
            self.failed.emit(str(exc) or type(exc).__name__)
            self.finished.emit(False)
            return
        self.result.emit(str(path))
        self.finished.emit(False)
