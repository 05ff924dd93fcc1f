"""Review polish seen in screenshots: each item as the user meets it in the window."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import Qt

from app.annotations.commands import SetProposals
from app.annotations.model import Proposal, new_uid
from app.panels.image_list import BROKEN_FILTER
from app.project_transfer import export_coco
from app.run_progress import RunProgress
from app.widgets.loss_plot import LossPlot
from app.workers.image_loader import decode
from tests.app.conftest import drag, open_and_wait, wait_shown


def test_a_box_just_drawn_is_selected_so_a_class_key_changes_it(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    window.session.add_category("cat")
    second = window.session.add_category("dog")
    window.canvas.set_draw_mode(True)
    drag(qtbot, window, (20, 30), (90, 100))
    (box,) = window.session.current_record().boxes
    assert window.canvas.selected_uids() == [box.uid]
    qtbot.keyClick(window.canvas.view, Qt.Key.Key_2)
    assert window.session.current_record().boxes[0].category_id == second.id
    drag(qtbot, window, (100, 10), (150, 60))  # the next box is selected instead
    assert window.canvas.selected_uids() == [window.session.current_record().boxes[1].uid]


def test_accept_all_shown_leaves_a_proposal_that_repeats_a_better_one(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    cat = window.session.add_category("circle").id
    best = Proposal(new_uid(), 10, 10, 60, 60, cat, 0.98)
    repeat = Proposal(new_uid(), 12, 11, 61, 62, cat, 0.85)
    other = Proposal(new_uid(), 90, 40, 140, 100, cat, 0.7)
    window.session.push(SetProposals("img0.png", [best, repeat, other]))
    window.actions["accept_shown"].trigger()
    rec = window.session.current_record()
    assert sorted(b.uid for b in rec.boxes) == sorted([best.uid, other.uid])
    assert [p.uid for p in rec.proposals] == [repeat.uid]
    assert "repeat a box of the same class" in window.statusBar().currentMessage()


def test_proposal_tags_of_close_boxes_do_not_cover_each_other(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    cat = window.session.add_category("circle").id
    props = [Proposal(new_uid(), 10 + k, 30 + k, 60, 80, cat, 0.9 - 0.1 * k) for k in range(3)]
    window.session.push(SetProposals("img0.png", props))
    scene, scale = window.canvas.scene, window.canvas.view.zoom()
    shown = [scene.proposals[p.uid].label for p in props]
    clear = [tag for tag in shown if tag.opacity() == 1.0]
    assert len(clear) >= 2  # placed apart: above, then inside the top of the box
    rects = [tag.scene_rect(scale) for tag in clear]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    assert shown[0].opacity() == 1.0  # the best proposal keeps its place


def test_a_broken_image_has_its_own_mark_and_filter(qtbot, window, image_folder):
    (image_folder / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    open_and_wait(qtbot, window, image_folder)
    with qtbot.waitSignal(window.canvas.image_failed, timeout=5000):
        window.session.set_current("img1.png")
    model = window.image_list.model
    assert "img1.png" in model.broken()
    row = model.index(model.row_of("img1.png"))
    ok = model.index(model.row_of("img0.png"))
    broken_icon = model.data(row, Qt.ItemDataRole.DecorationRole).pixmap(12).toImage()
    plain_icon = model.data(ok, Qt.ItemDataRole.DecorationRole).pixmap(12).toImage()
    assert broken_icon != plain_icon
    assert "Cannot be read" in model.data(row, Qt.ItemDataRole.ToolTipRole)
    window.image_list.filter_box.setCurrentText(BROKEN_FILTER)
    assert model.paths() == ["img1.png"]
    assert "1\u00a0cannot\u00a0be\u00a0read" in window.image_list.counts.text()


def test_the_message_for_a_broken_image_fits_the_view_at_any_zoom(qtbot, window, image_folder):
    (image_folder / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken" + b"x" * 300)
    open_and_wait(qtbot, window, image_folder)
    window.canvas.view.zoom_to(16.0)
    with qtbot.waitSignal(window.canvas.image_failed, timeout=5000):
        window.session.set_current("img1.png")
    view = window.canvas.view
    item = window.canvas.scene.message_item()
    on_screen = view.mapFromScene(item.sceneBoundingRect()).boundingRect()
    assert view.zoom() == 1.0
    assert view.viewport().rect().contains(on_screen), (on_screen, view.viewport().rect())


def test_a_png_with_transparency_shows_on_white(tmp_path):
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))  # transparent black, as editors save it
    image.paste((200, 30, 30, 255), (0, 0, 10, 10))
    image.save(tmp_path / "logo.png")
    shown = decode(str(tmp_path / "logo.png")).image
    assert shown.pixelColor(15, 5).getRgb()[:3] == (255, 255, 255)
    assert shown.pixelColor(5, 5).getRgb()[:3] == (200, 30, 30)


def test_the_status_bar_names_the_demo_model_before_a_project_opens(window):
    label = window.auto_ui.device_label
    assert label.text() == "Model: Demo model"
    assert label.toolTip() == "Auto-annotate uses Demo model (bundled, works offline)"


def test_the_image_count_line_wraps_only_between_phrases(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    phrases = window.image_list.counts.text().split(" · ")
    assert len(phrases) == 5 and all(" " not in p for p in phrases)


def test_the_loss_axis_leaves_room_for_its_widest_tick_label(qtbot):
    plot = LossPlot("loss", log_y=True)
    qtbot.addWidget(plot)
    for x, y in ((0, 0.0039), (1, 0.0061), (2, 0.0047)):
        plot.add_point("total", x, y)
    fm = plot.fontMetrics()
    labels = plot.y_tick_labels()
    assert any(len(label) >= 6 for label in labels)  # e.g. "0.00396"
    assert plot.left_margin(fm) >= max(fm.horizontalAdvance(t) for t in labels) + 6


def test_progress_and_export_messages_are_not_cut_in_the_status_bar(
    qtbot, window, image_folder, tmp_path
):
    open_and_wait(qtbot, window, image_folder)
    window.resize(900, 700)  # narrower than the status bar's fields want
    status = window.auto_ui.run_status
    status.show_progress(RunProgress(running=True, done=12, total=9999, elapsed_s=20.0))
    qtbot.waitUntil(lambda: status.label.width() > 0, timeout=2000)
    label = status.label
    qtbot.waitUntil(
        lambda: label.width() >= label.fontMetrics().horizontalAdvance(label.text()), timeout=2000
    )
    status.show_progress(RunProgress())
    window.resize(1280, 800)  # the window's first size
    export_coco(window.session, tmp_path / "annotations.json")
    message = window.statusBar().currentMessage()
    assert message == "Exported 4 images and 0 boxes to annotations.json"
    bar = window.statusBar()
    taken = sum(
        w.width() for w in bar.findChildren(type(label)) if w.isVisible() and w.parent() is bar
    )
    room = bar.width() - taken - 40
    assert bar.fontMetrics().horizontalAdvance(message) <= room, (message, room)


def test_review_boxes_shows_the_image_with_the_pair_selected(qtbot, window, image_folder):
    open_and_wait(qtbot, window, image_folder)
    window.session.set_current("img2.png")
    a = window.session.add_box((10, 10, 50, 50))
    b = window.session.add_box((11, 10, 50, 51))
    window.session.set_current("img0.png")
    window.canvas.review_boxes("img2.png", [a.uid, b.uid])
    wait_shown(qtbot, window, "img2.png")
    assert sorted(window.canvas.selected_uids()) == sorted([a.uid, b.uid])
