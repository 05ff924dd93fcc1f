"""Registering a trained model as a project version (app.model_versions), without Qt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.model_comparison import ModelScore, compare
from app.model_versions import (
    best_epoch,
    list_versions,
    register_version,
    store_comparison,
    version_record,
)
from detr_model import atomic_file

HISTORY = [
    {"epoch": 1, "loss": 2.0, "metrics": {"AP": 0.1, "AP50": 0.3}, "time_s": 1.0, "lr": 1e-4},
    {"epoch": 2, "loss": 1.5, "metrics": {"AP": 0.4, "AP50": 0.7}, "time_s": 1.0},
    {"epoch": 3, "loss": 1.2, "metrics": {"AP": 0.3, "AP50": 0.6}, "time_s": 1.0},
]


def test_the_record_keeps_the_best_epochs_metrics_and_the_history() -> None:
    record = version_record(HISTORY, classes=["cat"], stopped=False)
    assert record["metrics"] == {"epoch": 2, "loss": 1.5, "AP": 0.4, "AP50": 0.7}
    assert record["classes"] == ["cat"] and record["stopped"] is False
    assert [e["epoch"] for e in record["history"]] == [1, 2, 3]
    assert "lr" not in record["history"][0]  # only what the versions list shows
    assert best_epoch([{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 0.5}])["epoch"] == 2
    assert version_record([])["metrics"] == {}


def test_a_registered_version_is_listed_with_its_metrics_under_a_free_name(tmp_path) -> None:
    best = tmp_path / "run" / "best.pt"
    best.parent.mkdir()
    best.write_bytes(b"weights")
    models = tmp_path / "models"
    first = register_version(best, models, "model-1", version_record(HISTORY, epochs_done=3))
    second = register_version(best, models, "model-1", version_record(HISTORY))
    assert (first.name, second.name) == ("model-1.pt", "model-1-2.pt")
    assert first.read_bytes() == b"weights"
    assert json.loads(first.with_suffix(".json").read_text())["epochs_done"] == 3
    rows = list_versions(models, "project:model-1.pt")
    mine = [r for r in rows if r.choice.kind == "project"]
    assert {r.choice.path for r in mine} == {str(first), str(second)}
    assert [r.in_use for r in mine if r.choice.path == str(first)] == [True]
    assert "AP 0.400" in mine[0].metrics


def test_a_full_disk_registers_nothing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    best = tmp_path / "best.pt"
    best.write_bytes(b"weights")
    replace = os.replace

    def full(src: str, dst: str) -> None:
        if str(dst).endswith(".pt"):
            raise OSError(28, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr(atomic_file.os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        register_version(best, tmp_path / "models", "model-1", version_record(HISTORY))
    assert not [p for p in (tmp_path / "models").iterdir() if p.suffix in (".pt", ".tmp")]


def test_the_comparison_joins_the_sidecar(tmp_path) -> None:
    best = tmp_path / "best.pt"
    best.write_bytes(b"weights")
    target = register_version(best, tmp_path / "models", "model-1", version_record(HISTORY))
    old = ModelScore("Demo", "/demo.pth", ap=0.5, ap50=0.8)
    new = ModelScore("New", str(target), ap=0.2, ap50=0.4)
    store_comparison(target, compare(old, new, images=6, held_out=True))
    data = json.loads(target.with_suffix(".json").read_text())
    assert data["comparison"]["new"]["ap"] == 0.2 and data["metrics"]["AP"] == 0.4
    with pytest.raises(OSError):
        store_comparison(Path(tmp_path / "missing.pt"), compare(old, new, images=6, held_out=True))
