"""The non-modal boxes that say the project's edits reach no disk, or that it moved to be saved.

Non-modal: the user goes on working (edits stay in the window and saving is retried) and can
answer later; the caller keeps the box so it is not garbage-collected while shown.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget


def show_save_failed(parent: QWidget, text: str, save_as: Callable[[], object]) -> QMessageBox:
    """Show why changes are not being saved, with a Save As… button; return the box."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Changes are not being saved", text, parent=parent)
    box.setInformativeText(
        "Your edits stay in this window and saving is retried. Save As writes them to a "
        "place you choose."
    )
    button = box.addButton("Save As…", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Close)
    button.clicked.connect(save_as)
    box.setModal(False)
    box.show()
    return box


def show_project_moved(parent: QWidget, text: str) -> QMessageBox:
    """Show where the project went on after writes failed where it was; return the box."""
    box = QMessageBox(QMessageBox.Icon.Information, "Project moved", text, parent=parent)
    box.setModal(False)
    box.show()
    return box
