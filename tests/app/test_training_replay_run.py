"""The controller replays earlier runs only when the run starts from a model the project
trained (fake training child)."""

from __future__ import annotations

from pathlib import Path

from app.annotations.model import ImageStatus
from app.training_controller import TrainingController
from app.training_snapshot import TrainSettings
from tests.app.training_support import boxed_session, fake_child, fake_command, fake_scorer


def test_a_run_from_the_projects_model_replays_the_images_reviewed_no_more(
    qtbot, tmp_path: Path
) -> None:
    session = boxed_session(tmp_path / "photos", images=6, reviewed=6)
    c = TrainingController(
        session, command=fake_command(fake_child(tmp_path), "ok"), scorer=fake_scorer()
    )
    try:
        with qtbot.waitSignal(c.model_registered, timeout=15000) as first:
            assert c.start(TrainSettings())
        assert c.snapshot.replay_images == 0
        qtbot.waitUntil(lambda: not c.is_comparing(), timeout=15000)
        session.set_status(["img0.png", "img1.png"], ImageStatus.PROPOSED)
        model = first.args[0].path
        with qtbot.waitSignal(c.model_registered, timeout=15000):
            assert c.start(TrainSettings(base=model, base_label="mine"))
        qtbot.waitUntil(lambda: not c.is_comparing(), timeout=15000)
        assert c.snapshot.replay_images == 2  # the two images of run 1 no longer reviewed
        assert any(line.startswith("Replay: 2 images") for line in c.log_lines)
        with qtbot.waitSignal(c.model_registered, timeout=15000):
            assert c.start(TrainSettings(base=model, base_label="mine", replay=False))
        assert c.snapshot.replay_images == 0
    finally:
        c.shutdown()
