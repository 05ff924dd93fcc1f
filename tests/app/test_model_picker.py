"""The model list, the picker, the download dialog and the class mapping dialog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from app.annotations.model import Category
from app.dialogs import download_dialog
from app.dialogs.class_mapping_dialog import ClassMappingDialog
from app.dialogs.model_dialog import ModelDialog
from app.model_registry import (
    ModelChoice,
    all_choices,
    choice_for_key,
    demo_choice,
    device_setting,
    file_choice,
    project_choices,
    recent_files,
    remember_recent_file,
    remembered_key,
)


def fake_checkpoint(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    return path


def test_a_missing_demo_model_is_listed_as_not_bundled_yet(tmp_path):
    choice = demo_choice(tmp_path / "demo.pth")
    assert not choice.available
    assert "no bundled model yet" in choice.label
    fake_checkpoint(tmp_path / "demo.pth")
    assert demo_choice(tmp_path / "demo.pth").available


def test_the_list_has_the_four_official_models_with_download_state(tmp_path):
    cache = tmp_path / "cache"
    fake_checkpoint(cache / "detr-r50-e632da11.pth")
    choices = all_choices(None, cache_dir=cache)
    official = [c for c in choices if c.kind == "official"]
    assert [c.official_name for c in official] == [
        "detr-r50",
        "detr-r50-dc5",
        "detr-r101",
        "detr-r101-dc5",
    ]
    assert not official[0].needs_download and official[0].path.endswith("e632da11.pth")
    assert all(c.needs_download for c in official[1:])
    assert "MB download" in official[1].details and "AP 43.3" in official[1].details


def test_project_models_are_listed_newest_first_with_their_metrics(tmp_path):
    models = tmp_path / "models"
    old = fake_checkpoint(models / "run1" / "best.pt")
    new = fake_checkpoint(models / "run2" / "best.pt")
    (models / "run2" / "metrics.json").write_text(json.dumps({"AP": 0.4123, "epoch": 12}))
    import os

    os.utime(old, (1, 1))
    choices = project_choices(models)
    assert [c.key for c in choices] == ["project:run2/best.pt", "project:run1/best.pt"]
    assert choices[0].details == "AP 0.412 · epoch 12"
    assert choice_for_key("project:run2/best.pt", models).path == str(new)
    assert choice_for_key("project:gone.pt", models) is None


def test_the_model_key_is_remembered_per_project_then_globally(tmp_path):
    q = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert remembered_key({}, q) == "demo"
    q.setValue("models/last", "official:detr-r101")
    assert remembered_key({}, q) == "official:detr-r101"
    assert remembered_key({"model": "file:/x.pth"}, q) == "file:/x.pth"
    remember_recent_file(q, "/a.pth")
    remember_recent_file(q, "/b.pth")
    remember_recent_file(q, "/a.pth")
    assert recent_files(q) == ["/a.pth", "/b.pth"]
    assert device_setting(q) == "auto"
    q.setValue("inference/device", "bogus")
    assert device_setting(q) == "auto"


def test_the_picker_disables_the_missing_demo_and_adds_a_checkpoint_file(qtbot, tmp_path):
    choices = [demo_choice(tmp_path / "none.pth"), *all_choices(None, cache_dir=tmp_path)[1:]]
    dialog = ModelDialog(choices, current_key="demo", device="cpu")
    qtbot.addWidget(dialog)
    chosen = dialog.chosen()
    assert chosen is not None and chosen.kind == "official"  # the demo cannot be chosen
    assert dialog.device() == "cpu"
    added = dialog.add_file(fake_checkpoint(tmp_path / "mine.pth"))
    assert dialog.chosen() == added and added.kind == "file"
    texts = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert "Checkpoint files" in texts
    assert any("no bundled model yet" in t for t in texts)


def test_an_offline_download_ends_quickly_with_a_clear_message(qtbot, monkeypatch):
    import detr_model.download as download

    def offline(name, **_kwargs):
        raise download.DownloadError("cannot download https://x/detr-r50.pth (no network?): DNS")

    monkeypatch.setattr(download, "download_official", offline)
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))
    choice = ModelChoice("official:detr-r50", "DETR R50 (COCO)", "official", "", "detr-r50")
    assert download_dialog.download_choice(None, choice) is None
    assert len(shown) == 1 and "no network" in shown[0] and "DETR R50" in shown[0]


def test_a_finished_download_gives_the_choice_its_file(qtbot, monkeypatch, tmp_path):
    import detr_model.download as download

    target = fake_checkpoint(tmp_path / "detr-r50-e632da11.pth")

    def fake(name, *, progress=None, cancel=None, **_kwargs):
        progress(50, 100)
        progress(100, 100)
        return target

    monkeypatch.setattr(download, "download_official", fake)
    choice = ModelChoice("official:detr-r50", "DETR R50 (COCO)", "official", "", "detr-r50")
    got = download_dialog.download_choice(None, choice)
    assert got is not None and got.path == str(target) and not got.needs_download


@pytest.mark.parametrize("empty", [True, False])
def test_the_mapping_dialog_defaults_to_same_names_and_adds_all_for_an_empty_project(qtbot, empty):
    cats = [] if empty else [Category(1, "Dog", "#ff0000"), Category(2, "vehicle", "#00ff00")]
    dialog = ClassMappingDialog("coco", ["person", "dog", "car"], cats)
    qtbot.addWidget(dialog)
    if empty:
        assert dialog.answer() == {"person": "person", "dog": "dog", "car": "car"}
    else:
        assert dialog.answer() == {"person": None, "dog": 1, "car": None}
        dialog.combos[2].setCurrentIndex(dialog.combos[2].findText("vehicle"))
        assert dialog.answer()["car"] == 2
    dialog.set_all("ignore")
    assert set(dialog.answer().values()) == {None}
    dialog.set_all("new")
    assert dialog.answer() == {"person": "person", "dog": "dog", "car": "car"}


def test_a_file_choice_key_survives_a_restart(tmp_path):
    path = fake_checkpoint(tmp_path / "m.pth")
    choice = file_choice(path)
    assert choice_for_key(choice.key, None) == choice
    path.unlink()
    assert choice_for_key(choice.key, None) is None
