"""Scoring a checkpoint on project images: the numbers `python -m detr_model eval` gives, and the
whole loop on five reviewed images with the defaults (the demo model in use)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.annotations.model import ImageStatus
from app.auto_annotate import AutoAnnotator
from app.model_comparison import OLD
from app.model_scoring import score_checkpoint
from app.project_transfer import import_coco
from app.resource_paths import DEMO_MODEL_PATH
from app.session import Session
from app.training_controller import TrainingController
from app.training_snapshot import TrainSettings
from detr_model.cli import main as detr_cli
from detr_model.data import generate_shapes_dataset
from tests.app.training_support import fake_child, fake_command, wait_compared


def test_scoring_the_demo_model_agrees_with_the_cli_eval(tmp_path, capsys) -> None:
    ann = generate_shapes_dataset(tmp_path, 6, seed=2027, size=(256, 320))
    score = score_checkpoint(str(DEMO_MODEL_PATH), ann, tmp_path, label="Demo", device="cpu")
    assert score.ok and score.images == 6 and score.unreadable == 0
    assert set(score.per_class) == {"circle", "square", "triangle"}
    assert score.ap50 > 0.5  # the demo model finds these shapes (a loose floor)
    # One image a batch, as the scoring runs them (padding in a batch changes DETR's outputs).
    args = ["--json", str(ann), "--images", str(tmp_path), "--device", "cpu", "--batch-size", "1"]
    detr_cli(["eval", "--checkpoint", str(DEMO_MODEL_PATH), *args])
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert score.ap == pytest.approx(cli["AP"], abs=0.03)
    assert score.ap50 == pytest.approx(cli["AP50"], abs=0.03)
    # Classes the user mapped to nothing are not scored as any category.
    ignored = {"circle": None, "square": None, "triangle": None}
    none = score_checkpoint(str(DEMO_MODEL_PATH), ann, tmp_path, label="Demo", class_map=ignored)
    assert none.ap == 0.0
    broken = score_checkpoint(str(tmp_path / "missing.pt"), ann, tmp_path, label="Gone")
    assert not broken.ok and "missing.pt" in broken.error


@pytest.fixture
def five_reviewed(qtbot, tmp_path: Path) -> Session:
    folder = tmp_path / "shapes"
    ann = generate_shapes_dataset(folder, 5, seed=11, size=(128, 160))
    coco = ann.rename(tmp_path / "shapes.json")
    session = Session()
    session.open_folder(folder)
    import_coco(session, coco)
    session.set_status([r.path for r in session.project.images], ImageStatus.REVIEWED)
    return session


def test_five_reviewed_images_compare_both_models_on_the_held_out_image(
    qtbot, five_reviewed, tmp_path, monkeypatch
) -> None:
    # The "new model" is a copy of the demo model: the same weights are no better, so the
    # model in use stays the recommendation and switching needs an explicit choice.
    monkeypatch.setenv("FAKE_BEST", str(DEMO_MODEL_PATH))
    auto = AutoAnnotator(five_reviewed)
    c = TrainingController(five_reviewed, auto, command=fake_command(fake_child(tmp_path), "ok"))
    try:
        assert c.start(TrainSettings())  # every default: automatic validation
        wait_compared(qtbot, c, timeout=90000)
    finally:
        c.shutdown()
        auto.shutdown()
    assert c.snapshot.held_out and (c.snapshot.train_images, c.snapshot.val_images) == (4, 1)
    comparison = c.comparison
    assert comparison.old.path == str(DEMO_MODEL_PATH) and comparison.new.path == c.new_model.path
    assert comparison.old.ok and comparison.new.ap == pytest.approx(comparison.old.ap, abs=1e-6)
    assert comparison.choice == OLD and "no better" in comparison.reason
    assert "the same 1 held-out image" in comparison.reason
    stored = json.loads(Path(c.new_model.path).with_suffix(".json").read_text())
    assert stored["comparison"]["choice"] == OLD
    assert not c.use_model() and auto.current_choice().key == "demo"
    assert c.use_model(accept_worse=True) and auto.current_choice().key == c.new_model.key
