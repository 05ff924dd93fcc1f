"""Multi-process training on the CPU: torchrun with gloo, and the criterion's box count all-reduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from detr_model import distributed as ddp
from detr_model.cli import main as cli_main
from detr_model.criterion import SetCriterion
from detr_model.matcher import HungarianMatcher

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")


def test_helpers_fall_back_to_one_process(monkeypatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    assert not ddp.is_distributed()
    assert (ddp.rank(), ddp.world_size(), ddp.is_main_process()) == (0, 1, True)
    assert ddp.broadcast_flag(True) and not ddp.broadcast_flag(False)
    model = torch.nn.Linear(2, 2)
    assert ddp.wrap_model(model, torch.device("cpu")) is model
    assert ddp.unwrap_model(model) is model
    assert ddp.init_distributed() is False


def _box_count_worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        n = 1 if rank == 0 else 5  # 6 boxes over 2 processes: 3 per process
        targets = [{"labels": torch.zeros(n, dtype=torch.int64), "boxes": torch.full((n, 4), 0.5)}]
        outputs = {"pred_logits": torch.zeros(1, 6, 2), "pred_boxes": torch.full((1, 6, 4), 0.4)}
        criterion = SetCriterion(1, HungarianMatcher(), {"loss_bbox": 1.0}, 0.1, ["boxes"])
        loss = criterion(outputs, targets)["loss_bbox"].item()
        Path(out_dir, f"{rank}.json").write_text(json.dumps({"n": n, "loss": loss}))
        stop = ddp.broadcast_flag(rank == 1)
        Path(out_dir, f"stop{rank}").write_text(str(stop))
    finally:
        dist.destroy_process_group()


def test_box_losses_are_normalised_by_the_mean_box_count_over_processes(tmp_path) -> None:
    mp.spawn(_box_count_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"{rank}.json").read_text())
        # Each matched box is 0.1 off in all four coordinates: L1 0.4 per box, / 3 boxes.
        assert got["loss"] == pytest.approx(got["n"] * 0.4 / 3, rel=1e-5)
        assert (tmp_path / f"stop{rank}").read_text() == "True"  # one process's stop reaches all


def test_torchrun_trains_one_epoch_on_two_cpu_processes(tmp_path) -> None:
    data = tmp_path / "data"
    cli_main(["synth", "--out", str(data), "--images", "4", "--size", "64", "--seed", "5"])
    coco = json.loads((data / "annotations.json").read_text())
    # Three images without boxes: one process sees a batch with none, which leaves the
    # denoising queries (on in the tiny preset from scratch) out of its graph.
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] == 1]
    (data / "annotations.json").write_text(json.dumps(coco))
    ann = str(data / "annotations.json")
    run = subprocess.run(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "detr_model",
            "train",
            "--train-json",
            ann,
            "--train-images",
            str(data),
            "--val-json",
            ann,
            "--val-images",
            str(data),
            "--epochs",
            "1",
            "--batch-size",
            "1",
            "--image-size",
            "64",
            "--workers",
            "0",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "run"),
            "--progress",
            "jsonl",
        ],  # fmt: skip
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    kinds = [e["event"] for e in events]
    assert kinds.count("start") == 1 and kinds.count("done") == 1  # only rank 0 reports
    assert events[0]["processes"] == 2
    iteration = next(e for e in events if e["event"] == "iteration")
    assert iteration["iterations"] == 2  # 4 images split over 2 processes, batch 1
    epoch = next(e for e in events if e["event"] == "epoch")
    assert "AP" in epoch["metrics"]
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "last.pt").is_file()
