"""The project database: its SQLite schema, version, migrations and connection settings.

One file per project (`project.sqlite`), WAL journal (readers never wait for the writer, a
commit is one append to the journal), `synchronous=FULL` (a commit returns once the journal is
on disk, so a committed edit survives a kill or a power cut), foreign keys on (deleting an image
deletes its boxes and proposals). Box and proposal tables are clustered by (image, position),
so one image's rows are read and rewritten together.

`category_id` of boxes and proposals is deliberately not a foreign key: projects from older
versions may hold boxes of a class that no longer exists, and a refused commit would stop every
later edit from reaching the disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 2
# PRAGMA application_id marks the file as ours ("DSTU"), so a foreign SQLite file is refused.
APPLICATION_ID = 0x44535455
BUSY_TIMEOUT_MS = 5000

_SCHEMA_V1 = """
CREATE TABLE project (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    ord INTEGER NOT NULL,
    name TEXT NOT NULL,
    color TEXT NOT NULL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    ord INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,
    width INTEGER,
    height INTEGER,
    status TEXT NOT NULL CHECK (status IN ('unlabeled', 'proposed', 'reviewed'))
);
CREATE TABLE boxes (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    uid TEXT NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    category_id INTEGER NOT NULL,
    score REAL,
    source TEXT NOT NULL,
    PRIMARY KEY (image_id, ord)
) WITHOUT ROWID;
CREATE INDEX boxes_by_category ON boxes(category_id);
CREATE TABLE proposals (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    uid TEXT NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    category_id INTEGER NOT NULL,
    score REAL NOT NULL,
    model TEXT NOT NULL,
    PRIMARY KEY (image_id, ord)
) WITHOUT ROWID;
CREATE TABLE model_versions (
    key TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    info TEXT NOT NULL
) WITHOUT ROWID;
"""

# MIGRATIONS[n] takes a database of version n - 1 to version n (in one transaction). A new
# database is made by _SCHEMA_V1 (never edited) and then every migration, like an old one.
MIGRATIONS: dict[int, str] = {
    # 2: per-box attributes of other tools (Pascal VOC's difficult/truncated/pose, labelme's
    # flags) as a JSON object, NULL when the box has none.
    2: "ALTER TABLE boxes ADD COLUMN attributes TEXT",
}


class SchemaError(ValueError):
    """The file is not a project database this version can use (the message says why)."""


def connect(path: str | Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Return a connection in autocommit mode (transactions are explicit) with our settings.

    `check_same_thread` is off because the writer thread and the loader each own one connection
    that is created on one thread and used on another; no connection is used by two at once.
    """
    uri = Path(path).resolve().as_uri() + ("?mode=ro" if read_only else "")
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute("PRAGMA foreign_keys = ON")
    if not read_only:
        conn.execute("PRAGMA synchronous = FULL")
        # Checkpoints run when the writer is idle (store_writer), not inside an edit's commit.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables of the current version in an empty database and switch to WAL."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")  # not executescript(): it would commit after each statement
    for statement in _statements(_SCHEMA_V1):
        conn.execute(statement)
    for version in sorted(MIGRATIONS):
        for statement in _statements(MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute("COMMIT")


def check_schema(conn: sqlite3.Connection, *, upgrade: bool = True) -> int:
    """Return the schema version after upgrading an older one; SchemaError when unusable.

    Raises sqlite3.DatabaseError when the file is not a database at all.
    """
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app_id != APPLICATION_ID:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        what = "an empty file" if tables == 0 else "another program's SQLite database"
        raise SchemaError(f"not a DETR Studio project database ({what})")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"written by a newer DETR Studio (schema {version}; this version reads up to "
            f"{SCHEMA_VERSION})"
        )
    if version < SCHEMA_VERSION:
        if not upgrade:
            raise SchemaError(f"schema {version} needs an upgrade, and the file is read-only")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _statements(MIGRATIONS[step]):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
