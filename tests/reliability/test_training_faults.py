"""Training runs that meet bad images, run out of memory, are cancelled at each stage or lose a
data-loader worker to a stop signal: a clean stop or one readable error, the last good epoch
kept, and in the app the model in use stays in use.
(NaN loss, SIGKILL, cancel mid-epoch and stopping while caching features are in
tests/detr_model/test_engine.py, test_feature_cache.py and tests/app/test_training_failures.py;
SIGINT and SIGTERM to the whole process group in tests/detr_model/test_cli.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from app.annotations.model import ImageStatus
from app.model_registry import choice_for_key
from app.training_snapshot import TrainSettings
from app.workers.training import TrainingRunner
from detr_model.checkpoint import load_checkpoint
from detr_model.cli import main
from detr_model.config import ModelConfig
from detr_model.data import CocoDetection, collate_fn, generate_shapes_dataset, make_transforms
from detr_model.detr import DETR, build_detr
from detr_model.engine import fit
from detr_model.epoch import TrainingError
from detr_model.losses import build_criterion
from detr_model.train_config import TrainConfig
from detr_model.train_data import ignore_stop_signals
from tests.app import conftest as app_fixtures
from tests.app.conftest import open_and_wait

settings, window = app_fixtures.settings, app_fixtures.window  # the window tests' fixtures


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes") / "shapes"
    generate_shapes_dataset(root, 6, seed=4, size=64, objects=(1, 2))
    return root


@pytest.fixture
def folder(shapes: Path, tmp_path: Path) -> Path:
    """A copy of the shapes, free to damage."""
    return Path(shutil.copytree(shapes, tmp_path / "shapes"))


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _dataset(folder: Path, **options) -> CocoDetection:
    transforms = make_transforms("val", scales=[64], max_size=64)
    return CocoDetection(folder, folder / "annotations.json", transforms, **options)


def _model(num_classes: int) -> DETR:
    torch.manual_seed(0)
    return build_detr(ModelConfig.tiny(num_classes=num_classes))


def _fit(model, train, val, out: Path, *, on_progress=None, should_stop=None, **changes):
    config = TrainConfig(lr=1e-4, batch_size=2, num_workers=0, epochs=3, out_dir=str(out))
    config = config.replace(**changes)
    criterion = build_criterion(model.config, config)
    return fit(model, criterion, train, val, config, on_progress=on_progress,
               should_stop=should_stop)  # fmt: skip


def _truncate(path: Path) -> None:
    """Cut a JPEG in half: its header still reads, its pixels do not."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_failing_mid_run_stops_naming_it_and_keeps_the_last_good_epoch(
    folder: Path, tmp_path: Path, workers: int
) -> None:
    data = _dataset(folder, check_images=True)
    victim = folder / data.images[3]["file_name"]

    def damage_after_epoch_one(event: dict) -> None:
        if event["event"] == "epoch" and event["epoch"] == 1:
            _truncate(victim)

    out = tmp_path / "out"
    with pytest.raises(TrainingError) as info:
        _fit(_model(data.num_classes), data, None, out, num_workers=workers,
             on_progress=damage_after_epoch_one)  # fmt: skip
    # One line, however the data-loader worker wrapped it.
    assert str(info.value) == (
        f"{victim}: damaged image (truncated JPEG); training stopped in epoch 2; "
        f"last good checkpoint: {out / 'last.pt'}"
    )
    assert load_checkpoint(out / "last.pt").extra["epoch"] == 1


def test_a_corrupt_validation_image_does_not_lose_the_trained_epoch(
    folder: Path, shapes: Path, tmp_path: Path
) -> None:
    train = _dataset(shapes)
    val = _dataset(folder, check_images=True)
    victim = folder / val.images[1]["file_name"]
    _truncate(victim)  # after the check: as if it broke during the run
    out = tmp_path / "out"
    with pytest.raises(TrainingError) as info:
        _fit(_model(train.num_classes), train, val, out, epochs=2)
    assert str(info.value) == (
        f"{victim}: damaged image (truncated JPEG) (a validation image); training stopped "
        f"after epoch 1, saved in {out / 'last.pt'}"
    )
    last = load_checkpoint(out / "last.pt")  # the epoch was lost here, out/ left empty
    assert last.extra["epoch"] == 1 and "optimizer" in last.extra


