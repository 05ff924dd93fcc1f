"""Training controller and dialog with a fake training child: snapshot, curves, registration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.annotations.model import ImageStatus
from app.dialogs.training_dialog import TrainingDialog
from app.model_registry import ModelChoice, read_sidecar_metrics
from app.session import Session
from app.training_controller import TrainingController, best_epoch
from app.training_snapshot import TrainSettings, cli_arguments, validation_count, write_snapshot
from tests.app.training_support import (
    boxed_session,
    fake_child,
    fake_command,
    fake_scorer,
    wait_compared,
)


@pytest.fixture
def session(qtbot, tmp_path: Path) -> Session:
    return boxed_session(tmp_path / "photos", images=5, reviewed=4)


@pytest.fixture
def controller(qtbot, session: Session, tmp_path: Path):
    c = TrainingController(
        session, command=fake_command(fake_child(tmp_path), "ok"), scorer=fake_scorer()
    )
    yield c
    c.shutdown()


def test_snapshot_holds_only_reviewed_images_split_for_validation(session, tmp_path) -> None:
    snap = write_snapshot(session.project, tmp_path / "run", TrainSettings(val_fraction=0.25))
    train = json.loads(snap.train_json.read_text())
    val = json.loads(snap.val_json.read_text())
    names = {i["file_name"] for i in train["images"]} | {i["file_name"] for i in val["images"]}
    assert names == {"img0.png", "img1.png", "img2.png", "img3.png"}
    assert (snap.train_images, snap.val_images) == (3, 1)
    assert len(train["annotations"]) == 3 and len(val["annotations"]) == 1
    args = cli_arguments(snap, TrainSettings(freeze_backbone=True))
    assert args[args.index("--labels") + 1] == "contiguous"
    assert args[args.index("--lr-backbone") + 1] == "0"
    assert "--val-json" in args and args[args.index("--init") + 1] == "none"


def test_automatic_validation_keeps_small_sets_for_training() -> None:
    assert validation_count(4, None) == 0
    assert validation_count(20, None) == 4
    assert validation_count(1, 0.5) == 0


def test_snapshot_without_reviewed_images_says_what_to_do(session, tmp_path) -> None:
    for rec in session.project.images:
        rec.status = ImageStatus.UNLABELED
    with pytest.raises(ValueError, match="reviewed"):
        write_snapshot(session.project, tmp_path / "run", TrainSettings())


def test_editing_during_training_does_not_change_the_snapshot(
    qtbot, session, tmp_path: Path
) -> None:
    c = TrainingController(
        session, command=fake_command(fake_child(tmp_path), "stoppable"), scorer=fake_scorer()
    )
    try:
        assert c.start(TrainSettings())
        before = c.snapshot.train_json.read_text()
        qtbot.waitSignal(c.epoch, timeout=15000).wait()
        cat = session.project.categories[0].id
        session.set_current("img0.png")
        session.add_box((1, 1, 30, 30), cat)
        session.set_status(["img4.png"], ImageStatus.REVIEWED)
        assert c.snapshot.train_json.read_text() == before
        with qtbot.waitSignal(c.state_changed, timeout=8000):
            c.cancel()
    finally:
        c.shutdown()
    assert c.state == "cancelled"


def test_a_finished_run_registers_a_model_version_with_metrics(qtbot, controller) -> None:
    with qtbot.waitSignal(controller.model_registered, timeout=15000) as blocker:
        assert controller.start(TrainSettings())
    choice = blocker.args[0]
    path = Path(choice.path)
    assert path.parent == controller.models_dir() and path.read_bytes() == b"best"
    assert choice.key == f"project:{path.name}" and choice.kind == "project"
    assert read_sidecar_metrics(path) == {"epoch": 2, "loss": 1.0, "AP": 0.2, "AP50": 0.4}
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["classes"] == ["object"] and sidecar["train_images"] == 4
    assert controller.state == "finished"
    assert controller.session.autosave_now() is not None
    (version,) = controller.session.document.store.model_versions()  # in the project database
    assert version["key"] == choice.key and version["path"] == str(path)
    assert version["info"]["metrics"]["AP"] == 0.2


def test_a_failed_run_registers_nothing(qtbot, session, tmp_path: Path) -> None:
    c = TrainingController(
        session, command=fake_command(fake_child(tmp_path), "crash"), scorer=fake_scorer()
    )
    try:
        with qtbot.waitSignal(c.failed, timeout=15000) as blocker:
            c.start(TrainSettings())
    finally:
        c.shutdown()
    assert "something broke" in blocker.args[0]
    assert c.state == "failed" and c.new_model is None
    assert not list(c.models_dir().glob("*.pt"))


def test_dialog_draws_curves_from_progress_and_redraws_them_when_reopened(
    qtbot, controller
) -> None:
    dialog = TrainingDialog(controller)
    qtbot.addWidget(dialog)
    dialog.show()
    assert "4 reviewed images" in dialog.data_label.text()
    assert "Few boxes (< 10) for object" in dialog.warning_label.text()
    with qtbot.waitSignal(controller.model_registered, timeout=15000):
        assert dialog.start()
    wait_compared(qtbot, controller)
    assert len(dialog.loss_plot.points("total")) == 4
    assert len(dialog.loss_plot.points("GIoU")) == 4
    assert dialog.ap_plot.points("AP50") == [(1.0, 0.2), (2.0, 0.4)]
    assert dialog.use_button.isEnabled() and dialog.start_button.isEnabled()
    assert "New model" in dialog.status_label.text()
    assert "Saved the new model" in dialog.log_view.toPlainText()
    dialog.close()
    reopened = TrainingDialog(controller)
    qtbot.addWidget(reopened)
    assert reopened.loss_plot.points("total") == dialog.loss_plot.points("total")
    assert reopened.ap_plot.points("AP") == [(1.0, 0.1), (2.0, 0.2)]


def test_best_epoch_prefers_ap_then_loss() -> None:
    history = [{"epoch": 1, "loss": 1.0, "metrics": {"AP": 0.3}}, {"epoch": 2, "loss": 0.5}]
    assert best_epoch(history)["epoch"] == 1
    assert best_epoch([{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 0.5}])["epoch"] == 2


def test_dialog_shows_a_failure_with_the_log_tail_even_after_being_closed(
    qtbot, session, tmp_path: Path
) -> None:
    c = TrainingController(
        session, command=fake_command(fake_child(tmp_path), "crash"), scorer=fake_scorer()
    )
    dialog = TrainingDialog(c)
    qtbot.addWidget(dialog)
    try:
        dialog.show()
        with qtbot.waitSignal(c.failed, timeout=15000):
            assert dialog.start()
            dialog.close()
    finally:
        c.shutdown()
    assert dialog.isVisible()
    assert "something broke in the child" in dialog.failure_box.text()
    assert "unchanged" in dialog.status_label.text()
    assert not dialog.use_button.isEnabled() and dialog.start_button.isEnabled()
    dialog.failure_box.close()


def test_two_runs_register_two_versions(qtbot, controller) -> None:
    paths = []
    for _ in range(2):
        with qtbot.waitSignal(controller.model_registered, timeout=15000) as blocker:
            assert controller.start(TrainSettings())
        paths.append(blocker.args[0].path)
        wait_compared(qtbot, controller)  # a run does not start while the models are compared
    assert paths[0] != paths[1]
    assert sorted(p.name for p in controller.models_dir().glob("*.pt")) == sorted(
        Path(p).name for p in paths
    )


def test_fast_mode_asks_the_cli_for_cached_features_only_from_a_trained_model(
    session, tmp_path: Path
) -> None:
    snap = write_snapshot(session.project, tmp_path / "run", TrainSettings())
    args = cli_arguments(snap, TrainSettings(base="/models/demo.pth", fast=True))
    assert "--fast" in args and "--lr-backbone" not in args
    assert "--fast" not in cli_arguments(snap, TrainSettings(base="", fast=True))
    args = cli_arguments(snap, TrainSettings(base="/models/demo.pth", fast=False))
    assert "--fast" not in args


def test_a_model_is_fine_tuned_at_its_own_size_unless_one_is_chosen(session, tmp_path) -> None:
    snap = write_snapshot(session.project, tmp_path / "run", TrainSettings())
    args = cli_arguments(snap, TrainSettings(base="/models/demo.pth", image_size=None))
    assert "--image-size" not in args  # the CLI reads the checkpoint's evaluation size
    args = cli_arguments(snap, TrainSettings(base="", image_size=None))
    assert args[args.index("--image-size") + 1] == "128"
    args = cli_arguments(snap, TrainSettings(base="/models/demo.pth", image_size=256))
    assert args[args.index("--image-size") + 1] == "256"


def test_fast_mode_needs_a_base_model_and_freezes_the_backbone(
    qtbot, controller, monkeypatch
) -> None:
    import app.dialogs.training_settings as dialog_module

    monkeypatch.setattr(dialog_module, "gpu_likely", lambda: False)
    dialog = TrainingDialog(controller)
    qtbot.addWidget(dialog)
    dialog.base_combo.clear()
    dialog.form.official_bases = {"/models/detr-r50.pth"}
    dialog.base_combo.addItem("Tiny model from scratch", ("", "Tiny model from scratch"))
    dialog.base_combo.addItem("Demo", ("/models/demo.pth", "Demo"))
    dialog.base_combo.addItem("DETR R50", ("/models/detr-r50.pth", "DETR R50"))
    dialog.base_combo.setCurrentIndex(0)
    dialog.fast_check.setChecked(True)
    assert not dialog.fast_check.isEnabled() and not dialog.settings().fast
    assert dialog.freeze_check.isEnabled() and not dialog.freeze_check.isChecked()
    assert dialog.settings().image_size == 128  # from scratch: a size is needed
    dialog.base_combo.setCurrentIndex(1)  # a small model: full fine-tuning by default
    assert dialog.fast_check.isEnabled() and not dialog.settings().fast
    assert dialog.settings().image_size is None  # at the size it was trained at, as the CLI
    dialog.base_combo.setCurrentIndex(0)
    assert dialog.settings().image_size == 128
    dialog.base_combo.setCurrentIndex(1)
    dialog.fast_check.setChecked(True)
    assert dialog.settings().fast
    assert dialog.freeze_check.isChecked() and not dialog.freeze_check.isEnabled()
    dialog.fast_check.setChecked(False)
    assert dialog.freeze_check.isEnabled() and not dialog.freeze_check.isChecked()
    dialog.base_combo.setCurrentIndex(2)  # an official model without a GPU: fast by default
    assert dialog.settings().fast and dialog.settings().freeze_backbone
    assert dialog.settings().image_size is None  # a COCO model at its 800 px, not 128
    dialog.size_combo.setCurrentIndex(2)
    dialog.size_combo.activated.emit(2)  # the user picks 256 px: a new base keeps it
    dialog.base_combo.setCurrentIndex(1)
    assert dialog.settings().image_size == 256
    dialog.base_combo.setCurrentIndex(0)
    assert dialog.settings().image_size == 256
    monkeypatch.setattr(dialog_module, "gpu_likely", lambda: True)
    dialog.base_combo.setCurrentIndex(1)
    dialog.base_combo.setCurrentIndex(2)
    assert not dialog.settings().fast


def test_caching_progress_shows_in_the_status_and_the_log(qtbot, session, tmp_path) -> None:
    c = TrainingController(
        session, command=fake_command(fake_child(tmp_path), "cache"), scorer=fake_scorer()
    )
    dialog = TrainingDialog(c)
    qtbot.addWidget(dialog)
    try:
        with qtbot.waitSignal(c.model_registered, timeout=15000):
            assert dialog.start()
    finally:
        c.shutdown()
    assert "Cached the backbone features of 4 images (fast mode)" in dialog.log_view.toPlainText()
    cache_events = [e for e in c.iterations if e.get("event") == "cache"]
    assert [e["done"] for e in cache_events] == [2, 4]
    dialog._on_progress(cache_events[0])
    assert "backbone features of image 2/4" in dialog.status_label.text()


def test_auto_annotate_moves_to_the_cpu_while_training_holds_the_gpu(
    qtbot, session, tmp_path
) -> None:
    from app.auto_annotate import AutoAnnotator
    from app.widgets.run_status import DeviceLabel

    auto = AutoAnnotator(session)
    auto.choice = ModelChoice("file:/models/demo.pth", "Demo", "file", "/models/demo.pth")
    c = TrainingController(
        session, auto, command=fake_command(fake_child(tmp_path), "gpu"), scorer=fake_scorer()
    )
    c.gpu_busy_changed.connect(auto.set_gpu_busy)  # as the window connects them
    busy: list[bool] = []
    c.started.connect(lambda _event: busy.append(auto.gpu_busy))
    try:
        assert auto.spec().device == "auto"
        with qtbot.waitSignal(c.model_registered, timeout=15000):
            assert c.start(TrainSettings())
    finally:
        c.shutdown()
        auto.shutdown()
    assert busy == [True]
    assert not auto.gpu_busy and auto.spec().device == "auto"
    auto.set_gpu_busy(True)
    assert auto.spec().device == "cpu"
    auto.set_device("cpu")
    auto.set_gpu_busy(False)
    assert auto.spec().device == "cpu"  # a forced device stays
    label = DeviceLabel()
    label.set_model("Demo", "", gpu_busy=True)
    assert label.text() == "Model: Demo · CPU while training uses the GPU"


def test_a_training_run_on_the_cpu_leaves_auto_annotate_alone(qtbot, session, tmp_path) -> None:
    from app.auto_annotate import AutoAnnotator

    auto = AutoAnnotator(session)
    c = TrainingController(
        session, auto, command=fake_command(fake_child(tmp_path), "ok"), scorer=fake_scorer()
    )
    c.gpu_busy_changed.connect(auto.set_gpu_busy)
    busy: list[bool] = []
    c.started.connect(lambda _event: busy.append(auto.gpu_busy))
    try:
        with qtbot.waitSignal(c.model_registered, timeout=15000):
            assert c.start(TrainSettings())
    finally:
        c.shutdown()
        auto.shutdown()
    assert busy == [False]


def test_automatic_epochs_give_small_sets_more_passes(session, tmp_path) -> None:
    from app.training_snapshot import auto_epochs

    assert auto_epochs(24, 4) == 250  # 6 iterations an epoch: about 1,500 in all
    assert auto_epochs(3, 4) == 300 and auto_epochs(5000, 8) == 20  # within the bounds
    snap = write_snapshot(session.project, tmp_path / "run", TrainSettings())
    args = cli_arguments(snap, TrainSettings(epochs=None, batch_size=2))
    assert args[args.index("--epochs") + 1] == str(auto_epochs(snap.train_images, 2))
    assert cli_arguments(snap, TrainSettings(epochs=7))[args.index("--epochs") + 1] == "7"


def test_the_dialog_shows_the_automatic_epochs(qtbot, controller) -> None:
    dialog = TrainingDialog(controller)
    qtbot.addWidget(dialog)
    dialog.refresh_data()
    assert dialog.settings().epochs is None
    assert dialog.epochs_spin.text() == "automatic"
    assert "· 300 epochs" in dialog.data_label.text()  # 4 reviewed images, batch 4
    dialog.epochs_spin.setValue(12)
    assert dialog.settings().epochs == 12 and "epochs" not in dialog.data_label.text()
