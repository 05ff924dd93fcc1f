"""Rows of the project database to and from the model, with every value checked on the way.

A value the database could not hold faithfully (NaN, infinity, an id beyond 64 bits) is
refused here, one row at a time, so that a bad box can never make a whole commit fail.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from app.annotations.model import LOADER_KEY, Box, Category, ImageRecord, ImageStatus, Proposal

log = logging.getLogger(__name__)

FORMAT_NAME = "detr-studio-project"
MAX_ID = 2**31 - 1  # category ids and next_category_id
MAX_SIDE = 1_000_000  # pixels; larger "sizes" are stored as unknown
MAX_COORD = 1e9  # pixels; box corners beyond this are refused
STATUS_BY_VALUE = {s.value: s for s in ImageStatus}

BOX_COLUMNS = "ord, uid, x1, y1, x2, y2, category_id, score, source, attributes"
_BOX_INSERT = "image_id, " + BOX_COLUMNS
_BOX_SLOTS = ", ".join("?" * len(_BOX_INSERT.split(",")))
_ATTRIBUTE_TYPES = (str, int, float, bool)
PROPOSAL_COLUMNS = "ord, uid, x1, y1, x2, y2, category_id, score, model"

_new = object.__new__


@dataclass(frozen=True)
class ImageState:
    """One image as the writer stores it, taken on the thread that owns the model."""

    id: int
    path: str
    width: int | None
    height: int | None
    status: str
    boxes: tuple[Box, ...]
    proposals: tuple[Proposal, ...]


def image_state(rec: ImageRecord, image_id: int) -> ImageState:
    """Return a snapshot of a record (its lists are copied; boxes are immutable)."""
    return ImageState(
        image_id,
        rec.path,
        rec.width,
        rec.height,
        rec.status.value,
        tuple(rec.boxes),
        tuple(rec.proposals),
    )


# ----- checks ----------------------------------------------------------------------------------


def finite_coords(x1: object, y1: object, x2: object, y2: object) -> bool:
    """Return True when four corners are real numbers within +-MAX_COORD."""
    m = MAX_COORD
    try:  # NaN fails every comparison; written out because this runs for every stored box
        return -m <= x1 <= m and -m <= y1 <= m and -m <= x2 <= m and -m <= y2 <= m
    except TypeError:
        return False


def storable_box(b: Box) -> bool:
    """Return True when a box can be written exactly (finite corners and score)."""
    return (
        finite_coords(b.x1, b.y1, b.x2, b.y2)
        and type(b.category_id) is int
        and (b.score is None or _finite(b.score))
    )


def storable_proposal(p: Proposal) -> bool:
    """Return True when a proposal can be written exactly."""
    return finite_coords(p.x1, p.y1, p.x2, p.y2) and type(p.category_id) is int and _finite(p.score)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def valid_side(value: object) -> int | None:
    """Return an image side in pixels, or None when unknown or impossible."""
    if type(value) is int and 0 < value <= MAX_SIDE:
        return value
    return None


def meta_text(value: object) -> str:
    """Return a project setting as JSON text (ValueError when it cannot round-trip)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"project setting cannot be stored ({exc})") from exc


# ----- writing ---------------------------------------------------------------------------------


def write_image(conn: sqlite3.Connection, state: ImageState, ord_: int) -> int:
    """Insert or replace one image with all its boxes and proposals; return rows refused."""
    conn.execute(
        "INSERT INTO images (id, ord, path, width, height, status) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET ord = excluded.ord, width = excluded.width, "
        "height = excluded.height, status = excluded.status",
        (
            state.id,
            ord_,
            state.path,
            valid_side(state.width),
            valid_side(state.height),
            state.status,
        ),
    )
    conn.execute("DELETE FROM boxes WHERE image_id = ?", (state.id,))
    conn.execute("DELETE FROM proposals WHERE image_id = ?", (state.id,))
    return insert_boxes(conn, [(state.id, state.boxes)]) + insert_proposals(
        conn, [(state.id, state.proposals)]
    )


def insert_boxes(conn: sqlite3.Connection, per_image: Iterable[tuple[int, Iterable[Box]]]) -> int:
    """Insert the boxes of images that have none in the table yet; return boxes refused."""
    refused = 0
    rows = []
    for image_id, boxes in per_image:
        for k, b in enumerate(boxes):
            if storable_box(b):
                attributes = attributes_text(b.attributes)
                rows.append(
                    (image_id, k, b.uid, b.x1, b.y1, b.x2, b.y2, b.category_id, b.score, b.source)
                    + (attributes,)
                )
            else:
                refused += 1
                log.error("image %d: box %s has impossible values; not stored", image_id, b.uid)
    conn.executemany(f"INSERT INTO boxes ({_BOX_INSERT}) VALUES ({_BOX_SLOTS})", rows)
    return refused


def insert_proposals(
    conn: sqlite3.Connection, per_image: Iterable[tuple[int, Iterable[Proposal]]]
) -> int:
    """Insert the proposals of images that have none in the table yet; return those refused."""
    refused = 0
    rows = []
    for image_id, proposals in per_image:
        for k, p in enumerate(proposals):
            if storable_proposal(p):
                rows.append(
                    (image_id, k, p.uid, p.x1, p.y1, p.x2, p.y2, p.category_id, p.score, p.model)
                )
            else:
                refused += 1
                log.error(
                    "image %d: proposal %s has impossible values; not stored", image_id, p.uid
                )
    conn.executemany("INSERT INTO proposals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return refused


def write_categories(conn: sqlite3.Connection, categories: Iterable[tuple[int, str, str]]) -> None:
    """Replace the category table (a handful of rows) by (id, name, colour) in list order."""
    conn.execute("DELETE FROM categories")
    conn.executemany(
        "INSERT INTO categories (id, ord, name, color) VALUES (?, ?, ?, ?)",
        [(cid, k, name, color) for k, (cid, name, color) in enumerate(categories)],
    )


def write_project_values(conn: sqlite3.Connection, values: dict[str, object]) -> None:
    """Upsert rows of the `project` table (format, root, next_category_id, …) as JSON."""
    conn.executemany(
        "INSERT INTO project (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(k, meta_text(v)) for k, v in values.items()],
    )


def write_meta(conn: sqlite3.Connection, changes: dict[str, str | None]) -> None:
    """Apply project-setting changes: key -> JSON text, or None to delete the key."""
    for key, text in changes.items():
        if text is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )


