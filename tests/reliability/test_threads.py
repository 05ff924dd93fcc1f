"""Threads and child processes around the window: closing it during inference and training,
auto-annotate started twice, the model switched during a run. No thread outlives the window
and Qt never says "QThread: Destroyed while thread is still running" (which aborts).
(Closing during a run that stops in time: tests/app/test_auto_annotate.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.annotations.model import ImageStatus
from app.model_registry import file_choice
from app.training_snapshot import TrainSettings
from tests.app import conftest as app_fixtures
from tests.app.auto_annotate_support import SMALL, make_checkpoint, slow_factory, write_noise_images
from tests.app.conftest import open_and_wait
from tests.app.training_support import fake_child, fake_command

ROOT = Path(__file__).resolve().parents[2]
settings, window = app_fixtures.settings, app_fixtures.window  # the window tests' fixtures
RUN_MS = 30_000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pth")


def _prepare(qtbot, window, tmp_path: Path, checkpoint: Path, delay_s: float = 0.3):
    folder = tmp_path / "images"
    write_noise_images(folder, count=5)
    open_and_wait(qtbot, window, folder)
    auto = window.auto
    # One image a batch, so the slow predictor sleeps per image: a fast machine decodes all 5
    # before the first batch, and one batch of 5 would end the run in one step.
    auto.spec_options = dict(SMALL, batch_size=1)
    auto.set_device("cpu")
    auto.set_model(file_choice(checkpoint))
    auto.ask_mapping = lambda missing, mapping: {name: name for name in missing}
    auto.predictor_factory = slow_factory(delay_s)
    return auto


def _thread_messages(qtlog) -> list[str]:
    return [r.message for r in qtlog.records if "QThread" in r.message or "thread" in r.message]


def test_starting_auto_annotate_twice_runs_once_and_says_so(
    qtbot, qtlog, window, tmp_path: Path, checkpoint: Path
) -> None:
    auto = _prepare(qtbot, window, tmp_path, checkpoint)
    messages: list[str] = []
    window.session.message.connect(messages.append)
    started: list[int] = []
    with qtbot.waitSignal(auto.run_finished, timeout=RUN_MS) as finished:
        assert auto.run_unreviewed()
        thread = auto._thread
        auto._worker.started.connect(started.append)
        assert not auto.run_unreviewed() and not auto.run_current()
    assert "Auto-annotate is already running" in messages
    assert finished.args == [5, False] and started == [5]  # one run, every image once
    assert auto._thread is thread  # no second worker thread
    assert all(r.proposals for r in window.session.project.images)
    assert not _thread_messages(qtlog)


def test_switching_the_model_during_a_run_waits_for_the_run(
    qtbot, qtlog, window, tmp_path: Path, checkpoint: Path
) -> None:
    auto = _prepare(qtbot, window, tmp_path, checkpoint)
    other = make_checkpoint(tmp_path / "other.pth", ["car"])
    messages: list[str] = []
    window.session.message.connect(messages.append)
    with qtbot.waitSignal(auto.run_finished, timeout=RUN_MS) as finished:
        assert auto.run_unreviewed()
        qtbot.waitUntil(lambda: auto.progress().done >= 1, timeout=RUN_MS)
        assert not auto.set_model(file_choice(other))
    assert "Cancel or finish the run before switching models" in messages
    assert finished.args == [5, False]
    names = {p.category_id for r in window.session.project.images for p in r.proposals}
    project_names = {window.session.project.category(c).name for c in names}
    assert project_names <= {"cat", "dog", "bird"}  # every proposal came from the first model
    assert auto.set_model(file_choice(other))  # once it finished, the switch goes through
    qtbot.waitUntil(lambda: auto._worker.loaded_spec() is None, timeout=5000)
    assert not _thread_messages(qtlog)


def test_closing_the_window_during_inference_leaves_no_thread_running(
    qtbot, qtlog, window, tmp_path: Path, checkpoint: Path
) -> None:
    auto = _prepare(qtbot, window, tmp_path, checkpoint)
    assert auto.run_unreviewed()
    qtbot.waitUntil(lambda: auto.progress().done >= 1, timeout=RUN_MS)
    thread, loader = auto._thread, window.loader
    window.close()
    assert thread.isFinished() and auto._thread is None
    assert not any(t.is_alive() for t in loader._pool._threads)
    assert not _thread_messages(qtlog)


def test_closing_the_window_during_training_kills_the_child_and_its_children(
    qtbot, qtlog, window, tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    app_fixtures.write_images(folder, count=3)
    open_and_wait(qtbot, window, folder)
    session = window.session
    session.project.add_category("thing")
    from app.annotations.model import Box

    for rec in session.project.images:
        rec.boxes.append(Box(f"b-{rec.path}", 1, 1, 20, 20, 1))
    session.set_status([r.path for r in session.project.images], ImageStatus.REVIEWED)
    training = window.training
    training.command = fake_command(fake_child(tmp_path), "family")  # ignores SIGTERM, has a child
    grandchild: list[int] = []
    training.log.connect(
        lambda line: (
            grandchild.append(int(line.split()[1])) if line.startswith("grandchild") else None
        )
    )
    with qtbot.waitSignal(training.epoch, timeout=RUN_MS):
        assert training.start(TrainSettings(epochs=2))
    child = training.runner.pid()
    window.close()
    assert not training.is_running() and training.state == "cancelled"
    assert not Path(f"/proc/{child}").exists()
    qtbot.waitUntil(lambda: not _alive(grandchild[0]), timeout=5000)
    assert not _thread_messages(qtlog)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie waits for its parent, it does not run
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_window_closed_during_a_long_batch_and_a_training_run_exits_cleanly(
    tmp_path: Path,
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.reliability.window_exit_scenario", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    # Before: "QThread: Destroyed while thread 'inference' is still running", exit status 134.
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["stopped_in_time"] is False  # the case: the batch outlasted the timeout
    assert report["training_child_alive"] is False
    assert report["threads_at_exit"] == ["python"], report  # the main thread only
    assert not [m for m in report["qt_messages"] if "QThread" in m], report["qt_messages"]
