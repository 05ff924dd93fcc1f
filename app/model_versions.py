"""The versions of a project's model: registering a trained one (the checkpoint copied to
`<project>/.detr-studio/models/<name>.pt` with `<name>.json` beside it: metrics, settings,
history, later its comparison), and the list to switch to (roll back): the bundled model and
each model trained in the project, newest first, with the metrics stored beside it. No Qt."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.model_comparison import Comparison, where
from app.model_registry import ModelChoice, demo_choice, format_metrics, project_choices
from detr_model.atomic_file import atomic_write, atomic_write_text

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


# ----- registering ---------------------------------------------------------------------------


def best_epoch(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the epoch event with the best AP (the lowest loss when none has an AP)."""
    with_ap = [e for e in history if isinstance((e.get("metrics") or {}).get("AP"), (int, float))]
    if with_ap:
        return max(with_ap, key=lambda e: e["metrics"]["AP"])
    with_loss = [e for e in history if isinstance(e.get("loss"), (int, float))]
    return min(with_loss, key=lambda e: e["loss"]) if with_loss else None


def best_metrics(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the best epoch's number, loss and metrics ({} without epochs)."""
    best = best_epoch(history)
    if not best:
        return {}
    return {"epoch": best.get("epoch", 0), "loss": best.get("loss"), **(best.get("metrics") or {})}


def version_record(history: list[dict[str, Any]], **about: Any) -> dict[str, Any]:
    """Return the sidecar of a trained model: the best epoch's metrics, `about` (settings,
    classes, image counts, time, run folder ...) and the history of every epoch."""
    return {
        "metrics": best_metrics(history),
        **about,
        "history": [
            {k: e.get(k) for k in ("epoch", "loss", "losses", "metrics", "time_s")} for e in history
        ],
    }


def register_version(checkpoint: Path, models_dir: Path, name: str, record: dict) -> Path:
    """Copy `checkpoint` to `models_dir/<name>.pt` ("-2", "-3", ... when taken) with the
    sidecar `record` beside it; return the new file. OSError leaves nothing behind."""
    models_dir.mkdir(parents=True, exist_ok=True)
    target = unique_path(models_dir / f"{name}.pt")
    # The weights are copied first (a full disk fails before anything is listed) and appear
    # under their name last, once the sidecar the model picker reads is there.
    with atomic_write(target) as out, open(checkpoint, "rb") as src:
        shutil.copyfileobj(src, out)
        atomic_write_text(target.with_suffix(".json"), json.dumps(record, indent=1))
    return target


def store_comparison(checkpoint: Path, comparison: Comparison) -> None:
    """Add the before/after comparison to a registered model's sidecar (OSError, ValueError)."""
    sidecar = checkpoint.with_suffix(".json")
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["comparison"] = comparison.to_dict()
    atomic_write_text(sidecar, json.dumps(data, indent=1))


def unique_path(path: Path) -> Path:
    """Return path, or path with "-2", "-3", ... before its suffix when it exists already."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
