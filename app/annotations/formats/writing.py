"""What every dataset writer shares: which images and boxes go out, in which split, and a
staging folder that replaces the target only once the whole dataset is written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.annotations.coco import ExportSummary
from app.annotations.formats.splits import SplitSpec, split_images
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project
from detr_model.image_file import ImageReadError, read_size

log = logging.getLogger(__name__)

# Written into every exported folder: only a folder holding it may be replaced by an export.
MARKER_NAME = ".detr-studio-export"
ALL = "all"  # the split name when the export is not split


@dataclass(frozen=True)
class ExportOptions:
    """How a dataset is exported: only reviewed images or all, and the split (None: one set)."""

    only_reviewed: bool = False
    split: SplitSpec | None = None


@dataclass
class DatasetSummary(ExportSummary):
    """An ExportSummary with the split sizes and how the image files were placed."""

    splits: dict[str, int] = field(default_factory=dict)
    linked_images: int = 0  # hard links: no copy, no extra disk space
    copied_images: int = 0
    renamed: list[str] = field(default_factory=list)  # "old -> new", names that collided


@dataclass
class PlannedImage:
    """One image of the export: its record, display size and its boxes clipped to the image."""

    rec: ImageRecord
    width: int
    height: int
    boxes: list[tuple[Box, tuple[float, float, float, float]]]


@dataclass
class ExportPlan:
    """The images of each split and the categories (ordered by id: stable class indices)."""

    categories: list[Category]
    splits: dict[str, list[PlannedImage]]
    summary: DatasetSummary


def plan_export(
    project: Project, options: ExportOptions, *, require_files: bool = False
) -> ExportPlan:
    """Return what an export writes: sizes measured where unknown, boxes clipped, splits made.

    Unreadable images (and with `require_files`, for exports that copy the images, missing
    ones) are left out and listed; boxes of unknown classes or with nothing left inside their
    image are counted as skipped (as the COCO export does).
    """
    summary = DatasetSummary(path=None)
    categories = sorted(project.categories, key=lambda c: c.id)
    known = {c.id for c in categories}
    chosen: list[ImageRecord] = []
    planned: dict[int, PlannedImage] = {}
    for rec in project.images:
        if options.only_reviewed and rec.status != ImageStatus.REVIEWED:
            continue
        if require_files and not os.path.isfile(project.root / rec.path):
            summary.skipped_images.append(f"{rec.path}: file not found")
            continue
        if rec.size is None:
            try:
                rec.width, rec.height = read_size(project.root / rec.path, name=rec.path)
            except ImageReadError as exc:
                summary.skipped_images.append(str(exc))
                log.warning("export: %s", exc)
                continue
        width, height = rec.size
        boxes = []
        for box in rec.boxes:
            rect = _clip(box, width, height)
            if box.category_id not in known or rect is None:
                summary.skipped_boxes += 1
                continue
            boxes.append((box, rect))
        chosen.append(rec)
        planned[id(rec)] = PlannedImage(rec, width, height, boxes)
    if options.split is None:
        groups = {ALL: chosen}
    else:
        # Stratify on the boxes that go out, not on ones the export drops.
        views = [ImageRecord(r.path, boxes=[b for b, _ in planned[id(r)].boxes]) for r in chosen]
        by_path = {r.path: r for r in chosen}
        groups = {
            name: [by_path[v.path] for v in part]
            for name, part in split_images(views, options.split).items()
        }
    splits = {name: [planned[id(r)] for r in recs] for name, recs in groups.items()}
    summary.images = len(chosen)
    summary.annotations = sum(len(p.boxes) for p in planned.values())
    summary.categories = len(categories)
    summary.splits = {name: len(items) for name, items in splits.items()}
    return ExportPlan(categories, splits, summary)


def _clip(box: Box, width: int, height: int) -> tuple[float, float, float, float] | None:
    x1, x2 = sorted((box.x1, box.x2))
    y1, y2 = sorted((box.y1, box.y2))
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if not (x2 > x1 and y2 > y1):  # also False for NaN
        return None
    return (x1, y1, x2, y2)


@dataclass
class FolderExport:
    """A folder export under way: the plan, each image's exported path, the staging folder."""

    plan: ExportPlan
    names: dict[str, str]  # project path -> path inside the export (collisions renamed)
    stage: Path

    @property
    def summary(self) -> DatasetSummary:
        return self.plan.summary


@contextlib.contextmanager
def folder_export(
    project: Project, target: str | os.PathLike, options: ExportOptions
) -> Iterator[FolderExport]:
    """Plan an export that copies the images and stage it (see staged_folder)."""
    target = Path(target)
    plan = plan_export(project, options, require_files=True)
    paths = [p.rec.path for items in plan.splits.values() for p in items]
    names = unique_stems(paths, plan.summary)
    with staged_folder(target, project.root, renamed=renamed_map(names)) as stage:
        yield FolderExport(plan, names, stage)
    plan.summary.path = target
    log.info("exported %d images to %s", plan.summary.images, target)


