"""The window's label formats: File menu entries, import as one undo step, the dropped-folder
offer, and the export dialog."""

from __future__ import annotations

from pathlib import Path

from app.annotations.formats import SplitSpec
from app.dialogs.export_dialog import ExportDialog
from app.project_transfer import import_labels
from tests.app.conftest import open_and_wait, write_images
from tests.app.test_window_workflow import _drop


def yolo_folder(root: Path) -> Path:
    """An Ultralytics folder: images/ with labels/ and data.yaml, two classes, 3 boxes."""
    write_images(root / "images", count=2)
    (root / "labels").mkdir()
    (root / "labels" / "img0.txt").write_text("0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.1 0.1\n")
    (root / "labels" / "img1.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text("names:\n  0: cat\n  1: dog\n")
    return root


def test_file_menu_offers_every_format_for_import_and_export(window) -> None:
    texts = [a.text().replace("&", "") for a in window.menus["File"].actions()]
    for name in ("COCO", "YOLO", "Pascal VOC", "labelme"):
        assert f"Import {name}…" in texts
        assert f"Export {name}…" in texts
    assert window.actions["import_coco"].shortcut().toString() == "Ctrl+I"
    assert window.actions["export_coco"].shortcut().toString() == "Ctrl+E"


def test_importing_a_yolo_folder_is_one_undo_step(qtbot, window, tmp_path) -> None:
    folder = yolo_folder(tmp_path / "data")
    assert window.open_path(folder)  # no image at the top: the canvas stays empty
    with qtbot.waitSignal(window.canvas.image_shown, timeout=5000):
        report = import_labels(window.session, "yolo", folder)
    assert "Added 3 boxes" in report
    project = window.session.project
    assert [c.name for c in project.categories] == ["cat", "dog"]
    assert project.image("images/img0.png").boxes[0].rect == (60, 30, 100, 90)
    window.session.undo()
    assert sum(len(r.boxes) for r in project.images) == 0
    assert project.categories == []


def test_dropping_a_labelled_folder_offers_to_import_its_labels(qtbot, window, tmp_path) -> None:
    folder = yolo_folder(tmp_path / "data")
    asked = []
    window.label_formats.ask_drop = lambda question: asked.append(question) or True
    _drop(window, [folder])
    assert asked and "2 YOLO (Ultralytics) label files" in asked[0]
    project = window.session.project
    assert project.root == folder.resolve()
    assert sum(len(r.boxes) for r in project.images) == 3
    assert window._report_box.text().startswith("Imported 2 images, 3 boxes")


def test_saying_no_to_the_offer_just_opens_the_folder(qtbot, window, tmp_path) -> None:
    folder = yolo_folder(tmp_path / "data")
    write_images(folder, count=1)  # an image at the top, so the plain open shows something
    window.label_formats.ask_drop = lambda question: False
    with qtbot.waitSignal(window.canvas.image_shown, timeout=5000):
        _drop(window, [folder])
    assert window.session.project.root == folder.resolve()
    assert sum(len(r.boxes) for r in window.session.project.images) == 0


def test_export_dialog_turns_its_fields_into_a_request(qtbot, window, image_folder) -> None:
    open_and_wait(qtbot, window, image_folder)
    dialog = ExportDialog(window.session.project.root, "yolo", window)
    qtbot.addWidget(dialog)
    assert dialog.target_edit.text() == str(image_folder.resolve().parent / "photos_yolo")
    dialog.split_check.setChecked(True)
    dialog.train_spin.setValue(50)
    dialog.val_spin.setValue(25)
    dialog.test_spin.setValue(25)
    dialog.seed_spin.setValue(9)
    request = dialog.request()
    assert request.format_id == "yolo"
    assert request.options.split == SplitSpec(50, 25, 25, seed=9)
    summary = window.label_formats.export(request)
    assert summary is not None and summary.splits == {"train": 2, "val": 1, "test": 1}
    assert (request.target / "data.yaml").is_file()
    for spin in (dialog.train_spin, dialog.val_spin, dialog.test_spin):
        spin.setValue(0)
    assert "ratios" in dialog.problem.text()
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
