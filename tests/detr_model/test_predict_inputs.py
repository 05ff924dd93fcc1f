"""`predict` over folders users have: a bad image is named and left out, a missing output
folder is found before any inference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from detr_model.checkpoint import save_checkpoint
from detr_model.cli import main
from detr_model.config import ModelConfig
from detr_model.detr import build_detr


@pytest.fixture
def folder_and_model(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "images"
    main(["synth", "--out", str(data), "--images", "3", "--size", "64", "80", "--seed", "3"])
    torch.manual_seed(0)
    model = build_detr(ModelConfig.tiny(num_classes=3))
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", model, class_names=["N/A", "a", "b"])
    return data, checkpoint


def _args(data: Path, checkpoint: Path, out: Path) -> list[str]:
    return [
        "predict", "--checkpoint", str(checkpoint), "--images", str(data), "--out", str(out),
        "--threshold", "0", "--image-size", "64", "--device", "cpu", "--precision", "fp32",
    ]  # fmt: skip


def test_an_unreadable_image_is_named_and_the_others_are_predicted(
    folder_and_model, tmp_path: Path, capsys, caplog
) -> None:
    data, checkpoint = folder_and_model
    (data / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (data / "empty.png").write_bytes(b"")
    out = tmp_path / "results.json"
    assert main(_args(data, checkpoint, out)) == 0
    results = json.loads(out.read_text())
    names = {Path(r["file_name"]).name for r in results}
    assert len(names) == 3 and not names & {"broken.jpg", "empty.png"}
    logged = caplog.text
    assert "broken.jpg" in logged and "empty.png" in logged
    assert "skipped 2 unreadable images" in capsys.readouterr().out


def test_a_missing_output_folder_fails_before_the_model_is_loaded(
    folder_and_model, tmp_path: Path, capsys
) -> None:
    data, _ = folder_and_model
    out = tmp_path / "no" / "such" / "results.json"
    # A checkpoint that does not exist either: the output folder must be the first complaint.
    assert main(_args(data, tmp_path / "missing.pt", out)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "no" / "such") in err and ".tmp" not in err
