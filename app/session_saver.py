"""The session's link to its project database: hand changes over, watch them reach the disk.

User edits are handed to the document at once; changes outside the undo history (model results,
sizes learned by the decoder, settings) once per event-loop pass, so the results of one
auto-annotate batch become one transaction. A timer asks the store whether everything is on
disk; when writes fail it moves the project to the per-user folder, and when that fails too it
emits `save_failed` once so the window can offer Save As. Qt-free decisions live in
app.annotations.document; this file only schedules and reports.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from app.annotations.document import SaveError
from app.annotations.store_writer import StillWriting
from app.annotations.undo import Changed

if TYPE_CHECKING:
    from app.session import Session

log = logging.getLogger(__name__)

POLL_MS = 25  # how often the store is asked whether the last changes are on disk
FAILED_POLL_MS = 500
RESCUE_AFTER_FAILURES = 2  # failed attempts in a row before the project moves


class SessionSaver(QObject):
    """Schedules hand-overs to the open document and reports what the store says."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        self._deferred: Changed | None = None  # waiting for the next hand-over
        self._batch_depth = 0
        self._was_dirty = False
        self._reported: str | None = None  # the last failure told to the user
        self._hand_over = QTimer(self)
        self._hand_over.setSingleShot(True)
        self._hand_over.setInterval(0)
        self._hand_over.timeout.connect(self._hand_over_deferred)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.check)

    def reset(self) -> None:
        """Forget what was pending for the previous project (it was closed or discarded)."""
        self._hand_over.stop()
        self._poll.stop()
        self._poll.setInterval(POLL_MS)
        self._deferred = None
        self._reported = None
        if self._was_dirty:  # the title forgets the previous project's trouble
            self._was_dirty = False
            self.session.dirty_changed.emit(False)

    # ----- handing changes over ------------------------------------------------------------

    def record(self, changed: Changed) -> None:
        """Hand a change to the store now (after any deferred ones, to keep their order)."""
        self._deferred = changed if self._deferred is None else self._deferred | changed
        if not self._batch_depth:
            self.record_deferred()

    def defer(self, changed: Changed) -> None:
        """Hand a change over on the next event-loop pass, with the others made meanwhile."""
        self._deferred = changed if self._deferred is None else self._deferred | changed
        if not self._batch_depth and not self._hand_over.isActive():
            self._hand_over.start()

    def record_deferred(self) -> None:
        """Hand over what is waiting now."""
        self._hand_over.stop()
        changed, self._deferred = self._deferred, None
        document = self.session.document
        if changed is not None and document is not None and document.record(changed):
            self.watch()

    def _hand_over_deferred(self) -> None:
        self.record_deferred()
        # The store keeps the counts the panels show: they changed only now for these.
        self.session.counts_changed.emit()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold hand-overs while inside; everything changed is then one transaction."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if not self._batch_depth:
                self.record_deferred()

    def record_model_version(self, key: str, path: str, created_at: str, info: dict) -> None:
        """Hand a model version (file, metrics) to the open project's database."""
        document = self.session.document
        if document is not None:
            document.record_model_version(key, path, created_at, info)
            self.watch()

    def watch(self) -> None:
        """Start asking the store until the changes are on disk."""
        if not self._poll.isActive():
            self._poll.start()

    # ----- saving --------------------------------------------------------------------------

    def save(self) -> Path | None:
        """Wait until every edit is on disk and fold the journal into the database file.

        Returns the database path, or None (with `save_failed` emitted) when the project could
        be saved nowhere; a project that had to move says where in `message`.
        """
        document = self.session.document
        if document is None:
            return None
        self.record_deferred()
        try:
            path, moved = document.save()
        except StillWriting:
            self.session.message.emit("Still writing the last changes; they will be on disk soon")
            self.watch()
            return None
        except SaveError as exc:
            self.report_failure(str(exc))
            return None
        self._reported = None
        self.emit_dirty()
        self.session.saved.emit(str(path))
        self.session.message.emit(moved or f"Saved: every change is in {path}")
        return path

    def save_as(self, path: str | Path) -> Path | None:
        """Write the project to another database file and go on there; None on failure."""
        document = self.session.document
        if document is None:
            return None
        self.record_deferred()
        try:
            target = document.save_as(Path(path))
        except (OSError, ValueError, RuntimeError) as exc:
            self.report_failure(f"{path}: could not save there ({exc})")
            return None
        self._reported = None
        self.emit_dirty()
        self.session.saved.emit(str(target))
        self.session.message.emit(f"Saved as {target}; the project goes on there")
        return target

    def flush(self) -> Path | None:
        """Wait until every edit so far is on disk; return the database path (None if not)."""
        document = self.session.document
        if document is None:
            return None
        self.record_deferred()
        if not document.flush():
            return None
        self.check()
        return document.path

    def is_dirty(self) -> bool:
        """Return True while some edit is not on disk yet (in flight, or writes failing)."""
        document = self.session.document
        if document is None:
            return False
        status = document.status()
        return status.pending or status.error is not None or self._deferred is not None

    # ----- watching ------------------------------------------------------------------------

    def check(self) -> None:
        """Ask the store: move the project when writes keep failing, say so once, and stop
        asking when every change is on disk."""
        document = self.session.document
        if document is None:
            self._poll.stop()
            return
        loader = document.store.loader
        if loader is not None and loader.error and loader.error != self._reported:
            self._reported = loader.error
            self.session.message.emit(loader.error)
        status = document.status()
        if status.error is not None:
            if document.store.writer.failures >= RESCUE_AFTER_FAILURES:
                self._rescue(status.error)
            return
        if not status.pending:
            self._poll.stop()
            self._poll.setInterval(POLL_MS)
            self.emit_dirty()
            self.session.autosaved.emit(str(status.path))

    def _rescue(self, reason: str) -> None:
        document = self.session.document
        assert document is not None
        try:
            moved = document.rescue(reason)
        except SaveError as exc:
            self.report_failure(str(exc))
            self._poll.setInterval(FAILED_POLL_MS)
            return
        self._reported = None
        log.warning("%s", moved)
        self.session.message.emit(moved)
        self.session.project_moved.emit(moved)

    def report_failure(self, text: str) -> None:
        """Tell the user once that the edits reach no disk (the window offers Save As)."""
        self.emit_dirty()
        if text != self._reported:
            self._reported = text
            log.error("%s", text)
            self.session.message.emit(text)
            self.session.save_failed.emit(text)

    def emit_dirty(self) -> None:
        """Emit dirty_changed when the on-disk state changed since the last call."""
        dirty = self.is_dirty()
        if dirty != self._was_dirty:
            self._was_dirty = dirty
            self.session.dirty_changed.emit(dirty)