def test_images_that_cannot_be_opened_are_left_out_before_training_and_named(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    names = [img["file_name"] for img in json.loads((folder / "annotations.json").read_text())
             ["images"]]  # fmt: skip
    (folder / names[0]).write_bytes(b"")
    (folder / names[2]).unlink()
    data = _dataset(folder, check_images=True)
    assert len(data) == 4 and [img["file_name"] for img in data.images] == [names[1], *names[3:]]
    assert data.left_out == [
        f"{folder / names[0]}: not an image (unknown or damaged format)",
        f"{folder / names[2]}: file not found",
    ]
    assert all(problem in caplog.text for problem in data.left_out)
    gt = data.coco()  # evaluation's ground truth leaves them out too
    assert len(gt.getImgIds()) == 4
    assert {a["image_id"] for a in gt.dataset["annotations"]} <= set(gt.getImgIds())
    for name in names[1:2] + names[3:]:
        (folder / name).unlink()
    with pytest.raises(ValueError, match="none of its 6 images can be read"):
        _dataset(folder, check_images=True)


def test_out_of_memory_ends_the_cli_with_one_line_naming_the_last_checkpoint(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    bad = json.loads((folder / "annotations.json").read_text())["images"][5]["file_name"]
    (folder / bad).write_text("not an image")
    forward, calls = DETR.forward, []

    def forward_until_memory_runs_out(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 3 and self.training:  # epoch 2: epoch 1 is 3 batches of 5 images
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(DETR, "forward", forward_until_memory_runs_out)
    out = tmp_path / "out"
    code = main(["train", "--train-json", str(folder / "annotations.json"),
                 "--train-images", str(folder), "--image-size", "64", "--batch-size", "2",
                 "--workers", "0", "--epochs", "2", "--out", str(out), "--progress", "jsonl"])  # fmt: skip
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1
    assert events[0]["event"] == "start" and events[0]["images"] == 5
    assert events[0]["left_out"] == [f"{folder / bad}: not an image (unknown or damaged format)"]
    expected = (
        "out of memory in epoch 2 (CUDA out of memory. Tried to allocate 2.00 GiB); try a "
        f"smaller batch size or image size; last good checkpoint: {out / 'last.pt'}"
    )
    assert events[-1] == {"event": "error", "error": expected}
    assert captured.err.endswith(f"error: {expected}\n") and "Traceback" not in captured.err
    assert load_checkpoint(out / "last.pt").extra["epoch"] == 1


class _StopsAndLosesItsWorker(torch.utils.data.Dataset):
    """Items of a dataset; fetching `fatal` asks for a stop and raises what torch raises when a
    stop signal killed the data-loader worker first."""

    def __init__(self, data: CocoDetection, fatal: int, stop: list[bool], stopping: bool) -> None:
        self.data, self.fatal, self.stop, self.stopping = data, fatal, stop, stopping
        self.class_names = data.class_names

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        if index == self.fatal:
            self.stop[0] = self.stopping
            raise RuntimeError("DataLoader worker (pid 4242) is killed by signal: Terminated.")
        return self.data[index]


@pytest.mark.parametrize("stopping", [True, False])
def test_a_loader_worker_killed_by_the_stop_signal_is_a_clean_stop_not_an_error(
    shapes: Path, tmp_path: Path, stopping: bool
) -> None:
    stop = [False]
    data = _StopsAndLosesItsWorker(_dataset(shapes), 3, stop, stopping)
    loader = DataLoader(data, batch_size=1, shuffle=False, collate_fn=collate_fn)
    out = tmp_path / "out"
    model = _model(data.data.num_classes)
    if not stopping:  # the same error without a stop asked for is a real failure
        with pytest.raises(RuntimeError, match="killed by signal"):
            _fit(model, loader, None, out, should_stop=lambda: stop[0])
        return
    result = _fit(model, loader, None, out, should_stop=lambda: stop[0])
    assert result.stopped and result.history == []
    assert load_checkpoint(out / "last.pt").extra["epoch"] == 0  # 3 iterations kept


def test_loader_workers_outlive_a_stop_signal_from_outside_but_not_their_main_process() -> None:
    loader = DataLoader(range(8), batch_size=1, num_workers=1, persistent_workers=True,
                        worker_init_fn=ignore_stop_signals)  # fmt: skip
    batches = iter(loader)
    try:
        assert next(batches).tolist() == [0]
        worker = batches._workers[0]
        for sig in ("-INT", "-TERM"):  # from another process, as a scheduler sends them
            subprocess.run(["kill", sig, str(worker.pid)], check=True, timeout=10)
        time.sleep(0.5)
        assert worker.is_alive() and next(batches).tolist() == [1]
        # multiprocessing ends daemon workers this way at exit: ignoring it hung the exit.
        worker.terminate()
        worker.join(10)
        assert not worker.is_alive()
    finally:
        batches._shutdown_workers()


class _AsksToStop(torch.utils.data.Dataset):
    """A validation set whose first item asks for a stop: a cancel during evaluation."""

    def __init__(self, data: CocoDetection, stop: list[bool]) -> None:
        self.data, self.stop = data, stop
        self.label_to_category = data.label_to_category

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        self.stop[0] = True
        return self.data[index]

    def coco(self):
        return self.data.coco()


@pytest.mark.parametrize("stage", ["before the first iteration", "between epochs", "evaluation"])
def test_cancel_at_each_stage_stops_cleanly_and_keeps_every_finished_epoch(
    shapes: Path, tmp_path: Path, stage: str
) -> None:
    data = _dataset(shapes)
    stop = [stage == "before the first iteration"]
    val = _AsksToStop(data, stop) if stage == "evaluation" else None

    def on_progress(event: dict) -> None:
        if stage == "between epochs" and event["event"] == "epoch":
            stop[0] = True

    out = tmp_path / "out"
    result = _fit(_model(data.num_classes), data, val, out, epochs=3, on_progress=on_progress,
                  should_stop=lambda: stop[0])  # fmt: skip
    assert result.stopped
    if stage == "before the first iteration":
        assert result.history == [] and not (out / "last.pt").exists()
        return
    # Epoch 1 is trained in both; evaluation's metrics are unknown, so it is not in the history.
    assert len(result.history) == (1 if stage == "between epochs" else 0)
    assert load_checkpoint(out / "last.pt").extra["epoch"] == 1


# ----- through the app: a real training child; the model in use stays in use ----------------


@pytest.fixture
def reviewed_window(qtbot, window, folder: Path, tmp_path: Path):
    """The window on the shapes, every image reviewed, an old model in use."""
    (folder / "annotations.json").rename(tmp_path / "shapes.json")
    open_and_wait(qtbot, window, folder)
    window.import_coco(tmp_path / "shapes.json")
    session = window.session
    session.set_status([r.path for r in session.project.images], ImageStatus.REVIEWED)
    models = window.training.models_dir()
    models.mkdir(parents=True)
    (models / "old.pt").write_bytes(b"the model in use")
    assert window.auto.set_model(choice_for_key("project:old.pt", models))
    yield window
    window.training.shutdown()


def _only_the_old_model(window) -> bool:
    return [p.name for p in window.training.models_dir().glob("*.pt")] == ["old.pt"]


@pytest.mark.slow
def test_an_image_truncated_after_review_fails_the_run_by_name_and_keeps_the_old_model(
    qtbot, reviewed_window, folder: Path
) -> None:
    w, old = reviewed_window, reviewed_window.auto.current_choice()
    victim = w.session.project.images[2].path
    _truncate(folder / victim)  # its header, and so the snapshot's check, is fine
    with qtbot.waitSignal(w.training.failed, timeout=120_000) as failed:
        assert w.training.start(TrainSettings(batch_size=2, image_size=64, epochs=3))
    first = failed.args[0].splitlines()[0]
    assert victim in first and "damaged image (truncated JPEG)" in first, first
    assert w.auto.current_choice() == old and _only_the_old_model(w)
    assert w.training.state == "failed"


def test_cancel_before_the_first_epoch_registers_nothing_and_keeps_the_old_model(
    qtbot, reviewed_window
) -> None:
    w, old = reviewed_window, reviewed_window.auto.current_choice()
    with qtbot.waitSignal(w.training.state_changed, timeout=30_000) as state:
        assert w.training.start(TrainSettings(batch_size=2, image_size=64, epochs=3))
        w.training.cancel()  # the child is still starting (importing torch)
    qtbot.waitUntil(lambda: not w.training.is_running(), timeout=30_000)
    assert state.args == ["running"] and w.training.state == "cancelled"
    assert w.auto.current_choice() == old and _only_the_old_model(w)
    assert "no model was saved" in "\n".join(w.training.log_lines)


_STOPPED_CHILD = """
import json, sys
out = sys.argv[1]
print(json.dumps({"event": "start", "images": 3, "val_images": 0,
                  "left_out": ["photos/a.jpg: file not found"]}), flush=True)
print(json.dumps({"event": "epoch", "epoch": 1, "epochs": 9, "loss": 2.0}), flush=True)
print(json.dumps({"event": "done", "stopped": True, "best_checkpoint": out + "/best.pt",
                  "last_checkpoint": out + "/last.pt", "epochs_done": 1}), flush=True)
sys.exit(143)
"""


def test_a_child_stopped_by_sigterm_from_elsewhere_ends_as_stopped_not_failed(
    qtbot, tmp_path: Path
) -> None:
    # A scheduler's SIGTERM reaches the CLI, which stops cleanly and exits 128 + 15.
    runner = TrainingRunner()
    lines: list[str] = []
    runner.log.connect(lines.append)
    try:
        argv = [sys.executable, "-c", _STOPPED_CHILD, str(tmp_path)]
        with qtbot.waitSignal(runner.finished, timeout=30_000) as finished:
            assert runner.start(argv, tmp_path)
    finally:
        runner.kill()
    result = finished.args[0]
    assert result.stopped and result.last_checkpoint == tmp_path / "last.pt"
    assert "Left out (cannot be read): photos/a.jpg: file not found" in lines
