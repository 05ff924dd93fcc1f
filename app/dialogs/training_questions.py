"""Questions the training dialog asks: use a model that scored lower? train on duplicates?"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm_worse(parent: QWidget | None, reason: str) -> bool:
    """Ask whether to use a new model the comparison found worse; No is the default."""
    answer = QMessageBox.question(
        parent,
        "Use a model that scored lower?",
        f"{reason}\n\nUse the new model anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_duplicates(parent: QWidget | None, text: str) -> str:
    """Ask what to do about likely duplicate boxes: "review", "train" or "cancel"."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Likely duplicate boxes", text, parent=parent)
    box.setInformativeText("A duplicate box teaches the model to repeat objects.")
    review = box.addButton("Review Them", QMessageBox.ButtonRole.AcceptRole)
    train = box.addButton("Train Anyway", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(review)
    box.exec()
    clicked = box.clickedButton()
    return "review" if clicked is review else "train" if clicked is train else "cancel"