def number(value: float) -> str:
    """Return a float as short text exact to 1e-6 ('12', '12.5', '0.123457')."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# ----- writing a folder --------------------------------------------------------------------


def _check_target(target: Path, project_root: Path) -> None:
    target_abs, root_abs = Path(os.path.abspath(target)), Path(os.path.abspath(project_root))
    if target_abs == root_abs or target_abs in root_abs.parents:
        raise ValueError(f"{target}: holds the project's images; choose another folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER_NAME).exists():
        raise ValueError(
            f"{target}: folder is not empty and is no earlier export; choose a new or empty folder"
        )
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target}: is a file, not a folder")


@contextlib.contextmanager
def staged_folder(
    target: Path, project_root: Path, *, renamed: dict[str, str] | None = None
) -> Iterator[Path]:
    """Yield an empty folder beside `target`; on success it becomes `target` in one rename.

    An earlier export in `target` (it holds MARKER_NAME) is replaced whole; any other
    non-empty folder, and the project's own folder, are refused. On failure the staging folder
    is removed and `target` is as it was. `renamed` ({exported path: project path}) goes into
    the marker, so importing the folder again finds the images it renamed.
    """
    target = Path(target)
    _check_target(target, project_root)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
        os.chmod(stage, 0o755)  # mkdtemp's 0700 would keep the dataset from other users
    except OSError as exc:
        raise OSError(exc.errno, f"{target}: cannot write here ({exc.strerror or exc})") from exc
    try:
        yield stage
        marker = {"written_by": "DETR Studio; its next export may replace this folder"}
        marker["renamed"] = renamed or {}
        (stage / MARKER_NAME).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        _flush(stage)
        _publish(stage, target)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise OSError(exc.errno, f"{target}: export failed, nothing was changed ({exc})") from exc
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _publish(stage: Path, target: Path) -> None:
    """Swap the finished staging folder in for `target` (an earlier export is put back on error)."""
    old = None
    try:
        if target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            )
            os.replace(target, old / target.name)
        try:
            os.replace(stage, target)
        except OSError:
            if old is not None:
                os.replace(old / target.name, target)
            raise
    except OSError as exc:
        raise OSError(exc.errno, f"{target}: cannot replace ({exc.strerror or exc})") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _flush(folder: Path) -> None:
    """Make the written files durable before the rename publishes them."""
    if hasattr(os, "sync"):
        os.sync()  # one call instead of an fsync per file: 10,000 label files stay fast
        return
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with open(os.path.join(dirpath, name), "rb+") as f:
                os.fsync(f.fileno())


def place_image(source: Path, dest: Path, summary: DatasetSummary) -> None:
    """Put the image at `dest`: a hard link where the file system allows it, else a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
        summary.linked_images += 1
        return
    except OSError:
        pass
    try:
        shutil.copy2(source, dest)
    except OSError as exc:
        raise OSError(
            exc.errno, f"{source}: cannot copy into the export ({exc.strerror or exc})"
        ) from exc
    summary.copied_images += 1


def read_renamed(folder: Path) -> dict[str, str]:
    """Return {exported path: project path} from an export's marker ({} when there is none)."""
    try:
        data = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    renamed = data.get("renamed") if isinstance(data, dict) else None
    if not isinstance(renamed, dict):
        return {}
    return {k: v for k, v in renamed.items() if isinstance(k, str) and isinstance(v, str)}


def renamed_map(names: dict[str, str]) -> dict[str, str]:
    """Return {exported path: project path} for the images unique_stems renamed."""
    return {new: old for old, new in names.items() if new != old}


def unique_stems(paths: list[str], summary: DatasetSummary) -> dict[str, str]:
    """Return {image path: exported path}, renaming images whose label file would collide.

    `a.jpg` and `a.png` in one folder would both want `a.txt`/`a.xml`/`a.json`: the later one
    becomes `a_png.png` and the rename is listed in the summary.
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    for path in paths:
        stem, dot, ext = path.rpartition(".")
        if not dot:
            stem, ext = path, ""
        key = stem.casefold()
        new = path
        if key in taken:
            base = f"{stem}_{ext.lower()}" if ext else stem
            k, candidate = 1, base
            while candidate.casefold() in taken:
                k += 1
                candidate = f"{base}_{k}"
            new = f"{candidate}.{ext}" if ext else candidate
            summary.renamed.append(f"{path} -> {new}")
            key = candidate.casefold()
        taken.add(key)
        out[path] = new
    return out
