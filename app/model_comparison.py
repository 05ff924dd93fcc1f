"""After a training run: the model in use and the new one, scored on the same images; which to use.

The rule (`compare`) is plain Python so it is tested without a window: the new model is
recommended only when its AP beats the model in use by a margin on the same images; a tie keeps
the model in use (switching has a cost and a tie is noise). On the training images (too few
reviewed images to hold some out) the new model has seen every image it is scored on, so the
margin is larger and the sentence says the numbers are optimistic. When a score is missing the
rule recommends nothing, and no action is the default. No Qt, no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MIN_GAIN_HELD_OUT = 0.01  # AP the new model must gain on held-out images to be recommended
MIN_GAIN_TRAINING = 0.05  # ... on the images it was trained on (it has seen them)
FORGOT_DROP = 0.1  # a class whose AP falls by this much is named in the sentence

NEW, OLD, UNSURE = "new", "old", "unsure"


@dataclass(frozen=True)
class ModelScore:
    """COCO box AP of one model on the comparison images (error: why there is none)."""

    label: str
    path: str = ""
    ap: float | None = None
    ap50: float | None = None
    per_class: dict[str, float] = field(default_factory=dict)  # AP; -1: no ground truth
    per_class_ap50: dict[str, float] = field(default_factory=dict)
    images: int = 0
    unreadable: int = 0  # images neither model could read (they count as misses)
    error: str = ""

    @property
    def ok(self) -> bool:
        """Return True when the model was scored."""
        return not self.error and self.ap is not None

    @classmethod
    def from_metrics(cls, label: str, path: str, metrics: dict[str, Any], images: int, **kw):
        """Return the score from `detr_model.evaluation.coco_metrics` output."""
        return cls(
            label,
            path,
            float(metrics["AP"]),
            float(metrics["AP50"]),
            {str(k): float(v) for k, v in (metrics.get("per_class") or {}).items()},
            {str(k): float(v) for k, v in (metrics.get("per_class_ap50") or {}).items()},
            images,
            **kw,
        )


@dataclass(frozen=True)
class Comparison:
    """Both scores, on which images, and the recommendation with its reason."""

    old: ModelScore | None  # the model in use when the run ended (None: no model was in use)
    new: ModelScore
    images: int
    held_out: bool  # False: measured on the training images
    choice: str  # NEW | OLD | UNSURE
    reason: str

    @property
    def new_is_worse(self) -> bool:
        """Return True when the rule recommends keeping the model in use."""
        return self.choice == OLD

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-able data (kept in the new model's sidecar file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """Return the comparison stored by `to_dict` (KeyError/TypeError when malformed)."""
        old = data.get("old")
        return cls(
            ModelScore(**old) if isinstance(old, dict) else None,
            ModelScore(**data["new"]),
            int(data["images"]),
            bool(data["held_out"]),
            str(data["choice"]),
            str(data["reason"]),
        )


def where(images: int, held_out: bool) -> str:
    """Return "the same 4 held-out images" / "the 3 training images" for sentences."""
    noun = "image" if images == 1 else "images"
    if held_out:
        return f"the same {images} held-out {noun}"
    return f"the {images} training {noun}"


def compare(old: ModelScore | None, new: ModelScore, *, images: int, held_out: bool) -> Comparison:
    """Return which model to use, and why, from their scores on the same images."""

    def result(choice: str, reason: str) -> Comparison:
        return Comparison(old, new, images, held_out, choice, reason)

    on = where(images, held_out)
    caveat = (
        ""
        if held_out
        else " Too few reviewed images to hold some out: the new model was trained on these,"
        " so its numbers are optimistic."
    )
    if not new.ok:
        if old is None:
            return result(UNSURE, f"The new model could not be scored: {new.error}")
        return result(OLD, f"Keep {old.label}: the new model could not be scored ({new.error}).")
    if old is None:
        return result(NEW, f"No model was in use. The new model: AP {new.ap:.3f} on {on}.{caveat}")
    if not old.ok:
        return result(
            UNSURE,
            f"{old.label} could not be scored ({old.error}), so there is nothing to compare "
            f"with. The new model: AP {new.ap:.3f} on {on}.",
        )
    gain = new.ap - old.ap
    margin = MIN_GAIN_HELD_OUT if held_out else MIN_GAIN_TRAINING
    numbers = f"AP {new.ap:.3f} against {old.ap:.3f} on {on}"
    if gain > margin:
        lost = forgotten_classes(old, new)
        note = f" It is worse on {lost}." if lost else ""
        return result(NEW, f"Use the new model: {numbers}.{note}{caveat}")
    verb = "scored lower" if gain < -margin else "is no better"
    return result(OLD, f"Keep {old.label}: the new model {verb} ({numbers}).{caveat}")


def forgotten_classes(old: ModelScore, new: ModelScore, drop: float = FORGOT_DROP) -> str:
    """Return "circle (0.81 → 0.56)" for the classes whose AP fell by `drop` or more."""
    parts = []
    for name, before in old.per_class.items():
        after = new.per_class.get(name)
        if after is not None and before >= 0 and after >= 0 and before - after >= drop:
            parts.append(f"{name} ({before:.2f} → {after:.2f})")
    return ", ".join(parts)
