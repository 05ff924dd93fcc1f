"""CPU back-ends: a missing runtime or a failed export falls back to torch, the export is cached,
auto drops a back-end whose first batch disagrees with float32, int8 quantizes the body."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from detr_model import exported_model
from detr_model import predictor as predictor_module
from detr_model.config import ModelConfig
from detr_model.detr import build_detr
from detr_model.exported_model import ExportedModel, export_onnx
from detr_model.predictor import Predictor

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ["N/A", "a", "b"]
SMALL = {"device": "cpu", "min_size": 64, "max_size": 96}


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_detr(ModelConfig.tiny(num_classes=2)).eval()


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)


def test_a_missing_runtime_falls_back_to_torch_and_says_why(monkeypatch, caplog) -> None:
    monkeypatch.setattr(exported_model, "runtime_available", lambda backend: False)
    with caplog.at_level(logging.WARNING, logger="detr_model.predictor"):
        chosen = Predictor(_model(), NAMES, precision="openvino", **SMALL)
        auto = Predictor(_model(), NAMES, precision="auto", **SMALL)
    assert chosen.precision in ("bf16", "fp32") and auto.precision in ("bf16", "fp32")
    assert "openvino is not installed" in caplog.text
    assert len(chosen.predict(_image(), score_threshold=0)[0]) == 12  # tiny: 12 queries


def test_a_failed_export_falls_back_to_torch_and_says_why(monkeypatch, caplog) -> None:
    def broken(model, cache_dir=None):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(predictor_module, "export_onnx", broken)
    predictor = Predictor(_model(), NAMES, precision="onnxruntime", **SMALL)
    assert predictor.precision == "onnxruntime"  # exported on the first batch
    with caplog.at_level(logging.WARNING, logger="detr_model.predictor"):
        [found] = predictor.predict(_image(), score_threshold=0)
    assert predictor.precision in ("bf16", "fp32") and len(found) == 12
    assert "unsupported operator" in caplog.text


def test_the_export_is_cached_by_weights_and_reused(tmp_path: Path, monkeypatch) -> None:
    model = _model()
    path = export_onnx(model, tmp_path)
    assert path.is_file() and path.parent == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    monkeypatch.setattr(exported_model, "_onnx_bytes", lambda m: pytest.fail("exported twice"))
    assert export_onnx(model, tmp_path) == path
    other = _model()
    with torch.no_grad():
        other.class_embed.bias.add_(1.0)
    assert exported_model.model_key(other) != exported_model.model_key(model)


def test_an_interrupted_export_leaves_no_file_that_looks_finished(tmp_path, monkeypatch) -> None:
    def interrupted(fd: int, mode: str):
        os.close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(exported_model.os, "fdopen", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(_model(), tmp_path, in_child=False)  # the writing happens here
    assert list(tmp_path.iterdir()) == []


def test_the_export_default_folder_is_the_user_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("DETR_EXPORT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert exported_model.default_export_dir() == tmp_path / "detr-studio" / "exported"


def test_onnxruntime_gives_the_float32_outputs_on_images_of_other_sizes() -> None:
    pytest.importorskip("onnxruntime", reason="the test extra installs onnxruntime")
    model = _model()
    ref = Predictor(model, NAMES, precision="fp32", **SMALL)
    ort = Predictor(model, NAMES, precision="onnxruntime", **SMALL)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((70, 90, 3), (90, 60, 3))]
    for want, got in zip(
        ref.predict(images, score_threshold=0), ort.predict(images, score_threshold=0), strict=True
    ):
        np.testing.assert_allclose(np.sort(got.scores), np.sort(want.scores), atol=1e-4)
    assert isinstance(ort.model, ExportedModel)  # exported (in a child process) and kept


class _ShiftedBoxes:
    """A back-end that moves every box by 5% of the image: the guard must catch it."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.precision = "bf16"

    def __call__(self, samples):
        out = self.model(samples)
        return {"pred_logits": out["pred_logits"], "pred_boxes": out["pred_boxes"] + 0.05}


def test_auto_drops_a_backend_whose_first_batch_moves_the_boxes(monkeypatch, caplog) -> None:
    monkeypatch.setattr(exported_model, "runtime_available", lambda backend: True)
    monkeypatch.setattr(predictor_module, "export_onnx", lambda model: Path("unused.onnx"))
    monkeypatch.setattr(
        predictor_module, "ExportedModel", lambda path, backend: _ShiftedBoxes(_confident())
    )
    model = _confident()
    reference = Predictor(model, NAMES, precision="fp32", **SMALL)
    with caplog.at_level(logging.WARNING, logger="detr_model.predictor"):
        auto = Predictor(model, NAMES, precision="auto", **SMALL)
        assert auto.precision == "openvino"
        [first] = auto.predict(_image())
    [want] = reference.predict(_image())
    assert auto.precision in ("bf16", "fp32") and not isinstance(auto.model, _ShiftedBoxes)
    assert "moved" in caplog.text
    assert len(first) == len(want) > 0
    np.testing.assert_allclose(first.boxes, want.boxes, atol=0.5)


def _confident() -> torch.nn.Module:
    """Return the tiny model with a class bias that makes every query a confident 'a'."""
    model = _model()
    with torch.no_grad():
        model.class_embed.bias.copy_(torch.tensor([0.0, 8.0, 0.0]))
    return model


def test_int8_quantizes_the_body_after_calibrating_on_the_first_images() -> None:
    model = _model()
    ref = Predictor(model, NAMES, precision="fp32", **SMALL)
    int8 = Predictor(model, NAMES, precision="int8", **SMALL)
    image = _image()
    int8.predict(image, score_threshold=0)  # the calibration run
    body = int8.model.backbone[0].body
    assert any(".quantized." in type(m).__module__ for m in body.modules())  # int8 convs
    [want], [got] = ref.predict(image, score_threshold=0), int8.predict(image, score_threshold=0)
    np.testing.assert_allclose(np.sort(got.scores), np.sort(want.scores), atol=0.05)
