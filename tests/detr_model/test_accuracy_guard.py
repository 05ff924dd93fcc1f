"""The accuracy guard: every CPU back-end keeps float32's detections (2 px of the model's input,
same class, AP50).

On the bundled demo model over the 60-image demo set (AP50 against its ground truth within
0.01) and on a random-weights DETR-R50 (its top detections). A speed change that moves boxes
fails here, in CI, which installs the optional runtimes through the test extra.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from app.demo_project import GROUND_TRUTH_NAME, create_demo_project
from app.resource_paths import DEMO_MODEL_PATH
from bench.inference import trained_looking_batchnorm
from detr_model.accuracy_guard import compare_detections, evaluate_predictor, input_pixel_tolerance
from detr_model.config import ModelConfig
from detr_model.data import load_coco_json
from detr_model.detr import build_detr
from detr_model.image_input import resized_size
from detr_model.predictor import Detections, Predictor

pytestmark = pytest.mark.usefixtures("one_thread")


def _dets(boxes, scores, labels) -> Detections:
    return Detections(
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        scores=np.asarray(scores, dtype=np.float32),
        labels=np.asarray(labels, dtype=np.int64),
    )


def test_a_box_moved_within_two_pixels_passes_and_three_fails() -> None:
    ref = [_dets([[10, 10, 50, 50]], [0.9], [1])]
    near = [_dets([[11.5, 10, 50, 51.9]], [0.88], [1])]
    far = [_dets([[13, 10, 50, 50]], [0.9], [1])]
    report = compare_detections(ref, near)
    assert report.ok and report.max_box_px == pytest.approx(1.9, abs=1e-4)
    assert not compare_detections(ref, far).ok


def test_the_tolerance_is_two_pixels_of_the_models_input_in_original_pixels() -> None:
    assert input_pixel_tolerance((320, 256), (200, 160)) == pytest.approx(3.2)
    assert input_pixel_tolerance((256, 320), (160, 200)) == pytest.approx(3.2)  # (w, h) alike
    assert input_pixel_tolerance((100, 80), (200, 160)) == 2.0  # never below 2 px: upscaled


def test_a_changed_class_or_a_new_confident_box_fails() -> None:
    ref = [_dets([[10, 10, 50, 50]], [0.9], [1])]
    assert not compare_detections(ref, [_dets([[10, 10, 50, 50]], [0.9], [2])]).ok
    extra = [_dets([[10, 10, 50, 50], [60, 60, 90, 90]], [0.9, 0.8], [1, 1])]
    assert compare_detections(ref, extra).unmatched == 1


def test_a_score_that_only_crosses_the_threshold_is_not_a_lost_detection() -> None:
    ref = [_dets([[10, 10, 50, 50]], [0.52], [1])]
    assert compare_detections(ref, [_dets([[10, 10, 50, 50]], [0.44], [1])]).ok
    assert not compare_detections(ref, [_dets([[10, 10, 50, 50]], [0.3], [1])]).ok


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory) -> Path:
    return create_demo_project(tmp_path_factory.mktemp("guard") / "demo")


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


CPU_BACKENDS = ["auto", "bf16", "onnxruntime", "openvino"]


@pytest.mark.parametrize("precision", CPU_BACKENDS)
def test_every_cpu_backend_keeps_the_demo_models_detections_on_the_demo_set(
    precision: str, demo_set: Path
) -> None:
    if precision in ("onnxruntime", "openvino") and not _installed(precision):
        pytest.fail(f"{precision} is not installed: `pip install -e .[test]` installs it")
    reference = Predictor.from_checkpoint(DEMO_MODEL_PATH, device="cpu", precision="fp32")
    fast = Predictor.from_checkpoint(DEMO_MODEL_PATH, device="cpu", precision=precision)
    truth = demo_set / GROUND_TRUTH_NAME
    ref_metrics, ref_dets = evaluate_predictor(reference, truth, demo_set)
    metrics, dets = evaluate_predictor(fast, truth, demo_set)
    ap50, ref_ap50 = metrics["AP50"], ref_metrics["AP50"]
    # As the Predictor's own check: 2 px of the model's input, in the images' pixels.
    images = load_coco_json(truth)["images"]
    inputs = [resized_size(i["height"], i["width"], reference.min_size, reference.max_size)
              for i in images]  # fmt: skip
    tolerances = [input_pixel_tolerance((i["height"], i["width"]), s)
                  for i, s in zip(images, inputs, strict=True)]  # fmt: skip
    assert max(tolerances) < 5  # 256-320 px images seen at 160 px: about 3.2-4 px
    report = compare_detections(ref_dets, dets, max_px=tolerances)
    assert report.compared > 300  # the 60 images hold about 157 shapes, seen from both sides
    assert report.ok, f"{report.unmatched} detections moved more than 2 input px or changed class"
    assert abs(ap50 - ref_ap50) <= 0.01, (ap50, ref_ap50)
    # auto kept OpenVINO: its first-batch check against float32 passed.
    assert fast.precision == ("openvino" if precision == "auto" else precision)
    assert ref_ap50 > 0.8  # the demo model finds the shapes: the comparison means something


def test_auto_keeps_the_top_detections_of_a_random_weights_r50() -> None:
    torch.manual_seed(0)
    model = build_detr(ModelConfig.detr_r50()).eval()
    trained_looking_batchnorm(model)  # folding the BatchNorms is then no no-op
    image = np.random.default_rng(3).integers(0, 256, (384, 512, 3), dtype=np.uint8)
    names = [str(i) for i in range(92)]
    size = {"device": "cpu", "min_size": 384, "max_size": 512}
    [ref] = Predictor(model, names, precision="fp32", **size).predict(image, score_threshold=0)
    auto = Predictor(model, names, precision="auto", **size)
    [got] = auto.predict(image, score_threshold=0)
    assert auto.precision == "openvino"  # not dropped by its first-batch check
    top10 = float(np.sort(ref.scores)[-10])  # random weights: no score reaches 0.5
    report = compare_detections([ref], [got], score_threshold=top10, score_slack=0.1 * top10)
    assert report.compared >= 10 and report.ok, report  # the 10 best, and the candidate's
