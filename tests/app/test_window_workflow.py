"""End-to-end window flows: open, navigate, review, export, save, autosave, recover, drop."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image
from pycocotools.coco import COCO
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.annotations import legacy_json, store
from app.annotations.model import Box, ImageStatus
from app.main_window import MainWindow
from tests.app.conftest import drag, open_and_wait, wait_shown


def test_opening_a_folder_lists_its_images_and_shows_the_first(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    assert window.image_list.model.paths() == ["img0.png", "img1.png", "img2.png", "img3.png"]
    assert window.canvas.shown_path() == "img0.png"
    assert window.fields.size.text() == "160 × 120"
    assert window.windowTitle().startswith("photos")
    assert window.settings.recent_projects() == [str(image_folder.resolve())]


def test_d_and_a_keys_walk_through_the_images(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    view = window.canvas.view
    qtbot.keyClick(view, Qt.Key.Key_D)
    wait_shown(qtbot, window, "img1.png")
    qtbot.keyClick(view, Qt.Key.Key_D)
    wait_shown(qtbot, window, "img2.png")
    qtbot.keyClick(view, Qt.Key.Key_A)
    wait_shown(qtbot, window, "img1.png")
    current = window.image_list.list.currentIndex()
    assert window.image_list.model.path_at(current.row()) == "img1.png"


def test_space_marks_reviewed_and_n_jumps_to_the_next_unreviewed(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    session = window.session
    session.set_status(["img1.png"], ImageStatus.REVIEWED)
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_Space)
    assert session.project.image("img0.png").status == ImageStatus.REVIEWED
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_N)
    assert session.current_path == "img2.png"
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_Space)
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_Space)  # toggles back
    assert session.project.image("img2.png").status == ImageStatus.UNLABELED


def test_the_status_filter_lists_only_matching_images(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    window.session.set_status(["img1.png", "img3.png"], ImageStatus.REVIEWED)
    window.image_list.filter_box.setCurrentText("Reviewed")
    assert window.image_list.model.paths() == ["img1.png", "img3.png"]
    window.image_list.go_next()  # from img0 (filtered out) to the next listed image
    assert window.session.current_path == "img1.png"
    assert "2\u00a0reviewed" in window.image_list.counts.text()  # wraps only between phrases


def test_copy_boxes_to_next_image_pastes_them_there_and_moves_on(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    window.session.add_box((10, 10, 50, 40))
    window.session.add_box((60, 60, 100, 90))
    window.canvas.copy_boxes_to_next()
    assert window.session.current_path == "img1.png"
    rects = sorted(b.rect for b in window.session.project.image("img1.png").boxes)
    assert rects == [(10, 10, 50, 40), (60, 60, 100, 90)]
    window.session.undo()
    assert window.session.project.image("img1.png").boxes == []


def test_drawn_boxes_export_as_coco_that_pycocotools_loads(
    qtbot, window, image_folder, monkeypatch
):
    open_and_wait(qtbot, window, image_folder)
    window.canvas.set_draw_mode(True)
    drag(qtbot, window, (10, 20), (70, 80))
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_D)
    wait_shown(qtbot, window, "img1.png")
    drag(qtbot, window, (30, 30), (150, 110))
    target = image_folder / "export" / "coco.json"
    target.parent.mkdir()
    monkeypatch.setattr(
        "app.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), "")
    )
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    coco = COCO(str(target))
    assert len(coco.getImgIds()) == 4  # images without boxes are listed too
    assert len(coco.getAnnIds()) == 2
    first = coco.loadImgs(coco.getImgIds())[0]
    assert (first["file_name"], first["width"], first["height"]) == ("img0.png", 160, 120)
    (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=[first["id"]]))
    x, y, w, h = ann["bbox"]
    assert abs(x - 10) <= 1 and abs(y - 20) <= 1 and abs(w - 60) <= 1 and abs(h - 60) <= 1
    assert coco.loadCats(ann["category_id"])[0]["name"] == "object"


def test_an_edit_is_on_disk_well_within_a_second(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    box = window.session.add_box((10, 10, 50, 40))
    qtbot.waitUntil(lambda: not window.session.is_dirty(), timeout=1000)
    on_disk = store.load_project(window.session.project_file)  # a reader, as another tool
    assert [b.rect for b in on_disk.image("img0.png").boxes] == [box.rect]
    assert window.session.project_file == image_folder.resolve() / ".detr-studio/project.sqlite"


def test_save_then_reopen_keeps_the_boxes(qtbot, window, image_folder, settings):
    open_and_wait(qtbot, window, image_folder)
    box = window.session.add_box((10, 10, 50, 40))
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not window.session.is_dirty()
    assert not window.windowTitle().startswith("photos *")
    assert "every change is in" in window.statusBar().currentMessage()
    assert window.session.close_project().saved  # a second window could not open it otherwise
    again = MainWindow(settings)
    qtbot.addWidget(again)
    open_and_wait(qtbot, again, image_folder)
    assert [b.rect for b in again.session.current_record().boxes] == [box.rect]
    again.close()
    again.loader.shutdown()


def test_a_crash_after_an_edit_loses_nothing(qtbot, window, image_folder, settings):
    open_and_wait(qtbot, window, image_folder)
    window.session.add_box((10, 10, 50, 40))
    assert window.session.autosave_now() is not None
    # As a crash would: the writer stops, the lock goes, the journal is never folded in.
    window.session.document.store.abandon()
    again = MainWindow(settings)
    qtbot.addWidget(again)
    open_and_wait(qtbot, again, image_folder)
    assert len(again.session.current_record().boxes) == 1
    qtbot.waitUntil(lambda: not again.session.is_dirty(), timeout=2000)  # nothing to recover
    again.close()
    again.loader.shutdown()


def test_an_earlier_versions_newer_autosave_is_offered_before_import(qtbot, window, image_folder):
    old = store.new_project(image_folder)
    old.add_category("cat")
    legacy = image_folder / ".detr-studio" / "project.json"
    legacy_json.save_json(old, legacy)
    old.image("img0.png").boxes.append(Box("b1", 1, 2, 30, 40, 1))
    auto = legacy_json.save_json(old, legacy_json.autosave_path(legacy))
    os.utime(legacy, (1_000_000, 1_000_000))
    asked = []
    window._ask_recover = lambda text: asked.append(text) or True
    open_and_wait(qtbot, window, image_folder)
    assert "Yes imports the unsaved changes. No imports the saved project." in asked[0]
    assert [b.uid for b in window.session.current_record().boxes] == ["b1"]
    assert legacy.exists() and auto.exists()  # both kept as they were, as a backup
    assert "stays in" in " ".join(window.session.document.messages)


def _drop(window: MainWindow, paths: list[Path]) -> None:
    """Drag urls over the window and drop them.

    The drag-enter goes through Qt's event routing; Qt delivers a drop only while its drag
    manager runs a real drag, so the drop event is handed to the window's handler directly.
    """
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(QPoint(300, 300), *args)  # QPoint in every PySide6 6.x
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(300, 300), *args)
    window.dropEvent(drop)
    assert drop.isAccepted()


def test_dropping_a_folder_opens_it(qtbot, window, image_folder):
    with qtbot.waitSignal(window.canvas.image_shown, timeout=5000):
        _drop(window, [image_folder])
    assert window.session.project.root == image_folder.resolve()
    assert len(window.image_list.model.paths()) == 4


def test_dropping_an_image_opens_its_folder_at_that_image(qtbot, window, image_folder):
    with qtbot.waitSignal(window.canvas.image_shown, timeout=5000):
        _drop(window, [image_folder / "img2.png"])
    assert window.session.current_path == "img2.png"


def test_dropping_a_coco_file_imports_its_boxes(qtbot, window, image_folder, tmp_path):
    open_and_wait(qtbot, window, image_folder)
    coco = {
        "images": [{"id": 7, "file_name": "img1.png", "width": 160, "height": 120}],
        "annotations": [{"id": 3, "image_id": 7, "category_id": 0, "bbox": [5, 6, 20, 30]}],
        "categories": [{"id": 0, "name": "person"}],
    }
    path = tmp_path / "other_tool.json"
    path.write_text(json.dumps(coco))
    _drop(window, [path])
    (box,) = window.session.project.image("img1.png").boxes
    assert box.rect == (5, 6, 25, 36)
    assert window.session.project.category(box.category_id).name == "person"
    assert "Imported" in window._report_box.text()
    window.session.undo()
    assert window.session.project.image("img1.png").boxes == []


def test_a_corrupt_image_shows_a_message_naming_it(qtbot, window, image_folder):
    (image_folder / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    open_and_wait(qtbot, window, image_folder)
    with qtbot.waitSignal(window.canvas.image_failed, timeout=5000):
        window.session.set_current("img1.png")
    assert "img1.png" in window.canvas.scene.message()
    assert "img1.png" in window.statusBar().currentMessage()
    window.image_list.go_next()  # the window keeps working
    wait_shown(qtbot, window, "img2.png")


def test_exif_rotated_photo_shows_in_display_orientation(qtbot, window, tmp_path):
    folder = tmp_path / "exif"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    Image.new("RGB", (80, 40), (200, 50, 50)).save(folder / "photo.jpg", exif=exif)
    open_and_wait(qtbot, window, folder)
    assert window.canvas.scene.image_size() == (40, 80)
    assert window.session.current_record().size == (40, 80)


def test_reopening_shows_the_image_the_user_was_on(qtbot, window, image_folder, settings):
    open_and_wait(qtbot, window, image_folder)
    window.session.set_current("img2.png")
    assert window.session.close_project().saved
    again = MainWindow(settings)
    qtbot.addWidget(again)
    open_and_wait(qtbot, again, image_folder)
    assert again.session.current_path == "img2.png"
    again.close()
    again.loader.shutdown()
