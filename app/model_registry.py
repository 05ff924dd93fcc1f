"""The models the user can pick: bundled demo, official COCO models, checkpoint files, fine-tuned.

A choice is identified by a key string that survives restarts: "demo", "official:<name>",
"file:<absolute path>", "project:<path relative to the models folder>". The key in use is
remembered per project (project.meta) and as the last one used (QSettings). Nothing here
imports torch; detr_model's light modules are imported only when the list is built.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.resource_paths import DEMO_MODEL_PATH
from detr_model.devices import DEVICES

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pt", ".pth")
META_MODEL_KEY = "model"  # project.meta: key of the model used last in this project
SETTINGS_MODEL_KEY = "models/last"
SETTINGS_RECENT_FILES = "models/recent_files"
SETTINGS_DEVICE = "inference/device"
MAX_RECENT_FILES = 5


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker."""

    key: str
    label: str
    kind: str  # "demo" | "official" | "file" | "project"
    path: str = ""  # local checkpoint file ("" while an official model is not downloaded)
    official_name: str = ""
    details: str = ""  # metrics or size, one line
    available: bool = True  # False: listed but cannot be used (the demo file is missing)

    @property
    def needs_download(self) -> bool:
        """Return True for an official model not yet in the download cache."""
        return self.kind == "official" and not self.path


def demo_choice(path: Path = DEMO_MODEL_PATH) -> ModelChoice:
    """Return the bundled demo model entry (unavailable, and saying so, when the file is missing)."""
    if path.is_file():
        return ModelChoice("demo", "Demo model (bundled, works offline)", "demo", str(path))
    return ModelChoice(
        "demo", "Demo model — no bundled model yet", "demo", details=str(path), available=False
    )


def official_choices(cache_dir: Path | None = None) -> list[ModelChoice]:
    """Return the official COCO models, with their local file when already downloaded."""
    from detr_model.download import default_cache_dir
    from detr_model.official_models import OFFICIAL_MODELS

    folder = cache_dir if cache_dir is not None else default_cache_dir()
    choices = []
    for name, model in OFFICIAL_MODELS.items():
        local = folder / model.filename
        where = "downloaded" if local.is_file() else f"{model.size_mb} MB download"
        label = "DETR " + name.removeprefix("detr-").upper().replace("-DC5", " DC5") + " (COCO)"
        details = f"COCO AP {model.coco_ap:.1f}, AP50 {model.coco_ap50:.1f} · {where}"
        path = str(local) if local.is_file() else ""
        choices.append(ModelChoice(f"official:{name}", label, "official", path, name, details))
    return choices


def project_models_dir(project_file: Path | None, root: Path | None) -> Path | None:
    """Return the folder where this project's fine-tuned models live."""
    if project_file is not None:
        return project_file.parent / "models"
    if root is not None:
        return root / ".detr-studio" / "models"
    return None


def project_choices(models_dir: Path | None) -> list[ModelChoice]:
    """Return every checkpoint under the project's models folder, newest first, with metrics."""
    if models_dir is None or not models_dir.is_dir():
        return []
    files = [p for p in models_dir.rglob("*") if p.suffix.lower() in CHECKPOINT_SUFFIXES]
    files = [p for p in files if p.is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    choices = []
    for path in files:
        rel = path.relative_to(models_dir).as_posix()
        details = format_metrics(read_sidecar_metrics(path))
        choices.append(
            ModelChoice(
                f"project:{rel}", f"Fine-tuned: {rel}", "project", str(path), details=details
            )
        )
    return choices


def file_choice(path: str | Path) -> ModelChoice:
    """Return the entry for a checkpoint file chosen by the user."""
    path = Path(path).resolve()
    return ModelChoice(
        f"file:{path}", f"File: {path.name}", "file", str(path), details=str(path.parent)
    )


def all_choices(
    models_dir: Path | None, recent_files: list[str] | None = None, cache_dir: Path | None = None
) -> list[ModelChoice]:
    """Return the picker's list: demo, official, fine-tuned in this project, recent files."""
    choices = [demo_choice(), *official_choices(cache_dir), *project_choices(models_dir)]
    for path in recent_files or []:
        if Path(path).is_file():
            choices.append(file_choice(path))
    return choices


def choice_for_key(
    key: str, models_dir: Path | None, cache_dir: Path | None = None
) -> ModelChoice | None:
    """Return the choice a remembered key names (None if it no longer exists)."""
    if key == "demo":
        choice = demo_choice()
        return choice if choice.available else None
    if key.startswith("official:"):
        return next((c for c in official_choices(cache_dir) if c.key == key), None)
    if key.startswith("file:"):
        path = Path(key[len("file:") :])
        return file_choice(path) if path.is_file() else None
    if key.startswith("project:") and models_dir is not None:
        path = models_dir / key[len("project:") :]
        if path.is_file():
            rel = key[len("project:") :]
            details = format_metrics(read_sidecar_metrics(path))
            return ModelChoice(key, f"Fine-tuned: {rel}", "project", str(path), details=details)
    return None


def read_sidecar_metrics(checkpoint: Path) -> dict[str, Any]:
    """Return metrics stored beside a checkpoint (<stem>.json or metrics.json), {} if none."""
    for candidate in (checkpoint.with_suffix(".json"), checkpoint.parent / "metrics.json"):
        if not candidate.is_file():
            continue
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.info("%s: unreadable metrics (%s)", candidate, exc)
            continue
        if isinstance(data, dict):
            metrics = data.get("metrics", data)
            return metrics if isinstance(metrics, dict) else {}
    return {}


def format_metrics(metrics: dict[str, Any]) -> str:
    """Return the headline metrics as one short line ("" when there are none)."""
    parts = []
    for key, label in (("AP", "AP"), ("map", "AP"), ("AP50", "AP50"), ("epoch", "epoch")):
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not any(p.startswith(label + " ") for p in parts):
            parts.append(f"{label} {value:.3f}" if isinstance(value, float) else f"{label} {value}")
    return " · ".join(parts)


# ----- remembering the choice ------------------------------------------------------------------


def remembered_key(meta: dict | None, qsettings: Any) -> str:
    """Return the model key for a project: its own, else the last used, else "demo"."""
    if meta and isinstance(meta.get(META_MODEL_KEY), str):
        return meta[META_MODEL_KEY]
    value = qsettings.value(SETTINGS_MODEL_KEY, "") if qsettings is not None else ""
    return value if isinstance(value, str) and value else "demo"


def remember_recent_file(qsettings: Any, path: str) -> None:
    """Put a checkpoint file at the top of the recent files list."""
    value = qsettings.value(SETTINGS_RECENT_FILES, [])
    recent = [value] if isinstance(value, str) else list(value or [])
    recent = [str(path)] + [p for p in recent if p != str(path)]
    qsettings.setValue(SETTINGS_RECENT_FILES, recent[:MAX_RECENT_FILES])


def recent_files(qsettings: Any) -> list[str]:
    """Return the checkpoint files opened recently."""
    value = qsettings.value(SETTINGS_RECENT_FILES, [])
    recent = [value] if isinstance(value, str) else list(value or [])
    return [p for p in recent if isinstance(p, str)]


def device_setting(qsettings: Any) -> str:
    """Return the device the user forced ("auto" when none)."""
    value = qsettings.value(SETTINGS_DEVICE, "auto") if qsettings is not None else "auto"
    return value if value in DEVICES else "auto"
