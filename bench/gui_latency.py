"""GUI stalls and throughput while auto-annotate runs in the window.

A QTimer ticks every 10 ms on the GUI thread while the real window auto-annotates N synthetic
images with a tiny random DETR; the gaps between ticks show how long the GUI thread was kept
from running (the target is a worst gap under 50 ms). Then the same model decodes and infers
the same images one after the other on one thread, to compare images per second.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_latency.py [--count 100] [--size 640x480]
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_latency.py --demo

Gaps are reported twice: during the whole run (includes importing torch and loading the model
on the worker thread) and during inference only (from the first result on).

--demo runs the bundled demo model on the 60-image demo project (Help → Open Demo Project),
with the app's defaults (the model's own input size, the worker's batch and back-end), twice:
the first run pays for importing torch, loading (and for OpenVINO exporting) the model, the
second finds it loaded. Images/s "end to end" is images / (run finished - Auto-Annotate asked).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from app.pyside_refcount_guard import protect_singletons  # noqa: E402

CLASS_NAMES = ["circle", "square", "triangle"]


def write_images(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Write `count` JPEGs with a gradient and a few shapes; return their paths."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    w, h = size
    ramp = np.linspace(60, 200, h, dtype=np.float32)[:, None, None]
    base = np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8)
    for i in range(count):
        noise = rng.integers(0, 30, (h, w, 3), dtype=np.uint8)
        img = Image.fromarray(base + noise)
        draw = ImageDraw.Draw(img)
        for _ in range(4):
            x, y, s = rng.integers(0, w - 80), rng.integers(0, h - 80), rng.integers(30, 80)
            colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            draw.ellipse([x, y, x + s, y + s], fill=colour)
        path = folder / f"img{i:04d}.jpg"
        img.save(path, quality=90)
        paths.append(path)
    return paths


def make_checkpoint(path: Path) -> Path:
    """Save a tiny random DETR (ResNet-18) with three classes."""
    import torch

    from detr_model.checkpoint import save_checkpoint
    from detr_model.config import ModelConfig
    from detr_model.detr import build_detr

    torch.manual_seed(0)
    model = build_detr(ModelConfig.tiny(num_classes=len(CLASS_NAMES)))
    return save_checkpoint(path, model, class_names=CLASS_NAMES)


def gap_stats(ticks: list[float]) -> tuple[float, float, float]:
    """Return (worst, 99th percentile, median) gap in ms between successive ticks."""
    gaps = np.diff(np.asarray(ticks)) * 1000
    if gaps.size == 0:
        return 0.0, 0.0, 0.0
    return float(gaps.max()), float(np.percentile(gaps, 99)), float(np.median(gaps))


def open_window(folder: Path, tmp: Path):
    """Return (application, main window) showing `folder`, its settings in a file under tmp."""
    from PySide6.QtCore import QSettings

    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import Settings

    app = create_application([sys.argv[0]])
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    window.resize(1280, 800)
    window.show()
    window.open_path(folder)
    return app, window


def run_window(folder: Path, checkpoint: Path, args, tmp: Path, runs: int = 1) -> list[dict]:
    """Auto-annotate `folder` in the real window `runs` times while a 10 ms timer ticks."""
    from app.model_registry import file_choice

    app, window = open_window(folder, tmp)
    auto = window.auto
    auto.set_device(args.device)
    auto.set_model(file_choice(checkpoint))
    auto.spec_options = {}
    if args.min_size:
        auto.spec_options.update(min_size=args.min_size, max_size=args.max_size)
    if args.batch:
        auto.spec_options["batch_size"] = args.batch
    auto.score_floor = 0.05
    auto.ask_mapping = lambda missing, mapping: {n: n for n in missing}
    results = [_timed_run(app, window) for _ in range(runs)]
    window.session.undo_stack.set_clean()
    window.close()
    return results


def _timed_run(app, window) -> dict:
    """Run auto-annotate on the unreviewed images once; return its speed and GUI gaps."""
    from PySide6.QtCore import QTimer

    auto = window.auto

    ticks: list[float] = []
    first_result: list[float] = []
    finished: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def on_progress(p) -> None:
        if p.done >= 1 and not first_result:
            first_result.append(time.perf_counter())

    def on_finished(*_args) -> None:
        finished.append(time.perf_counter())

    auto.progress_changed.connect(on_progress)
    auto.run_finished.connect(on_finished)
    started_at = time.perf_counter()
    timer.start()
    auto.run_unreviewed()
    while not finished:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    all_worst, all_p99, all_med = gap_stats(ticks)
    infer_ticks = [t for t in ticks if first_result and t >= first_result[0]]
    worst, p99, med = gap_stats(infer_ticks)
    progress = auto.progress()
    with_proposals = sum(1 for r in window.session.project.images if r.proposals)
    device = auto.model_info.device if auto.model_info else "?"
    batch = auto.model_info.batch_size if auto.model_info else 0
    auto.progress_changed.disconnect(on_progress)
    auto.run_finished.disconnect(on_finished)
    return {
        "images": progress.done,
        "with_proposals": with_proposals,
        "seconds_total": finished[0] - started_at,
        "rate": progress.rate,
        "gaps_all": (all_worst, all_p99, all_med),
        "gaps_inference": (worst, p99, med),
        "device": device,
        "batch": batch,
        "precision": auto.model_info.precision if auto.model_info else "?",
    }


def compare_pipelines(paths: list[Path], checkpoint: Path, args, rounds: int = 2) -> list:
    """Return [(decode-ahead img/s, sequential img/s)] per round, same model, same process.

    The two ways alternate on one warmed-up predictor, so load from other programs and
    warm-up effects (oneDNN kernels) hit both alike.
    """
    from app.workers.inference import InferenceJob, InferenceWorker, ModelSpec, _load_predictor

    spec = ModelSpec(str(checkpoint), args.device, args.batch, args.min_size, args.max_size)
    predictor = _load_predictor(spec)
    for path in paths[:3]:  # warm-up
        predictor.predict([predictor.prepare(path)], score_threshold=0.05)
    worker = InferenceWorker(lambda _spec: predictor)
    worker.load(spec)
    job = InferenceJob(tuple((p.name, str(p)) for p in paths), score_floor=0.05)
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        worker.run(job)
        ahead = len(paths) / (time.perf_counter() - start)
        start = time.perf_counter()
        for path in paths:
            predictor.predict([predictor.prepare(path)], score_threshold=0.05)
        sequential = len(paths) / (time.perf_counter() - start)
        results.append((ahead, sequential))
    return results


def _checkpoint_in_child(path: Path) -> None:
    """Write the tiny checkpoint from a child process, so this process starts without torch
    as the application does: the first run pays for importing it on the worker thread."""
    import subprocess

    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); "
        "from bench.gui_latency import make_checkpoint; from pathlib import Path; "
        "make_checkpoint(Path(sys.argv[1]))"
    )
    root = str(Path(__file__).resolve().parents[1])
    subprocess.run([sys.executable, "-c", code, str(path), root], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--size", default="640x480", help="image size WxH")
    parser.add_argument("--min-size", type=int, default=800, help="model input shorter side")
    parser.add_argument("--max-size", type=int, default=1333)
    parser.add_argument("--batch", type=int, default=0, help="0: the worker's choice")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds of the comparison")
    parser.add_argument("--demo", action="store_true", help="demo model on the demo project")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    protect_singletons()
    tmp = Path(tempfile.mkdtemp(prefix="detr-studio-latency-"))
    os.environ.setdefault("DETR_EXPORT_CACHE", str(tmp / "exported"))  # the first run exports
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[:3]}")
    if args.demo:
        from app.demo_project import create_demo_project
        from app.resource_paths import DEMO_MODEL_PATH

        images_dir = create_demo_project(tmp / "demo")
        checkpoint_path = DEMO_MODEL_PATH
        args.min_size = args.max_size = None  # the model's own input size, as the app uses
        args.size = "demo project"
    else:
        images_dir = tmp / "images"
        write_images(images_dir, args.count, tuple(int(v) for v in args.size.split("x")))
        checkpoint_path = tmp / "tiny.pth"
        _checkpoint_in_child(checkpoint_path)
    wins = run_window(images_dir, checkpoint_path, args, tmp, runs=2 if args.demo else 1)
    # On a thread niced like the worker's: torch's math threads were started (and niced) by
    # the worker, and a nice-0 thread spinning at their barriers would starve them.
    rounds: list = []

    def compare() -> None:
        from app.workers.inference import lower_thread_priority

        lower_thread_priority()
        images = sorted(images_dir.glob("*.jpg"))
        rounds.extend(compare_pipelines(images, checkpoint_path, args, args.rounds))

    thread = threading.Thread(target=compare)
    thread.start()
    thread.join()
    for number, win in enumerate(wins, start=1):
        worst, p99, med = win["gaps_inference"]
        a_worst, a_p99, a_med = win["gaps_all"]
        label = "first run (imports torch, loads the model)" if number == 1 else "next run"
        model_input = args.min_size or "as trained"
        print(
            f"{label}: {win['images']} images ({args.size}, model input "
            f"{model_input}), {win['with_proposals']} got proposals; "
            f"device {win['device']}, {win['precision']}, batch {win['batch']}, "
            f"OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'unset')}, CPUs {os.cpu_count()}"
        )
        print(
            f"  end to end {win['images'] / win['seconds_total']:.1f} img/s "
            f"({win['seconds_total']:.2f} s from Auto-Annotate to finished); "
            f"from the worker's start {win['rate']:.1f} img/s"
        )
        print(
            f"  GUI tick gaps during inference: worst {worst:.1f} ms, p99 {p99:.1f} ms, "
            f"median {med:.1f} ms; whole run: worst {a_worst:.1f} ms, p99 {a_p99:.1f} ms "
            "(timer 10 ms; target worst < 50 ms)"
        )
    for n, (ahead, sequential) in enumerate(rounds, start=1):
        print(
            f"round {n}: worker with decode-ahead pool {ahead:.2f} img/s vs decode-then-infer "
            f"in sequence {sequential:.2f} img/s ({ahead / sequential:.2f}x)"
        )
    print(f"load average at the end: {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
