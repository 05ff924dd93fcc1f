"""Real training children that break or are stopped: NaN loss, SIGKILL, cancel after an epoch."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.annotations.model import ImageStatus
from app.model_registry import choice_for_key
from app.training_snapshot import TrainSettings
from tests.app.conftest import open_and_wait

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("synth") / "shapes"
    subprocess.run(
        [sys.executable, "-m", "detr_model", "synth", "--out", str(folder), "--images", "6",
         "--size", "64", "--seed", "5"],
        cwd=ROOT, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return folder


@pytest.fixture
def trained_window(qtbot, window, shapes: Path, tmp_path: Path):
    """The window on a copy of the shapes with every image reviewed and an old model in use."""
    folder = tmp_path / "shapes"
    shutil.copytree(shapes, folder)
    (folder / "annotations.json").rename(tmp_path / "shapes.json")
    open_and_wait(qtbot, window, folder)
    window.import_coco(tmp_path / "shapes.json")
    session = window.session
    session.set_status([r.path for r in session.project.images], ImageStatus.REVIEWED)
    models = window.training.models_dir()
    models.mkdir(parents=True)
    (models / "old.pt").write_bytes(b"the model in use")
    old = choice_for_key("project:old.pt", models)
    assert window.auto.set_model(old)
    yield window
    window.training.shutdown()


def _settings(**changes) -> TrainSettings:
    return TrainSettings(batch_size=2, image_size=64, **changes)


def _only_the_old_model(window) -> bool:
    models = window.training.models_dir()
    return sorted(p.name for p in models.glob("*.pt")) == ["old.pt"]


def test_a_nan_loss_fails_with_its_message_and_keeps_the_old_model(qtbot, trained_window) -> None:
    w, old = trained_window, trained_window.auto.current_choice()
    with qtbot.waitSignal(w.training.failed, timeout=120000) as blocker:
        assert w.training.start(_settings(epochs=2, lr=1e30))
    assert "the loss is nan" in blocker.args[0]
    assert w.auto.current_choice() == old and _only_the_old_model(w)
    assert w.training.state == "failed"


def test_a_child_killed_with_sigkill_fails_and_keeps_the_old_model(qtbot, trained_window) -> None:
    w, old = trained_window, trained_window.auto.current_choice()
    with qtbot.waitSignal(w.training.started, timeout=120000):
        assert w.training.start(_settings(epochs=50))
    with qtbot.waitSignal(w.training.failed, timeout=10000) as blocker:
        os.kill(w.training.runner.pid(), signal.SIGKILL)
    assert "killed" in blocker.args[0]
    assert w.auto.current_choice() == old and _only_the_old_model(w)


def test_cancel_after_an_epoch_stops_soon_and_keeps_the_model_so_far(qtbot, trained_window) -> None:
    w = trained_window
    with qtbot.waitSignal(w.training.epoch, timeout=120000):
        assert w.training.start(_settings(epochs=50))
    began = time.monotonic()
    with qtbot.waitSignal(w.training.model_registered, timeout=30000) as blocker:
        w.training.cancel()
    stopped_in = time.monotonic() - began
    assert w.training.state == "cancelled"
    assert Path(blocker.args[0].path).is_file() and w.training.result.stopped
    assert stopped_in < 20, f"cancel took {stopped_in:.1f} s"
    print(f"real child stopped {stopped_in:.2f} s after cancel")
