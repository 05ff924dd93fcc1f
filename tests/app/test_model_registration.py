"""Registering a trained model goes through the one atomic writer: all or nothing on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.annotations.model import Box, ImageStatus, new_uid
from app.session import Session
from app.training_controller import TrainingController
from app.training_snapshot import TrainSettings
from detr_model import atomic_file
from tests.app.conftest import write_images
from tests.app.training_support import fake_child, fake_command


@pytest.fixture
def controller(qtbot, tmp_path: Path):
    write_images(tmp_path / "photos", count=3)
    session = Session()
    session.open_folder(tmp_path / "photos")
    cat = session.add_category("object").id
    for rec in session.project.images:
        rec.boxes.append(Box(new_uid(), 10, 10, 60, 50, cat))
        rec.status = ImageStatus.REVIEWED
    c = TrainingController(session, command=fake_command(fake_child(tmp_path), "ok"))
    yield c
    c.shutdown()


def test_a_registered_model_and_its_sidecar_appear_whole(qtbot, controller) -> None:
    with qtbot.waitSignal(controller.model_registered, timeout=15000) as blocker:
        assert controller.start(TrainSettings())
    target = Path(blocker.args[0].path)
    assert target.read_bytes() == controller.result.best_checkpoint.read_bytes()
    assert target.with_suffix(".json").is_file()
    assert sorted(os.listdir(target.parent)) == [target.with_suffix(".json").name, target.name]


def test_a_model_that_cannot_be_saved_leaves_no_file_behind(
    qtbot, controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    replace = os.replace

    def disk_full_for_models(src: str, dst: str) -> None:
        if str(dst).endswith(".pt") and Path(dst).parent.name == "models":
            raise OSError(28, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr(atomic_file.os, "replace", disk_full_for_models)
    with qtbot.waitSignal(controller.failed, timeout=15000) as blocker:
        assert controller.start(TrainSettings())
    assert "Could not save the new model" in blocker.args[0]
    assert "No space left on device" in blocker.args[0]
    models = controller.models_dir()
    assert not [p.name for p in models.iterdir() if p.suffix in (".pt", ".tmp")]
