"""The end of a training run in the dialog: before/after panel, versions, and the decision.

`TrainingOutcome` owns the comparison panel, the versions table and the Keep / Use / Use and
Re-annotate buttons, and keeps them in step with the controller: while the models are compared
no decision is offered; then the recommended action is the default button (Enter), a new
model found worse is offered only as "Use New Model Anyway…" behind a question, and any version
is one click away under Versions.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QPushButton, QSplitter, QTabWidget, QWidget

from app.dialogs.comparison_panel import ComparisonPanel
from app.dialogs.training_questions import confirm_worse
from app.model_comparison import NEW, OLD
from app.model_registry import ModelChoice
from app.training_controller import TrainingController
from app.widgets.version_table import VersionTable


class TrainingOutcome(QObject):
    """The decision part of the training dialog (its widgets are placed by the dialog)."""

    def __init__(self, controller: TrainingController, dialog: QWidget) -> None:
        super().__init__(dialog)
        self.controller = controller
        self.dialog = dialog
        self.confirm_worse = lambda reason: confirm_worse(dialog, reason)  # tests answer it
        self.panel = ComparisonPanel()
        self.versions = VersionTable()
        self.versions.use_requested.connect(self.use_version)
        self.keep_button = QPushButton("Keep the Model in Use")
        self.use_button = QPushButton("Use New Model")
        self.reannotate_button = QPushButton("Use and Re-annotate Unreviewed")
        self.keep_button.clicked.connect(self.keep)
        self.use_button.clicked.connect(lambda: self.use_new(reannotate=False))
        self.reannotate_button.clicked.connect(lambda: self.use_new(reannotate=True))
        self.buttons = (self.keep_button, self.use_button, self.reannotate_button)
        self.tabs: QTabWidget | None = None
        self.splitter: QSplitter | None = None  # plots above, tabs below
        self.status = lambda text: None  # the dialog's status line
        self.start_button: QPushButton | None = None
        self.cancel_button: QPushButton | None = None

    def current(self) -> ModelChoice | None:
        """Return the model auto-annotate uses."""
        auto = self.controller.auto
        return auto.current_choice() if auto is not None else None

    # ----- actions -------------------------------------------------------------------------

    def keep(self) -> None:
        """Keep the model in use (the new version stays in the versions list)."""
        current = self.current()
        name = current.label if current else "the model in use"
        self.status(f"Kept {name}; the new model stays under Versions.")
        for button in self.buttons:
            button.setEnabled(False)

    def use_new(self, *, reannotate: bool) -> bool:
        """Use the new model (re-annotating if asked); one the comparison found worse only
        after an explicit yes. True if it is in use."""
        c = self.controller
        worse = c.comparison is not None and c.comparison.new_is_worse
        if worse and not self.confirm_worse(c.comparison.reason):
            return False
        if reannotate:
            return c.reannotate(accept_worse=worse)
        return c.use_model(accept_worse=worse)

    def use_version(self, choice: ModelChoice) -> None:
        """Switch to any version in one click (roll back)."""
        if self.controller.use_version(choice):
            self.status(f"Auto-annotate now uses {choice.label}.")

    # ----- views ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Show the comparison (or its progress), the versions and the decision buttons."""
        c = self.controller
        if c.is_comparing():
            self.panel.show_busy(c.comparison_text)
            self._show_panel()
        elif c.comparison is not None:
            self.panel.show_comparison(c.comparison)
            self._show_panel()
        else:
            self.panel.show_comparison(None)
        self.versions.set_versions(c.versions())
        self.update_buttons()

    def update_buttons(self) -> None:
        """Enable the decision buttons; the recommended action is the default (Enter)."""
        c = self.controller
        running, comparing = c.is_running(), c.is_comparing()
        if self.cancel_button is not None:
            self.cancel_button.setEnabled(running or comparing)
            self.cancel_button.setText("Stop Comparing" if comparing else "Cancel Training")
        current = self.current()
        decided = c.new_model is not None and not running and not comparing
        in_use = decided and current is not None and current.key == c.new_model.key
        for button in self.buttons:
            button.setEnabled(decided and not in_use)
            button.setDefault(False)
        if self.start_button is not None:
            self.start_button.setEnabled(not running and not comparing)
            self.start_button.setDefault(not decided or in_use)
        choice = c.comparison.choice if c.comparison is not None else None
        # The short name on the button ("Demo model"): the whole one is in the table.
        name = current.label.split(" (")[0] if current is not None else "the Model in Use"
        self.keep_button.setText(f"Keep {name}" + (" (recommended)" if choice == OLD else ""))
        self.keep_button.setVisible(current is not None)
        suffix = " Anyway…" if choice == OLD else (" (recommended)" if choice == NEW else "")
        self.use_button.setText(f"Use New Model{suffix}")
        self.reannotate_button.setText(
            "Use and Re-annotate Anyway…" if choice == OLD else "Use and Re-annotate Unreviewed"
        )
        if decided and not in_use and choice in (NEW, OLD):
            (self.use_button if choice == NEW else self.keep_button).setDefault(True)

    def _show_panel(self) -> None:
        if self.tabs is not None:
            self.tabs.setCurrentWidget(self.panel)
        if self.splitter is not None and self.tabs is not None:
            plots, tabs = self.splitter.sizes()
            bar = self.tabs.tabBar().sizeHint().height()
            want = min(self.panel.wanted_height() + bar + 8, (plots + tabs) * 3 // 5)
            if tabs < want:
                self.splitter.setSizes([plots + tabs - want, want])
