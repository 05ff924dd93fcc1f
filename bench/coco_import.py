"""Time importing a large COCO file into a project: 10,000 and 100,000 annotations, same run.

Usage: python bench/coco_import.py [--images 2000] [--repeat 3]

Writes two COCO files (10,000 and 100,000 boxes over `images` images of 640x480, five classes),
then for each: read and check it (`import_coco`), and merge it into a project that lists the
same images with known sizes (`MergeImport`: clipping, duplicate check, undo state). Prints the
best of `repeat` runs in seconds, the ratio of 100,000 to 10,000 (about 10 when the cost grows
linearly), and the load average. No window: tests/reliability/test_coco_import.py drives the
same import through MainWindow.import_coco.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.annotations.coco import import_coco  # noqa: E402
from app.annotations.coco_merge import merge_import  # noqa: E402
from app.annotations.model import ImageRecord, Project  # noqa: E402


def write_file(path: Path, annotations: int, images: int) -> Path:
    """Write a COCO file with `annotations` distinct boxes over `images` images."""
    data = {
        "images": [
            {"id": i, "file_name": f"img{i:05d}.jpg", "width": 640, "height": 480}
            for i in range(images)
        ],
        "annotations": [
            {
                "id": k + 1,
                "image_id": k % images,
                "category_id": k % 5 + 1,
                "bbox": [k // images % 600, k // images % 460, 30.5, 20.25],
                "area": 617.625,
                "iscrowd": 0,
            }
            for k in range(annotations)
        ],
        "categories": [{"id": c, "name": f"class {c}"} for c in range(1, 6)],
    }
    path.write_text(json.dumps(data))
    return path


def time_import(path: Path, images: int, repeat: int) -> tuple[float, float]:
    """Return the best (read, merge) seconds of `repeat` imports of `path`."""
    best_read = best_merge = float("inf")
    for _ in range(repeat):
        project = Project(
            root=path.parent,
            images=[ImageRecord(f"img{i:05d}.jpg", 640, 480) for i in range(images)],
        )
        started = time.perf_counter()
        result = import_coco(path, path.parent)
        read = time.perf_counter() - started
        merge_import(project, result)
        merged = time.perf_counter() - started - read
        best_read, best_merge = min(best_read, read), min(best_merge, merged)
    return best_read, best_merge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        totals = {}
        for count in (10_000, 100_000):
            path = write_file(Path(tmp) / f"coco_{count}.json", count, args.images)
            read, merge = time_import(path, args.images, args.repeat)
            totals[count] = read + merge
            print(f"{count:>7,} annotations: read {read:.2f} s, merge {merge:.2f} s, "
                  f"total {read + merge:.2f} s")  # fmt: skip
    print(f"ratio 100,000 / 10,000: {totals[100_000] / totals[10_000]:.1f}")
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
