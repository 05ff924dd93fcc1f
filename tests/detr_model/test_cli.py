"""`python -m detr_model`: synth → train → eval → predict end to end, clean stop, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from detr_model.cli import main

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli_shapes")
    assert main(["synth", "--out", str(out), "--images", "4", "--size", "64", "--seed", "3"]) == 0
    return out


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detr_model", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _train_args(shapes: Path, out: Path, *extra: str) -> list[str]:
    ann = str(shapes / "annotations.json")
    return [
        "train", "--train-json", ann, "--train-images", str(shapes),
        "--image-size", "64", "--batch-size", "2", "--workers", "0",
        "--out", str(out), "--progress", "jsonl", *extra,
    ]  # fmt: skip


def test_train_eval_and_predict_work_end_to_end(shapes: Path, tmp_path: Path) -> None:
    ann = str(shapes / "annotations.json")
    run = _cli(
        *_train_args(shapes, tmp_path / "run", "--epochs", "1"),
        "--val-json", ann, "--val-images", str(shapes),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "done"
    assert events[0]["class_names"] == ["N/A", "circle", "square", "triangle"]
    epoch = next(e for e in events if e["event"] == "epoch")
    assert "AP50" in epoch["metrics"] and epoch["checkpoint"].endswith("last.pt")
    best = Path(events[-1]["best_checkpoint"])
    assert best.is_file() and not events[-1]["stopped"]

    evaluated = _cli("eval", "--checkpoint", str(best), "--json", ann, "--images", str(shapes))
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout.strip())
    assert {"AP", "AP50", "AP75", "per_class"} <= set(metrics)

    results = tmp_path / "results.json"
    predicted = _cli(
        "predict", "--checkpoint", str(best), "--images", str(shapes),
        "--out", str(results), "--threshold", "0", "--json", ann,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    detections = json.loads(results.read_text())
    assert detections and {"image_id", "category_id", "bbox", "score"} <= set(detections[0])
    gt = COCO(ann)
    assert len(gt.loadRes(detections).getAnnIds()) == len(detections)


def _stop_run(shapes: Path, out: Path, sig: int, *, group: bool, workers: str) -> list[dict]:
    """Stop a training run with `sig` after its first iteration; return its events.

    The run must end cleanly: exit status 128 + the signal number, no traceback."""
    args = _train_args(shapes, out, "--epochs", "50", "--batch-size", "1")
    args[args.index("--workers") + 1] = workers
    proc = subprocess.Popen(
        [sys.executable, "-m", "detr_model", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    events = []
    try:
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "iteration":
                break
        if group:
            os.killpg(proc.pid, sig)  # like Ctrl+C in a terminal: every process of the group
        else:
            proc.send_signal(sig)
        out_text, err_text = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 128 + sig, err_text
    assert "Traceback" not in err_text and "error" not in err_text, err_text
    return events + [json.loads(line) for line in out_text.splitlines()]


def test_sigterm_stops_training_cleanly_and_keeps_the_checkpoint(shapes, tmp_path) -> None:
    events = _stop_run(shapes, tmp_path, signal.SIGTERM, group=False, workers="0")
    assert events[-1]["event"] == "done" and events[-1]["stopped"] is True
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    assert not any(e["event"] == "epoch" and e["epoch"] >= 40 for e in events)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "scheduler"])
def test_a_signal_to_the_process_group_stops_cleanly_with_loader_workers(
    shapes, tmp_path, sig
) -> None:
    # Ctrl+C in a terminal, `timeout` or a cluster scheduler: every process of the group,
    # data-loader workers included (SIGTERM used to kill them: "DataLoader worker ... is killed
    # by signal: Terminated" after "stopping after the current iteration").
    events = _stop_run(shapes, tmp_path, sig, group=True, workers="2")
    assert events[-1]["event"] == "done" and events[-1]["stopped"] is True
    assert (tmp_path / "last.pt").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["eval", "--checkpoint", "missing.pt", "--json", "a.json", "--images", "."], "missing.pt"),
        (["predict", "--checkpoint", "x.pt", "--images", "nowhere", "--out", "r.json"], "x.pt"),
        (["train", "--train-json", "no.json", "--train-images", ".", "--out", "o"], "no.json"),
    ],
)
def test_bad_files_give_one_line_errors(args, expected, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


def test_bad_arguments_give_one_line_errors(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--epochs" in err


def test_jsonl_mode_reports_errors_as_json(shapes, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    args = _train_args(shapes, tmp_path / "o")
    args[args.index("--train-json") + 1] = str(bad)
    assert main(args) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["event"] == "error" and "bad.json" in json.loads(out[-1])["error"]


def test_verbose_flag_adds_the_traceback_to_the_error(tmp_path) -> None:
    cmd = [sys.executable, "-m", "detr_model"]
    bad = ["predict", "--checkpoint", "x.pt", "--images", "nowhere", "--out", "r.json"]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    quiet = subprocess.run(
        cmd + bad, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    loud = subprocess.run(
        cmd + ["-v", *bad], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert quiet.returncode == loud.returncode == 1
    assert "Traceback" not in quiet.stderr and "x.pt" in quiet.stderr
    assert "Traceback" in loud.stderr and "x.pt" in loud.stderr


def test_jsonl_start_names_the_device_and_log_every_sets_the_event_rate(shapes, tmp_path) -> None:
    args = _train_args(
        shapes, tmp_path / "o", "--epochs", "1", "--device", "cpu", "--log-every", "1"
    )
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert events[0]["event"] == "start" and events[0]["device"] == "cpu"
    iterations = [e for e in events if e["event"] == "iteration"]
    assert len(iterations) == 2  # 4 images, batch 2: an event for every iteration


def test_fine_tuning_a_model_file_uses_its_training_size_and_the_finetune_recipe(tmp_path) -> None:
    import argparse

    from detr_model.checkpoint import save_checkpoint
    from detr_model.cli_train import train_config
    from detr_model.config import ModelConfig
    from detr_model.detr import build_detr
    from detr_model.train_config import TrainConfig

    path = tmp_path / "model.pt"
    model = build_detr(ModelConfig.tiny_fast(num_classes=3))
    save_checkpoint(
        path, model, class_names=["a", "b", "c"], train_config=TrainConfig(eval_size=160)
    )
    parser_defaults = dict(
        init=str(path), preset="tiny", image_size=None, epochs=10, batch_size=None, lr=None,
        lr_backbone=None, lr_drop=None, workers=0, eval_every=1, device="cpu", amp=None, seed=0,
        out=tmp_path / "run", resume=None, no_augment=False, augment_recipe=None, fast=False,
        log_every=None,
    )  # fmt: skip
    config = train_config(argparse.Namespace(**parser_defaults))
    assert config.eval_size == 160 and config.scales == (128, 144, 160)
    assert config.lr == config.lr_backbone == TrainConfig.finetune().lr
    assert config.lr_schedule == "cosine" and config.crop is None
    fast = train_config(argparse.Namespace(**{**parser_defaults, "fast": True, "image_size": 96}))
    assert fast.feature_cache and fast.lr_backbone == 0.0 and fast.eval_size == 96
