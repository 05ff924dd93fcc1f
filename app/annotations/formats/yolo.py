"""YOLO detection labels, Ultralytics layout: ``images/…`` with ``labels/…/<stem>.txt`` holding
``class cx cy w h`` normalised by the image's display size, and ``data.yaml`` naming the classes.

Import also reads LabelImg's YOLO folders (label files beside the images, ``classes.txt``),
Roboflow's ``train/images`` + ``train/labels``, confidence columns (as scores) and polygon
lines (as their bounding boxes).
"""

from __future__ import annotations

import logging
import os
from math import isfinite
from pathlib import Path

from app.annotations.coco_import import ImportResult
from app.annotations.formats.reading import LabelImportError, ResultBuilder, list_files
from app.annotations.formats.writing import (
    ALL,
    DatasetSummary,
    ExportOptions,
    folder_export,
    number,
    place_image,
)
from app.annotations.formats.yolo_yaml import (
    YamlSubsetError,
    class_names,
    data_yaml,
    parse_data_yaml,
)
from app.annotations.model import Project

log = logging.getLogger(__name__)

CLASSES_TXT = "classes.txt"
_YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
_IMAGES, _LABELS = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
_TOLERANCE = 1e-6  # normalised coordinates a hair outside 0-1 are rounding, not errors


def find_names_file(folder: Path) -> Path | None:
    """Return the data.yaml (or classes.txt) that names the classes of a YOLO folder."""
    for name in (*_YAML_NAMES, CLASSES_TXT):
        if (folder / name).is_file():
            return folder / name
    yamls = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    return yamls[0] if yamls else None


def read_names(path: Path) -> dict[int, str]:
    """Return {class index: name} from a data.yaml or classes.txt; LabelImportError if unreadable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelImportError(f"{path}: cannot read ({exc})") from exc
    if path.suffix.lower() == ".txt":
        return {i: line.strip() for i, line in enumerate(text.splitlines()) if line.strip()}
    try:
        names = class_names(parse_data_yaml(text))
    except YamlSubsetError as exc:
        raise LabelImportError(f"{path.name}: {exc}") from exc
    if names is None:
        raise LabelImportError(f"{path.name}: names no classes (no 'names' or 'nc')")
    return names


def label_file_for(image: Path) -> Path:
    """Return where Ultralytics looks for an image's labels (``/images/`` -> ``/labels/``)."""
    text = os.fspath(image)
    if _IMAGES in text:
        text = _LABELS.join(text.rsplit(_IMAGES, 1))
    return Path(text.rsplit(".", 1)[0] + ".txt")


