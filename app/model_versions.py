"""The versions to switch to (roll back): the bundled model and each model trained in the
project, newest first, with the metrics stored beside it. No Qt."""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.model_comparison import Comparison, where
from app.model_registry import ModelChoice, demo_choice, format_metrics, project_choices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Version:
    """One row of the versions list."""

    choice: ModelChoice
    metrics: str  # "AP 0.412 · AP50 0.805 on the same 1 held-out image (then in use: 0.650)"
    trained: str  # "2026-11-26 14:03 · 229 epochs (stopped)"
    in_use: bool
    was_worse: bool  # its comparison found it worse than the model in use then


def read_sidecar(checkpoint: Path) -> dict[str, Any]:
    """Return the JSON written beside a trained checkpoint ({} when none or unreadable)."""
    path = checkpoint.with_suffix(".json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.info("%s: unreadable (%s)", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def version_metrics(sidecar: dict[str, Any]) -> tuple[str, bool]:
    """Return the metrics line of a version and whether its comparison found it worse."""
    try:
        comparison = Comparison.from_dict(sidecar["comparison"])
    except (KeyError, TypeError, ValueError):
        metrics = sidecar.get("metrics")
        text = format_metrics(metrics) if isinstance(metrics, dict) else ""
        return (f"{text} (validation, best epoch)" if text else "no metrics"), False
    new, old = comparison.new, comparison.old
    if not new.ok:
        return f"not scored ({new.error})", comparison.new_is_worse
    on = where(comparison.images, comparison.held_out)
    text = f"AP {new.ap:.3f} · AP50 {new.ap50:.3f} on {on}"
    if old is not None and old.ok:
        text += f" (then in use, {old.label}: AP {old.ap:.3f})"
    return text, comparison.new_is_worse


def list_versions(models_dir: Path | None, in_use_key: str) -> list[Version]:
    """Return the trained versions (newest first), then the bundled demo model."""
    rows = []
    for choice in project_choices(models_dir):
        sidecar = read_sidecar(Path(choice.path))
        metrics, worse = version_metrics(sidecar)
        trained = _trained(Path(choice.path), sidecar)
        rows.append(Version(choice, metrics, trained, choice.key == in_use_key, worse))
    demo = demo_choice()
    if demo.available:
        about = "bundled, trained on synthetic shapes"
        rows.append(Version(demo, about, "", demo.key == in_use_key, False))
    return rows


def _trained(checkpoint: Path, sidecar: dict[str, Any]) -> str:
    try:
        when = _dt.datetime.fromtimestamp(checkpoint.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        when = "?"
    epochs = sidecar.get("epochs_done")
    if isinstance(epochs, int):
        when += f" · {epochs} epochs" + (" (stopped)" if sidecar.get("stopped") else "")
    return when
