"""The table of actions: one place builds menus, the toolbar and the shortcut help."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QMenuBar, QStyle, QToolBar, QWidget

from app.resource_paths import icon_path

log = logging.getLogger(__name__)

MENUS = ("File", "Edit", "View", "Image", "Model", "Help")


@dataclass(frozen=True)
class ActionSpec:
    """One user command.

    `handler` is a dotted attribute path resolved on the window (e.g. "session.undo");
    None marks a key handled by a widget itself, listed only in the shortcut help.
    `icon` is "std:<QStyle.StandardPixmap name>" or the name of an SVG in resources/icons.
    """

    id: str
    text: str
    shortcuts: tuple[str, ...] = ()
    handler: str | None = None
    menu: str | None = None
    icon: str | None = None
    toolbar: bool = False
    checkable: bool = False
    tip: str = ""


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_folder", "&Open Folder…", ("Ctrl+O",), "open_folder_dialog", "File", "std:SP_DirOpenIcon", True, tip="Open an image folder"),
    ActionSpec("open_project", "Open &Project File…", ("Ctrl+Shift+O",), "open_project_dialog", "File"),
    ActionSpec("save", "&Save", ("Ctrl+S",), "save_project", "File", "std:SP_DialogSaveButton", True, tip="Make sure every edit is on disk (they are saved as you work)"),
    ActionSpec("save_as", "Save &As…", ("Ctrl+Shift+S",), "save_as_dialog", "File", tip="Write the project to another file and go on there"),
    ActionSpec("import_coco", "&Import COCO…", ("Ctrl+I",), "import_coco_dialog", "File"),
    ActionSpec("import_yolo", "Import &YOLO…", (), "label_formats.import_yolo", "File", tip="Import the labels of a YOLO (Ultralytics) folder"),
    ActionSpec("import_voc", "Import Pascal &VOC…", (), "label_formats.import_voc", "File", tip="Import a folder of Pascal VOC XML files"),
    ActionSpec("import_labelme", "Import &labelme…", (), "label_formats.import_labelme", "File", tip="Import a folder of labelme JSON files"),
    ActionSpec("import_results", "Import &Detections as Proposals…", (), "import_results_dialog", "File", tip="Add a COCO results file (python -m detr_model predict) as proposals to review"),
    ActionSpec("export_coco", "&Export COCO…", ("Ctrl+E",), "export_coco_dialog", "File", "export", True, tip="Export the annotations as COCO JSON"),
    ActionSpec("export_yolo", "Export YOLO…", (), "label_formats.export_yolo", "File", tip="Export an Ultralytics YOLO folder (with splits if you like)"),
    ActionSpec("export_voc", "Export Pascal VOC…", (), "label_formats.export_voc", "File", tip="Export a Pascal VOC folder"),
    ActionSpec("export_labelme", "Export labelme…", (), "label_formats.export_labelme", "File", tip="Export labelme JSON files beside copies of the images"),
    ActionSpec("export_dataset", "Export &Dataset…", ("Ctrl+Shift+E",), "label_formats.export_dataset", "File", tip="Export in any format, with train/val/test splits"),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), "close", "File"),
    ActionSpec("undo", "&Undo", ("Ctrl+Z",), "session.undo", "Edit", "undo", True),
    ActionSpec("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "session.redo", "Edit", "redo", True),
    ActionSpec("draw_mode", "&Draw Boxes", ("W",), "canvas.toggle_draw_mode", "Edit", "draw_box", True, True, "Draw boxes by dragging (W); Esc returns to selecting"),
    ActionSpec("delete", "&Delete Boxes", ("Delete", "Backspace"), "canvas.delete_selected", "Edit", "delete", True, tip="Delete the selected boxes, reject the selected proposals"),
    ActionSpec("accept_proposal", "&Accept Proposal", ("Return", "Enter"), "canvas.accept_selected_proposals", "Edit", tip="Accept the selected proposal as a box (or double-click it)"),
    ActionSpec("accept_shown", "Accept All S&hown Proposals", ("Shift+Return", "Y"), "canvas.accept_shown_proposals", "Edit"),
    ActionSpec("reject_shown", "Reject All Shown Proposals", ("Shift+Delete",), "canvas.reject_shown_proposals", "Edit"),
    ActionSpec("select_all", "Select &All Boxes", ("Ctrl+A",), "canvas.select_all", "Edit"),
    ActionSpec("copy", "&Copy Boxes", ("Ctrl+C",), "canvas.copy_boxes", "Edit"),
    ActionSpec("paste", "&Paste Boxes", ("Ctrl+V",), "canvas.paste_boxes", "Edit"),
    ActionSpec("copy_to_next", "Copy Boxes to &Next Image", ("Ctrl+Shift+D",), "canvas.copy_boxes_to_next", "Edit"),
    *(
        ActionSpec(f"class_{n}", f"Class {n}", (str(n),), f"canvas.use_class:{n}", "Edit")
        for n in range(1, 10)
    ),
    ActionSpec("zoom_in", "Zoom &In", ("Ctrl++", "Ctrl+="), "canvas.view.zoom_in", "View", "zoom_in"),
    ActionSpec("zoom_out", "Zoom &Out", ("Ctrl+-",), "canvas.view.zoom_out", "View", "zoom_out"),
    ActionSpec("fit", "&Fit to Window", ("F",), "canvas.view.fit", "View", "fit", True),
    ActionSpec("actual_size", "&100 %", ("Ctrl+0", "Ctrl+1"), "canvas.view.actual_size", "View", "actual_size"),
    ActionSpec("prev_image", "&Previous Image", ("A",), "image_list.go_previous", "Image", "std:SP_ArrowBack", True),
    ActionSpec("next_image", "&Next Image", ("D",), "image_list.go_next", "Image", "std:SP_ArrowForward", True),
    ActionSpec("next_unlabeled", "Next &Unreviewed Image", ("N",), "image_list.go_next_unlabeled", "Image", "next_unlabeled", True, tip="Go to the next image not marked reviewed"),
    ActionSpec("next_doubtful", "Next D&oubtful Image", ("Shift+N",), "image_list.go_next_doubtful", "Image", tip="Go to the next image with proposals scored 0.3–0.7"),
    ActionSpec("toggle_reviewed", "Mark &Reviewed", ("Space",), "session.toggle_reviewed", "Image", "reviewed", True, tip="Mark the image reviewed (Space), again to unmark"),
    ActionSpec("auto_annotate", "&Auto-Annotate", ("Ctrl+R",), "auto.run_unreviewed", "Model", "std:SP_MediaPlay", True, tip="Run the model on every image not yet reviewed"),
    ActionSpec("auto_annotate_current", "Auto-Annotate &Current Image", ("Ctrl+Shift+R",), "auto.run_current", "Model"),
    ActionSpec("auto_annotate_selected", "Auto-Annotate &Selected Images", (), "auto.run_selected", "Model"),
    ActionSpec("cancel_auto_annotate", "Ca&ncel Auto-Annotate", (), "auto.cancel", "Model"),
    ActionSpec("choose_model", "Choose &Model…", ("Ctrl+M",), "auto_ui.choose_model", "Model"),
    ActionSpec("class_mapping", "Class Ma&pping…", (), "auto_ui.edit_class_mapping", "Model"),
    ActionSpec("train_model", "&Train Model…", ("Ctrl+T",), "show_training_dialog", "Model", tip="Fine-tune a model on the reviewed images"),
    ActionSpec("open_demo", "Open &Demo Project", (), "first_run.open_demo", "Help", tip="Draw 60 synthetic shape images in your data folder and open them"),
    ActionSpec("shortcuts", "&Keyboard Shortcuts", ("F1",), "show_shortcuts", "Help"),
    ActionSpec("about", "&About", (), "show_about", "Help"),
    # Keys handled by the canvas itself (listed in the help window).
    ActionSpec("nudge", "Move selected boxes by 1 pixel (Shift: 10)", ("Arrows", "Shift+Arrows")),
    ActionSpec("zoom_wheel", "Zoom around the cursor", ("Ctrl+Wheel",)),
    ActionSpec("pan", "Pan the image", ("Middle Drag", "Wheel", "Shift+Wheel")),
    ActionSpec("escape", "Cancel drawing, clear the selection, back to selecting", ("Esc",)),
    ActionSpec("double_click", "Accept the proposal under the pointer", ("Double Click",)),
)  # fmt: skip


def spec(action_id: str) -> ActionSpec:
    """Return the spec with this id (KeyError if unknown)."""
    for item in ACTIONS:
        if item.id == action_id:
            return item
    raise KeyError(action_id)


def icon_for(name: str | None) -> QIcon:
    """Return the icon for a spec's `icon` field (an empty icon when missing)."""
    if not name:
        return QIcon()
    if name.startswith("std:"):
        style = QApplication.style()
        return style.standardIcon(getattr(QStyle.StandardPixmap, name[4:]))
    path = icon_path(name)
    if not path.exists():
        log.debug("no icon %s", path)
        return QIcon()
    return QIcon(str(path))


