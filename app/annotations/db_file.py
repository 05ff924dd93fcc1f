"""Whole project database files: written atomically from memory, read back at open.

`write_database` builds a complete file under a temp name and renames it into place (new
projects, imports of earlier versions, moves, Save As); `read_database` reads one for the store
(image list at once, boxes and proposals lazily) or whole (a read-only snapshot).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from app.annotations import db_rows
from app.annotations.db_loader import BoxLoader
from app.annotations.db_rows import FORMAT_NAME, meta_text
from app.annotations.db_schema import check_schema, connect, create_schema
from app.annotations.images import PROJECT_DIR_NAME
from app.annotations.model import Project
from detr_model.atomic_file import fsync_folder

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def project_root_for(database: Path, values: dict) -> Path:
    """Return the image folder of a database: the folder around `.detr-studio`, else stored."""
    if database.parent.name == PROJECT_DIR_NAME:
        return database.parent.parent  # beside the images: the folder may have moved
    stored = values.get("root")
    return Path(stored) if isinstance(stored, str) and stored else database.parent


def write_database(path: Path, project: Project, values: dict | None = None) -> dict[str, int]:
    """Write a whole project into a new database file atomically; return {path: image id}.

    Built under a temp name in the same folder, flushed, then renamed over `path`: a crash
    leaves the old file (or none) and a temp file that the next open removes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = connect(tmp)
        try:
            create_schema(conn)
            ids = _insert_everything(conn, project, values or {})
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()  # the last connection removes the journal files
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        for suffix in ("-wal", "-shm"):  # a journal of the file being replaced must go with it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    fsync_folder(path.parent)
    return ids


def _insert_everything(conn: sqlite3.Connection, project: Project, values: dict) -> dict[str, int]:
    ids = {rec.path: k for k, rec in enumerate(project.images, start=1)}
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO images (id, ord, path, width, height, status) VALUES (?, ?, ?, ?, ?, ?)",
        (
            (
                k,
                k,
                rec.path,
                db_rows.valid_side(rec.width),
                db_rows.valid_side(rec.height),
                rec.status.value,
            )
            for k, rec in enumerate(project.images, start=1)
        ),
    )
    refused = db_rows.insert_boxes(conn, ((ids[r.path], r.boxes) for r in project.images))
    refused += db_rows.insert_proposals(conn, ((ids[r.path], r.proposals) for r in project.images))
    if refused:
        log.error("%d boxes or proposals with impossible values were not stored", refused)
    db_rows.write_categories(conn, [(c.id, c.name, c.color) for c in project.categories])
    db_rows.write_project_values(
        conn,
        {
            "format": FORMAT_NAME,
            "root": os.path.abspath(project.root),
            "next_category_id": project.next_category_id,
            "generation": 1,
            **values,
        },
    )
    db_rows.write_meta(conn, meta_texts(project.meta))
    conn.execute("COMMIT")
    return ids


def meta_texts(meta: dict) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in meta.items():
        try:
            out[str(key)] = meta_text(value)
        except ValueError as exc:
            log.error("project setting %r not stored: %s", key, exc)
    return out


class DatabaseRead(NamedTuple):
    """A project read from its database, with what the store needs to go on writing it."""

    project: Project
    ids: dict[str, int]  # image path -> row id
    loader: BoxLoader | None  # fills the records lazily (None: read whole)
    box_counts: Counter  # boxes per category id
    values: dict  # the `project` table: format, root, generation, where it came from


def read_database(path: Path, *, lazy: bool = True, read_only: bool = False) -> DatabaseRead:
    """Return the project in a database file (boxes and proposals read lazily by default).

    Raises sqlite3.DatabaseError when the file is not a database or is damaged, SchemaError
    (a ValueError) when it is not ours or too new, ValueError for damaged values.
    """
    conn = connect(path, read_only=read_only)
    try:
        check_schema(conn, upgrade=not read_only)
        values = db_rows.read_project_values(conn)
        if values.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {values.get('format')!r}, expected {FORMAT_NAME!r}")
        categories = db_rows.read_categories(conn)
        meta = db_rows.read_meta(conn)
        counts = Counter(
            dict(conn.execute("SELECT category_id, count(*) FROM boxes GROUP BY category_id"))
        )
        loader = BoxLoader(path) if lazy else None
        records, ids = db_rows.read_images(conn, loader)
        if loader is not None:
            loader.track(ids)
        else:
            _fill(conn, records, ids, str(path))
    finally:
        conn.close()
    next_id = values.get("next_category_id", 1)
    if not (type(next_id) is int and 0 < next_id <= db_rows.MAX_ID + 1):
        raise ValueError(f"next_category_id {next_id!r} is out of range")
    project = Project(
        root=project_root_for(path, values),
        categories=categories,
        images=records,
        next_category_id=next_id,
        meta=meta,
    )
    return DatabaseRead(project, ids, loader, counts, values)


def _fill(conn: sqlite3.Connection, records: list, ids: dict[str, int], where: str) -> None:
    by_id = {ids[rec.path]: rec for rec in records}
    for table, columns, make, attr in (
        ("boxes", db_rows.BOX_COLUMNS, db_rows.boxes_from_rows, "boxes"),
        ("proposals", db_rows.PROPOSAL_COLUMNS, db_rows.proposals_from_rows, "proposals"),
    ):
        cursor = conn.execute(f"SELECT image_id, {columns} FROM {table} ORDER BY image_id, ord")
        for image_id, rows in db_rows.grouped_rows(cursor):
            rec = by_id.get(image_id)
            if rec is not None:
                setattr(rec, attr, make(rows, where))
