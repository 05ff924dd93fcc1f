"""GUI stalls while a training run goes on in its child process (issue 9: under 50 ms).

A QTimer ticks every 10 ms on the GUI thread while the real window trains the demo model on N
reviewed synthetic images through the Train dialog's defaults (the real `python -m detr_model
train` child, JSON lines read by the TrainingRunner, live curves drawn); meanwhile the user
moves to the next image every 300 ms. The gaps between ticks show how long the GUI thread was
kept from running. Both CPU cores are busy with the child, as on a laptop without a GPU.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/training_latency.py [--images 30] [--epochs 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.pyside_refcount_guard import protect_singletons  # noqa: E402
from bench.gui_latency import gap_stats, open_window  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    protect_singletons()
    from PySide6.QtCore import QTimer

    from app.annotations.model import ImageStatus
    from detr_model.data import generate_shapes_dataset

    tmp = Path(tempfile.mkdtemp(prefix="detr-studio-bench-"))
    folder = tmp / "shapes"
    coco = generate_shapes_dataset(folder, args.images, seed=5, size=(256, 320))
    coco = coco.rename(tmp / "shapes.json")
    app, window = open_window(folder, tmp)
    window.import_coco(coco)
    session = window.session
    paths = [rec.path for rec in session.project.images]
    session.set_status(paths, ImageStatus.REVIEWED)
    window.show_training_dialog()
    dialog = window.training_dialog
    dialog.epochs_spin.setValue(args.epochs)
    controller = window.training

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    browse = QTimer()
    browse.setInterval(300)
    step = iter(range(10**6))
    browse.timeout.connect(lambda: session.set_current(paths[next(step) % len(paths)]))
    first_epoch: list[float] = []
    controller.epoch.connect(lambda _e: first_epoch.append(time.perf_counter()))
    started = time.perf_counter()
    timer.start()
    browse.start()
    if not dialog.start():
        print(f"training did not start: {controller.error}")
        return 1
    while controller.is_running():
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    browse.stop()
    seconds = time.perf_counter() - started
    worst, p99, median = gap_stats(ticks)
    training = [t for t in ticks if first_epoch and t >= first_epoch[0]]
    t_worst, t_p99, t_median = gap_stats(training)
    print(f"\n{args.images} reviewed images, {len(controller.epochs)} epochs, {seconds:.0f} s, "
          f"state {controller.state}; settings: {controller.settings}")  # fmt: skip
    print("| span | worst gap ms | p99 ms | median ms |")
    print("|---|---|---|---|")
    print(
        f"| start to end (child start, caching, loading) | {worst:.0f} | {p99:.0f} | {median:.0f} |"
    )
    print(f"| from the first epoch on | {t_worst:.0f} | {t_p99:.0f} | {t_median:.0f} |")
    session.undo_stack.set_clean()
    window.close()
    window.loader.shutdown()
    return 0 if controller.state == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
