"""`predict` under torchrun: two CPU processes (gloo) split the images and rank 0 merges one
results file equal to a single process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from detr_model.checkpoint import save_checkpoint
from detr_model.cli import main as cli_main
from detr_model.config import ModelConfig
from detr_model.detr import build_detr

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.fixture
def folder_and_model(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "images"
    cli_main(["synth", "--out", str(data), "--images", "5", "--size", "64", "80", "--seed", "3"])
    torch.manual_seed(0)
    model = build_detr(ModelConfig.tiny(num_classes=3))
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", model, class_names=["N/A", "a", "b"])
    return data, checkpoint


def _predict_args(data: Path, checkpoint: Path, out: Path) -> list[str]:
    return [
        "predict", "--checkpoint", str(checkpoint), "--images", str(data), "--out", str(out),
        "--threshold", "0", "--duplicate-iou", "1", "--image-size", "64", "--batch-size", "1",
        "--device", "cpu", "--precision", "fp32",  # the split is tested, not a back-end
    ]  # fmt: skip


def test_two_processes_merge_the_results_of_one(
    folder_and_model, tmp_path: Path, one_thread
) -> None:
    data, checkpoint = folder_and_model
    single, sharded = tmp_path / "single.json", tmp_path / "sharded.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    assert cli_main(_predict_args(data, checkpoint, single)) == 0
    run = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "detr_model",
         *_predict_args(data, checkpoint, sharded)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "by 2 processes" in run.stdout and run.stdout.count("wrote") == 1  # rank 0 speaks
    assert not (tmp_path / "sharded.json.parts").exists()  # the parts are merged and removed
    want, got = json.loads(single.read_text()), json.loads(sharded.read_text())
    assert len(want) == 5 * 12  # threshold 0: every query of the tiny model on 5 images
    assert [(d["image_id"], d["category_id"]) for d in got] == [
        (d["image_id"], d["category_id"]) for d in want
    ]
    for a, b in zip(got, want, strict=True):
        assert a["bbox"] == pytest.approx(b["bbox"], abs=1e-3)
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
