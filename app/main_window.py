"""The main window: composes the canvas, panels, menus, toolbar and status bar."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
)

from app import application_title, project_transfer
from app.actions import build_actions, build_menus, build_toolbar
from app.annotations import store
from app.annotations.project_lock import ProjectLockedError
from app.auto_annotate_ui import AutoAnnotateUI
from app.canvas.canvas import Canvas
from app.dialogs.save_problems import show_project_moved, show_save_failed
from app.dialogs.shortcut_help import ShortcutHelpDialog, show_about
from app.first_run import FirstRun
from app.label_formats_ui import LabelFormatsUI
from app.panels.class_panel import ClassPanel
from app.panels.image_list import ImageListPanel
from app.pyside_refcount_guard import protect_singletons
from app.session import Session
from app.settings import Settings
from app.training_controller import TrainingController
from app.widgets.status_fields import StatusFields
from app.workers.image_loader import ImageLoader

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Wires widgets to the session; the behaviour lives in the session, canvas and panels."""

    def __init__(self, settings: Settings | None = None) -> None:
        protect_singletons()  # idempotent backstop; application.main calls it first
        super().__init__()
        self.settings = settings if settings is not None else Settings()
        self.setWindowTitle(application_title())
        self.resize(1280, 800)
        self.setAcceptDrops(True)

        self.session = Session(self)
        self.loader = ImageLoader(self)
        self.canvas = Canvas(self.session, self.loader, self)
        self.image_list = ImageListPanel(self.session, self)
        self.class_panel = ClassPanel(self.session, self)
        self.canvas.navigator = self.image_list
        # A stack, so a welcome page can share the centre with the canvas.
        self.central = QStackedWidget(self)
        self.central.addWidget(self.canvas)
        self.setCentralWidget(self.central)
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self._add_dock("Images", "images_dock", self.image_list, left)
        self._add_dock("Classes", "classes_dock", self.class_panel, right)

        self.auto_ui = AutoAnnotateUI(
            self.session, self.settings.q, self.canvas, self.image_list, parent=self
        )
        self.auto = self.auto_ui.controller
        # The welcome page while no project is open, and the demo project.
        self.first_run = FirstRun(
            self.session,
            self.settings,
            self.central,
            self.canvas,
            open_path=self.open_path,
            open_folder=self.open_folder_dialog,
            show_status=self.statusBar().showMessage,
            parent=self,
        )
        self.training = TrainingController(self.session, self.auto, self)
        self.training.gpu_busy_changed.connect(self.auto.set_gpu_busy)  # auto-annotate: CPU
        self.training_dialog = None  # made on first use (app.dialogs.training_dialog)
        self.label_formats = LabelFormatsUI(  # File → Import/Export of YOLO, VOC, labelme
            self.session,
            self,
            open_path=self.open_path,
            show_report=self.show_report,
            show_status=self.statusBar().showMessage,
        )
        self.actions = build_actions(self, self)
        self.menus = build_menus(self.menuBar(), self.actions)
        self.recent_menu = self.menus["File"].addMenu("Open &Recent")
        self.menus["File"].insertMenu(self.actions["open_project"], self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        proposals = self.auto_ui.install(self.actions, self.statusBar())
        self._add_dock("Proposals", "proposals_dock", proposals, right)
        for dock in self.findChildren(QDockWidget):
            self.menus["View"].addAction(dock.toggleViewAction())
        self.toolbar = build_toolbar(self, self.actions)
        self.addToolBar(self.toolbar)
        self._help: ShortcutHelpDialog | None = None
        self.fields = StatusFields(self.statusBar())
        self._connect()
        self._restore_layout()
        self._update_title()
        self._update_undo()
        self.statusBar().showMessage("Drop an image folder here, or File → Open Folder (Ctrl+O)")

    def _add_dock(self, title: str, name: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        s = self.session
        s.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        s.dirty_changed.connect(lambda _dirty: self._update_title())
        s.project_opened.connect(self._update_title)
        s.undo_changed.connect(self._update_undo)
        s.counts_changed.connect(self._update_counts)
        s.current_image_changed.connect(self._on_current_image)
        s.image_changed.connect(self._on_image_changed)
        s.categories_changed.connect(self._name_class_actions)
        s.save_failed.connect(self._on_save_failed)
        s.project_moved.connect(self._on_project_moved)
        self.canvas.view.zoom_changed.connect(self.fields.set_zoom)
        self.canvas.view.cursor_moved.connect(self._on_cursor)
        self.canvas.draw_mode_changed.connect(self.actions["draw_mode"].setChecked)
        self.canvas.image_failed.connect(self.image_list.mark_broken)
        self.canvas.image_shown.connect(self.image_list.clear_broken)
        self.auto.image_skipped.connect(self.image_list.mark_broken)

    # ----- opening -------------------------------------------------------------------------

    def open_path(self, path: str | Path) -> bool:
        """Open a folder, a project file, an image (its folder) or import a COCO file."""
        try:
            report = self.session.open_path(Path(path), recover=self._ask_recover)
        except (OSError, ValueError, KeyError, ProjectLockedError) as exc:
            log.warning("cannot open %s: %s", path, exc)
            QMessageBox.warning(self, "Cannot open", str(exc))
            return False
        project = self.session.project
        if project is not None:
            self.settings.add_recent_project(self._recent_entry())
            notes = " · ".join(self.session.document.messages)
            line = f"Opened {project.root} ({len(project.images)} images)"
            self.statusBar().showMessage(f"{line} · {notes}" if notes else line)
            if self.session.document.warnings:  # read-only folder, damaged file: say where
                self.show_report("Project", "\n\n".join(self.session.document.warnings))
        if report:
            self.show_report("COCO import", report)
        self.canvas.setFocus()
        return True

    def _recent_entry(self) -> Path:
        """Return what the recent list should reopen: the folder, or the database file when
        Save As put it where opening the folder would not find it."""
        project, path = self.session.project, self.session.project_file
        usual = (store.default_project_file(project.root), store.user_project_file(project.root))
        return project.root if path is None or path in usual else path

    def _ask_recover(self, question: str) -> bool:
        # The question spells out both answers (app.annotations.legacy_json.Recovery).
        answer = QMessageBox.question(self, "Import unsaved work?", question)
        return answer == QMessageBox.StandardButton.Yes

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open image folder", self.settings.last_dir()
        )
        if folder:
            self.settings.set_last_dir(folder)
            self.open_path(folder)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project file", self.settings.last_dir(), "Project (*.sqlite *.json)"
        )
        if path:
            self.open_path(path)

    def import_coco_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import COCO annotations", self.settings.last_dir(), "COCO JSON (*.json)"
        )
        if path:
            self.import_coco(path)

    def import_coco(self, path: str | Path) -> None:
        """Import a COCO file into the open project and show what happened."""
        try:
            report = project_transfer.import_coco(self.session, Path(path))
        except (OSError, ValueError, KeyError) as exc:
            QMessageBox.warning(self, "Cannot import", str(exc))
            return
        self.show_report("COCO import", report)

    def import_results_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import detections as proposals",
            self.settings.last_dir(),
            "COCO results (*.json)",
        )
        if path:
            self.import_results(path)

    def import_results(self, path: str | Path) -> None:
        """Add a results file's detections as proposals and show what happened."""
        try:
            report = project_transfer.import_results(self.session, Path(path))
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot import detections", str(exc))
            return
        self.show_report("Detections imported as proposals", report)

    def export_coco_dialog(self) -> None:
        if self.session.project is None:
            self.statusBar().showMessage("Open a folder first", 4000)
            return
        start = str(self.session.project.root / "annotations.json")
        path, _ = QFileDialog.getSaveFileName(self, "Export COCO", start, "COCO JSON (*.json)")
        if path:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                project_transfer.export_coco(self.session, Path(path))
            except (OSError, ValueError) as exc:
                QApplication.restoreOverrideCursor()
                QMessageBox.warning(self, "Export failed", str(exc))
            else:
                QApplication.restoreOverrideCursor()

    def show_report(self, title: str, text: str) -> None:
        """Show a multi-line report (non-modal)."""
        box = QMessageBox(QMessageBox.Icon.Information, title, text, parent=self)
        box.setModal(False)
        box.show()
        self._report_box = box

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_projects()
        for folder in recent:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _c=False, f=folder: self.open_path(f))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # ----- drag and drop -------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        for path in paths:
            if Path(path).suffix.lower() == ".json" and self.session.project is not None:
                self.import_coco(path)
            elif Path(path).is_dir() and self.label_formats.handle_dropped_folder(Path(path)):
                continue
            else:
                self.open_path(path)

    # ----- saving --------------------------------------------------------------------------

    def save_project(self) -> bool:
        """File → Save; a failure is shown by _on_save_failed (never raised into Qt)."""
        return self.session.save() is not None

    def save_as_dialog(self) -> bool:
        """File → Save As: choose a database file; the project goes on there."""
        if self.session.project is None:
            self.statusBar().showMessage("Open a folder first", 4000)
            return False
        start = str(Path(self.settings.last_dir() or Path.home()) / "project.sqlite")
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", start, "Project (*.sqlite)")
        if not path:
            return False
        target = self.session.save_as(Path(path))
        if target is not None:
            self.settings.add_recent_project(self._recent_entry())
        return target is not None

    def _on_save_failed(self, text: str) -> None:
        self.save_problem_box = show_save_failed(self, text, self.save_as_dialog)

    def _on_project_moved(self, text: str) -> None:
        self.save_problem_box = show_project_moved(self, text)

    def show_training_dialog(self) -> None:
        from app.dialogs.training_dialog import show_training_dialog

        self.training_dialog = show_training_dialog(
            self.training_dialog, self.training, self.canvas.review_boxes, self
        )

    # ----- help ----------------------------------------------------------------------------

    def show_shortcuts(self) -> None:
        if self._help is None:
            self._help = ShortcutHelpDialog(self)
        self._help.show()
        self._help.raise_()

    def show_about(self) -> None:
        show_about(self)

    # ----- status --------------------------------------------------------------------------

    def _update_title(self) -> None:
        project = self.session.project
        title = application_title()
        if project is not None:
            title = f"{project.root.name}{' *' if self.session.is_dirty() else ''} — {title}"
        self.setWindowTitle(title)

    def _name_class_actions(self) -> None:
        """Show the class names in Edit → Set Class (keys 1-9)."""
        cats = self.session.project.categories if self.session.project else []
        for n in range(1, 10):
            action = self.actions[f"class_{n}"]
            action.setText(f"&{n}  {cats[n - 1].name}" if n <= len(cats) else f"Class {n}")
            action.setEnabled(n <= len(cats))

    def _update_undo(self) -> None:
        stack = self.session.undo_stack
        undo, redo = self.actions["undo"], self.actions["redo"]
        undo.setEnabled(stack.can_undo)
        redo.setEnabled(stack.can_redo)
        undo.setText(f"&Undo {stack.undo_text}" if stack.can_undo else "&Undo")
        redo.setText(f"&Redo {stack.redo_text}" if stack.can_redo else "&Redo")
        undo.setIconText("Undo")  # the toolbar keeps a short label
        redo.setIconText("Redo")

    def _update_counts(self) -> None:
        rec = self.session.current_record()
        if rec is None:
            self.fields.set_counts("")
            return
        text = f"{len(rec.boxes)} boxes · {rec.status.value}"
        if rec.proposals:
            text += f" · {len(rec.proposals)} proposals"
        self.fields.set_counts(text)

    def _on_current_image(self, path: str) -> None:
        rec = self.session.current_record()
        self.fields.set_size(rec.size if rec else None)
        self._update_counts()

    def _on_image_changed(self, path: str) -> None:
        if path == self.session.current_path:
            self._on_current_image(path)

    def _on_cursor(self, point: QPointF | None) -> None:
        rect = self.canvas.scene.image_rect()
        self.fields.set_cursor(point, point is not None and rect.contains(point))

    # ----- closing -------------------------------------------------------------------------

    def _close_project_for_exit(self) -> bool:
        """Close the project with every edit somewhere the user is told of; False: stay open."""
        try:
            result = self.session.close_project()
            while not result.saved:
                answer = QMessageBox.warning(
                    self,
                    "Changes not saved",
                    f"{result.message}\n\nSave writes the project to a file you choose. Discard "
                    "closes and loses the edits that are not on disk yet.",
                    QMessageBox.StandardButton.Save
                    | QMessageBox.StandardButton.Discard
                    | QMessageBox.StandardButton.Cancel,
                )
                if answer == QMessageBox.StandardButton.Discard:
                    self.session.discard_project()
                    return True
                if answer != QMessageBox.StandardButton.Save or not self.save_as_dialog():
                    return False
                result = self.session.close_project()
        except Exception:  # closeEvent must not raise (PySide crashes on it)
            log.exception("closing the project failed")
            return False
        if result.message:  # the project had to move to be saved: say where
            QMessageBox.information(self, "Project saved elsewhere", result.message)
        return True

    def _restore_layout(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.auto.shutdown()  # cancels a run; its results so far are in the project
        self.first_run.shutdown()  # a demo being drawn ends within seconds
        self.training.shutdown()  # kills a training child; finished versions stay registered
        if not self._close_project_for_exit():
            event.ignore()
            return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.loader.shutdown()
        super().closeEvent(event)
