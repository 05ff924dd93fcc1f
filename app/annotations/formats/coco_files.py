"""COCO JSON in the format registry: the existing import, and an export that writes one file per
split (``name_train.json``, ``name_val.json``, …) with every file replaced only once all are
written.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from app.annotations.coco import build_coco, export_coco, import_coco
from app.annotations.coco_import import ImportResult
from app.annotations.formats.writing import ALL, DatasetSummary, ExportOptions, plan_export
from app.annotations.gcpause import paused_gc
from app.annotations.model import Project


def read(path: str | os.PathLike, project: Project) -> ImportResult:
    """Return what a COCO file holds (the import the app has always used)."""
    return import_coco(Path(path), project.root)


def split_paths(path: Path, splits: list[str]) -> dict[str, Path]:
    """Return the file of each split: ``a/b.json`` -> ``a/b_train.json``, ``a/b_val.json``."""
    return {s: path.with_name(f"{path.stem}_{s}{path.suffix or '.json'}") for s in splits}


def write(project: Project, target: str | os.PathLike, options: ExportOptions) -> DatasetSummary:
    """Write COCO JSON: one file, or one per split beside `target`'s name."""
    target = Path(target)
    if options.split is None:
        plain = export_coco(project, target, only_reviewed=options.only_reviewed)
        summary = DatasetSummary(**vars(plain))
        summary.splits = {ALL: plain.images}
        return summary
    plan = plan_export(project, options)
    summary = plan.summary
    paths = split_paths(target, list(plan.splits))
    texts = {}
    with paused_gc():
        for split, items in plan.splits.items():
            view = Project(
                root=project.root,
                categories=list(project.categories),
                images=[item.rec for item in items],
                next_category_id=project.next_category_id,
            )
            data, _ = build_coco(view)
            texts[split] = json.dumps(data, separators=(",", ":"), allow_nan=False)
    write_all({paths[s]: text for s, text in texts.items()})
    summary.path = target
    return summary


def write_all(files: dict[Path, str]) -> None:
    """Write several files so that either all are replaced or none is (temp, fsync, rename).

    Every temp file is written and synced before the first rename, so a full disk or a
    read-only folder leaves all the old files as they were.
    """
    temps: dict[Path, str] = {}
    path = next(iter(files), Path())
    try:
        for path, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps[path] = tmp
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in temps.items():  # noqa: B007 - `path` names the file in the error
            os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, f"{path}: could not save ({exc.strerror or exc})") from exc
    finally:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
