"""Reading COCO detection files from us and from other tools, skipping bad entries with a report."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from math import isfinite
from pathlib import Path

from app.annotations.gcpause import paused_gc
from app.annotations.geometry import clamp_rect, rect_area, xywh_to_xyxy
from app.annotations.model import (
    Box,
    Category,
    ImageRecord,
    ImageStatus,
    generated_color,
    new_uid,
)
from app.annotations.paths import safe_relative_path

EXTRA_KEY = "detr_studio"
BOX_SOURCES = frozenset({"manual", "model", "import"})
_COLOR_CHARS = frozenset("0123456789abcdefABCDEF")


class CocoImportError(ValueError):
    """A file that cannot be read as a COCO dataset at all; the message names the file."""


@dataclass
class ImportReport:
    """What an import took in and what it skipped, in words a user can read."""

    source: str
    images: int = 0
    boxes: int = 0
    categories: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_files: int = 0  # images listed in the file but not found under the root
    clamped_boxes: int = 0
    max_examples: int = 10

    def skip(self, reason: str, detail: str) -> None:
        """Count a skipped entry under `reason`; keep `detail` as an example while there is room."""
        self.skipped[reason] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(detail)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """Return a few readable lines: counts, skipped entries by reason, examples, notes."""
        lines = [
            f"Imported {self.images} images, {self.boxes} boxes and {self.categories} classes "
            f"from {self.source}."
        ]
        if self.skipped:
            reasons = ", ".join(f"{n} × {r}" for r, n in self.skipped.most_common())
            lines.append(f"Skipped {self.skipped_total} entries: {reasons}.")
            lines.extend(f"  {e}" for e in self.examples)
        if self.clamped_boxes:
            lines.append(
                f"{self.clamped_boxes} boxes reached outside their image and were clipped."
            )
        if self.missing_files:
            lines.append(f"{self.missing_files} listed images are not in the image folder.")
        lines.extend(self.notes)
        return "\n".join(lines)


@dataclass
class ImportResult:
    """Categories and images (with their boxes) read from a COCO file, plus the report."""

    categories: list[Category]
    images: list[ImageRecord]
    report: ImportReport
    ours: bool = False  # written by DETR Studio (extra data present)
    next_category_id: int | None = None
    given_colors: frozenset[int] = frozenset()  # ids of categories whose colour the file gave

    @property
    def boxes(self) -> int:
        return sum(len(rec.boxes) for rec in self.images)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _entry_id(value: object) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _extra(entry: dict) -> dict:
    extra = entry.get(EXTRA_KEY)
    return extra if isinstance(extra, dict) else {}


def _color(value: object) -> str | None:
    ok = isinstance(value, str) and len(value) == 7 and value[0] == "#"
    return value.lower() if ok and set(value[1:]) <= _COLOR_CHARS else None


def _parse_categories(
    data: dict, report: ImportReport
) -> tuple[list[Category], dict, frozenset[int]]:
    """Return the categories, a map from the file's category ids to ours, and the ids of the
    categories whose colour the file gave (kept even when two classes share it)."""
    raw = data.get("categories")
    if not isinstance(raw, list):
        raw = []
        report.notes.append("The file has no category list; its boxes cannot be imported.")
    entries: list[tuple[int | str, str, str | None]] = []
    seen_ids: set = set()
    for i, entry in enumerate(raw):
        cid = _entry_id(entry.get("id")) if isinstance(entry, dict) else None
        if cid is None:
            report.skip("category without a valid id", f"category #{i}: no valid id")
            continue
        if cid in seen_ids:
            report.skip("duplicate category id", f"category #{i}: id {cid!r} listed twice")
            continue
        seen_ids.add(cid)
        name = entry.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            name = f"class {cid}"
            report.notes.append(f"Category id {cid!r} has no name; called it {name!r}.")
        color = _color(_extra(entry).get("color")) or _color(entry.get("color"))
        entries.append((cid, name, color))

    keep_ids = all(isinstance(cid, int) and cid >= 1 for cid, _, _ in entries)
    if not keep_ids:
        report.notes.append(
            "Category ids were renumbered from 1 (the file used 0 or non-numeric ids)."
        )
    categories: list[Category] = []
    by_name: dict[str, Category] = {}
    id_map: dict = {}
    given: set[int] = set()
    used_colors: set[str] = {color for _, _, color in entries if color is not None}
    for n, (cid, name, color) in enumerate(entries):
        if name in by_name:
            id_map[cid] = by_name[name].id
            report.notes.append(
                f"Category ids {by_name[name].id} and {cid!r} share the name {name!r}; merged."
            )
            continue
        new_id = cid if keep_ids else n + 1
        if color is None:  # one the file does not give: unlike every other class
            k = 0
            while (color := generated_color(k)) in used_colors:
                k += 1
            used_colors.add(color)
        else:
            given.add(new_id)
        cat = Category(id=new_id, name=name, color=color)
        categories.append(cat)
        by_name[name] = cat
        id_map[cid] = cat.id
    return categories, id_map, frozenset(given)


def _parse_images(
    data: dict, root: Path | None, report: ImportReport
) -> tuple[list[ImageRecord], dict, dict]:
    """Return records, a map from the file's image ids to records, and the stored statuses."""
    records: list[ImageRecord] = []
    by_id: dict = {}
    by_path: dict[str, ImageRecord] = {}
    statuses: dict[str, ImageStatus] = {}
    for i, entry in enumerate(data["images"]):
        iid = _entry_id(entry.get("id")) if isinstance(entry, dict) else None
        if iid is None:
            report.skip("image without a valid id", f"image #{i}: no valid id")
            continue
        if iid in by_id:
            report.skip("duplicate image id", f"image #{i}: id {iid!r} listed twice")
            continue
        name = entry.get("file_name")
        path = safe_relative_path(name)
        if path is None:
            if isinstance(name, str) and name:
                report.skip(
                    "file_name leaves the image folder",
                    f"image id {iid!r}: file_name {name!r} leaves the image folder (refused)",
                )
            else:
                report.skip("image without file_name", f"image id {iid!r}: no file_name")
            continue
        if path in by_path:  # same file listed twice: its boxes go to one record
            by_id[iid] = by_path[path]
            report.notes.append(f"{path} is listed twice; its boxes were combined.")
            continue
        w, h = _number(entry.get("width")), _number(entry.get("height"))
        rec = ImageRecord(
            path=path,
            width=int(round(w)) if w and w > 0 else None,
            height=int(round(h)) if h and h > 0 else None,
        )
        if rec.size is None:
            rec.width = rec.height = None
        status = _extra(entry).get("status")
        if status in ImageStatus._value2member_map_:
            statuses[path] = ImageStatus(status)
        records.append(rec)
        by_id[iid] = rec
        by_path[path] = rec
        if root is not None and not os.path.isfile(root / path):
            report.missing_files += 1
    return records, by_id, statuses


