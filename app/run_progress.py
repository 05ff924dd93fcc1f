"""Where an auto-annotate run stands, for the status bar: counts, speed and time left.

Plain data without Qt: the controller (app/auto_annotate.py) makes one per step, the status-bar
widget (app/widgets/run_status.py) shows it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands, for the status bar."""

    running: bool = False
    loading: bool = False  # the model is being loaded
    done: int = 0
    total: int = 0
    skipped: int = 0
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        """Return images per second so far (0 before the first image)."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 and self.done else 0.0

    @property
    def eta_s(self) -> float | None:
        """Return the estimated seconds left (None before the first image)."""
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def text(self) -> str:
        """Return the status-bar line: "12/100 · 3.4 img/s · 0:25 left"."""
        if self.loading:
            return "Loading the model…"
        parts = [f"{self.done}/{self.total}"]
        if self.rate:
            parts.append(f"{self.rate:.1f} img/s")
        if self.eta_s is not None and self.done < self.total:
            minutes, seconds = divmod(int(round(self.eta_s)), 60)
            parts.append(f"{minutes}:{seconds:02d} left")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        return " · ".join(parts)
