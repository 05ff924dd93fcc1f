"""The Help menu's windows: the keyboard shortcuts (generated from the action table), About."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app import application_title
from app.actions import shortcut_rows


def shortcuts_html() -> str:
    """Return the shortcut table as HTML, one section per menu."""
    parts = ["<style>td{padding:2px 12px 2px 0} th{text-align:left;padding-top:10px}</style>"]
    parts.append("<table>")
    group = None
    for name, keys, text in shortcut_rows():
        if name != group:
            parts.append(f"<tr><th colspan=2>{html.escape(name)}</th></tr>")
            group = name
        parts.append(f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(text)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class ShortcutHelpDialog(QDialog):
    """A non-modal window listing every shortcut."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(460, 620)
        self.browser = QTextBrowser()
        self.browser.setHtml(shortcuts_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)


def show_about(parent: QWidget) -> None:
    """Show what the application is for (Help → About)."""
    QMessageBox.about(
        parent,
        f"About {application_title()}",
        "Bounding-box annotation with a DETR detector in the loop.\n"
        "Auto-annotate, correct, export COCO, fine-tune.",
    )
