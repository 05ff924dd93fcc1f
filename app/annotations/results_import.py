"""Detections from a COCO results file (`python -m detr_model predict`, sharded or not) as
proposals: scored, dashed, waiting for review like auto-annotate's, never accepted boxes.

`results_to_proposals` gives one `SetProposals` edit per image, the edit auto-annotate makes
for each image it runs on. Images are found by the results' `file_name` (relative to the
project folder, or absolute inside it; a name that is unique in the project also matches),
classes by `category_name` (else by project class id). No Qt, no torch.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from app.annotations.commands import SetProposals
from app.annotations.model import Project, Proposal, new_uid


@dataclass
class ResultsImport:
    """The edits for a results file and what could not be used."""

    edits: list[SetProposals] = field(default_factory=list)
    proposals: int = 0
    unknown_images: Counter = field(default_factory=Counter)  # file name -> detections
    unknown_classes: Counter = field(default_factory=Counter)  # class -> detections

    def summary(self) -> str:
        """Return one readable paragraph: what became proposals and what was left out."""
        text = f"{self.proposals} proposals on {len(self.edits)} images."
        if self.unknown_images:
            names = ", ".join(sorted(self.unknown_images)[:3])
            text += (
                f" {sum(self.unknown_images.values())} detections on "
                f"{len(self.unknown_images)} images not in the project left out ({names}…)."
            )
        if self.unknown_classes:
            names = ", ".join(f"{n} ({c})" for n, c in self.unknown_classes.most_common(5))
            text += f" Detections of classes the project lacks left out: {names}."
        return text


def read_results(path: Path) -> list[dict[str, Any]]:
    """Return the detections of a COCO results file; ValueError names the file and the problem."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: not a JSON file ({exc})") from exc
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError(f"{path}: not a COCO results file (expected a list of detections)")
    for i, det in enumerate(data):
        missing = {"bbox", "score"} - set(det)
        if missing or "file_name" not in det:
            what = ", ".join(sorted(missing | ({"file_name"} - set(det))))
            raise ValueError(
                f"{path}: detection {i + 1} has no {what} (files from `python -m detr_model "
                "predict` name each image)"
            )
    return data


def results_to_proposals(
    project: Project, detections: Sequence[dict[str, Any]], model: str
) -> ResultsImport:
    """Return one SetProposals per project image with detections (scores kept, boxes clipped)."""
    result = ResultsImport()
    find = _image_finder(project)
    per_image: dict[str, list[Proposal]] = {}
    for det in detections:
        key = find(str(det["file_name"]))
        if key is None:
            result.unknown_images[PurePosixPath(str(det["file_name"])).name] += 1
            continue
        category = _category(project, det)
        if category is None:
            result.unknown_classes[str(det.get("category_name", det.get("category_id")))] += 1
            continue
        x, y, w, h = (float(v) for v in det["bbox"])
        x1, y1, x2, y2 = _clip((x, y, x + w, y + h), project.image(key).size)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        proposal = Proposal(new_uid(), x1, y1, x2, y2, category, float(det["score"]), model)
        per_image.setdefault(key, []).append(proposal)
    for key, proposals in per_image.items():
        proposals.sort(key=lambda p: -p.score)
        result.edits.append(SetProposals(key, proposals))
        result.proposals += len(proposals)
    return result


def _image_finder(project: Project):
    """Return file name -> project image key (None when the project has no such image)."""
    root = Path(project.root).resolve()
    by_name: dict[str, list[str]] = {}
    for rec in project.images:
        by_name.setdefault(PurePosixPath(rec.path).name, []).append(rec.path)

    def find(file_name: str) -> str | None:
        path = Path(file_name)
        if path.is_absolute():
            try:
                relative = path.resolve().relative_to(root).as_posix()
            except ValueError:
                relative = None
            if relative is not None and project.has_image(relative):
                return relative
        elif project.has_image(PurePosixPath(file_name).as_posix()):
            return PurePosixPath(file_name).as_posix()
        same_name = by_name.get(path.name, [])
        return same_name[0] if len(same_name) == 1 else None

    return find


def _category(project: Project, det: dict[str, Any]) -> int | None:
    """Return the project class id of a detection: by class name, else by id."""
    name = det.get("category_name")
    if name is not None:
        found = project.category_by_name(str(name))
        if found is None:  # "Circle" in the model, "circle" in the project
            lower = str(name).strip().lower()
            found = next((c for c in project.categories if c.name.lower() == lower), None)
        return found.id if found is not None else None
    try:
        return project.category(int(det["category_id"])).id
    except (KeyError, ValueError, TypeError):
        return None


def _clip(rect: tuple[float, float, float, float], size: tuple[int, int] | None):
    """Return the rect clipped to an image of (width, height), unchanged when unknown."""
    if size is None:
        return rect
    width, height = size
    x1, y1, x2, y2 = rect
    return max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
