"""Clean labels before training: likely duplicate boxes are flagged, and "accept all shown"
does not make new ones."""

from __future__ import annotations

from pathlib import Path

from app.annotations.model import Box, ImageRecord, ImageStatus, Project, Proposal, new_uid
from app.annotations.review import without_repeats
from app.label_check import describe_duplicates, duplicate_pairs, find_duplicates


def test_same_class_boxes_overlapping_at_iou_07_are_flagged() -> None:
    rec = ImageRecord("a.png", 200, 200)
    same = [Box(new_uid(), 10, 10, 110, 110, 1), Box(new_uid(), 14, 12, 112, 112, 1)]
    other_class = Box(new_uid(), 10, 10, 110, 110, 2)
    apart = Box(new_uid(), 60, 10, 160, 110, 1)  # IoU 0.33 with the first
    rec.boxes = [*same, other_class, apart]
    (pair,) = duplicate_pairs(rec)
    assert {pair.first, pair.second} == {b.uid for b in same}
    assert pair.category_id == 1 and pair.iou >= 0.7


def test_only_reviewed_images_are_checked_and_the_sentence_counts_them() -> None:
    project = Project(root=Path("/photos"))
    for name, status in (("a.png", ImageStatus.REVIEWED), ("b.png", ImageStatus.PROPOSED)):
        (rec,) = project.add_images([ImageRecord(name, 100, 100, status)])
        rec.boxes = [Box(new_uid(), 0, 0, 50, 50, 1), Box(new_uid(), 1, 1, 50, 50, 1)]
    pairs = find_duplicates(project)
    assert [p.path for p in pairs] == ["a.png"]
    assert describe_duplicates(pairs).startswith("1 pair of same-class boxes overlap")
    assert describe_duplicates([]) == ""


def test_accept_all_shown_skips_a_proposal_that_repeats_an_accepted_box() -> None:
    rec = ImageRecord("b.png", 200, 200)
    rec.boxes = [Box(new_uid(), 100, 100, 150, 150, 2)]
    best = Proposal(new_uid(), 10, 10, 60, 60, 1, 0.98)
    repeat = Proposal(new_uid(), 12, 11, 61, 62, 1, 0.85)  # the same circle again
    other_class = Proposal(new_uid(), 11, 10, 60, 61, 3, 0.5)  # a different class there
    on_box = Proposal(new_uid(), 101, 101, 150, 151, 2, 0.9)  # repeats an accepted box
    rec.proposals = [repeat, best, other_class, on_box]
    accept, skipped = without_repeats(rec, [p.uid for p in rec.proposals])
    assert accept == [best.uid, other_class.uid]
    assert set(skipped) == {repeat.uid, on_box.uid}
