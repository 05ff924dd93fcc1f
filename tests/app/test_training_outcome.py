"""The end of a run in the dialog: both models side by side, the better one the default action,
a worse one only after an explicit yes, any version one click away, clean labels first."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from app.annotations.model import Box, ImageStatus, new_uid
from app.auto_annotate import AutoAnnotator
from app.dialogs.training_dialog import TrainingDialog
from app.session import Session
from app.training_controller import TrainingController
from app.training_snapshot import TrainSettings
from tests.app.training_support import (
    boxed_session,
    fake_child,
    fake_command,
    fake_scorer,
    wait_compared,
)


@pytest.fixture
def session(qtbot, tmp_path: Path) -> Session:
    return boxed_session(tmp_path / "photos", images=5, reviewed=5)


def plain_dialog(qtbot, session, tmp_path, mode: str):
    """Return (dialog, controller) with the fake training child in `mode`, no model in use."""
    c = TrainingController(session, command=fake_command(fake_child(tmp_path), mode))
    dialog = TrainingDialog(c)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog, c


def run_dialog(qtbot, session, tmp_path, *, old_ap: float, new_ap: float):
    auto = AutoAnnotator(session)  # the bundled demo model is in use
    c = TrainingController(
        session,
        auto,
        command=fake_command(fake_child(tmp_path), "ok"),
        scorer=fake_scorer(old_ap=old_ap, new_ap=new_ap),
    )
    dialog = TrainingDialog(c)
    qtbot.addWidget(dialog)
    dialog.show()
    assert "5 reviewed images (4 train, 1 held out for AP)" in dialog.data_label.text()
    with qtbot.waitSignal(c.model_registered, timeout=15000):
        assert dialog.start()
    wait_compared(qtbot, c)
    return dialog, c, auto


def test_a_worse_new_model_is_not_the_default_and_needs_an_explicit_yes(
    qtbot, session, tmp_path
) -> None:
    dialog, c, auto = run_dialog(qtbot, session, tmp_path, old_ap=0.648, new_ap=0.414)
    try:
        panel = dialog.outcome.panel
        assert panel.cell_text("AP", 0) == "0.648" and panel.cell_text("AP", 1) == "0.414"
        assert panel.cell_text("AP · object", 1) == "0.414"
        header = panel.table.horizontalHeaderItem(0).text()
        assert header.startswith("Model in use: Demo model") and "recommended" in header
        assert dialog.tabs.currentWidget() is panel
        assert panel.height() >= panel.wanted_height()  # every row shows, none scrolled away
        assert dialog.keep_button.isDefault() and not dialog.use_button.isDefault()
        assert dialog.use_button.text() == "Use New Model Anyway…"
        assert "scored lower" in dialog.status_label.text()
        asked: list[str] = []
        dialog.outcome.confirm_worse = lambda reason: asked.append(reason) is not None
        dialog.use_button.click()
        assert asked and auto.current_choice().key == "demo"  # "No": nothing changed
        dialog.outcome.confirm_worse = lambda reason: True
        dialog.use_button.click()
        assert auto.current_choice().key == c.new_model.key
        # "Start from" follows the model in use, and rolling back is one click.
        assert dialog.base_combo.currentText() == f"Model in use: {c.new_model.label}"
        dialog.outcome.versions.buttons["demo"].click()
        assert auto.current_choice().key == "demo"
        assert dialog.base_combo.currentText().startswith("Model in use: Demo model")
    finally:
        c.shutdown()
        auto.shutdown()


def test_a_better_new_model_is_the_default_and_the_versions_show_its_metrics(
    qtbot, session, tmp_path
) -> None:
    dialog, c, auto = run_dialog(qtbot, session, tmp_path, old_ap=0.40, new_ap=0.62)
    try:
        assert dialog.use_button.isDefault() and "(recommended)" in dialog.use_button.text()
        dialog.outcome.confirm_worse = lambda reason: pytest.fail("asked about a better model")
        dialog.use_button.click()
        assert auto.current_choice().key == c.new_model.key
        assert not dialog.use_button.isEnabled()  # it is in use now
        table = dialog.outcome.versions
        rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
        new_name = Path(c.new_model.path).name
        assert rows[new_name].startswith("AP 0.620 · AP50 0.930 on the same 1 held-out image")
        assert "then in use, Demo model (bundled, works offline): AP 0.400" in rows[new_name]
        assert table.item(0, 3).text() == "in use" and "demo" in table.buttons
    finally:
        c.shutdown()
        auto.shutdown()


def test_likely_duplicate_boxes_are_offered_for_review_before_training(
    qtbot, session, tmp_path
) -> None:
    rec = session.project.images[2]
    first = rec.boxes[0]
    rec.boxes.append(Box(new_uid(), first.x1 + 1, first.y1, first.x2, first.y2 + 1, 1))
    dialog, c = plain_dialog(qtbot, session, tmp_path, "ok")
    try:
        assert "1 pair of same-class boxes overlap" in dialog.warning_label.text()
        dialog.ask_duplicates = lambda text: "review"
        with qtbot.waitSignal(dialog.review_requested, timeout=2000) as review:
            assert not dialog.start()
        assert review.args == [rec.path, [first.uid, rec.boxes[1].uid]]
        assert not c.is_running()
        dialog.ask_duplicates = lambda text: "train"
        assert dialog.start()
        record = json.loads((c.snapshot.run_dir / "settings.json").read_text())
        assert record["likely_duplicates"] == [[rec.path, first.uid, rec.boxes[1].uid]]
    finally:
        c.shutdown()


def test_the_ap_plot_says_which_images_it_measures(qtbot, session, tmp_path) -> None:
    for rec in session.project.images[3:]:
        rec.status = ImageStatus.PROPOSED  # 3 reviewed: too few to hold some out
    dialog, c = plain_dialog(qtbot, session, tmp_path, "stoppable")
    try:
        assert "AP on the same 3: too few to hold some out" in dialog.data_label.text()
        assert "first after epoch 1" in dialog.ap_plot.empty_text
        assert dialog.start()
        assert dialog.ap_plot.title == "AP on the 3 images trained on (too few to hold some out)"
    finally:
        c.shutdown()


def test_no_decision_and_no_new_run_while_the_models_are_compared(qtbot, session, tmp_path):
    release = threading.Event()
    scores = fake_scorer(old_ap=0.5, new_ap=0.6)

    def slow(*args, **kwargs):
        release.wait(10)
        return scores(*args, **kwargs)

    auto = AutoAnnotator(session)
    c = TrainingController(
        session, auto, command=fake_command(fake_child(tmp_path), "ok"), scorer=slow
    )
    dialog = TrainingDialog(c)
    qtbot.addWidget(dialog)
    try:
        with qtbot.waitSignal(c.model_registered, timeout=15000):
            assert dialog.start()
        assert c.is_comparing()
        assert not dialog.use_button.isEnabled() and not dialog.start_button.isEnabled()
        assert dialog.cancel_button.text() == "Stop Comparing"
        assert not c.use_model() and not c.start(TrainSettings())
        release.set()
        wait_compared(qtbot, c)
        assert dialog.use_button.isEnabled() and dialog.start_button.isEnabled()
    finally:
        release.set()
        c.shutdown()
        auto.shutdown()
