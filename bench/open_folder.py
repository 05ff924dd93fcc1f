"""Time opening a 10,000-image folder, showing the first image and switching images.

Usage: python bench/open_folder.py [--count 10000] [--folder DIR] [--keep]
Runs the real main window offscreen (QT_QPA_PLATFORM=offscreen unless set) and prints:
folder-open time (scan + list), time until the first image is on screen, image-switch times
(next image with prefetch, and jumps to far images without), and the longest GUI stall while a
24-megapixel photo decodes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.pyside_refcount_guard import protect_singletons  # noqa: E402
from app.settings import Settings  # noqa: E402


def make_images(folder: Path, count: int) -> float:
    """Write `count` small JPEGs (640x480, a few shapes); return seconds taken."""
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.new("RGB", (640, 480), (90, 120, 160))
    for i in range(count):
        name = folder / f"img_{i:05d}.jpg"
        if name.exists():
            continue
        img = base.copy()
        img.paste((200, 40 + i % 200, 60), (i % 500, i % 300, i % 500 + 120, i % 300 + 90))
        img.save(name, quality=80)
    return time.perf_counter() - start


def wait_until(app: QApplication, test, timeout_s: float = 30.0) -> float:
    """Process events until `test()` is true; return the seconds waited."""
    start = time.perf_counter()
    while not test():
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.0005)
    return time.perf_counter() - start


def gui_stall_while(app: QApplication, action, done) -> tuple[float, float]:
    """Run `action`, tick a 5 ms timer until `done()`; return (seconds, worst tick gap ms)."""
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
    start = time.perf_counter()
    action()
    wait_until(app, done, 60)
    elapsed = time.perf_counter() - start
    timer.stop()
    return elapsed, max(gaps) if gaps else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, help="reuse/keep images here (default: temp)")
    parser.add_argument("--switches", type=int, default=40)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="detr-studio-bench-"))
    folder = args.folder or tmp / "images"
    try:
        made = make_images(folder, args.count)
        print(f"images: {args.count} JPEG 640x480 in {folder} (written in {made:.1f} s)")
        project_dir = folder / ".detr-studio"
        if project_dir.exists():
            shutil.rmtree(project_dir)

        protect_singletons()
        app = QApplication.instance() or QApplication(sys.argv[:1])
        settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(settings)
        window.resize(1400, 900)
        window.show()
        app.processEvents()

        start = time.perf_counter()
        window.open_path(folder)
        listed = time.perf_counter() - start
        rows = window.image_list.model.rowCount()
        wait_until(app, lambda: window.canvas.shown_path() != "")
        first = time.perf_counter() - start
        print(
            f"open folder: {rows} images listed in {listed * 1000:.0f} ms; "
            f"first image on screen after {first * 1000:.0f} ms"
        )

        times = []
        for _ in range(args.switches):
            target = window.image_list.next_path()
            t0 = time.perf_counter()
            window.image_list.go_next()
            wait_until(app, lambda t=target: window.canvas.shown_path() == t)
            times.append((time.perf_counter() - t0) * 1000)
        print(
            f"next image (D), {len(times)} switches: median {statistics.median(times):.1f} ms, "
            f"max {max(times):.1f} ms"
        )

        jumps = []
        paths = window.image_list.model.paths()
        for k in range(10):
            target = paths[(k * 997 + 5000) % len(paths)]
            t0 = time.perf_counter()
            window.session.set_current(target)
            wait_until(app, lambda t=target: window.canvas.shown_path() == t)
            jumps.append((time.perf_counter() - t0) * 1000)
        print(
            f"jump to a far image (not prefetched), 10 jumps: median "
            f"{statistics.median(jumps):.1f} ms, max {max(jumps):.1f} ms"
        )

        big_dir = tmp / "big"
        big_dir.mkdir()
        Image.effect_noise((6000, 4000), 40).convert("RGB").save(big_dir / "24mp.jpg", quality=85)
        window.open_path(big_dir)
        window.loader.forget()
        window.session.current_path = ""
        seconds, worst = gui_stall_while(
            app,
            lambda: window.session.set_current("24mp.jpg"),
            lambda: window.canvas.shown_path() == "24mp.jpg",
        )
        print(
            f"24-megapixel JPEG: on screen after {seconds * 1000:.0f} ms; "
            f"longest GUI-thread stall meanwhile {worst:.0f} ms"
        )
        window.session.undo_stack.set_clean()
        window.close()
        window.loader.shutdown()
    finally:
        if args.folder is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
