"""Doubtful-first review, class-mapping rules and the inference worker driven without a thread."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.annotations.commands import SetProposals
from app.annotations.model import Project, Proposal, new_uid
from app.annotations.review import (
    is_doubtful,
    lowest_score,
    map_by_name,
    model_class_names,
    next_image,
    to_proposals,
    unmapped_names,
)
from app.workers.inference import InferenceJob, InferenceWorker, ModelSpec, _load_predictor
from tests.app.auto_annotate_support import SMALL, make_checkpoint, write_noise_images
from tests.app.conftest import open_and_wait


def proposal(cid: int, score: float) -> Proposal:
    return Proposal(new_uid(), 1, 1, 10, 10, cid, score)


def give_scores(session, scores: dict[str, list[float]]) -> None:
    cat = session.add_category("thing")
    for path, values in scores.items():
        # Side by side: proposals on one spot would be repeats of one object.
        props = [Proposal(new_uid(), 1 + 12 * k, 1, 10 + 12 * k, 10, cat.id, s)
                 for k, s in enumerate(values)]  # fmt: skip
        session.push(SetProposals(path, props))


def test_the_lowest_score_and_the_doubtful_band_are_read_from_proposals(tmp_path):
    project = Project(root=tmp_path)
    cat = project.add_category("a")
    from app.annotations.model import ImageRecord

    project.add_images([ImageRecord(p) for p in ("a.png", "b.png", "c.png", "d.png")])
    project.image("b.png").proposals = [proposal(cat.id, 0.9), proposal(cat.id, 0.5)]
    project.image("d.png").proposals = [proposal(cat.id, 0.95)]
    assert lowest_score(project.image("a.png")) is None
    assert lowest_score(project.image("b.png")) == 0.5
    assert is_doubtful(project.image("b.png")) and not is_doubtful(project.image("d.png"))
    assert next_image(project, "a.png", is_doubtful) == "b.png"
    assert next_image(project, "c.png", is_doubtful) == "b.png"  # wraps around
    assert next_image(project, "b.png", is_doubtful) is None  # the only doubtful one is shown


def test_model_classes_drop_na_slots_and_map_to_same_named_classes(tmp_path):
    project = Project(root=tmp_path)
    person = project.add_category("Person")
    names = model_class_names(["N/A", "person", "N/A", "car", "person"])
    assert names == ["person", "car"]
    from detr_model.coco_classes import COCO_CLASSES

    coco = model_class_names(COCO_CLASSES)
    assert len(COCO_CLASSES) == 91 and len(coco) == 80 and coco[0] == "person"
    assert map_by_name(names, project) is None  # "car" has no class
    assert map_by_name(["person"], project) == {"person": person.id}
    assert unmapped_names(names, {"person": person.id, "car": None}, project) == []
    assert unmapped_names(names, {"person": 99, "car": None}, project) == ["person"]
    found = to_proposals(
        [(0, 0, 10, 10, "person", 0.9), (0, 0, 10, 10, "car", 0.8), (5, 5, 5.5, 9, "person", 0.7)],
        {"person": person.id, "car": None},
        "m",
    )
    assert [(p.category_id, p.score, p.model) for p in found] == [(person.id, 0.9, "m")]


def test_the_list_sorts_least_confident_first_and_filters_doubtful_images(
    qtbot, window, image_folder
):
    open_and_wait(qtbot, window, image_folder)
    give_scores(
        window.session, {"img1.png": [0.95, 0.9], "img2.png": [0.8, 0.2], "img3.png": [0.5]}
    )
    panel = window.image_list
    panel.sort_box.setCurrentText("Least confident first")
    assert panel.model.paths() == ["img2.png", "img3.png", "img1.png", "img0.png"]
    panel.filter_box.setCurrentText("Doubtful proposals")
    assert panel.model.paths() == ["img3.png"]
    panel.filter_box.setCurrentText("All images")
    panel.sort_box.setCurrentText("Folder order")
    window.session.set_current("img0.png")
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert window.session.current_path == "img3.png"
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert window.session.current_path == "img3.png"
    assert "No image has proposals" in window.statusBar().currentMessage()


def test_selected_images_are_the_ones_auto_annotated_from_the_menu(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    panel = window.image_list
    from PySide6.QtCore import QItemSelectionModel

    selection = panel.list.selectionModel()
    for row in (1, 3):
        selection.select(panel.model.index(row), QItemSelectionModel.SelectionFlag.Select)
    assert window.auto.selected_paths() == ["img0.png", "img1.png", "img3.png"]


# ----- the worker without a thread -----------------------------------------------------------


class Recorder:
    def __init__(self, worker: InferenceWorker) -> None:
        self.events: list[tuple] = []
        for name in ("model_loaded", "started", "progress", "result", "image_failed", "failed"):
            getattr(worker, name).connect(lambda *a, n=name: self.events.append((n, *a)))
        worker.finished.connect(lambda *a: self.events.append(("finished", *a)))

    def of(self, name: str) -> list[tuple]:
        return [e[1:] for e in self.events if e[0] == name]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("m") / "tiny.pth")


def test_the_worker_reports_a_missing_checkpoint_by_name(qtbot, tmp_path):
    worker = InferenceWorker()
    rec = Recorder(worker)
    worker.load(ModelSpec(str(tmp_path / "nowhere.pth"), "cpu"))
    (message,) = rec.of("failed")[0]
    assert "nowhere.pth" in message and "no such checkpoint file" in message
    worker.run(InferenceJob((("a", "a.png"),)))
    assert rec.of("failed")[-1] == ("no model is loaded",)
    assert rec.of("finished") == [(0, False)]


def test_the_worker_decodes_ahead_skips_missing_files_and_batches(qtbot, tmp_path, tiny):
    names = write_noise_images(tmp_path / "imgs", count=5)
    images = [(n, str(tmp_path / "imgs" / n)) for n in names]
    images.insert(2, ("gone.png", str(tmp_path / "imgs" / "gone.png")))
    prepared_by = []

    def factory(spec):
        predictor = _load_predictor(spec)
        prepare = predictor.prepare

        def spy(image):
            import threading

            prepared_by.append(threading.current_thread().name)
            return prepare(image)

        predictor.prepare = spy
        return predictor

    worker = InferenceWorker(factory)
    rec = Recorder(worker)
    worker.load(ModelSpec(str(tiny), "cpu", batch_size=2, **SMALL))
    (info,) = rec.of("model_loaded")[0]
    assert info.class_names == ("cat", "dog", "bird") and info.batch_size == 2
    worker.run(InferenceJob(tuple(images), score_floor=0.0, duplicate_iou=None))  # all queries
    assert [k for k, _ in rec.of("result")] == names
    assert [k for k, _ in rec.of("image_failed")] == ["gone.png"]
    assert "gone.png" in rec.of("image_failed")[0][1]
    assert rec.of("progress")[-1][:2] == (6, 6)
    assert rec.of("finished") == [(6, False)]
    assert all(name.startswith("infer-decode") for name in prepared_by)
    result = rec.of("result")[0][1]
    assert result.size == (96, 64) and len(result.detections) == 12
    worker.run(InferenceJob((images[0],), score_floor=0.0))  # as the app asks: no repeats
    deduped = rec.of("result")[-1][1]
    assert deduped.key == result.key and 1 <= len(deduped.detections) < 12
    worker.unload()
    assert worker.loaded_spec() is None


def _head_decodes_last(spec: ModelSpec):
    """A predictor whose first image decodes 0.5 s late, so the next one is ready beside it
    when the first batch forms (a batch takes the oldest image plus those already decoded)."""
    predictor = _load_predictor(spec)
    prepare, calls = predictor.prepare, []

    def late_first(path):
        calls.append(path)
        if len(calls) == 1:
            time.sleep(0.5)
        return prepare(path)

    predictor.prepare = late_first
    return predictor


def test_a_cancelled_worker_stops_after_the_batch_in_progress(qtbot, tmp_path, tiny):
    names = write_noise_images(tmp_path / "imgs", count=6)
    worker = InferenceWorker(_head_decodes_last)
    rec = Recorder(worker)
    worker.load(ModelSpec(str(tiny), "cpu", batch_size=2, **SMALL))
    worker.result.connect(lambda *_: worker.cancel.set())
    worker.run(InferenceJob(tuple((n, str(tmp_path / "imgs" / n)) for n in names)))
    assert len(rec.of("result")) == 2  # the batch's second image was done too: kept
    assert rec.of("finished") == [(2, True)]


def test_the_proposals_panel_counts_what_the_slider_shows(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    give_scores(window.session, {"img0.png": [0.9, 0.5, 0.2]})
    panel, slider = window.auto_ui.panel, window.auto_ui.slider
    slider.set_threshold(0.4)
    summary = panel.summary.text().replace("\u00a0", " ")  # no-break spaces inside phrases
    assert summary.startswith("2 of 3 proposals shown · lowest 0.20 · 1 doubtful")
    assert len(window.canvas.scene.shown_proposal_uids()) == 2
    panel.buttons["accept_shown"].click()
    rec = window.session.current_record()
    assert len(rec.boxes) == 2 and [p.score for p in rec.proposals] == [0.2]
    assert not panel.buttons["accept_shown"].isEnabled()
    slider.set_threshold(0.1)
    panel.buttons["reject_shown"].click()
    assert rec.proposals == [] and panel.summary.text() == "No proposals on this image."


def test_a_model_error_mid_run_is_reported_and_keeps_what_was_done(qtbot, tmp_path, tiny):
    names = write_noise_images(tmp_path / "imgs", count=4)
    calls = []

    def factory(spec):
        predictor = _load_predictor(spec)
        predict = predictor.predict

        def flaky(images, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("CUDA out of memory")
            return predict(images, **kwargs)

        predictor.predict = flaky
        return predictor

    worker = InferenceWorker(factory)
    rec = Recorder(worker)
    worker.load(ModelSpec(str(tiny), "cpu", batch_size=1, **SMALL))  # the 2nd image fails
    worker.run(InferenceJob(tuple((n, str(tmp_path / "imgs" / n)) for n in names)))
    assert [k for k, _ in rec.of("result")] == ["img0.png"]
    assert rec.of("failed") == [("tiny.pth: CUDA out of memory",)]
    assert rec.of("finished") == [(1, False)]


def test_a_batch_is_the_oldest_image_and_the_decoded_ones_nearest_its_shape() -> None:
    from collections import deque
    from concurrent.futures import Future
    from types import SimpleNamespace

    import torch

    from app.workers.inference import _next_batch, cpu_batch_size

    def decoded(height: int, width: int | None = None) -> Future:
        future: Future = Future()
        if width is not None:
            future.set_result(SimpleNamespace(pixels=torch.zeros(3, height, width)))
        return future  # without a width: still decoding

    pending = deque(
        (f"img{i}", f"/x/img{i}.jpg", future)
        for i, future in enumerate(
            [
                decoded(160, 200),
                decoded(200, 160),
                decoded(160, 210),
                decoded(160),
                decoded(160, 190),
            ]
        )
    )
    batch = _next_batch(pending, 3)
    assert [key for key, _, _ in batch] == ["img0", "img2", "img4"]  # landscape with landscape
    assert [key for key, _, _ in pending] == ["img1", "img3"]  # the portrait one and the busy one
    assert cpu_batch_size(160) == 8 and cpu_batch_size(800) == 2  # small inputs batch more