# ----- reading ---------------------------------------------------------------------------------


def read_project_values(conn: sqlite3.Connection) -> dict[str, object]:
    """Return the `project` table as a dict (ValueError naming a damaged value)."""
    out = {}
    for key, text in conn.execute("SELECT key, value FROM project"):
        out[key] = json_value(text, f"project value {key!r}")
    return out


def read_meta(conn: sqlite3.Connection) -> dict[str, object]:
    """Return the project settings (ValueError naming a damaged value)."""
    return {
        k: json_value(t, f"setting {k!r}") for k, t in conn.execute("SELECT key, value FROM meta")
    }


def json_value(text: str, what: str) -> object:
    """Return a stored JSON value (ValueError naming `what` when it is damaged)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{what} is damaged ({exc})") from exc


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def read_categories(conn: sqlite3.Connection) -> list[Category]:
    """Return the categories in list order."""
    out = []
    for cid, name, color in conn.execute("SELECT id, name, color FROM categories ORDER BY ord"):
        if not (type(cid) is int and 0 < cid <= MAX_ID and isinstance(name, str)):
            raise ValueError(f"category {cid!r} is damaged")
        out.append(Category(cid, name, str(color)))
    return out


def read_images(
    conn: sqlite3.Connection, loader: Callable[[ImageRecord], None] | None
) -> tuple[list[ImageRecord], dict[str, int]]:
    """Return the image records in list order and {path: image id}.

    With a loader, records are made without their boxes and proposals (see ImageRecord's
    lazy loading); without one, they get empty lists to fill.
    """
    records: list[ImageRecord] = []
    ids: dict[str, int] = {}
    status_of = STATUS_BY_VALUE
    for image_id, path, width, height, status in conn.execute(
        "SELECT id, path, width, height, status FROM images ORDER BY ord"
    ):
        rec = _new(ImageRecord)
        d = rec.__dict__
        d["path"] = path
        d["width"] = valid_side(width)
        d["height"] = valid_side(height)
        d["status"] = status_of[status]
        if loader is None:
            d["boxes"] = []
            d["proposals"] = []
        else:
            d[LOADER_KEY] = loader
        records.append(rec)
        ids[path] = image_id
    return records, ids


def attributes_text(attributes: tuple) -> str | None:
    """Return a box's attributes as the JSON object the database stores (None when empty)."""
    if not attributes:
        return None
    try:
        return json.dumps(dict(attributes), ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:  # a NaN flag must not make the commit fail
        log.error("box attributes %r cannot be stored (%s); left out", attributes, exc)
        return None


def attributes_from_text(text: str | None, where: str, uid: str) -> tuple:
    """Return the attributes tuple of a stored JSON object; () (logged) when it is damaged."""
    if text is None:
        return ()
    try:
        value = json.loads(text)
        if isinstance(value, dict) and all(
            type(k) is str and type(v) in _ATTRIBUTE_TYPES for k, v in value.items()
        ):
            return tuple(sorted(value.items()))
    except (ValueError, RecursionError):
        pass
    log.error("%s: box %s has damaged attributes; kept without them", where, uid)
    return ()


def boxes_from_rows(rows: Iterable[tuple], where: str) -> list[Box]:
    """Return Box objects for (ord, uid, x1, y1, x2, y2, category_id, score, source, attributes)
    rows."""
    out = []
    for _k, uid, x1, y1, x2, y2, cid, score, source, attributes in rows:
        if not finite_coords(x1, y1, x2, y2) or (score is not None and not _finite(score)):
            log.error("%s: box %s has impossible values; left out", where, uid)
            continue
        b = _new(Box)  # skips the frozen dataclass's per-field setattr: 2x faster for 10^6 boxes
        b.__dict__.update(
            uid=uid, x1=x1, y1=y1, x2=x2, y2=y2, category_id=cid, score=score, source=source
        )
        if attributes is not None:
            b.__dict__["attributes"] = attributes_from_text(attributes, where, uid)
        out.append(b)
    return out


def proposals_from_rows(rows: Iterable[tuple], where: str) -> list[Proposal]:
    """Return Proposal objects for (ord, uid, x1, y1, x2, y2, category_id, score, model) rows."""
    out = []
    for _k, uid, x1, y1, x2, y2, cid, score, model in rows:
        if not finite_coords(x1, y1, x2, y2) or not _finite(score):
            log.error("%s: proposal %s has impossible values; left out", where, uid)
            continue
        p = _new(Proposal)
        p.__dict__.update(
            uid=uid, x1=x1, y1=y1, x2=x2, y2=y2, category_id=cid, score=score, model=model
        )
        out.append(p)
    return out


def grouped_rows(cursor: Iterable[tuple]) -> Iterator[tuple[int, list[tuple]]]:
    """Group (image_id, …) rows ordered by image id into (image_id, [row without id])."""
    current, rows = None, []
    for row in cursor:
        if row[0] != current:
            if current is not None:
                yield current, rows
            current, rows = row[0], []
        rows.append(row[1:])
    if current is not None:
        yield current, rows
