"""The writer thread: change sets in, one SQLite transaction per batch out, durable on return.

The thread that owns the model hands over snapshots (`ChangeSet`s: whole images, the category
list, settings) and goes on; this thread merges everything queued since its last commit into
one transaction (group commit), so an auto-annotate batch or a burst of nudges costs one disk
flush. `durable_seq` is the last change set whose commit returned: with WAL and
`synchronous=FULL`, it survives a kill or a power cut.

A failed commit (disk full, folder turned read-only, I/O error) is rolled back whole; the
changes stay queued, `error` says what happened, and the writer retries with back-off until it
succeeds or is closed. Nothing is dropped without the owner knowing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.annotations import db_rows
from app.annotations.db_rows import ImageState
from app.annotations.db_schema import connect

log = logging.getLogger(__name__)

IDLE_CHECKPOINT_S = 1.0  # checkpoint the journal after this long without a change
# … and after a commit once the journal is this big, so that hours of edits without a pause
# (auto-annotate streaming in while the user works) keep the journal, and the next open, small;
# SQLite then writes the following commits over the journal's start.
CHECKPOINT_BYTES = 4 * 1024 * 1024
RETRY_S = (0.25, 0.5, 1.0, 2.0, 5.0)  # waits between attempts after a failed commit
_DELETE_CHUNK = 500


class StillWriting(Exception):
    """The writes are going on but did not finish in the time given (not a failure)."""


@dataclass
class ChangeSet:
    """What one edit (or several merged ones) changes in the database."""

    images: dict[int, ImageState] = field(default_factory=dict)
    removed: set[int] = field(default_factory=set)
    order: tuple[int, ...] | None = None  # every image id in list order, when it changed
    categories: tuple[tuple[int, str, str], ...] | None = None
    values: dict[str, object] = field(default_factory=dict)  # the `project` table
    meta: dict[str, str | None] = field(default_factory=dict)  # JSON text, None = deleted
    versions: dict[str, tuple[str, str, str] | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.images
            or self.removed
            or self.order is not None
            or self.categories is not None
            or self.values
            or self.meta
            or self.versions
        )

    def absorb(self, later: ChangeSet) -> None:
        """Fold a later change set into this one (the later state wins)."""
        for image_id in later.removed:
            self.images.pop(image_id, None)
        self.removed |= later.removed
        self.images.update(later.images)
        if later.order is not None:
            self.order = later.order
        if later.categories is not None:
            self.categories = later.categories
        self.values.update(later.values)
        self.meta.update(later.meta)
        self.versions.update(later.versions)


class StoreWriter:
    """Owns the write connection of one project database, on its own thread."""

    def __init__(
        self,
        path: Path,
        order: list[int],
        *,
        on_durable: Callable[[int], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.on_durable = on_durable  # called on the writer thread after each commit
        self.error: str | None = None  # the last failure, None once a commit succeeds
        self.failures = 0  # failed attempts in a row
        self.durable_seq = 0
        self._seq = 0
        self._queue: list[tuple[int, ChangeSet]] = []
        self._failed: tuple[int, ChangeSet] | None = None  # rolled back, to be retried
        self._pos = {image_id: k for k, image_id in enumerate(order)}
        self._cond = threading.Condition()
        self._stop = False
        self._checkpoint_asked = 0  # generation counter for checkpoint requests
        self._checkpoint_done = 0
        self._checkpoint_error: str | None = None
        self._conn: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="project-writer", daemon=True)
        self._thread.start()

    # ----- the owner's side ----------------------------------------------------------------

    def submit(self, change: ChangeSet) -> int:
        """Queue a change set; return its sequence number."""
        with self._cond:
            if self._stop:
                raise RuntimeError(f"{self.path}: the project store is closed")
            self._seq += 1
            self._queue.append((self._seq, change))
            self._cond.notify_all()
            return self._seq

    @property
    def running(self) -> bool:
        """Return True while the writer thread runs."""
        return self._thread.is_alive()

    @property
    def last_seq(self) -> int:
        """Return the sequence number of the last change set queued."""
        return self._seq

    def pending(self) -> bool:
        """Return True while some queued change is not yet durable."""
        return self.durable_seq < self._seq

    def wait(
        self, seq: int | None = None, timeout: float | None = None, *, give_up_after: int = 2
    ) -> bool:
        """Wait until change `seq` (default: the last queued) is durable; True if it is.

        Returns False at the timeout, or once `give_up_after` attempts in a row have failed
        (the writer keeps retrying; the caller decides whether to move the project).
        """
        target = self._seq if seq is None else seq
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.durable_seq < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                if not self._thread.is_alive() or self.failures >= give_up_after:
                    return False
                self._cond.wait(left)
        return True

    def retry_now(self) -> None:
        """Skip the back-off after a failure (e.g. the user freed disk space)."""
        with self._cond:
            self.failures = min(self.failures, 1)
            self._cond.notify_all()

    def checkpoint(self, timeout: float = 10.0) -> None:
        """Write every queued change, then fold the journal into the database file.

        Raises OSError when writing or the checkpoint fails, StillWriting when the changes are
        not durable within `timeout`; afterwards the database file alone holds the project.
        """
        with self._cond:
            self._checkpoint_asked += 1
            ticket = self._checkpoint_asked
            self._cond.notify_all()
            deadline = time.monotonic() + timeout
            while self._checkpoint_done < ticket:
                left = deadline - time.monotonic()
                if not self._thread.is_alive():
                    raise OSError(self.error or f"{self.path}: the writer stopped")
                if left <= 0:
                    raise StillWriting(f"{self.path}: still writing the last changes")
                self._cond.wait(left)
            if self._checkpoint_error:
                raise OSError(self._checkpoint_error)

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued, checkpoint, stop the thread; True when nothing was left."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive() and not self.pending()

    def abandon(self) -> ChangeSet | None:
        """Stop without writing more; return what was not durable (for another location)."""
        with self._cond:
            self._stop = True
            self._abandoned = True
            self._cond.notify_all()
        self._thread.join(10.0)
        return self._unwritten()

    def _unwritten(self) -> ChangeSet | None:
        merged = ChangeSet()
        if self._failed is not None:
            merged.absorb(self._failed[1])
        for _seq, change in self._queue:
            merged.absorb(change)
        return merged or None

    # ----- the writer thread ---------------------------------------------------------------

    _abandoned = False

    def _run(self) -> None:
        try:
            self._conn = connect(self.path)
        except sqlite3.Error as exc:  # kept as a failure: the first write retries the open
            self._fail(f"{self.path}: cannot open for writing ({_reason(exc)})")
        idle_since: float | None = time.monotonic()
        while True:
            with self._cond:
                while not self._has_work():
                    timeout = self._idle_timeout(idle_since)
                    if timeout is not None and timeout <= 0:
                        break
                    self._cond.wait(timeout)
                if self._abandoned:
                    self._close_connection()
                    return
                batch, self._queue = self._queue, []
                stopping = self._stop
                checkpoint_wanted = self._checkpoint_done < self._checkpoint_asked
            if batch or self._failed is not None:
                self._write(batch)
                idle_since = time.monotonic()
            elif not stopping and not checkpoint_wanted:
                self._idle_checkpoint()  # woke from idleness, not for work
                idle_since = None
            if checkpoint_wanted:
                self._answer_checkpoint()
            if stopping and self._failed is None and not self._queue:
                self._checkpoint("TRUNCATE")
                self._close_connection()
                return
            if self._failed is not None:
                self._back_off()

    def _close_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                log.warning("%s: closing failed (%s)", self.path, exc)
            self._conn = None

    def _has_work(self) -> bool:
        return (
            bool(self._queue)
            or self._failed is not None
            or self._stop
            or self._checkpoint_done < self._checkpoint_asked
        )

    def _idle_timeout(self, idle_since: float | None) -> float | None:
        if idle_since is None:
            return None
        return max(0.0, idle_since + IDLE_CHECKPOINT_S - time.monotonic())

    def _write(self, batch: list[tuple[int, ChangeSet]]) -> None:
        merged = ChangeSet()
        seq = self.durable_seq
        if self._failed is not None:
            seq, change = self._failed
            merged.absorb(change)
        for s, change in batch:
            merged.absorb(change)
            seq = max(seq, s)
        if not merged:
            self._succeed(seq)
            return
        try:
            if self._conn is None:
                self._conn = connect(self.path)
            new_pos = self._transaction(self._conn, merged)
        except (sqlite3.Error, OSError) as exc:
            self._failed = (seq, merged)
            self._fail(f"{self.path}: could not save ({_reason(exc)})")
            return
        if new_pos is not None:
            self._pos = new_pos
        self._failed = None
        self._succeed(seq)
        if _size(f"{self.path}-wal") > CHECKPOINT_BYTES:
            self._idle_checkpoint()  # after reporting durable: the edit does not wait for it

    def _transaction(self, conn: sqlite3.Connection, c: ChangeSet) -> dict[int, int] | None:
        pos = self._pos
        new_pos = None
        if c.order is not None:
            new_pos = {image_id: k for k, image_id in enumerate(c.order)}
            pos = new_pos
        conn.execute("BEGIN IMMEDIATE")
        try:
            removed = sorted(c.removed)
            for k in range(0, len(removed), _DELETE_CHUNK):
                chunk = removed[k : k + _DELETE_CHUNK]
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM images WHERE id IN ({marks})", chunk)
            for state in c.images.values():
                db_rows.write_image(conn, state, pos.get(state.id, len(pos)))
            if new_pos is not None:
                moved = [
                    (k, image_id)
                    for image_id, k in new_pos.items()
                    if image_id not in c.images and self._pos.get(image_id) != k
                ]
                conn.executemany("UPDATE images SET ord = ? WHERE id = ?", moved)
            if c.categories is not None:
                db_rows.write_categories(conn, c.categories)
            if c.values:
                db_rows.write_project_values(conn, c.values)
            if c.meta:
                db_rows.write_meta(conn, c.meta)
            for key, row in c.versions.items():
                if row is None:
                    conn.execute("DELETE FROM model_versions WHERE key = ?", (key,))
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO model_versions VALUES (?, ?, ?, ?)", (key, *row)
                    )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as exc:  # the connection is unusable: start afresh
                    log.warning("%s: rollback failed (%s); reconnecting", self.path, exc)
                    conn.close()
                    self._conn = None
            raise
        return new_pos

    def _succeed(self, seq: int) -> None:
        with self._cond:
            self.durable_seq = max(self.durable_seq, seq)
            if self.error is not None:
                log.info("%s: saving works again", self.path)
            self.error = None
            self.failures = 0
            self._cond.notify_all()
        if self.on_durable is not None:
            self.on_durable(self.durable_seq)

    def _fail(self, message: str) -> None:
        if message != self.error:  # a retry that fails the same way is not news
            log.error("%s", message)
        with self._cond:
            self.error = message
            self.failures += 1
            self._cond.notify_all()

    def _back_off(self) -> None:
        wait = RETRY_S[min(max(self.failures, 1), len(RETRY_S)) - 1]
        with self._cond:
            if not self._abandoned:  # new changes, retry_now() or abandon() cut the wait short
                self._cond.wait(wait)

    def _idle_checkpoint(self) -> None:
        if self._conn is None:
            return
        try:
            pages = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("%s: checkpoint failed (%s)", self.path, exc)
            return
        log.debug("%s: checkpoint %s", self.path, pages)

    def _checkpoint(self, mode: str) -> str | None:
        if self._conn is None:
            return self.error or f"{self.path}: not open"
        try:
            busy, _log, _done = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:
            return f"{self.path}: could not checkpoint ({_reason(exc)})"
        if busy:
            log.info("%s: checkpoint partly done (a reader holds the journal)", self.path)
        return None

    def _answer_checkpoint(self) -> None:
        error = self.error if self._failed is not None else self._checkpoint("TRUNCATE")
        with self._cond:
            self._checkpoint_error = error
            self._checkpoint_done = self._checkpoint_asked
            self._cond.notify_all()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]
