"""The proposals panel: the confidence slider, what it shows on this image, review buttons."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.annotations.review import DOUBTFUL_BAND, lowest_score
from app.session import Session
from app.widgets.confidence_slider import ConfidenceSlider
from app.widgets.phrases import join_phrases


class ProposalsPanel(QWidget):
    """Filter proposals by confidence and review them a whole image at a time."""

    def __init__(
        self,
        session: Session,
        slider: ConfidenceSlider,
        actions: dict[str, Callable[[], object]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.slider = slider
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        grid = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        labels = {
            "accept_shown": ("Accept shown", "Accept every proposal shown on this image (Y)"),
            "reject_shown": ("Reject shown", "Reject every proposal shown (Shift+Delete)"),
            "auto_annotate": ("Auto-annotate", "Run the model on images not reviewed (Ctrl+R)"),
            "next_doubtful": (
                "Next doubtful",
                "Next image with proposals scored 0.3–0.7 (Shift+N)",
            ),
        }
        for i, (name, (text, tip)) in enumerate(labels.items()):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _c=False, a=actions[name]: a())
            grid.addWidget(button, i // 2, i % 2)
            self.buttons[name] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(slider)
        layout.addWidget(self.summary)
        layout.addLayout(grid)
        layout.addStretch(1)
        session.current_image_changed.connect(lambda _p: self.refresh())
        session.image_changed.connect(self._on_image_changed)
        session.project_opened.connect(self.refresh)
        slider.threshold_changed.connect(lambda _t: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Show how many proposals the slider shows on the current image."""
        rec = self.session.current_record()
        if rec is None or not rec.proposals:
            self.summary.setText("No proposals on this image.")
            self.buttons["accept_shown"].setEnabled(False)
            self.buttons["reject_shown"].setEnabled(False)
            return
        threshold = self.slider.threshold()
        shown = sum(1 for p in rec.proposals if p.score >= threshold)
        low, high = DOUBTFUL_BAND
        doubtful = sum(1 for p in rec.proposals if low <= p.score <= high)
        self.summary.setText(
            join_phrases(
                [
                    f"{shown} of {len(rec.proposals)} proposals shown",
                    f"lowest {lowest_score(rec):.2f}",
                    f"{doubtful} doubtful ({low:.1f}–{high:.1f})",
                ]
            )
        )
        self.buttons["accept_shown"].setEnabled(shown > 0)
        self.buttons["reject_shown"].setEnabled(shown > 0)

    def _on_image_changed(self, path: str) -> None:
        if path == self.session.current_path:
            self.refresh()
