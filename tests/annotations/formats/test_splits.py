"""Splits by image: seeded, sized by ratio, every class in every split where it can be."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.annotations.formats.splits import SplitSpec, split_images, split_sizes
from app.annotations.model import Box, ImageRecord, new_uid


def images_with(classes_per_image: list[list[int]]) -> list[ImageRecord]:
    return [
        ImageRecord(f"{i}.png", boxes=[Box(new_uid(), 0, 0, 1, 1, c) for c in classes])
        for i, classes in enumerate(classes_per_image)
    ]


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.lists(st.integers(1, 6), max_size=4), max_size=60),
    ratios=st.tuples(st.floats(0.05, 1), st.floats(0, 1), st.floats(0, 1)),
    seed=st.integers(0, 2**31),
)
def test_every_image_is_in_one_split_sized_by_the_ratios(labels, ratios, seed) -> None:
    images = images_with(labels)
    spec = SplitSpec(*ratios, seed=seed)
    splits = split_images(images, spec)
    paths = [r.path for part in splits.values() for r in part]
    assert sorted(paths) == sorted(r.path for r in images)
    assert {name: len(part) for name, part in splits.items()} == split_sizes(
        len(images), spec.ratios()
    )
    assert split_images(images, spec) == splits  # the seed decides everything


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(3, 12), min_size=1, max_size=5),
    extra=st.integers(0, 30),
    seed=st.integers(0, 1000),
)
def test_each_class_with_an_image_per_split_is_in_every_split(counts, extra, seed) -> None:
    # One class per image; each split is big enough to hold one image of every class.
    labels = [[c] for c, n in enumerate(counts, start=1) for _ in range(n)] + [[]] * extra
    images = images_with(labels)
    spec = SplitSpec(0.6, 0.2, 0.2, seed=seed)
    if min(split_sizes(len(images), spec.ratios()).values()) < len(counts):
        return
    splits = split_images(images, spec)
    for name, part in splits.items():
        present = {b.category_id for r in part for b in r.boxes}
        assert present == set(range(1, len(counts) + 1)), name


def test_a_rare_class_lands_in_every_split_rather_than_only_in_train() -> None:
    labels = [[1]] * 40 + [[2]] * 3
    splits = split_images(images_with(labels), SplitSpec(0.8, 0.1, 0.1, seed=7))
    for part in splits.values():
        assert any(b.category_id == 2 for r in part for b in r.boxes)


def test_class_shares_follow_the_ratios() -> None:
    labels = [[1]] * 50 + [[2]] * 50 + [[1, 2]] * 20
    splits = split_images(images_with(labels), SplitSpec(0.5, 0.5, 0, seed=1))
    for part in splits.values():
        for c in (1, 2):
            assert sum(any(b.category_id == c for b in r.boxes) for r in part) in range(33, 38)


def test_another_seed_gives_another_split() -> None:
    images = images_with([[1]] * 30)
    a = split_images(images, SplitSpec(0.5, 0.5, seed=1))["val"]
    b = split_images(images, SplitSpec(0.5, 0.5, seed=2))["val"]
    assert [r.path for r in a] != [r.path for r in b]


def test_ratios_must_be_positive_somewhere() -> None:
    with pytest.raises(ValueError, match="ratios"):
        SplitSpec(0, 0, 0)
    with pytest.raises(ValueError, match="ratios"):
        SplitSpec(1, -0.1, 0)
