"""Reading what is still readable from a damaged project database.

A disk error, a copy cut short or a file truncated by another program can damage a database
(an edit killed mid-write cannot: the journal protects it). Each table is read row by row
until the damage stops it; the rows read before are kept. The caller keeps a copy of the
damaged file and writes what was saved into a new one.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from app.annotations import db_rows
from app.annotations.db_file import project_root_for
from app.annotations.db_schema import connect
from app.annotations.model import Category, ImageRecord, Project

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Salvage:
    """What could be read from a damaged database."""

    project: Project
    images: int
    boxes: int
    complete: bool  # every table read to its end

    def describe(self) -> str:
        """Return a sentence for the user."""
        if self.complete:
            return f"all {self.images} images and {self.boxes} boxes could be read"
        return f"{self.images} images and {self.boxes} boxes could be read; the rest is lost"


def _rows(conn: sqlite3.Connection, sql: str, problems: list[str]) -> list[tuple]:
    out: list[tuple] = []
    try:
        for row in conn.execute(sql):
            out.append(row)
    except sqlite3.Error as exc:
        problems.append(f"{sql.split()[-1]}: {exc}")
    return out


def salvage(path: Path, root: Path) -> Salvage | None:
    """Return what is readable from a damaged database, or None when nothing is."""
    try:
        conn = connect(path, read_only=True)
    except sqlite3.Error:
        return None
    problems: list[str] = []
    try:
        values = {}
        for key, text in _rows(conn, "SELECT key, value FROM project", problems):
            try:
                values[key] = db_rows.json_value(text, key)
            except ValueError:
                continue
        meta = {}
        for key, text in _rows(conn, "SELECT key, value FROM meta", problems):
            try:
                meta[key] = db_rows.json_value(text, key)
            except ValueError:
                continue
        categories = [
            Category(cid, str(name), str(color))
            for cid, name, color in _rows(conn, "SELECT id, name, color FROM categories", problems)
            if type(cid) is int and 0 < cid <= db_rows.MAX_ID
        ]
        images = _rows(
            conn, "SELECT id, path, width, height, status FROM images ORDER BY ord", problems
        )
        boxes = _rows(conn, f"SELECT image_id, {_box_columns(conn)} FROM boxes", problems)
        proposals = _rows(
            conn, f"SELECT image_id, {db_rows.PROPOSAL_COLUMNS} FROM proposals", problems
        )
    finally:
        conn.close()
    if not images and not categories:
        return None
    records: dict[int, ImageRecord] = {}
    seen: set[str] = set()
    for image_id, rel, width, height, status in images:
        if isinstance(rel, str) and status in db_rows.STATUS_BY_VALUE and rel not in seen:
            seen.add(rel)
            records[image_id] = ImageRecord(
                rel,
                db_rows.valid_side(width),
                db_rows.valid_side(height),
                db_rows.STATUS_BY_VALUE[status],
            )
    for image_id, rows in db_rows.grouped_rows(sorted(boxes, key=lambda r: (r[0], r[1]))):
        if image_id in records:
            records[image_id].boxes = db_rows.boxes_from_rows(rows, str(path))
    for image_id, rows in db_rows.grouped_rows(sorted(proposals, key=lambda r: (r[0], r[1]))):
        if image_id in records:
            records[image_id].proposals = db_rows.proposals_from_rows(rows, str(path))
    next_id = values.get("next_category_id", 1)
    project = Project(
        root=project_root_for(path, values) if values else root,
        categories=categories,
        images=list(records.values()),
        next_category_id=next_id if type(next_id) is int and next_id > 0 else 1,
        meta=meta,
    )
    if problems:
        log.error("%s: salvage stopped early: %s", path, "; ".join(problems))
    box_count = sum(len(r.boxes) for r in project.images)
    return Salvage(project, len(project.images), box_count, complete=not problems)


def _box_columns(conn: sqlite3.Connection) -> str:
    """Return the box columns to read, NULL for the attributes of a schema-1 database."""
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(boxes)")}
    except sqlite3.DatabaseError:
        have = set()
    if "attributes" in have or not have:
        return db_rows.BOX_COLUMNS
    return db_rows.BOX_COLUMNS.replace("attributes", "NULL")
