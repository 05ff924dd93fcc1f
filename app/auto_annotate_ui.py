"""Auto-annotate's window side: dialogs, confidence slider, proposals panel, status-bar fields.

It gets what it works with (the session, the settings, the canvas whose proposals the slider
filters, the image list whose selection and order it uses, the parent for dialogs), and the
window's actions when the menus exist, never the window itself.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget

from app.annotations.review import ClassMap, model_class_names
from app.auto_annotate import AutoAnnotator
from app.canvas.canvas import Canvas
from app.dialogs.class_mapping_dialog import ask_class_mapping
from app.dialogs.download_dialog import download_choice
from app.dialogs.model_dialog import pick_model
from app.model_registry import ModelChoice, recent_files, remember_recent_file
from app.panels.image_list import ImageListPanel
from app.panels.proposals_panel import ProposalsPanel
from app.run_progress import RunProgress
from app.session import Session
from app.widgets.confidence_slider import DEFAULT_THRESHOLD, ConfidenceSlider
from app.widgets.run_status import DeviceLabel, RunStatus

log = logging.getLogger(__name__)

SETTINGS_THRESHOLD = "proposals/threshold"
PANEL_ACTIONS = ("accept_shown", "reject_shown", "auto_annotate", "next_doubtful")


class AutoAnnotateUI(QObject):
    """The window side of auto-annotate; the controller (`controller`) holds the behaviour."""

    def __init__(
        self,
        session: Session,
        qsettings: Any,
        canvas: Canvas,
        image_list: ImageListPanel,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.qsettings = qsettings
        self.canvas = canvas
        self.image_list = image_list
        self.parent_widget = parent  # dialogs are shown over it
        self.actions: dict[str, QAction] = {}
        q = qsettings
        self.controller = AutoAnnotator(session, q, self)
        c = self.controller
        c.ask_mapping = self._ask_mapping
        c.ask_model = self._ask_model
        c.download = lambda choice: download_choice(self.parent_widget, choice)
        c.selected_paths = image_list.selected_paths
        try:
            threshold = float(q.value(SETTINGS_THRESHOLD, DEFAULT_THRESHOLD))
        except (TypeError, ValueError):
            threshold = DEFAULT_THRESHOLD
        self.slider = ConfidenceSlider(threshold)
        self.run_status = RunStatus()
        self.device_label = DeviceLabel()
        self.slider.threshold_changed.connect(self._on_threshold)
        canvas.set_proposal_threshold(self.slider.threshold())
        self.run_status.cancel_button.clicked.connect(c.cancel)
        c.progress_changed.connect(self.run_status.show_progress)
        c.running_changed.connect(self._on_running)
        c.model_changed.connect(lambda _choice: self._show_model())
        c.device_changed.connect(lambda _device: self._show_model())
        c.run_failed.connect(self.show_failure)
        c.run_finished.connect(lambda *_: self._refresh_list())
        session.project_opened.connect(self._show_model)

    def install(self, actions: dict[str, QAction], statusbar: QStatusBar) -> ProposalsPanel:
        """Make the proposals panel (with the slider; the window docks it) and add the
        progress and device fields; `actions` are enabled while no run goes on."""
        self.actions = actions
        handlers = {name: actions[name].trigger for name in PANEL_ACTIONS}
        self.panel = ProposalsPanel(self.session, self.slider, handlers, self.parent_widget)
        statusbar.insertPermanentWidget(0, self.run_status)
        statusbar.insertPermanentWidget(1, self.device_label)
        self._on_running(False)
        self._show_model()
        return self.panel

    # ----- action handlers -----------------------------------------------------------------

    def choose_model(self) -> ModelChoice | None:
        """Show the model picker; use the model picked (downloading it if needed)."""
        picked = self._pick()
        if picked is None:
            return None
        choice, device = picked
        if choice.needs_download:
            choice = download_choice(self.parent_widget, choice)
            if choice is None:
                return None
        self.controller.set_device(device)
        if self.controller.set_model(choice):
            return choice
        return None

    def edit_class_mapping(self) -> None:
        """Change how the loaded model's classes map to project classes."""
        c = self.controller
        project = self.session.project
        if project is None or c.choice is None or c.model_info is None:
            self.session.message.emit("Run auto-annotate once to load the model first")
            return
        names = model_class_names(c.model_info.class_names)
        mapping = c.mappings.get(c.choice.key)
        answer = ask_class_mapping(
            self.parent_widget, c.choice.label, names, project.categories, mapping
        )
        if answer is not None:
            c.mappings.save(c.choice.key, c.mappings.resolve_answer(answer))

    def show_failure(self, message: str) -> None:
        """Show why auto-annotate failed (the model did not load, or a run broke off)."""
        QMessageBox.warning(self.parent_widget, "Auto-annotate failed", message)

    # ----- hooks the controller calls ------------------------------------------------------

    def _pick(self) -> tuple[ModelChoice, str] | None:
        c = self.controller
        current = c.current_choice()
        picked = pick_model(
            self.parent_widget,
            c.models_dir(),
            recent_files(c.qsettings),
            current.key if current else "demo",
            c.device,
        )
        if picked is not None and picked[0].kind == "file":
            remember_recent_file(c.qsettings, picked[0].path)
        return picked

    def _ask_model(self) -> ModelChoice | None:
        picked = self._pick()
        if picked is None:
            return None
        self.controller.set_device(picked[1])
        return picked[0]

    def _ask_mapping(self, missing: list[str], mapping: ClassMap):
        project = self.session.project
        label = self.controller.choice.label if self.controller.choice else "this model"
        return ask_class_mapping(self.parent_widget, label, missing, project.categories, mapping)

    # ----- view updates --------------------------------------------------------------------

    def _on_threshold(self, value: float) -> None:
        self.canvas.set_proposal_threshold(value)
        self.qsettings.setValue(SETTINGS_THRESHOLD, value)

    def _refresh_list(self) -> None:
        """Re-apply the image list's filter and order: the run changed the scores."""
        model = self.image_list.model
        if model.filter_name() != "All images" or model.sort_name() != "Folder order":
            model.rebuild()

    def _on_running(self, running: bool) -> None:
        actions = self.actions
        if not actions:  # not installed yet
            return
        for name in ("auto_annotate", "auto_annotate_current", "auto_annotate_selected"):
            actions[name].setEnabled(not running)
        actions["choose_model"].setEnabled(not running)
        actions["cancel_auto_annotate"].setEnabled(running)
        if not running:
            self.run_status.show_progress(RunProgress())

    def _show_model(self) -> None:
        c = self.controller
        choice = c.current_choice()  # without a project too: the default is the demo model
        device = c.model_info.device if c.model_info is not None else ""
        self.device_label.set_model(choice.label if choice else "", device, gpu_busy=c.gpu_busy)
