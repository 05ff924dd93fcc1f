"""labelme JSON: one file per image; ``rectangle`` shapes are boxes (two corners, display
orientation), other shapes are reported as skipped by type. A shape's ``flags``, ``group_id``
and ``description`` are kept as box attributes.

``imagePath`` comes from someone else's machine: it is resolved against the JSON's folder and
used only when it stays inside the imported folder (or the project folder); otherwise the
image with the JSON's name beside it is used, or the file is refused.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from app.annotations.coco_import import ImportResult
from app.annotations.formats.reading import ResultBuilder, list_files
from app.annotations.formats.writing import (
    ALL,
    DatasetSummary,
    ExportOptions,
    folder_export,
    place_image,
)
from app.annotations.model import Project
from detr_model.image_file import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

# labelme warns about files whose major version differs from its own (5.x today).
LABELME_VERSION = "5.5.0"
# The class list labelme takes with --labels; its conversion scripts' special names are skipped.
LABELS_TXT = "labels.txt"
_NOT_CLASSES = frozenset({"__ignore__", "_background_"})
_ATTRIBUTE_TYPES = (str, int, float, bool)


def is_labelme(data: object) -> bool:
    """Return True for a parsed labelme file (a dict with a 'shapes' list)."""
    return isinstance(data, dict) and isinstance(data.get("shapes"), list)


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def resolve_image(json_file: Path, image_path: object, roots: list[Path]) -> tuple[Path, str]:
    """Return (image file, note) for a labelme file: its imagePath when that stays inside
    `roots`, else the same-named image beside the JSON; note says why imagePath was not used.
    """
    allowed = [os.path.abspath(r) for r in roots]
    note = ""
    if isinstance(image_path, str) and image_path and "\x00" not in image_path:
        candidate = os.path.normpath(os.path.join(json_file.parent, image_path.replace("\\", "/")))
        if _inside(candidate, allowed):
            if os.path.isfile(candidate):
                return Path(candidate), ""
        else:
            note = f"imagePath {image_path!r} leaves the folder"
            candidate = None
    else:
        note = "imagePath is not a file name" if image_path is not None else ""
        candidate = None
    beside = [json_file.with_suffix(ext) for ext in sorted(IMAGE_EXTENSIONS)]
    found = next((b for b in beside if b.is_file()), None)
    if found is not None:
        return found, note
    # Nothing on disk: the project may still hold the image under this name.
    return (Path(candidate) if candidate else beside[0]), note


def read(folder: str | os.PathLike, project: Project) -> ImportResult:
    """Return the rectangles of a folder of labelme JSON files for MergeImport."""
    folder = Path(folder)
    builder = ResultBuilder.for_folder(folder, project)
    report = builder.report
    for name in _read_labels(folder / LABELS_TXT):  # classes without boxes come along too
        builder.category_id(name)
    for path in list_files(folder, suffix=".json"):
        where = os.path.relpath(path, folder)
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError) as exc:
            report.skip("unreadable file", f"{where}: cannot read ({exc})")
            continue
        except json.JSONDecodeError as exc:
            report.skip(
                "not valid JSON", f"{where}: line {exc.lineno}, column {exc.colno}: {exc.msg}"
            )
            continue
        if not is_labelme(data):
            report.skip("not a labelme file", f"{where}: no 'shapes' list")
            continue
        image, note = resolve_image(path, data.get("imagePath"), [folder, project.root])
        if note:
            if not image.is_file():
                report.skip("imagePath leaves the folder", f"{where}: {note}, refused")
                continue
            report.notes.append(f"{where}: {note}; used {image.name} beside it.")
        w, h = data.get("imageWidth"), data.get("imageHeight")
        stated = (w, h) if type(w) is int and type(h) is int and w > 0 and h > 0 else None
        rec = builder.image(image, where, stated_size=stated)
        if rec is None:
            continue
        for n, shape in enumerate(data["shapes"], start=1):
            _read_shape(builder, rec, shape, f"{where} shape {n}")
    return builder.result()


def _read_labels(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [n.strip() for n in lines if n.strip() and n.strip() not in _NOT_CLASSES]


def _read_shape(builder: ResultBuilder, rec, shape: object, where: str) -> None:
    report = builder.report
    if not isinstance(shape, dict):
        report.skip("shape is not an object", where)
        return
    kind = shape.get("shape_type") or "polygon"  # labelme's default when the key is absent
    if kind != "rectangle":
        report.skip(f"{kind} shape (only rectangles are boxes)", f"{where}: {kind}")
        return
    label = shape.get("label")
    if not isinstance(label, str) or not label.strip():
        report.skip("shape without a label", where)
        return
    points = shape.get("points")
    if not (
        isinstance(points, list)
        and len(points) == 2
        and all(
            isinstance(p, list) and len(p) == 2 and all(type(v) in (int, float) for v in p)
            for p in points
        )
    ):
        report.skip("rectangle is not 2 points", f"{where}: points {str(points)[:60]}")
        return
    (ax, ay), (bx, by) = points
    attributes: list[tuple[str, object]] = []
    flags = shape.get("flags")
    if isinstance(flags, dict):
        attributes += [(str(k), v) for k, v in flags.items() if isinstance(v, _ATTRIBUTE_TYPES)]
    if type(shape.get("group_id")) is int:
        attributes.append(("group_id", shape["group_id"]))
    if isinstance(shape.get("description"), str) and shape["description"]:
        attributes.append(("description", shape["description"]))
    rect = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
    builder.add_box(rec, rect, builder.category_id(label), where, attributes=attributes)


def shape_json(name: str, rect, attributes: dict) -> dict:
    """Return a labelme rectangle shape for a box."""
    group = attributes.get("group_id")
    flags = {k: v for k, v in attributes.items() if k not in ("group_id", "description")}
    return {
        "label": name,
        "points": [[rect[0], rect[1]], [rect[2], rect[3]]],
        "group_id": group if type(group) is int else None,
        "description": str(attributes.get("description", "")),
        "shape_type": "rectangle",
        "flags": flags,
        "mask": None,
    }


def write(project: Project, target: str | os.PathLike, options: ExportOptions) -> DatasetSummary:
    """Write each image with its labelme JSON beside it (one subfolder per split, if split)."""
    with folder_export(project, target, options) as export:
        plan, out, stage, summary = export.plan, export.names, export.stage, export.summary
        names = {c.id: c.name for c in plan.categories}
        for split, items in plan.splits.items():
            base = stage if split == ALL else stage / split
            for item in items:
                path = out[item.rec.path]
                place_image(project.root / item.rec.path, base / path, summary)
                data = {
                    "version": LABELME_VERSION,
                    "flags": {},
                    "shapes": [
                        shape_json(names[box.category_id], rect, dict(box.attributes))
                        for box, rect in item.boxes
                    ],
                    "imagePath": path.rsplit("/", 1)[-1],
                    "imageData": None,
                    "imageHeight": item.height,
                    "imageWidth": item.width,
                }
                text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
                (base / f"{path.rsplit('.', 1)[0]}.json").write_text(text + "\n", encoding="utf-8")
        (stage / LABELS_TXT).write_text(
            "".join(f"{c.name}\n" for c in plan.categories), encoding="utf-8"
        )
    return summary
