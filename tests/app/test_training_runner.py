"""TrainingRunner: a child's JSON lines become signals; crashes, errors and cancel end cleanly."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from app.workers.training import TrainingResult, TrainingRunner, train_command
from tests.app.training_support import fake_child, fake_command


@pytest.fixture
def runner(qtbot):
    r = TrainingRunner(kill_after_ms=1500)
    yield r
    r.kill()


def _start(runner: TrainingRunner, tmp_path: Path, mode: str) -> Path:
    out = tmp_path / "run"
    argv = fake_command(fake_child(tmp_path), mode)(["--out", str(out)])
    assert runner.start(argv, out)
    return out


def test_runner_turns_json_lines_into_signals(qtbot, runner, tmp_path: Path) -> None:
    seen: dict[str, list] = {"started": [], "progress": [], "epoch": [], "log": []}
    for name, items in seen.items():
        getattr(runner, name).connect(items.append)
    failures: list[str] = []
    runner.failed.connect(failures.append)
    out = _start(runner, tmp_path, "ok")
    with qtbot.waitSignal(runner.finished, timeout=15000) as blocker:
        pass
    result: TrainingResult = blocker.args[0]
    assert not failures
    assert seen["started"][0]["class_names"] == ["circle"]
    assert [e["iteration"] for e in seen["progress"]] == [1, 2, 1, 2]
    assert seen["progress"][0]["losses"]["loss_giou"] == 0.4
    assert [e["metrics"]["AP50"] for e in seen["epoch"]] == [0.2, 0.4]
    assert "a log line on stderr" in seen["log"] and "not json on stdout" in seen["log"]
    assert result.best_checkpoint == out / "best.pt" and not result.stopped
    assert result.epochs_done == 2 and len(result.history) == 2
    assert not runner.is_running()


def test_a_crashing_child_fails_with_the_last_lines_of_its_log(qtbot, runner, tmp_path) -> None:
    finished: list = []
    runner.finished.connect(finished.append)
    _start(runner, tmp_path, "crash")
    with qtbot.waitSignal(runner.failed, timeout=15000) as blocker:
        pass
    message = blocker.args[0]
    assert "killed" in message
    assert "something broke in the child" in message
    assert not finished and not runner.is_running()


def test_an_error_event_fails_with_its_message(qtbot, runner, tmp_path) -> None:
    _start(runner, tmp_path, "error")
    with qtbot.waitSignal(runner.failed, timeout=15000) as blocker:
        pass
    assert blocker.args[0].startswith("loss is NaN at epoch 2")


def test_a_child_that_cannot_start_fails(qtbot, runner, tmp_path) -> None:
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start([str(tmp_path / "no-such-program")], tmp_path / "run")
    assert "could not start" in blocker.args[0]


def test_cancel_stops_the_child_after_its_iteration_and_keeps_checkpoints(
    qtbot, runner, tmp_path
) -> None:
    out = _start(runner, tmp_path, "stoppable")
    qtbot.waitSignal(runner.epoch, timeout=15000).wait()
    began = time.monotonic()
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.cancel()
    assert time.monotonic() - began < 3
    result: TrainingResult = blocker.args[0]
    assert result.stopped and result.epochs_done == 1
    assert result.best_checkpoint == out / "best.pt" and result.best_checkpoint.is_file()


def test_cancel_kills_a_child_that_ignores_it(qtbot, runner, tmp_path) -> None:
    out = _start(runner, tmp_path, "stubborn")
    qtbot.waitSignal(runner.epoch, timeout=15000).wait()
    began = time.monotonic()
    with qtbot.waitSignal(runner.finished, timeout=8000) as blocker:
        runner.cancel()
    assert 1.0 < time.monotonic() - began < 6
    result: TrainingResult = blocker.args[0]
    assert result.stopped and result.last_checkpoint == out / "last.pt"
    assert not runner.is_running()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie waits only for its reaper


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_killing_a_stubborn_child_kills_its_own_children_too(qtbot, runner, tmp_path) -> None:
    lines: list[str] = []
    runner.log.connect(lines.append)
    _start(runner, tmp_path, "family")
    qtbot.waitSignal(runner.epoch, timeout=15000).wait()
    pid = int(next(line for line in lines if line.startswith("grandchild")).split()[1])
    try:
        assert _alive(pid)
        with qtbot.waitSignal(runner.finished, timeout=8000):
            runner.cancel()
        qtbot.waitUntil(lambda: not _alive(pid), timeout=5000)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_several_processes_start_through_torchrun() -> None:
    one = train_command(["--epochs", "1"])
    assert one[1:5] == ["-m", "detr_model", "train", "--epochs"] and one[-2:] == [
        "--progress",
        "jsonl",
    ]
    two = train_command(["--epochs", "1"], processes=2)
    assert two[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert two[5:8] == ["-m", "detr_model", "train"]
