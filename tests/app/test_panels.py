"""The class panel and the image list model, driven through their public handlers."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt

from app.annotations.model import ImageRecord, ImageStatus, Project
from app.panels.class_panel import ClassPanel
from app.panels.image_list import ImageListModel, ImageListPanel
from app.session import Session
from tests.app.conftest import open_and_wait


def _answers(panel: ClassPanel, *, text=None, item=None, color=None, confirm=True, log=None):
    log = log if log is not None else []
    panel.ask_text = lambda title, label, value: log.append(label) or text
    panel.ask_item = lambda title, label, items: log.append(label) or item
    panel.ask_color = lambda current: color
    panel.confirm = lambda title, body: log.append(body) or confirm
    return log


def test_class_panel_adds_renames_and_recolours_with_undo(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    panel, session = window.class_panel, window.session
    _answers(panel, text="car")
    panel.add_class()
    assert [c.name for c in session.project.categories] == ["car"]
    assert panel.list.item(0).text().startswith("1  car")
    assert panel.selected_id() == session.active_category_id
    _answers(panel, text="truck")
    panel.rename_selected()
    assert session.project.categories[0].name == "truck"
    _answers(panel, color="#123456")
    panel.recolor_selected()
    assert session.project.categories[0].color == "#123456"
    session.undo()
    session.undo()
    assert session.project.categories[0].name == "car"
    assert session.project.categories[0].color != "#123456"


def test_deleting_a_class_says_how_many_boxes_it_removes(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    session, panel = window.session, window.class_panel
    cat = session.add_category("dog")
    session.add_box((1, 1, 20, 20), cat.id)
    session.add_box((30, 30, 50, 50), cat.id)
    panel.refresh()
    log = _answers(panel, confirm=True)
    panel.delete_selected()
    assert "2 boxes" in log[0] and "1 images" in log[0]
    assert session.project.categories == []
    assert session.current_record().boxes == []
    session.undo()
    assert len(session.current_record().boxes) == 2


def test_declining_the_delete_question_keeps_the_class(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    window.session.add_category("dog")
    _answers(window.class_panel, confirm=False)
    window.class_panel.delete_selected()
    assert [c.name for c in window.session.project.categories] == ["dog"]


def test_merging_moves_boxes_into_the_chosen_class(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    session, panel = window.session, window.class_panel
    car = session.add_category("car")
    truck = session.add_category("truck")
    session.add_box((1, 1, 20, 20), truck.id)
    session.set_active_category(truck.id)
    log = _answers(panel, item="car")
    panel.merge_selected()
    assert "1 boxes of 'truck'" in log[0]
    assert [c.name for c in session.project.categories] == ["car"]
    assert session.current_record().boxes[0].category_id == car.id
    qtbot.waitUntil(lambda: panel.list.item(0).text().endswith("(1)"), timeout=2000)


def test_class_list_shows_counts_and_hotkeys(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    session = window.session
    for name in ["a", "b", "c"]:
        session.add_category(name)
    session.add_box((1, 1, 20, 20), session.project.categories[2].id)
    qtbot.waitUntil(lambda: window.class_panel.list.item(2).text() == "3  c  (1)", timeout=2000)
    window.canvas.view.setFocus()
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_2)
    assert window.class_panel.selected_id() == session.project.categories[1].id


def _big_project(n: int) -> Project:
    images = [ImageRecord(f"img_{i:05d}.jpg") for i in range(n)]
    for rec in images[::3]:
        rec.status = ImageStatus.REVIEWED
    return Project(root=Path("/nonexistent"), images=images)


def test_image_list_model_with_ten_thousand_images_is_fast(qtbot):
    session = Session()
    panel = ImageListPanel(session)
    qtbot.addWidget(panel)
    panel.resize(300, 600)
    panel.show()
    project = _big_project(10_000)
    start = time.perf_counter()
    session.project = project
    session.project_opened.emit()
    session.current_path = "img_00000.jpg"
    session.current_image_changed.emit("img_00000.jpg")
    qtbot.wait(1)  # let the view lay out and paint
    elapsed = time.perf_counter() - start
    assert panel.model.rowCount() == 10_000
    assert elapsed < 1.0, f"listing 10,000 images took {elapsed:.2f} s"
    start = time.perf_counter()
    panel.model.set_filter("Reviewed")
    assert panel.model.rowCount() == 3334
    assert time.perf_counter() - start < 0.5


def test_image_list_model_reports_changes_of_one_row(qtbot):
    session = Session()
    model = ImageListModel(session)
    session.project = _big_project(10)
    model.rebuild()
    seen = []
    model.dataChanged.connect(lambda a, b: seen.append((a.row(), b.row())))
    session.image_changed.emit("img_00004.jpg")
    assert seen == [(4, 4)]
    assert model.data(model.index(0), Qt.ItemDataRole.ToolTipRole).endswith("reviewed, 0 boxes")
