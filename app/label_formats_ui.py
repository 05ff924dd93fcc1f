"""File → Import / Export for every label format, and the offer to import a dropped folder's
labels. The reading, merging and writing live in app.annotations.formats, joined to the session
by app.project_transfer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox, QWidget

from app.annotations.formats import DatasetSummary, get_format
from app.annotations.formats.detect import detect_labels, opens_first
from app.dialogs.export_dialog import ExportDialog, ExportRequest
from app.project_transfer import export_dataset, import_labels
from app.session import Session

log = logging.getLogger(__name__)

# Asked when a dropped folder holds labels: gets the question, returns True to import them.
DropQuestion = Callable[[str], bool]


def export_report(summary: DatasetSummary) -> str:
    """Return the lines shown after an export."""
    lines = [f"Exported {summary.images} images and {summary.annotations} boxes to {summary.path}."]
    if len(summary.splits) > 1:
        lines.append("Splits: " + ", ".join(f"{n} {k}" for k, n in summary.splits.items()) + ".")
    if summary.linked_images or summary.copied_images:
        lines.append(
            f"Images: {summary.linked_images} hard-linked (no extra disk space), "
            f"{summary.copied_images} copied."
        )
    if summary.skipped_images:
        lines.append(f"{len(summary.skipped_images)} images left out:")
        lines += [f"  {s}" for s in summary.skipped_images[:10]]
    if summary.skipped_boxes:
        lines.append(f"{summary.skipped_boxes} boxes outside their image or class left out.")
    if summary.renamed:
        lines.append(f"{len(summary.renamed)} images renamed (same name but the extension):")
        lines += [f"  {r}" for r in summary.renamed[:10]]
    return "\n".join(lines)


class LabelFormatsUI(QObject):
    """Menu handlers of the import and export actions, and the offer for a dropped folder.

    It gets what it uses: the session, the parent for its dialogs, and the window's
    `open_path`, `show_report` (a multi-line report) and `show_status` (a status-bar line).
    """

    def __init__(
        self,
        session: Session,
        parent: QWidget,
        *,
        open_path: Callable[[Path], bool],
        show_report: Callable[[str, str], None],
        show_status: Callable[[str, int], None],
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.parent_widget = parent
        self.open_path = open_path
        self.show_report = show_report
        self.show_status = show_status
        self.ask_drop: DropQuestion = self._ask_drop
        self.last_export: DatasetSummary | None = None

    # ----- import ----------------------------------------------------------------------------

    def import_yolo(self) -> None:
        self.import_dialog("yolo")

    def import_voc(self) -> None:
        self.import_dialog("voc")

    def import_labelme(self) -> None:
        self.import_dialog("labelme")

    def import_dialog(self, format_id: str) -> None:
        """Ask for a folder and import its labels in that format."""
        if self.session.project is None:
            self.show_status("Open an image folder first", 4000)
            return
        fmt = get_format(format_id)
        start = str(self.session.project.root)
        folder = QFileDialog.getExistingDirectory(
            self.parent_widget, f"Import {fmt.name} labels from folder", start
        )
        if folder:
            self.import_labels(format_id, Path(folder))

    def import_labels(self, format_id: str, path: Path) -> bool:
        """Import `path` in that format into the open project and show the report."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            report = import_labels(self.session, format_id, path)
        except (OSError, ValueError, KeyError) as exc:
            QApplication.restoreOverrideCursor()
            QMessageBox.warning(self.parent_widget, "Cannot import", str(exc))
            return False
        QApplication.restoreOverrideCursor()
        self.show_report(f"{get_format(format_id).name} import", report)
        return True

    # ----- drop ------------------------------------------------------------------------------

    def handle_dropped_folder(self, folder: Path) -> bool:
        """Offer to import the labels of a dropped folder; True when the drop is handled."""
        found = detect_labels(folder)
        if found is None:
            return False
        session = self.session
        root = session.project.root if session.project is not None else None
        first = opens_first(folder, root)
        where = "open it and import them" if first else "import them into this project"
        if not self.ask_drop(
            f"{folder.name} holds {found.describe()}.\n\nImport its labels ({where})?"
        ):
            return False  # opened as a plain folder, as before
        if first and not self.open_path(folder):
            return True
        self.import_labels(found.format_id, folder)
        return True

    def _ask_drop(self, question: str) -> bool:
        answer = QMessageBox.question(self.parent_widget, "Import labels?", question)
        return answer == QMessageBox.StandardButton.Yes

    # ----- export ----------------------------------------------------------------------------

    def export_yolo(self) -> None:
        self.export_dialog("yolo")

    def export_voc(self) -> None:
        self.export_dialog("voc")

    def export_labelme(self) -> None:
        self.export_dialog("labelme")

    def export_dataset(self) -> None:
        self.export_dialog("coco")

    def export_dialog(self, format_id: str) -> None:
        """Show the export options with `format_id` chosen, then export."""
        project = self.session.project
        if project is None:
            self.show_status("Open a folder first", 4000)
            return
        dialog = ExportDialog(project.root, format_id, self.parent_widget)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.export(dialog.request())

    def export(self, request: ExportRequest) -> DatasetSummary | None:
        """Run an export and show what it wrote (or why it could not)."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            summary = export_dataset(
                self.session, request.format_id, request.target, request.options
            )
        except (OSError, ValueError) as exc:
            QApplication.restoreOverrideCursor()
            QMessageBox.warning(self.parent_widget, "Export failed", str(exc))
            return None
        QApplication.restoreOverrideCursor()
        self.last_export = summary
        self.show_report(f"{get_format(request.format_id).name} export", export_report(summary))
        return summary