def read(folder: str | os.PathLike, project: Project) -> ImportResult:
    """Return the labels of a YOLO folder for MergeImport; bad lines are skipped and reported."""
    folder = Path(folder)
    builder = ResultBuilder.for_folder(folder, project)
    report = builder.report
    names_file = find_names_file(folder)
    names = read_names(names_file) if names_file else None
    if names is None:
        report.notes.append("No data.yaml or classes.txt: classes are named by their numbers.")
    ids: dict[int, int] = {}
    for index, name in sorted((names or {}).items()):
        ids[index] = builder.category_id(name or f"class_{index}")
    images = list_files(folder, images=True)
    used: set[Path] = set()
    polygons = 0
    for image in images:
        label = label_file_for(image)
        if not label.is_file():
            beside = image.with_suffix(".txt")  # LabelImg keeps the labels beside the image
            if not beside.is_file() or beside.name == CLASSES_TXT:
                builder.unlabelled_image(image)
                continue
            label = beside
        used.add(label)
        where = os.path.relpath(label, folder)
        try:
            text = label.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            report.skip("unreadable label file", f"{where}: cannot read ({exc})")
            continue
        rec = builder.image(image, where)
        if rec is None:
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            row = _parse_line(fields)
            if isinstance(row, str):
                report.skip(row, f"{where} line {lineno}: {line.strip()[:60]!r}")
                continue
            index, cx, cy, w, h, score, polygon = row
            polygons += polygon
            if index not in ids:
                if names is not None:
                    report.skip(
                        "class number not in the names",
                        f"{where} line {lineno}: class {index} (names has {len(names)})",
                    )
                    continue
                ids[index] = builder.category_id(f"class_{index}")
            W, H = rec.width, rec.height  # noqa: N806 - the image size, as in the format
            rect = ((cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H)
            builder.add_box(rec, rect, ids[index], f"{where} line {lineno}", score=score)
    for label in list_files(folder, suffix=".txt"):
        if _LABELS in os.fspath(label) and label not in used:
            report.skip("label file without an image", f"{os.path.relpath(label, folder)}")
    if polygons:
        report.notes.append(f"{polygons} polygons were read as their bounding boxes.")
    return builder.result()


def _parse_line(fields: list[str]):
    """Return (class, cx, cy, w, h, score, was_polygon) or the reason the line is refused."""
    try:
        index_value = float(fields[0])
        values = [float(v) for v in fields[1:]]
    except ValueError:
        return "not numbers"
    if not index_value.is_integer() or index_value < 0:
        return "class is not a whole number"
    score, polygon = None, 0
    if len(values) in (4, 5):
        cx, cy, w, h = values[:4]
        if len(values) == 5:
            score = values[4]
    elif len(values) >= 6 and len(values) % 2 == 0:  # a segmentation polygon
        xs, ys = values[0::2], values[1::2]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        polygon = 1
    else:
        return "not 'class cx cy w h'"
    if not all(isfinite(v) for v in (cx, cy, w, h)):
        return "not finite numbers"
    if not all(-_TOLERANCE <= v <= 1 + _TOLERANCE for v in (cx, cy, w, h)):
        return "coordinates not normalised to 0-1"
    return int(index_value), cx, cy, w, h, score, polygon


def _split_folders(splits: list[str]) -> dict[str, str]:
    """Return data.yaml's split keys; Ultralytics needs train and val, so they always exist."""
    if ALL in splits:
        return {"train": "images", "val": "images"}
    folders = {split: f"images/{split}" for split in splits}
    folders.setdefault("train", folders.get("val") or folders.get("test", "images/train"))
    # No val split: validate on test, else on train (data.yaml says so, nothing is hidden).
    folders.setdefault("val", folders.get("test") or folders["train"])
    return dict(sorted(folders.items(), key=lambda kv: ("train", "val", "test").index(kv[0])))


def write(project: Project, target: str | os.PathLike, options: ExportOptions) -> DatasetSummary:
    """Write the project as an Ultralytics YOLO folder (one images/labels folder per split)."""
    with folder_export(project, target, options) as export:
        plan, names, stage, summary = export.plan, export.names, export.stage, export.summary
        index = {c.id: i for i, c in enumerate(plan.categories)}
        for split, items in plan.splits.items():
            sub = "" if split == ALL else f"{split}/"
            for item in items:
                out = names[item.rec.path]
                place_image(project.root / item.rec.path, stage / f"images/{sub}{out}", summary)
                W, H = item.width, item.height  # noqa: N806
                lines = []
                for box, (x1, y1, x2, y2) in item.boxes:
                    values = ((x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H)
                    lines.append(" ".join([str(index[box.category_id]), *map(number, values)]))
                label = stage / f"labels/{sub}{out.rsplit('.', 1)[0]}.txt"
                label.parent.mkdir(parents=True, exist_ok=True)
                label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        folders = _split_folders(list(plan.splits))
        for folder in folders.values():  # a split that got no image still has its folders
            (stage / folder).mkdir(parents=True, exist_ok=True)
            (stage / folder.replace("images", "labels", 1)).mkdir(parents=True, exist_ok=True)
        category_names = [c.name for c in plan.categories]
        (stage / "data.yaml").write_text(
            data_yaml(os.path.abspath(target), folders, category_names), encoding="utf-8"
        )
        (stage / CLASSES_TXT).write_text(
            "".join(name + "\n" for name in category_names), encoding="utf-8"
        )
    return summary
