"""The one "next image" search behind N (next unreviewed) and Shift+N (next doubtful)."""

from __future__ import annotations

from pathlib import Path

from app.annotations.model import ImageRecord, ImageStatus, Project, Proposal
from app.annotations.review import is_doubtful, is_unreviewed, next_image


def _project(statuses: dict[str, ImageStatus]) -> Project:
    project = Project(root=Path("/data"))
    project.add_images([ImageRecord(p, status=s) for p, s in statuses.items()])
    return project


def test_next_unreviewed_goes_forward_wraps_and_skips_the_shown_image() -> None:
    r, u = ImageStatus.REVIEWED, ImageStatus.UNLABELED
    project = _project({"a.png": u, "b.png": r, "c.png": u, "d.png": r})
    assert next_image(project, "a.png", is_unreviewed) == "c.png"
    assert next_image(project, "c.png", is_unreviewed) == "a.png"  # wraps around
    assert next_image(project, "d.png", is_unreviewed) == "a.png"
    assert next_image(project, "", is_unreviewed) == "a.png"  # none shown: from the top
    assert next_image(_project({"a.png": u}), "a.png", is_unreviewed) is None


def test_next_doubtful_uses_the_same_search_on_the_doubtful_band() -> None:
    project = _project(dict.fromkeys(("a.png", "b.png", "c.png"), ImageStatus.PROPOSED))
    project.image("a.png").proposals = [Proposal("p1", 1, 1, 9, 9, 1, 0.95)]
    project.image("c.png").proposals = [Proposal("p2", 1, 1, 9, 9, 1, 0.5)]
    assert next_image(project, "a.png", is_doubtful) == "c.png"
    assert next_image(project, "c.png", is_doubtful) is None  # the only doubtful one is shown
    assert next_image(Project(root=Path("/data")), "", is_doubtful) is None  # no images
