"""Every CPU back-end of the Predictor against the official-layout float32 model, in one run.

    python bench/cpu_backends.py [--quick] [--families r50,tiny] [--size 800x1066] [--demo-only]

Part 1, speed: random weights (frozen BatchNorms with seeded, trained-looking statistics),
one random uint8 image of --size, batch 1. `official-fp32` is the model as built (official
state-dict layout, no rewrite), timed as a bare forward on the normalised tensor; every other
row is `Predictor(precision=...).predict` (normalise, forward, post-process, copy to numpy
included), warmed up first (int8 calibrates and auto checks its back-end there). The rows run
interleaved, round after round, so load from other programs slows them alike; the ratio is
against `official-fp32` in the same run. "top-10 box px" is the largest corner difference
from the float32 Predictor's ten best detections, in input pixels.

Part 2, accuracy on a trained model: the bundled demo model on the 60-image demo project
(its ground_truth.json), AP50/AP per back-end, the largest box difference and the detections
(score >= 0.5) that found no same-class partner within 2 px in the float32 Predictor's
output, and images/s of predict at batch 8 on the already decoded images.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.inference import trained_looking_batchnorm  # noqa: E402
from detr_model.accuracy_guard import compare_detections, evaluate_predictor  # noqa: E402
from detr_model.config import ModelConfig  # noqa: E402
from detr_model.detr import build_detr  # noqa: E402
from detr_model.image_input import normalize  # noqa: E402
from detr_model.predictor import Predictor  # noqa: E402

BACKENDS = ("fp32", "bf16", "int8", "onnxruntime", "openvino", "auto")
CONFIGS = {"r50": ModelConfig.detr_r50, "tiny": lambda: ModelConfig.tiny(num_classes=91)}


def machine() -> str:
    """Return CPU model, cores, torch threads, torch and runtime versions, load average."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = [f"torch {torch.__version__}"]
    for module in ("openvino", "onnxruntime"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} not installed")
    return (
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
        f"{', '.join(versions)}"
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def random_model(family: str) -> torch.nn.Module:
    """Return a seeded random DETR whose frozen BatchNorms look trained (folding is no no-op)."""
    torch.manual_seed(0)
    model = build_detr(CONFIGS[family]()).eval()
    trained_looking_batchnorm(model)
    return model


def speed(family: str, size: tuple[int, int], rounds: int) -> list[dict[str, Any]]:
    """Return one row per back-end: ms/image, ratio to official fp32, top-10 box difference."""
    height, width = size
    model = random_model(family)
    names = [str(i) for i in range(92)]
    image = np.random.default_rng(2).integers(0, 256, (height, width, 3), dtype=np.uint8)
    tensor = normalize(torch.from_numpy(image).permute(2, 0, 1))[None]
    options = {"device": "cpu", "min_size": min(size), "max_size": max(size)}
    runners: dict[str, Any] = {}

    def official() -> None:
        with torch.inference_mode():
            model(tensor)

    runners["official-fp32"] = official
    predictors = {}
    for backend in BACKENDS:
        started = time.perf_counter()
        predictors[backend] = Predictor(model, names, precision=backend, **options)
        first = predictors[backend].predict(image, score_threshold=0)  # warm-up, calibration
        predictors[backend].first = first  # type: ignore[attr-defined]
        predictors[backend].setup_s = time.perf_counter() - started  # type: ignore[attr-defined]
        runners[backend] = lambda p=predictors[backend]: p.predict(image, score_threshold=0)
    official()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            started = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - started) * 1000)
    base = statistics.median(times["official-fp32"])
    reference = predictors["fp32"].predict(image, score_threshold=0)
    top10 = float(np.sort(reference[0].scores)[-10])
    rows = []
    for name, values in times.items():
        row = {"family": family, "backend": name, "ms": statistics.median(values)}
        row["ratio"] = row["ms"] / base
        if name in predictors:
            p = predictors[name]
            got = p.predict(image, score_threshold=0)
            report = compare_detections(
                reference, got, score_threshold=top10, score_slack=0.1 * top10
            )
            row.update(runs=p.precision, box_px=report.max_box_px, unmatched=report.unmatched)
            row["setup_s"] = p.setup_s
        rows.append(row)
    return rows


def demo_accuracy(batch: int) -> list[dict[str, Any]]:
    """Return one row per back-end on the demo model and demo project: AP50, AP, box px, img/s."""
    from app.demo_project import GROUND_TRUTH_NAME, create_demo_project
    from app.resource_paths import DEMO_MODEL_PATH

    folder = create_demo_project(Path(tempfile.mkdtemp(prefix="detr-bench-")) / "demo")
    truth = folder / GROUND_TRUTH_NAME
    rows = []
    reference = None
    for backend in BACKENDS:
        predictor = Predictor.from_checkpoint(
            DEMO_MODEL_PATH, device="cpu", precision=backend, batch_size=batch
        )
        metrics, found = evaluate_predictor(predictor, truth, folder)
        reference = found if reference is None else reference
        report = compare_detections(reference, found)
        prepared = [predictor.prepare(p) for p in sorted(folder.glob("*.jpg"))]
        predictor.predict(prepared[:batch], score_threshold=0.05)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            predictor.predict(prepared, score_threshold=0.05, duplicate_iou=0.7)
            best = min(best, time.perf_counter() - started)
        rows.append(
            {
                "backend": backend,
                "runs": predictor.precision,
                "AP50": metrics["AP50"],
                "AP": metrics["AP"],
                "box_px": report.max_box_px,
                "unmatched": report.unmatched,
                "compared": report.compared,
                "img_s": len(prepared) / best,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 timed rounds instead of 7")
    parser.add_argument("--families", default="r50,tiny")
    parser.add_argument("--size", default="800x1066", help="input HxW of the speed part")
    parser.add_argument("--demo-batch", type=int, default=8)
    parser.add_argument("--demo-only", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("DETR_EXPORT_CACHE", tempfile.mkdtemp(prefix="detr-bench-export-"))
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"# machine: {machine()}")
    print(f"# load average at start: {load_average()}")
    if not args.demo_only:
        rounds = 3 if args.quick else 7
        print(f"\n## Speed: random weights, one {size[0]}x{size[1]} image, median of {rounds}")
        print("| model | back-end | runs as | ms/image | vs official fp32 | top-10 box px "
              "| unmatched | set-up s |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for family in args.families.split(","):
            for row in speed(family, size, rounds):
                extra = (
                    f"{row['runs']} | {row['ms']:.1f} | {row['ratio']:.3f}x | "
                    f"{row['box_px']:.2f} | {row['unmatched']} | {row['setup_s']:.1f}"
                    if "runs" in row
                    else f"official layout | {row['ms']:.1f} | 1.000x | - | - | -"
                )
                print(f"| {family} | {row['backend']} | {extra} |", flush=True)
        print(f"# load average after the speed part: {load_average()}")
    print(f"\n## Accuracy: demo model on the 60-image demo project, batch {args.demo_batch}")
    print("| back-end | runs as | AP50 | AP | max box px vs fp32 | unmatched (of) | img/s |")
    print("|---|---|---|---|---|---|---|")
    for row in demo_accuracy(args.demo_batch):
        print(
            f"| {row['backend']} | {row['runs']} | {row['AP50']:.4f} | {row['AP']:.4f} | "
            f"{row['box_px']:.2f} | {row['unmatched']} ({row['compared']}) | "
            f"{row['img_s']:.1f} |",
            flush=True,
        )
    print(f"# load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
