"""Drive the canvas as a user: draw, move, resize, nudge, change class, undo, redo, delete."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from tests.app.conftest import drag, open_and_wait, viewport_point


@pytest.fixture
def opened(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    return window


def boxes(win):
    return win.session.current_record().boxes


def test_drawing_a_box_with_the_mouse_adds_one_box_in_image_pixels(qtbot, opened) -> None:
    win = opened
    qtbot.keyClick(win.canvas.view, Qt.Key.Key_W)
    assert win.canvas.is_draw_mode()
    drag(qtbot, win, (20, 30), (90, 100))
    assert len(boxes(win)) == 1
    box = boxes(win)[0]
    # One screen pixel is less than one image pixel here (the image is zoomed in to fit).
    assert box.rect == pytest.approx((20, 30, 90, 100), abs=1.0)
    assert win.session.project.categories[0].name == "object"
    assert win.session.undo_stack.undo_text == "Add box"


def test_a_box_drawn_past_the_edge_stays_inside_the_image(qtbot, opened) -> None:
    win = opened
    win.canvas.set_draw_mode(True)
    drag(qtbot, win, (100, 60), (400, 300))
    (box,) = boxes(win)
    assert box.x2 <= 160 and box.y2 <= 120
    assert box.rect == pytest.approx((100, 60, 160, 120), abs=1.0)


def test_a_click_in_draw_mode_adds_no_box(qtbot, opened) -> None:
    win = opened
    win.canvas.set_draw_mode(True)
    point = viewport_point(win, 50, 50)
    qtbot.mouseClick(win.canvas.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert boxes(win) == []


def test_moving_a_box_is_one_undo_step_and_keeps_its_size(qtbot, opened) -> None:
    win = opened
    box = win.session.add_box((20, 20, 60, 50))
    drag(qtbot, win, (40, 35), (70, 55))  # select tool: drag from inside the box
    moved = boxes(win)[0]
    assert (moved.x1, moved.y1) == pytest.approx((50, 40), abs=1.0)
    assert (moved.x2 - moved.x1, moved.y2 - moved.y1) == pytest.approx((40, 30), abs=1e-6)
    assert win.session.undo_stack.undo_text == "Move box"
    assert len(win.session.undo_stack) == 2  # add + one move, however many mouse moves
    win.session.undo()
    assert boxes(win)[0].rect == box.rect


def test_moving_stops_at_the_image_border(qtbot, opened) -> None:
    win = opened
    win.session.add_box((100, 80, 140, 110))
    drag(qtbot, win, (120, 95), (200, 200))
    assert boxes(win)[0].rect == pytest.approx((120, 90, 160, 120), abs=1e-6)


def test_dragging_a_corner_handle_resizes_the_box(qtbot, opened) -> None:
    win = opened
    win.session.add_box((20, 20, 60, 50))
    drag(qtbot, win, (40, 35), (40, 35))  # a click selects the box (no move)
    assert win.canvas.selected_uids() == [boxes(win)[0].uid]
    drag(qtbot, win, (60, 50), (100, 90))  # bottom-right handle
    assert boxes(win)[0].rect == pytest.approx((20, 20, 100, 90), abs=1.0)
    assert win.session.undo_stack.undo_text == "Resize box"


def test_arrow_keys_nudge_the_selection_and_shift_moves_ten(qtbot, opened) -> None:
    win = opened
    box = win.session.add_box((20, 20, 60, 50))
    win.canvas.scene.select_uids([box.uid])
    view = win.canvas.view
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert boxes(win)[0].rect == (22, 30, 62, 60)
    win.session.undo()  # consecutive nudges of one box merge into one step
    assert boxes(win)[0].rect == box.rect


def test_number_keys_change_the_class_of_the_selected_box(qtbot, opened) -> None:
    win = opened
    win.session.add_category("cat")
    dog = win.session.add_category("dog")
    box = win.session.add_box((20, 20, 60, 50))
    assert box.category_id == win.session.project.categories[0].id
    win.canvas.scene.select_uids([box.uid])
    win.canvas.view.setFocus()
    qtbot.keyClick(win.canvas.view, Qt.Key.Key_2)
    assert boxes(win)[0].category_id == dog.id
    assert win.session.active_category_id == dog.id
    assert win.canvas.scene.boxes[box.uid].label.text() == "dog"


def test_undo_and_redo_shortcuts_replay_the_edits(qtbot, opened) -> None:
    win = opened
    win.canvas.set_draw_mode(True)
    drag(qtbot, win, (10, 10), (50, 50))
    drag(qtbot, win, (60, 60), (120, 100))
    assert len(boxes(win)) == 2
    view = win.canvas.view
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(boxes(win)) == 1
    assert len(win.canvas.scene.boxes) == 1
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(view, Qt.Key.Key_Z, mods)
    assert len(boxes(win)) == 2
    assert len(win.canvas.scene.boxes) == 2


def test_delete_key_removes_the_selected_boxes(qtbot, opened) -> None:
    win = opened
    a = win.session.add_box((10, 10, 40, 40))
    b = win.session.add_box((60, 60, 100, 100))
    win.canvas.scene.select_uids([a.uid])
    win.canvas.view.setFocus()
    qtbot.keyClick(win.canvas.view, Qt.Key.Key_Delete)
    assert [x.uid for x in boxes(win)] == [b.uid]


def test_escape_leaves_draw_mode(qtbot, opened) -> None:
    win = opened
    qtbot.keyClick(win.canvas.view, Qt.Key.Key_W)
    assert win.actions["draw_mode"].isChecked()
    qtbot.keyClick(win.canvas.view, Qt.Key.Key_Escape)
    assert not win.canvas.is_draw_mode()
    assert not win.actions["draw_mode"].isChecked()


def test_ctrl_wheel_zooms_around_the_cursor(qtbot, opened) -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    view = opened.canvas.view
    before = view.zoom()
    anchor = viewport_point(opened, 40, 30)
    event = QWheelEvent(
        QPointF(anchor),
        QPointF(view.viewport().mapToGlobal(anchor)),
        QPoint(0, 0),
        QPoint(0, 480),  # four notches: the image outgrows the view both ways
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom() == pytest.approx(before * 1.25**4)
    under = view.mapToScene(anchor)
    assert (under.x(), under.y()) == pytest.approx((40, 30), abs=1.0)
    view.actual_size()
    assert view.zoom() == 1.0
    view.fit()
    assert view.zoom() == pytest.approx(before)


def test_right_click_menu_changes_the_class_of_the_selection(qtbot, opened) -> None:
    win = opened
    cat = win.session.add_category("cat")
    dog = win.session.add_category("dog")
    box = win.session.add_box((20, 20, 60, 50), cat.id)
    win.canvas.scene.select_uids([box.uid])
    menu = win.canvas.build_context_menu()
    texts = [a.text() for a in menu.actions()]
    assert texts[:2] == ["1  cat", "2  dog"] and "Delete" in texts
    menu.actions()[1].trigger()
    assert boxes(win)[0].category_id == dog.id
    assert win.actions["class_2"].text() == "&2  dog"
    assert not win.actions["class_3"].isEnabled()
