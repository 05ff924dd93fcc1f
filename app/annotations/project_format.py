"""The project file's JSON layout (format version 1), both directions.

Boxes and proposals are stored as short lists to keep 100,000-box projects small and fast:
box `[uid, x1, y1, x2, y2, category_id, score | null, source]` (plus `{attributes}` as a ninth
element when the box has any),
proposal `[uid, x1, y1, x2, y2, category_id, score, model]`.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, Proposal
from app.annotations.paths import safe_relative_path

FORMAT_NAME = "detr-studio-project"
FORMAT_VERSION = 1


def project_to_dict(project: Project) -> dict:
    """Return the JSON-ready dict of a project."""
    images = []
    for rec in project.images:
        entry: dict = {"path": rec.path, "status": rec.status.value}
        if rec.width is not None and rec.height is not None:
            entry["width"], entry["height"] = rec.width, rec.height
        if rec.boxes:
            entry["boxes"] = [_box_row(b) for b in rec.boxes]
        if rec.proposals:
            entry["proposals"] = [
                [p.uid, p.x1, p.y1, p.x2, p.y2, p.category_id, p.score, p.model]
                for p in rec.proposals
            ]
        images.append(entry)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "root": os.path.abspath(project.root),
        "next_category_id": project.next_category_id,
        "categories": [{"id": c.id, "name": c.name, "color": c.color} for c in project.categories],
        "meta": project.meta,
        "images": images,
    }


_NUMBER_TYPES = frozenset({int, float})
_ATTRIBUTE_TYPES = frozenset({str, int, float, bool})
MAX_ID = 2**31 - 1  # category ids: the database stores them as 64-bit integers
MAX_SIDE = 1_000_000  # pixels
MAX_COORD = 1e9  # pixels; JSON's 1e999 reads as infinity, which no box can have


def _box_row(b: Box) -> list:
    row = [b.uid, b.x1, b.y1, b.x2, b.y2, b.category_id, b.score, b.source]
    if b.attributes:
        row.append(dict(b.attributes))
    return row


def _attributes(value: object, uid: object) -> tuple:
    if not isinstance(value, dict) or not all(
        type(k) is str and type(v) in _ATTRIBUTE_TYPES for k, v in value.items()
    ):
        raise TypeError(f"box {uid!r} has attributes that are not name: value pairs")
    return tuple(sorted(value.items()))


def _number(value: object) -> bool:
    return type(value) in _NUMBER_TYPES and -MAX_COORD <= value <= MAX_COORD  # NaN fails


def _category_id(value: object) -> int:
    if type(value) is not int or not 0 < value <= MAX_ID:
        raise ValueError(f"category id {value!r} is out of range")
    return value


def _side(value: object) -> int | None:
    if value is None:
        return None
    if type(value) not in _NUMBER_TYPES or not 0 < value <= MAX_SIDE or value != int(value):
        raise ValueError(f"image size {value!r} is not a whole number of pixels up to {MAX_SIDE}")
    return int(value)


def _boxes(rows: list) -> list[Box]:
    out = []
    for row in rows:
        attributes = _attributes(row[8], row[0]) if len(row) == 9 else ()
        uid, x1, y1, x2, y2, cid, score, source = row if len(row) == 8 else row[:8]
        if not (
            _number(x1)
            and _number(y1)
            and _number(x2)
            and _number(y2)
            and type(cid) is int
            and (score is None or _number(score))
            and type(uid) is str
            and type(source) is str
        ):
            raise ValueError(f"box {uid!r} has a wrong or impossible value")
        out.append(
            Box(uid, float(x1), float(y1), float(x2), float(y2), cid, score, source, attributes)
        )
    return out


def _proposals(rows: list) -> list[Proposal]:
    out = []
    for uid, x1, y1, x2, y2, cid, score, model in rows:
        if not (
            _number(x1)
            and _number(y1)
            and _number(x2)
            and _number(y2)
            and type(cid) is int
            and _number(score)
            and type(uid) is str
            and type(model) is str
        ):
            raise ValueError(f"proposal {uid!r} has a wrong or impossible value")
        out.append(Proposal(uid, float(x1), float(y1), float(x2), float(y2), cid, score, model))
    return out


def project_from_dict(data: dict, root: Path) -> Project:
    """Return the project a dict describes (KeyError/TypeError/ValueError when it is damaged)."""
    if data.get("format") != FORMAT_NAME:
        raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT_NAME!r}")
    categories = [
        Category(id=_category_id(c["id"]), name=str(c["name"]), color=str(c["color"]))
        for c in data["categories"]
    ]
    if len({c.id for c in categories}) != len(categories):
        raise ValueError("two categories share an id")
    images = []
    for entry in data["images"]:
        w, h = entry.get("width"), entry.get("height")
        boxes = _boxes(entry["boxes"]) if "boxes" in entry else []
        proposals = _proposals(entry["proposals"]) if "proposals" in entry else []
        path = safe_relative_path(entry["path"])
        if path is None:
            raise ValueError(f"image path {entry['path']!r} leaves the image folder")
        images.append(
            ImageRecord(
                path=path,
                width=_side(w),
                height=_side(h),
                status=ImageStatus(entry.get("status", ImageStatus.UNLABELED.value)),
                boxes=boxes,
                proposals=proposals,
            )
        )
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise TypeError("meta is not an object")
    next_id = data.get("next_category_id", 1)
    if type(next_id) is not int or not 0 < next_id <= MAX_ID + 1:
        raise ValueError(f"next_category_id {next_id!r} is out of range")
    project = Project(
        root=root,
        categories=categories,
        images=images,
        next_category_id=next_id,
        meta=meta,
    )
    if len({rec.path for rec in images}) != len(images):
        raise ValueError("an image path is listed twice")
    return project