def resolve(target: object, dotted: str) -> Callable[[], object]:
    """Return the callable at `target.<dotted>`; "name:3" binds the integer argument 3."""
    dotted, _, arg = dotted.partition(":")
    obj = target
    for part in dotted.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"action handler {dotted} is not callable")
    if arg:
        return functools.partial(obj, int(arg))
    return obj


def build_actions(parent: QObject, target: object) -> dict[str, QAction]:
    """Return a QAction per table row with a handler, wired to `target`'s handlers."""
    actions: dict[str, QAction] = {}
    for item in ACTIONS:
        if item.handler is None:
            continue
        action = QAction(icon_for(item.icon), item.text, parent)
        action.setObjectName(item.id)
        action.setShortcuts([QKeySequence(s) for s in item.shortcuts])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(item.checkable)
        tip = item.tip or item.text.replace("&", "").replace("…", "")
        if item.shortcuts:
            tip = f"{tip} ({item.shortcuts[0]})"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        handler = resolve(target, item.handler)
        action.triggered.connect(lambda _checked=False, h=handler: h())
        actions[item.id] = action
    return actions


def build_menus(menubar: QMenuBar, actions: dict[str, QAction]) -> dict[str, QMenu]:
    """Fill the menu bar from the table; returns the menus by name."""
    menus = {name: menubar.addMenu(f"&{name}") for name in MENUS}
    class_menu: QMenu | None = None
    for item in ACTIONS:
        if item.menu is None or item.id not in actions:
            continue
        if item.id.startswith("class_"):
            if class_menu is None:
                class_menu = menus["Edit"].addMenu("Set &Class")
            class_menu.addAction(actions[item.id])
            continue
        if item.id in (
            "import_coco", "export_coco", "quit", "undo", "draw_mode", "zoom_in", "toggle_reviewed", "accept_proposal",
            "choose_model", "train_model",
        ):  # fmt: skip
            menus[item.menu].addSeparator()
        menus[item.menu].addAction(actions[item.id])
    return menus


def build_toolbar(parent: QWidget, actions: dict[str, QAction]) -> QToolBar:
    """Return the "Tools" toolbar: the toolbar actions in table order, with separators between
    menu groups."""
    toolbar = QToolBar("Tools", parent)
    toolbar.setObjectName("main_toolbar")  # the saved window state finds it by this name
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
    last_menu = None
    for item in ACTIONS:
        if not item.toolbar or item.id not in actions:
            continue
        if last_menu is not None and item.menu != last_menu:
            toolbar.addSeparator()
        toolbar.addAction(actions[item.id])
        last_menu = item.menu
    return toolbar


def shortcut_rows() -> list[tuple[str, str, str]]:
    """Return (group, keys, description) for every action with a key, in table order."""
    rows = []
    for item in ACTIONS:
        if not item.shortcuts or item.id.startswith("class_") and item.id != "class_1":
            continue
        if item.id == "class_1":
            rows.append(("Edit", "1 … 9", "Use class 1 … 9 for new and selected boxes"))
            continue
        group = item.menu or "Canvas"
        keys = ", ".join(item.shortcuts)
        rows.append((group, keys, item.text.replace("&", "")))
    return rows
