"""What the training dialog says before a run: the data it will train on, the warnings, and
the defaults for the model it starts from. No Qt (the dialog shows what these return).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.annotations.model import ImageStatus, Project
from app.label_check import describe_duplicates, find_duplicates
from app.training_replay import REPLAY_SHARE, replay_candidates
from app.training_snapshot import (
    FEW_BOXES,
    auto_epochs,
    reviewed_class_counts,
    reviewed_count,
    validation_count,
)
from detr_model.train_defaults import TrainingDefaults, training_defaults


@dataclass
class DataSummary:
    """The training data line, the warnings under it and the likely duplicate boxes."""

    text: str
    warning: str = ""
    duplicates: list = field(default_factory=list)  # label_check.Duplicate, to review first


def base_kind(base: str, official: Collection[str]) -> str:
    """Return what a run that starts from checkpoint `base` starts from, as
    `detr_model.train_defaults` names it: "none" (scratch), "official" (one of the downloaded
    official COCO models' files `official`) or "file"."""
    if not base:
        return "none"
    return "official" if base in official else "file"


def defaults_for(base: str, official: Collection[str], *, gpu: bool) -> TrainingDefaults:
    """Return the defaults of a run from `base` (the CLI's rule for the same model)."""
    return training_defaults(base_kind(base, official), gpu=gpu)


def data_summary(
    project: Project | None,
    val_fraction: float | None,
    epochs: int | None,
    batch_size: int,
    replay_from: Sequence[Path] = (),
) -> DataSummary:
    """Return the reviewed images, boxes per class, the images replayed from `replay_from`
    (earlier snapshots), the automatic epochs (when `epochs` is None) and a warning for what
    will train badly: no reviewed image, rare classes, classes without boxes, likely duplicate
    boxes."""
    if project is None:
        return DataSummary("No folder is open")
    n = reviewed_count(project)
    counts = reviewed_class_counts(project)
    n_val = validation_count(n, val_fraction)
    per_class = ", ".join(f"{name} {k}" for name, k in counts.items()) or "no classes"
    n_train = n - n_val if n else 0
    n_replay = 0
    if replay_from and n_train:
        reviewed = {rec.path for rec in project.images if rec.status == ImageStatus.REVIEWED}
        n_replay = min(int(n_train * REPLAY_SHARE), replay_candidates(list(replay_from), reviewed))
    shown_epochs = ""
    if not epochs and n_train:
        shown_epochs = f" · {auto_epochs(n_train + n_replay, batch_size)} epochs"
    split = f"{n_train} train, {n_val} held out for AP"
    if n and not n_val:
        split = f"all train; AP on the same {n}: too few to hold some out"
    replayed = f" · up to {n_replay} images of earlier runs replayed" if n_replay else ""
    text = f"{n} reviewed images ({split}) · boxes: {per_class}{replayed}{shown_epochs}"
    few = [name for name, k in counts.items() if 0 < k < FEW_BOXES]
    none = [name for name, k in counts.items() if k == 0]
    warnings = []
    if n == 0:
        warnings.append("Mark images reviewed (Space) to train on them.")
    if few:
        warnings.append(f"Few boxes (< {FEW_BOXES}) for {', '.join(few)}: expect weak results.")
    if none and n:
        warnings.append(f"No boxes for {', '.join(none)}: the model will not learn them.")
    duplicates = find_duplicates(project)
    warnings.append(describe_duplicates(duplicates))
    return DataSummary(text, " ".join(w for w in warnings if w), duplicates)
