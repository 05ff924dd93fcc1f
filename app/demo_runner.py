"""Help → Open Demo Project: draws the demo images off the GUI thread, then opens the folder."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from app.demo_project import (
    DEMO_IMAGES,
    count_drawn,
    create_demo_project,
    default_demo_folder,
    is_complete,
    partial_folder,
)

log = logging.getLogger(__name__)

POLL_MS = 100


class DemoProjectRunner(QObject):
    """Makes the demo folder on a Python thread (first time only) and opens it when ready.

    The generator reports no progress, so the dialog counts the images in the side folder
    they are drawn in. Drawing 60 images takes about half a second; importing the generator
    (it imports torch) takes a few seconds the first time, hence the thread.
    """

    started = Signal()
    progress = Signal(int, int, str)  # images drawn, images wanted, message
    result = Signal(str)  # the demo folder, opened
    failed = Signal(str)  # a message naming the folder and the problem
    finished = Signal()
    _done = Signal(str, str)  # from the thread: folder, error ("" when fine)

    def __init__(
        self,
        open_folder: Callable[[Path], object],
        parent: QWidget,
        *,
        folder: Path | None = None,
        count: int = DEMO_IMAGES,
    ) -> None:
        super().__init__(parent)
        self.open_folder = open_folder
        self.folder = folder  # None: the per-user data folder (looked up at each run)
        self.count = count
        self.dialog: QProgressDialog | None = None
        self.error_box: QMessageBox | None = None
        self._widget = parent
        self._thread: threading.Thread | None = None
        self._target: Path | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)

    def target_folder(self) -> Path:
        """Return the folder the demo is (or will be) in."""
        return self.folder if self.folder is not None else default_demo_folder()

    def is_running(self) -> bool:
        """Return True while demo images are being drawn."""
        return self._thread is not None

    def open_demo(self) -> bool:
        """Open the demo project, drawing its images first if needed; False if already busy."""
        if self.is_running():
            return False
        folder = self.target_folder()
        if is_complete(folder):
            self._open(folder)
            self.finished.emit()
            return True
        self._target = folder
        self.started.emit()
        self._show_dialog()
        self._thread = threading.Thread(
            target=self._work, args=(folder, self.count), name="demo-project", daemon=True
        )
        self._thread.start()
        self._timer.start()
        return True

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Wait for a drawing thread to end (its result is dropped); True if none is left."""
        thread = self._thread
        self._timer.stop()
        if thread is None:
            return True
        thread.join(timeout_s)
        if thread.is_alive():
            log.error("the demo project thread did not stop within %.0f s", timeout_s)
            return False
        self._thread = None
        self._close_dialog()
        return True

    # ----- on the thread -------------------------------------------------------------------

    def _work(self, folder: Path, count: int) -> None:
        try:
            create_demo_project(folder, count=count)
        except Exception as exc:  # any failure becomes a message, never a dead thread
            log.exception("demo project in %s failed", folder)
            self._done.emit(str(folder), f"{folder}: cannot create the demo images ({exc})")
        else:
            self._done.emit(str(folder), "")

    # ----- back on the GUI thread ----------------------------------------------------------

    def _show_dialog(self) -> None:
        # A busy bar until the first image lands (importing the generator), then a count.
        dialog = QProgressDialog("Preparing the image generator…", "", 0, 0, self._widget)
        dialog.setWindowTitle("Demo project")
        dialog.setCancelButton(None)  # a few seconds; the images land in a side folder anyway
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setValue(0)
        dialog.show()
        self.dialog = dialog

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    @Slot()
    def _poll(self) -> None:
        if self._target is None:
            return
        drawn = min(count_drawn(partial_folder(self._target)), self.count)
        text = (
            f"Drawing demo images… {drawn} / {self.count}"
            if drawn
            else "Preparing the image generator…"
        )
        self.progress.emit(drawn, self.count, text)
        if self.dialog is not None and drawn:
            self.dialog.setLabelText(text)
            self.dialog.setMaximum(self.count)
            self.dialog.setValue(drawn)

    @Slot(str, str)
    def _on_done(self, folder: str, error: str) -> None:
        if self._thread is None:
            return  # shut down meanwhile
        self._timer.stop()
        self._thread.join()
        self._thread = None
        self._target = None
        self._close_dialog()
        if error:
            self.failed.emit(error)
            box = QMessageBox(QMessageBox.Icon.Warning, "Demo project", error, parent=self._widget)
            box.open()
            self.error_box = box
        else:
            self._open(Path(folder))
        self.finished.emit()

    def _open(self, folder: Path) -> None:
        self.open_folder(folder)
        self.result.emit(str(folder))
