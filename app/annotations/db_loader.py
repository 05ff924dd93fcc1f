"""Filling lazily read image records: from a background preload, else one query per image.

Opening a project reads only the image list; a thread then reads every box and proposal in
table order (the cost of a full load, off the thread that owns the model) and hands them over
per image. A record read before the preload reached it is filled at once by two indexed
queries (about 20 µs). The model is only ever touched by the thread that reads a record; the
preload thread builds objects and passes them through a locked dict.

Rows of a record still on disk never change: the writer only writes records that were read
first. So preloaded rows and a record's own query agree, whichever comes first.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from app.annotations.db_rows import (
    BOX_COLUMNS,
    PROPOSAL_COLUMNS,
    boxes_from_rows,
    grouped_rows,
    proposals_from_rows,
)
from app.annotations.db_schema import connect
from app.annotations.gcpause import freeze_survivors, paused_gc
from app.annotations.model import LOADER_KEY, ImageRecord

log = logging.getLogger(__name__)

_BOXES_OF = f"SELECT {BOX_COLUMNS} FROM boxes WHERE image_id = ? ORDER BY ord"
_PROPOSALS_OF = f"SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE image_id = ? ORDER BY ord"
_HANDOVER = 2000  # images per hand-over from the preload thread


class LoadError(RuntimeError):
    """A record's boxes could not be read from the database (the message names the file)."""


class BoxLoader:
    """The loader lazily read records call on first use of `boxes` or `proposals`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None  # set when the preload or the check found damage
        self.preload_s: float | None = None  # seconds the preload took, once done
        self._ids: dict[str, int] = {}  # path -> id of the records read lazily (those at open)
        self._unread = 0
        self._lock = threading.Lock()
        self._ready: dict[str, dict[int, list]] = {"boxes": {}, "proposals": {}}
        self._complete = {"boxes": False, "proposals": False}
        self._taken: set[int] = set()
        self._conn: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def track(self, ids: dict[str, int]) -> None:
        """Take the records made with this loader: {path: image id}, before any is read."""
        with self._lock:
            self._ids = dict(ids)
            self._unread = len(ids)

    # ----- the hook ------------------------------------------------------------------------

    def __call__(self, rec: ImageRecord) -> None:
        with self._lock:
            d = rec.__dict__
            if LOADER_KEY not in d:
                return
            image_id = self._ids[rec.path]
            boxes = self._take("boxes", image_id)
            proposals = self._take("proposals", image_id)
            try:
                if boxes is None:
                    boxes = boxes_from_rows(self._query(_BOXES_OF, image_id), rec.path)
                if proposals is None:
                    proposals = proposals_from_rows(self._query(_PROPOSALS_OF, image_id), rec.path)
            except sqlite3.Error as exc:
                self.error = self.error or f"{self.path}: cannot read {rec.path} ({exc})"
                raise LoadError(self.error) from exc
            self._taken.add(image_id)
            self._unread -= 1
            d.setdefault("boxes", boxes)  # a list assigned before any read stays
            d.setdefault("proposals", proposals)
            del d[LOADER_KEY]

    def _take(self, kind: str, image_id: int) -> list | None:
        got = self._ready[kind].pop(image_id, None)
        if got is None and self._complete[kind]:
            return []  # the preload saw every row: this image has none
        return got

    def _query(self, sql: str, image_id: int) -> list[tuple]:
        if self._conn is None:
            self._conn = connect(self.path, read_only=True)
        return self._conn.execute(sql, (image_id,)).fetchall()

    # ----- the preload ---------------------------------------------------------------------

    def start_preload(self, *, check: bool = True) -> None:
        """Start reading every box and proposal in the background (then check the file)."""
        if self._thread is None and self._unread:
            self._thread = threading.Thread(
                target=self._preload, args=(check,), name="project-preload", daemon=True
            )
            self._thread.start()

    def wait_preloaded(self, timeout: float | None = None) -> bool:
        """Return True once the preload thread has finished (or none runs)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the preload (records still on disk keep reading by query)."""
        self._stop.set()
        self.wait_preloaded(timeout)

    def _preload(self, check: bool) -> None:
        start = time.perf_counter()
        try:
            conn = connect(self.path, read_only=True)
            try:
                with paused_gc():  # a million new objects make the collector rescan the heap
                    self._read_all(conn, "boxes", BOX_COLUMNS, boxes_from_rows)
                    self._read_all(conn, "proposals", PROPOSAL_COLUMNS, proposals_from_rows)
                    freeze_survivors()  # or the collector walks them all once it runs again
                if check and not self._stop.is_set():
                    problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
                    if problems != ["ok"]:
                        self.error = f"{self.path}: the database is damaged ({'; '.join(problems)})"
                        log.error("%s", self.error)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            self.error = f"{self.path}: the database is damaged ({exc})"
            log.error("%s", self.error)
        self.preload_s = time.perf_counter() - start

    def _read_all(self, conn: sqlite3.Connection, table: str, columns: str, make) -> None:
        cursor = conn.execute(f"SELECT image_id, {columns} FROM {table} ORDER BY image_id, ord")
        batch: dict[int, list] = {}
        where = str(self.path)
        for image_id, rows in grouped_rows(cursor):
            if self._stop.is_set():
                return
            batch[image_id] = make(rows, where)
            if len(batch) >= _HANDOVER:
                self._hand_over(table, batch)
                batch = {}
                time.sleep(0)  # let the window's thread take the interpreter lock
        self._hand_over(table, batch, complete=True)

    def _hand_over(self, kind: str, batch: dict[int, list], *, complete: bool = False) -> None:
        with self._lock:
            ready = self._ready[kind]
            for image_id, items in batch.items():
                if image_id not in self._taken:
                    ready[image_id] = items
            if complete:
                self._complete[kind] = True