_NUMBER_TYPES = frozenset({int, float})


def _where(entry: dict, index: int) -> str:
    return f"annotation {entry.get('id', '#' + str(index))!r}"


def _parse_box(entry: dict, rec: ImageRecord, cid: int, report: ImportReport, index: int):
    """Return the Box of one annotation (uid may be empty), or None after reporting why."""
    bbox = entry.get("bbox")
    # Fast path first: 100,000 annotations must import in well under a second.
    if type(bbox) is not list or len(bbox) != 4:
        if bbox is None:
            report.skip("missing bbox", f"{_where(entry, index)}: no bbox")
        else:
            report.skip(
                "bbox is not 4 numbers",
                f"{_where(entry, index)}: bbox {bbox!r} is not [x, y, w, h]",
            )
        return None
    x, y, w, h = bbox
    t = _NUMBER_TYPES
    if not (
        type(x) in t and type(y) in t and type(w) in t and type(h) in t and isfinite(x + y + w + h)
    ):
        report.skip(
            "bbox has non-finite numbers",
            f"{_where(entry, index)}: bbox {bbox!r} has non-finite numbers",
        )
        return None
    if w <= 0 or h <= 0:
        report.skip("zero-size box", f"{_where(entry, index)}: bbox {bbox!r} has no area")
        return None
    rect = xywh_to_xyxy((float(x), float(y), float(w), float(h)))
    extra = entry.get(EXTRA_KEY)
    if type(extra) is not dict:
        extra = {}
    exact = extra.get("xyxy")
    if type(exact) is list and len(exact) == 4:
        exact_nums = [_number(v) for v in exact]
        tol = 1e-6 * max(1.0, *(abs(v) for v in rect))
        if all(v is not None for v in exact_nums) and all(
            abs(a - b) <= tol for a, b in zip(exact_nums, rect, strict=True)
        ):
            rect = tuple(exact_nums)  # our own file: the corners exactly as they were
    width, height = rec.width, rec.height
    if (
        width is not None
        and height is not None
        and not (rect[0] >= 0 and rect[1] >= 0 and rect[2] <= width and rect[3] <= height)
    ):
        clamped = clamp_rect(rect, width, height)
        if clamped != rect:
            if rect_area(clamped) <= 0:
                report.skip(
                    "box outside its image",
                    f"{_where(entry, index)}: bbox {bbox!r} is outside the image",
                )
                return None
            report.clamped_boxes += 1
            rect = clamped
    source = extra.get("source", "manual" if extra else "import")
    score = extra.get("score", entry.get("score"))
    if score is not None:
        score = _number(score)
    uid = extra.get("uid")
    return Box(
        uid if type(uid) is str else "",
        rect[0],
        rect[1],
        rect[2],
        rect[3],
        cid,
        score,
        source if source in BOX_SOURCES else "import",
    )


