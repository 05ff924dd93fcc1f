"""One open project database: read at open, then every change written as rows.

`ProjectStore.open` takes the project lock, reads the image list, categories and settings
(boxes and proposals follow lazily, see db_loader) and starts the writer thread. After each
edit the owner calls `record(project, changed)`: the store snapshots what the edit touched
(the images named by `Changed`, plus the category list, settings and image order whenever they
differ from what was last written) and queues it; the writer makes it durable within
milliseconds. No command knows SQL: they describe what they changed, as they always did.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.annotations import db_rows
from app.annotations.db_file import meta_texts, read_database, write_database
from app.annotations.db_loader import BoxLoader
from app.annotations.db_rows import image_state, meta_text
from app.annotations.db_schema import connect
from app.annotations.model import ImageStatus, Project
from app.annotations.project_lock import ProjectLock
from app.annotations.store_writer import ChangeSet, StoreWriter
from app.annotations.undo import Changed

NOTHING = Changed()  # a change set naming no image: settings and lists are compared anyway

log = logging.getLogger(__name__)

_open: weakref.WeakSet[ProjectStore] = weakref.WeakSet()
_COUNTS_OF = "SELECT category_id, count(*) FROM boxes WHERE image_id = ? GROUP BY category_id"


@dataclass(frozen=True)
class StoreStatus:
    """Where the store stands: is every recorded change on disk, and if not, why."""

    path: Path
    pending: bool  # some recorded change is not durable yet
    error: str | None  # the last failed commit (the change stays queued and is retried)
    durable_seq: int
    last_seq: int


def open_stores() -> list[ProjectStore]:
    """Return the stores of this process not closed yet (tests close what they left open)."""
    return [s for s in list(_open) if s.writer.running]


# ----- the open store --------------------------------------------------------------------------


class ProjectStore:
    """An open, locked project database with its writer thread."""

    def __init__(
        self,
        path: Path,
        project: Project,
        ids: dict[str, int],
        lock: ProjectLock,
        loader: BoxLoader | None = None,
        box_counts: Counter | None = None,
        *,
        generation: int = 1,
        on_durable: Callable[[int], None] | None = None,
    ) -> None:
        self.path = Path(path)
        # Each move to another file (per-user folder, Save As) writes generation + 1 there,
        # so when both places hold a database the newer copy is known without guessing.
        self.generation = generation
        self.lock = lock
        self.loader = loader
        self._ids = ids
        if box_counts is None:  # made from memory: every record is there to count
            box_counts = Counter(b.category_id for rec in project.images for b in rec.boxes)
        self._totals = box_counts
        self._image_counts: dict[str, Counter] = {}  # images changed since open: their counts
        self._status = {rec.path: rec.status for rec in project.images}  # as last recorded
        self._status_totals = Counter(self._status.values())
        project.stored_status_counts = self.status_counts
        self._reader: sqlite3.Connection | None = None
        project.stored_box_counts = self.box_counts
        self._next_id = max(ids.values(), default=0) + 1
        self._project = project
        self._list = project.images
        self._list_len = len(project.images)
        self._categories = tuple((c.id, c.name, c.color) for c in project.categories)
        self._next_category_id = project.next_category_id
        self._root = os.path.abspath(project.root)
        self._meta = meta_texts(project.meta)
        order = [ids[rec.path] for rec in project.images]
        self.writer = StoreWriter(self.path, order, on_durable=on_durable)
        _open.add(self)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        name: str = "",
        lazy: bool = True,
        on_durable: Callable[[int], None] | None = None,
    ) -> tuple[ProjectStore, Project]:
        """Lock and read a database; return the store and the project (boxes read lazily).

        Raises ProjectLockedError when another window has it, and the errors of read_database.
        """
        path = Path(path)
        lock = ProjectLock(path, name)
        lock.acquire()
        try:
            read = read_database(path, lazy=lazy)
        except BaseException:
            lock.release()
            raise
        generation = read.values.get("generation", 1)
        store = cls(
            path,
            read.project,
            read.ids,
            lock,
            read.loader,
            read.box_counts,
            generation=generation if type(generation) is int else 1,
            on_durable=on_durable,
        )
        if read.loader is not None:
            read.loader.start_preload()
        return store, read.project

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        project: Project,
        *,
        name: str = "",
        values: dict | None = None,
        on_durable: Callable[[int], None] | None = None,
    ) -> ProjectStore:
        """Lock `path`, write the whole in-memory project there (replacing any file), open it."""
        path = Path(path)
        lock = ProjectLock(path, name)
        lock.acquire()
        try:
            ids = write_database(path, project, values)
        except BaseException:
            lock.release()
            raise
        generation = (values or {}).get("generation", 1)
        return cls(path, project, ids, lock, None, generation=generation, on_durable=on_durable)

    # ----- recording changes ---------------------------------------------------------------

    def record(self, project: Project, changed: Changed = NOTHING) -> int:
        """Queue what an edit changed; return its sequence number (0 when nothing did)."""
        change = ChangeSet()
        images = project.images
        if changed.image_list or images is not self._list or len(images) != self._list_len:
            self._record_image_list(project, change)
        ids = self._ids
        for path in changed.images:
            image_id = ids.get(path)
            if image_id is not None and project.has_image(path):
                change.images[image_id] = image_state(project.image(path), image_id)
        for state in change.images.values():
            self._count(state.path, state.id, state.boxes)
            self._count_status(state.path, ImageStatus(state.status))
        categories = tuple((c.id, c.name, c.color) for c in project.categories)
        if categories != self._categories:
            change.categories = self._categories = categories
        if project.next_category_id != self._next_category_id:
            self._next_category_id = project.next_category_id
            change.values["next_category_id"] = project.next_category_id
        root = os.path.abspath(project.root)
        if root != self._root:
            self._root = change.values["root"] = root
        self._record_meta(project.meta, change)
        if not change:
            return 0
        return self.writer.submit(change)

    def _record_image_list(self, project: Project, change: ChangeSet) -> None:
        ids = self._ids
        order = []
        for rec in project.images:
            image_id = ids.get(rec.path)
            if image_id is None:
                image_id = ids[rec.path] = self._next_id
                self._next_id += 1
                change.images[image_id] = image_state(rec, image_id)
            order.append(image_id)
        listed = set(order)
        for path in [p for p, i in ids.items() if i not in listed]:
            self._count(path, ids[path], ())
            self._image_counts.pop(path, None)
            self._count_status(path, None)
            change.removed.add(ids.pop(path))
        change.order = tuple(order)
        self._list = project.images
        self._list_len = len(project.images)

    def _count(self, path: str, image_id: int, boxes) -> None:
        """Move the totals from an image's previous boxes to `boxes`."""
        before = self._image_counts.get(path)
        if before is None:  # first change since open: the file still holds the old state
            before = Counter(dict(self._read(_COUNTS_OF, (image_id,))))
        after = Counter(b.category_id for b in boxes)
        self._totals.update(after)
        self._totals.subtract(before)
        self._image_counts[path] = after

    def _count_status(self, path: str, status: ImageStatus | None) -> None:
        old = self._status.pop(path, None)
        if old is not None:
            self._status_totals[old] -= 1
        if status is not None:
            self._status[path] = status
            self._status_totals[status] += 1

    def status_counts(self) -> dict[ImageStatus, int] | None:
        """Return images per status, kept up to date by `record` (None: list changed unseen)."""
        images = self._project.images
        if images is not self._list or len(images) != self._list_len:
            return None
        return {status: self._status_totals[status] for status in ImageStatus}

    def _read(self, sql: str, args: tuple) -> list[tuple]:
        if self._reader is None:
            self._reader = connect(self.path, read_only=True)
        return self._reader.execute(sql, args).fetchall()

    def box_counts(self) -> dict[int, int] | None:
        """Return boxes per category, kept up to date by `record` (None if the list changed
        behind the store's back: the caller counts by reading every record)."""
        images = self._project.images
        if images is not self._list or len(images) != self._list_len:
            return None
        return {cid: n for cid, n in self._totals.items() if n}

    def _record_meta(self, meta: dict, change: ChangeSet) -> None:
        texts = meta_texts(meta)
        if texts == self._meta:
            return
        for key, text in texts.items():
            if self._meta.get(key) != text:
                change.meta[key] = text
        for key in self._meta.keys() - texts.keys():
            change.meta[key] = None
        self._meta = texts

    def record_model_version(self, key: str, path: str, created_at: str, info: dict) -> int:
        """Queue a model version row (fine-tuned model file, its metrics); return its seq."""
        change = ChangeSet(versions={key: (path, created_at, meta_text(info))})
        return self.writer.submit(change)

    def model_versions(self) -> list[dict]:
        """Return the stored model versions, oldest first (read from the file)."""
        conn = connect(self.path, read_only=True)
        try:
            rows = conn.execute(
                "SELECT key, path, created_at, info FROM model_versions ORDER BY created_at"
            ).fetchall()
        finally:
            conn.close()
        return [
            {"key": k, "path": p, "created_at": c, "info": db_rows.json_value(i, f"model {k!r}")}
            for k, p, c, i in rows
        ]

    # ----- durability ----------------------------------------------------------------------

    def status(self) -> StoreStatus:
        """Return whether everything recorded is on disk."""
        w = self.writer
        return StoreStatus(self.path, w.pending(), w.error, w.durable_seq, w.last_seq)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every recorded change is durable; True if it is.

        A writer backing off after failures tries again at once: whoever flushes (Ctrl+S,
        closing) wants to know now whether the disk takes the changes, not after the back-off.
        """
        if self.writer.error is not None:
            self.writer.retry_now()
        return self.writer.wait(timeout=timeout)

    def checkpoint(self, timeout: float = 10.0) -> None:
        """Make everything durable and fold the journal into the file (OSError on failure)."""
        self.writer.checkpoint(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued, stop the threads, release the lock; True if nothing was lost.

        When the writes keep failing, the lock stays held and False is returned: the caller
        still has the project in memory and can write it elsewhere (`abandon`).
        """
        if self.loader is not None:
            self.loader.stop()
        if not self.writer.close(timeout):
            return False
        self._close_reader()
        self.lock.release()
        return True

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def abandon(self) -> ChangeSet | None:
        """Stop writing here and release the lock; return what never reached the file."""
        if self.loader is not None:
            self.loader.stop()
        left = self.writer.abandon()
        self._close_reader()
        self.lock.release()
        return left
