"""Time the project store: open, one durable edit, an auto-annotate batch, COCO export, size,
with the earlier JSON store's save (what each autosave cost) measured beside it in the same run.

Usage: python bench/project_store.py [--sizes 10000 100000] [--edits 400] [--window]
Builds projects of N images × 10 boxes × 5 proposals in a temp folder (images are hard links
to a few 640×480 JPEGs, so the folder lists like a real one), then prints one row per size:

- JSON save / open: `legacy_json.save_json` (the old autosave, on the GUI thread) and its load.
- DB open: `ProjectDocument.open_file` until the image list, categories and box counts are
  ready (boxes follow lazily); "all in memory" is when the background preload finished.
- Edit durable: from handing one box edit to the store until its commit returned (median, p99);
  "GUI-thread cost" is what `record()` itself takes on the calling thread (the stall).
- Batch: 100 images' proposals (10 each) handed over as one change, until durable.
- COCO export, file size (database after a checkpoint).
With --window, also opens the largest folder in the real main window (offscreen) and times it
until the first image is on screen; then the worst gap of a 5 ms timer while the boxes and
proposals are read in the background, and during 150 edits through the window's session (draw a
box, undo it, on one image), once saving them and once with the hand-over to the store left out.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from app.annotations import legacy_json  # noqa: E402
from app.annotations.coco import export_coco  # noqa: E402
from app.annotations.commands import AddBox, SetBoxRect, SetProposals  # noqa: E402
from app.annotations.db_file import write_database  # noqa: E402
from app.annotations.document import ProjectDocument  # noqa: E402
from app.annotations.gcpause import paused_gc  # noqa: E402
from app.annotations.images import scan_folder  # noqa: E402
from app.annotations.model import (  # noqa: E402
    Box,
    ImageRecord,
    ImageStatus,
    Project,
    Proposal,
    new_uid,
)
from app.annotations.undo import Changed  # noqa: E402

STATUSES = (ImageStatus.REVIEWED, ImageStatus.PROPOSED, ImageStatus.UNLABELED)
EDIT_SPACING_S = 0.01


LINKS_PER_SEED = 30_000  # ext4 allows 65,000 links to one file


def make_folder(folder: Path, count: int) -> None:
    """Fill `folder` with `count` hard links to a few 640×480 JPEGs (the boxes' image size)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        seed = folder.parent / f"seed-{i // LINKS_PER_SEED}.jpg"
        if i % LINKS_PER_SEED == 0:
            Image.new("RGB", (640, 480), (90, 120, 160)).save(seed, quality=70)
        os.link(seed, folder / f"img_{i:06d}.jpg")


class DiskProbe:
    """The disk's floor for one durable write: 4 KB rewritten in place, then fdatasync (what
    SQLite calls at a commit, without the database's own work)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "disk-probe.bin"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(self.fd, b"\0" * 4096, 0)
        os.fsync(self.fd)

    def once(self) -> float:
        """Return the seconds one 4 KB write and fdatasync took."""
        t0 = time.perf_counter()
        os.pwrite(self.fd, os.urandom(4096), 0)
        getattr(os, "fdatasync", os.fsync)(self.fd)
        return time.perf_counter() - t0

    def close(self) -> None:
        os.close(self.fd)
        self.path.unlink()


def make_project(folder: Path, count: int, boxes: int, proposals: int) -> Project:
    """Return a project of `count` images with `boxes` boxes and `proposals` proposals each."""
    rng = random.Random(0)
    project = Project(root=folder, meta={"recursive_scan": False})
    for name in ("circle", "square", "triangle"):
        project.add_category(name)
    with paused_gc():
        for i in range(count):
            rec = ImageRecord(f"img_{i:06d}.jpg", 640, 480, STATUSES[i % 3])
            for _ in range(boxes):
                x, y = rng.uniform(0, 500), rng.uniform(0, 350)
                rec.boxes.append(Box(new_uid(), x, y, x + 80.5, y + 60.25, rng.randint(1, 3)))
            for _ in range(proposals):
                x, y = rng.uniform(0, 500), rng.uniform(0, 350)
                score = rng.random()
                rec.proposals.append(Proposal(new_uid(), x, y, x + 70, y + 50, 1, score, "m1"))
            project.images.append(rec)
    project.reindex()
    return project


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_size(tmp: Path, count: int, edits: int) -> dict:
    folder = tmp / f"images-{count}"
    t0 = time.perf_counter()
    make_folder(folder, count)
    project = make_project(folder, count, 10, 5)
    print(f"  built {count} images in {time.perf_counter() - t0:.1f} s", flush=True)
    row: dict = {"images": count}

    t0 = time.perf_counter()
    listed = scan_folder(folder)
    row["list_folder_s"] = time.perf_counter() - t0
    assert len(listed) == count

    json_file = folder / ".detr-studio" / "project.json"
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        legacy_json.save_json(project, json_file)
        times.append(time.perf_counter() - t0)
    row["json_save_s"] = statistics.median(times)
    row["json_mb"] = json_file.stat().st_size / 1e6
    t0 = time.perf_counter()
    legacy_json.load_json(json_file)
    row["json_open_s"] = time.perf_counter() - t0
    json_file.unlink()

    db = folder / ".detr-studio" / "project.sqlite"
    t0 = time.perf_counter()
    write_database(db, project)
    row["db_write_all_s"] = time.perf_counter() - t0
    del project

    t0 = time.perf_counter()
    doc = ProjectDocument.open_file(db)
    counts = doc.project.box_counts()
    row["db_open_s"] = time.perf_counter() - t0
    assert sum(counts.values()) == count * 10 and len(doc.project.images) == count
    doc.store.loader.wait_preloaded(120)
    row["db_all_in_memory_s"] = time.perf_counter() - t0

    probe = DiskProbe(db.parent)
    floor: list[float] = []
    rng = random.Random(1)
    durable, on_thread = [], []
    project = doc.project
    for k in range(edits):
        rec = project.images[rng.randrange(count)]
        if k % 2:
            box = rec.boxes[0]
            cmd = SetBoxRect(rec.path, box.uid, (box.x1 + 1, box.y1, box.x2 + 1, box.y2))
        else:
            cmd = AddBox(rec.path, Box(new_uid(), 10, 10, 50, 50, 1))
        cmd.redo(project)
        t0 = time.perf_counter()
        seq = doc.record(cmd.changed)
        t1 = time.perf_counter()
        doc.store.writer.wait(seq, timeout=30)
        t2 = time.perf_counter()
        on_thread.append(t1 - t0)
        durable.append(t2 - t0)
        time.sleep(EDIT_SPACING_S)  # a person edits; back-to-back edits would share a commit
        floor.append(probe.once())  # interleaved: the disk's state drifts on a shared machine
        time.sleep(EDIT_SPACING_S)
    probe.close()
    row["fsync_median_ms"] = statistics.median(floor) * 1000
    row["fsync_p99_ms"] = percentile(floor, 0.99) * 1000
    row["edit_median_ms"] = statistics.median(durable) * 1000
    row["edit_p99_ms"] = percentile(durable, 0.99) * 1000
    row["edit_max_ms"] = max(durable) * 1000
    row["record_max_ms"] = max(on_thread) * 1000
    row["record_median_ms"] = statistics.median(on_thread) * 1000

    batch = project.images[:100]
    for rec in batch:
        props = [
            Proposal(new_uid(), j, j, j + 30, j + 30, 2, 0.1 * (j + 1), "m2") for j in range(10)
        ]
        SetProposals(rec.path, props).redo(project)
    t0 = time.perf_counter()
    seq = doc.record(Changed(images=frozenset(r.path for r in batch)))
    t1 = time.perf_counter()
    doc.store.writer.wait(seq, timeout=60)
    row["batch_ms"] = (time.perf_counter() - t0) * 1000
    row["batch_record_ms"] = (t1 - t0) * 1000

    t0 = time.perf_counter()
    export_coco(project, tmp / f"coco-{count}.json")
    row["coco_export_s"] = time.perf_counter() - t0

    doc.save()
    row["db_mb"] = (
        sum(
            p.stat().st_size
            for p in db.parent.glob("project.sqlite*")
            if not p.name.endswith("lock")
        )
        / 1e6
    )
    assert doc.close().saved
    return row


def bench_window(tmp: Path, count: int) -> dict:
    """Open the folder of `count` images (with its database) in the real window."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.pyside_refcount_guard import protect_singletons
    from app.settings import Settings

    protect_singletons()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    folder = tmp / f"images-{count}"
    t0 = time.perf_counter()
    assert window.open_path(folder)
    listed = time.perf_counter() - t0
    while window.canvas.shown_path() == "" and window.canvas.scene.message() == "":
        app.processEvents()
        time.sleep(0.0005)
    shown = time.perf_counter() - t0
    row = {"window_listed_s": listed, "window_first_image_s": shown}
    loader = window.session.document.store.loader
    row["window_worst_gap_preload_ms"] = _gaps_while(app, lambda: loader.wait_preloaded(0))[0]
    window.session.set_current(window.session.project.images[count // 2].path)

    paths = [r.path for r in window.session.project.images]
    document = window.session.document
    for saving in (True, False, True, False, True, False):  # alternate: the machine drifts
        if not saving:  # the same edits with the hand-over to the store left out
            document.record = lambda changed=None: 0
        worst, p99 = _edit_gaps(app, window, paths, seed=2 if saving else 3)
        if not saving:
            del document.record
        key = "on" if saving else "off"
        row.setdefault(f"window_worst_gaps_{key}", []).append(round(worst, 1))
        row.setdefault(f"window_p99_gaps_{key}", []).append(round(p99, 1))
        row[f"window_worst_gap_{key}_ms"] = statistics.median(row[f"window_worst_gaps_{key}"])
        row[f"window_p99_gap_{key}_ms"] = statistics.median(row[f"window_p99_gaps_{key}"])
    window.close()
    window.loader.shutdown()
    return row


def _gaps_while(app, done) -> tuple[float, float]:
    """Process events with a 5 ms timer ticking until `done()`; return (worst, p99) gap ms."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    while not done():
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return (max(gaps), percentile(gaps, 0.99)) if gaps else (0.0, 0.0)


def _edit_gaps(
    app, window, paths: list[str], *, seed: int, edits: int = 150
) -> tuple[float, float]:
    """Draw `edits` boxes on random images through the session while a 5 ms timer ticks;
    return the worst and the 99th-percentile gap between ticks (ms)."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    rng = random.Random(seed)
    for _ in range(20):  # settle: the image on screen, the panels drawn
        app.processEvents()
        time.sleep(0.005)
    timer.start()
    for k in range(edits):  # draw a box, undo it: the image keeps its 10 boxes
        if k % 2:
            window.session.undo()
        else:
            window.session.add_box((10 + rng.random() * 40, 10, 160, 150))
        end = time.perf_counter() + 0.03
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)
    timer.stop()
    return max(gaps), percentile(gaps, 0.99)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--edits", type=int, default=400)
    parser.add_argument("--window", action="store_true", help="also time the real window")
    parser.add_argument("--tmp", type=Path, help="work folder (default: a new temp folder)")
    parser.add_argument(
        "--no-flush",
        action="store_true",
        help="commit without flushing to the disk (synchronous=OFF): what the edits cost "
        "besides the disk's flush; not durable, never what the app does",
    )
    args = parser.parse_args()
    if args.no_flush:
        from app.annotations import db_schema, store_writer

        def unflushed(path, *, read_only=False):
            conn = db_schema.connect(path, read_only=read_only)
            if not read_only:
                conn.execute("PRAGMA synchronous = OFF")
            return conn

        store_writer.connect = unflushed
        print("commits are NOT flushed (--no-flush): the durable rows measure everything else")
    tmp = Path(tempfile.mkdtemp(prefix="detr-studio-store-", dir=args.tmp))
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}")
    rows = []
    try:
        for count in args.sizes:
            print(f"{count} images:", flush=True)
            row = bench_size(tmp, count, args.edits)
            if args.window and count == max(args.sizes):
                row.update(bench_window(tmp, count))
            rows.append(row)
            print(f"  {row}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}")
    print()
    print("| | " + " | ".join(f"{r['images']:,} images" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    lines = [
        (
            "list the folder as opening did before (scan + natural sort), s",
            "list_folder_s",
            "{:.2f}",
        ),
        ("JSON store: save (each autosave, GUI thread), s", "json_save_s", "{:.2f}"),
        ("JSON store: open, s", "json_open_s", "{:.2f}"),
        ("JSON store: file size, MB", "json_mb", "{:.1f}"),
        ("database: open to list + counts, s", "db_open_s", "{:.2f}"),
        ("database: all boxes in memory (background), s", "db_all_in_memory_s", "{:.2f}"),
        (
            "disk floor, 4 KB write + fdatasync, between the edits: median, ms",
            "fsync_median_ms",
            "{:.2f}",
        ),
        ("disk floor: p99, ms", "fsync_p99_ms", "{:.2f}"),
        ("one edit durable: median, ms", "edit_median_ms", "{:.2f}"),
        ("one edit durable: p99, ms", "edit_p99_ms", "{:.2f}"),
        ("one edit durable: max, ms", "edit_max_ms", "{:.2f}"),
        ("GUI-thread cost of saving an edit: max, ms", "record_max_ms", "{:.2f}"),
        ("auto-annotate batch, 100 images × 10 proposals, durable, ms", "batch_ms", "{:.1f}"),
        ("COCO export, s", "coco_export_s", "{:.2f}"),
        ("database file size, MB", "db_mb", "{:.1f}"),
        ("import into a new database (once), s", "db_write_all_s", "{:.2f}"),
        ("window: folder open to list, s", "window_listed_s", "{:.2f}"),
        ("window: first image on screen, s", "window_first_image_s", "{:.2f}"),
        (
            "window: worst 5 ms-timer gap while boxes load (background), ms",
            "window_worst_gap_preload_ms",
            "{:.1f}",
        ),
        (
            "window: worst 5 ms-timer gap during 150 edits, saving (median of 3 runs), ms",
            "window_worst_gap_on_ms",
            "{:.1f}",
        ),
        ("window: the same, saving left out, ms", "window_worst_gap_off_ms", "{:.1f}"),
        ("window: p99 gap during the edits, saving, ms", "window_p99_gap_on_ms", "{:.1f}"),
        ("window: p99 gap, saving left out, ms", "window_p99_gap_off_ms", "{:.1f}"),
    ]
    for label, key, fmt in lines:
        if any(key in r for r in rows):
            cells = [fmt.format(r[key]) if key in r else "–" for r in rows]
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