def parse_coco(
    data: object, project_root: str | os.PathLike | None = None, *, source: str = "COCO data"
) -> ImportResult:
    """Return what a parsed COCO dict holds; bad entries are skipped and counted.

    `project_root`, when given, is used only to count listed images missing from the folder.
    """
    if isinstance(data, list):
        raise CocoImportError(f"{source}: a list of detections, not a COCO dataset (no 'images')")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise CocoImportError(f"{source}: not a COCO detection file (no 'images' list)")
    report = ImportReport(source=source)
    root = Path(project_root) if project_root is not None else None
    info_extra = _extra(data["info"]) if isinstance(data.get("info"), dict) else {}
    ours = bool(info_extra)

    categories, cat_map, given_colors = _parse_categories(data, report)
    records, image_map, statuses = _parse_images(data, root, report)
    annotations = data.get("annotations", [])
    if not isinstance(annotations, list):
        report.notes.append("The 'annotations' field is not a list; no boxes were imported.")
        annotations = []
    seen_uids: set[str] = set()
    for i, entry in enumerate(annotations):
        if type(entry) is not dict:
            report.skip("annotation is not an object", f"annotation #{i}: not an object")
            continue
        image_id = entry.get("image_id")
        rec = image_map.get(image_id if type(image_id) is int else _entry_id(image_id))
        if rec is None:
            report.skip("unknown image id", f"{_where(entry, i)}: unknown image id {image_id!r}")
            continue
        category_id = entry.get("category_id")
        cid = cat_map.get(category_id if type(category_id) is int else _entry_id(category_id))
        if cid is None:
            report.skip(
                "unknown category id", f"{_where(entry, i)}: unknown category id {category_id!r}"
            )
            continue
        if _is_crowd(entry.get("iscrowd")):
            report.skip(
                "crowd region (iscrowd=1)", f"{_where(entry, i)}: crowd region, not an object box"
            )
            continue
        box = _parse_box(entry, rec, cid, report, i)
        if box is None:
            continue
        if not box.uid or box.uid in seen_uids:
            box = Box(new_uid(), *box.rect, box.category_id, box.score, box.source)
        seen_uids.add(box.uid)
        rec.boxes.append(box)

    for rec in records:
        if rec.path in statuses:
            rec.status = statuses[rec.path]
        else:  # other tools: boxes mean someone labelled the image
            rec.status = ImageStatus.REVIEWED if rec.boxes else ImageStatus.UNLABELED
    next_id = info_extra.get("next_category_id")
    report.images = len(records)
    report.boxes = sum(len(r.boxes) for r in records)
    report.categories = len(categories)
    return ImportResult(
        categories=categories,
        images=records,
        report=report,
        ours=ours,
        next_category_id=next_id if isinstance(next_id, int) and next_id > 0 else None,
        given_colors=given_colors,
    )


def _is_crowd(value: object) -> bool:
    """Return True for a crowd flag: 1 or true, also written as a string ("1", "true")."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return value not in (None, 0, False)


def import_coco(path: str | os.PathLike, project_root: str | os.PathLike | None) -> ImportResult:
    """Return what a COCO file holds (see parse_coco); CocoImportError if it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CocoImportError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise CocoImportError(f"{path}: not a text file ({exc.reason})") from exc
    with paused_gc():
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CocoImportError(
                f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from exc
        except RecursionError:  # was a raw RecursionError through the window (issue 17)
            raise CocoImportError(f"{path}: not a COCO file (nested too deeply)") from None
        return parse_coco(data, project_root, source=path.name)
