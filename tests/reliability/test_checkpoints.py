"""Checkpoints that must not be used: code-running pickles, NaN weights, a box head with
infinity in it, NaN boxes in evaluation; each refused with a message naming the file, in the
library, the CLI and the app. (Wrong shapes, truncated files, downloads and size claims are in
tests/detr_model/test_checkpoint.py, test_download.py and test_input_size_and_device.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PySide6.QtWidgets import QMessageBox

from app.model_registry import file_choice
from detr_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from detr_model.cli import main
from detr_model.config import ModelConfig
from detr_model.data.coco import CocoDetection, coco_api
from detr_model.data.synthetic import generate_shapes_dataset
from detr_model.data.transforms import make_transforms
from detr_model.detr import build_detr
from detr_model.evaluation import coco_metrics, detections_to_coco, evaluate
from detr_model.predictor import Predictor
from tests.app import conftest as app_fixtures
from tests.app.auto_annotate_support import SMALL, make_checkpoint, write_noise_images
from tests.app.conftest import open_and_wait

settings, window = app_fixtures.settings, app_fixtures.window  # the window tests' fixtures

NAMES = ["cat", "dog"]
NAN = float("nan")


def _tiny(num_classes: int = 2):
    torch.manual_seed(0)
    return build_detr(ModelConfig.tiny(num_classes=num_classes)).eval()


class _RunsCode:
    """Unpickling this calls os.system: what a hostile checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_says_why_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "hostile.pth"
    torch.save({"model": _tiny().state_dict(), "x": _RunsCode(marker)}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith("hostile.pth: refused: ") and "system" in message
    assert "weights_only" not in message  # torch's advice to turn the protection off
    assert main(["predict", "--checkpoint", str(path), "--images", str(tmp_path),
                 "--out", str(tmp_path / "r.json")]) == 1  # fmt: skip
    assert "hostile.pth: refused" in capsys.readouterr().err
    assert not marker.exists()


def _poisoned(tmp_path: Path, key: str, value: float, name: str = "bad.pth") -> Path:
    model = _tiny()
    with torch.no_grad():
        model.state_dict()[key].view(-1)[0] = value
    return save_checkpoint(tmp_path / name, model, class_names=NAMES)


@pytest.mark.parametrize("value", [NAN, float("inf")])
def test_weights_with_nan_or_infinity_are_refused_by_name_before_any_image_is_read(
    tmp_path: Path, value: float
) -> None:
    key = "bbox_embed.layers.2.weight"
    path = _poisoned(tmp_path, key, value)
    expected = f"bad.pth: 1 weight tensor(s) hold NaN or infinite values, e.g. ['{key}']"
    for load in (load_checkpoint, lambda p: Predictor.from_checkpoint(p, device="cpu")):
        with pytest.raises(CheckpointError) as info:
            load(path)
        assert str(info.value).startswith(expected)


def test_auto_annotate_with_a_nan_model_says_so_and_proposes_nothing(
    qtbot, window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "noise"
    write_noise_images(folder, count=2)
    open_and_wait(qtbot, window, folder)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    auto = window.auto
    auto.spec_options = dict(SMALL)
    auto.set_device("cpu")
    auto.ask_mapping = lambda missing, mapping: {name: name for name in missing}
    auto.set_model(file_choice(_poisoned(tmp_path, "class_embed.bias", NAN, "nan-model.pth")))
    with qtbot.waitSignal(auto.run_failed, timeout=30_000) as failed:
        assert auto.run_unreviewed()
    assert "nan-model.pth" in failed.args[0] and "NaN" in failed.args[0]
    qtbot.waitUntil(lambda: not auto.is_running(), timeout=5000)
    assert all(not r.proposals for r in window.session.project.images)
    # A good model afterwards runs: the worker survived the refusal.
    auto.set_model(file_choice(make_checkpoint(tmp_path / "good.pth")))
    with qtbot.waitSignal(auto.run_finished, timeout=30_000) as finished:
        assert auto.run_unreviewed()
    assert finished.args == [2, False]


def _gt(images: int = 2) -> dict:
    return {
        "images": [{"id": i, "file_name": f"{i}.png", "width": 100, "height": 100}
                   for i in range(1, images + 1)],
        "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [10, 10, 30, 30],
                         "area": 900, "iscrowd": 0} for i in range(1, images + 1)],
        "categories": [{"id": 1, "name": "thing"}],
    }  # fmt: skip


def test_nan_boxes_are_never_counted_as_matches() -> None:
    api = coco_api(_gt())
    nan_boxes = [{"image_id": i, "category_id": 1, "bbox": [NAN] * 4, "score": 0.9} for i in (1, 2)]
    assert coco_metrics(api, nan_boxes)["AP"] == 0.0  # pycocotools alone gives 1.0
    perfect = [{"image_id": i, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.5}
               for i in (1, 2)]  # fmt: skip
    assert coco_metrics(api, nan_boxes + perfect)["AP"] == pytest.approx(1.0)
    results = [
        {
            "boxes": torch.tensor([[NAN, 0, 5, 5], [0, 0, float("inf"), 5], [1, 1, 5, 5]]),
            "scores": torch.tensor([0.9, 0.9, 0.8]),
            "labels": torch.tensor([1, 1, 1]),
        }
    ]
    assert [d["bbox"] for d in detections_to_coco(results, [1])] == [[1.0, 1.0, 4.0, 4.0]]


def test_a_nan_ground_truth_box_is_refused_by_name(tmp_path: Path) -> None:
    data = _gt()
    data["annotations"][1]["bbox"] = [NAN, 1, 2, 3]
    path = tmp_path / "gt.json"
    path.write_text(__import__("json").dumps(data))
    with pytest.raises(ValueError, match=r"gt.json: malformed COCO entry .*annotation 2 bbox"):
        CocoDetection(tmp_path, path)


def test_a_box_head_with_infinity_never_evaluates_higher_than_the_good_model(
    tmp_path: Path,
) -> None:
    ann = generate_shapes_dataset(tmp_path, 4, seed=1, size=64)
    data = CocoDetection(tmp_path, ann, make_transforms("val", scales=[64], max_size=64))
    model = _tiny(data.num_classes)
    good = evaluate(model, data)
    with torch.no_grad():
        model.bbox_embed.layers[2].weight[0, 0] = float("inf")  # boxes of NaN and 0/1 edges
    damaged = evaluate(model, data)
    assert damaged["AP"] <= good["AP"] and damaged["AP50"] <= good["AP50"]  # was 0.19 > 0.0


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_the_cli_refuses_a_nan_checkpoint_in_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = _poisoned(tmp_path, "query_embed.weight", NAN)
    extra = (
        ["--json", str(tmp_path / "a.json"), "--images", str(tmp_path)]
        if command == "eval"
        else ["--images", str(tmp_path), "--out", str(tmp_path / "r.json")]
    )
    assert main([command, "--checkpoint", str(path), *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: bad.pth: 1 weight tensor(s) hold NaN") and err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()
