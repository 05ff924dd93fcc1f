"""Time importing and exporting 10,000 images in every label format, against COCO in the same run.

Usage: python bench/formats.py [--count 10000] [--folder DIR] [--keep]

Writes `count` 640x480 JPEGs (reused when --folder already has them), a project with three
classes and about three boxes an image, then for each format: export (one set, and an 80/10/10
split), read the export back into a fresh project on the same folder (sizes unknown, so every
image header is read, as for a folder someone brings), and merge it (MergeImport). Prints
seconds and the ratio to COCO's time for the same step, with the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from app.annotations import store  # noqa: E402
from app.annotations.coco_merge import MergeImport  # noqa: E402
from app.annotations.formats import (  # noqa: E402
    FORMATS,
    ExportOptions,
    SplitSpec,
    export_dataset,
    import_labels,
)
from app.annotations.model import Box, ImageStatus, new_uid  # noqa: E402


def make_images(folder: Path, count: int) -> float:
    """Write `count` small JPEGs; return seconds taken (0 when they were already there)."""
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.new("RGB", (640, 480), (90, 120, 160))
    for i in range(count):
        name = folder / f"img_{i:05d}.jpg"
        if not name.exists():
            img = base.copy()
            img.paste((200, 40 + i % 200, 60), (i % 500, i % 300, i % 500 + 120, i % 300 + 90))
            img.save(name, quality=80)
    return time.perf_counter() - start


def make_project(folder: Path):
    project = store.new_project(folder)
    for name in ("circle", "square", "triangle"):
        project.add_category(name)
    rng = random.Random(0)
    for rec in project.images:
        rec.width, rec.height = 640, 480
        rec.status = ImageStatus.REVIEWED
        for _ in range(rng.randint(1, 5)):
            x, y = rng.uniform(0, 560), rng.uniform(0, 400)
            w, h = rng.uniform(8, 80), rng.uniform(8, 80)
            rec.boxes.append(Box(new_uid(), x, y, x + w, y + h, rng.randint(1, 3)))
    return project


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()


def run_format(format_id: str, project, folder: Path, work: Path, boxes: int):
    """Return (export s, split export s, read s, merge s, export summary) for one format."""
    target = work / ("out.json" if format_id == "coco" else f"out_{format_id}")
    t_export, summary = timed(lambda: export_dataset(format_id, project, target, ExportOptions()))
    split = ExportOptions(split=SplitSpec(0.8, 0.1, 0.1, seed=0))
    t_split, _ = timed(
        lambda: export_dataset(format_id, project, work / f"split_{format_id}", split)
    )
    fresh = store.new_project(folder)  # sizes unknown: the import reads every header
    t_read, result = timed(lambda: import_labels(format_id, target, fresh))
    t_merge, _ = timed(lambda: MergeImport(result).redo(fresh))
    got = sum(len(r.boxes) for r in fresh.images)
    assert got == boxes, f"{format_id}: {got} boxes came back, {boxes} went out"
    return t_export, t_split, t_read, t_merge, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the images and exports")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_formats_"))
    folder = args.folder or work / "photos"
    try:
        print(f"load average before: {loadavg()}")
        made = make_images(folder, args.count)
        project = make_project(folder)
        boxes = sum(len(r.boxes) for r in project.images)
        print(f"{len(project.images)} images, {boxes} boxes (images written in {made:.1f} s)")
        rows = [(fmt.name, *run_format(fmt.id, project, folder, work, boxes)) for fmt in FORMATS]
        ref = rows[0]
        print()
        print("| format | export | export 80/10/10 | import (read) | merge | import total |")
        print("|---|---|---|---|---|---|")
        for name, t_export, t_split, t_read, t_merge, _ in rows:
            total = t_read + t_merge
            ref_total = ref[3] + ref[4]
            print(
                f"| {name} | {t_export:.2f} s ({t_export / ref[1]:.1f}x) "
                f"| {t_split:.2f} s ({t_split / ref[2]:.1f}x) "
                f"| {t_read:.2f} s ({t_read / ref[3]:.1f}x) | {t_merge:.2f} s "
                f"| {total:.2f} s ({total / ref_total:.1f}x) |"
            )
        linked = [(name, s.linked_images, s.copied_images) for name, *_, s in rows[1:]]
        print("\nimages placed (linked, copied):", linked)
        print("ratios are against COCO JSON in this run")
        print(f"load average after: {loadavg()}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            if args.folder is None:
                shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    os.nice(5)
    main()
