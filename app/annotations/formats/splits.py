"""Dataset splits by image: seeded, sized by ratio, stratified so every class is in every split
where it can be.

Three passes. Sizes come first (largest remainder, so they add up to the image count). Then,
rarest class first, each split that lacks a class gets one image holding it, the image that
brings the split the most classes it still lacks, while the split has room. Then the rest is
placed by iterative stratification (Sechidis et al. 2011): rarest class first, each image goes
to the split that still wants most of that class, so class shares follow the ratios too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from app.annotations.model import ImageRecord

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class SplitSpec:
    """Ratios of the train, val and test splits (any positive scale) and the shuffle seed."""

    train: float = 0.8
    val: float = 0.2
    test: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        ratios = (self.train, self.val, self.test)
        if any(r < 0 for r in ratios) or sum(ratios) <= 0:
            raise ValueError(f"Split ratios must be 0 or more and not all 0 (got {ratios}).")

    def ratios(self) -> dict[str, float]:
        """Return {split name: share} for the splits with a positive ratio, shares adding to 1."""
        raw = dict(zip(SPLIT_NAMES, (self.train, self.val, self.test), strict=True))
        total = sum(raw.values())
        return {name: r / total for name, r in raw.items() if r > 0}


def split_sizes(count: int, ratios: dict[str, float]) -> dict[str, int]:
    """Return how many of `count` images each split gets (largest remainder, adding to count)."""
    exact = {name: count * r for name, r in ratios.items()}
    sizes = {name: int(v) for name, v in exact.items()}
    left = count - sum(sizes.values())
    by_remainder = sorted(ratios, key=lambda n: (-(exact[n] - sizes[n]), list(ratios).index(n)))
    for name in by_remainder[:left]:
        sizes[name] += 1
    return sizes


def split_images(images: Sequence[ImageRecord], spec: SplitSpec) -> dict[str, list[ImageRecord]]:
    """Return {split name: images} (project order within a split); every image in exactly one."""
    ratios = spec.ratios()
    names = list(ratios)
    rng = random.Random(spec.seed)
    order = list(range(len(images)))
    rng.shuffle(order)
    labels = [frozenset(b.category_id for b in images[i].boxes) for i in range(len(images))]
    sizes = split_sizes(len(images), ratios)
    room = dict(sizes)
    assigned: dict[int, str] = {}
    present: dict[str, set[int]] = {n: set() for n in names}

    by_class: dict[int, list[int]] = {}
    for i in order:
        for c in sorted(labels[i]):
            by_class.setdefault(c, []).append(i)
    rarest_first = sorted(by_class, key=lambda c: (len(by_class[c]), c))

    def place(i: int, name: str) -> None:
        assigned[i] = name
        room[name] -= 1
        present[name] |= labels[i]

    # Pass 2: presence. Larger splits first, so a class too rare for all lands in train.
    for c in rarest_first:
        for name in sorted(names, key=lambda n: -ratios[n]):
            if c in present[name] or room[name] <= 0:
                continue
            free = [i for i in by_class[c] if i not in assigned]
            if not free:
                break
            best = max(free, key=lambda i: len(labels[i] - present[name]))
            place(best, name)

    # Pass 3: iterative stratification of the labelled rest, then the unlabelled images.
    want = {n: {c: ratios[n] * len(by_class[c]) for c in by_class} for n in names}
    for i, name in assigned.items():
        for c in labels[i]:
            want[name][c] -= 1
    for c in rarest_first:
        for i in by_class[c]:
            if i in assigned:
                continue
            open_splits = [n for n in names if room[n] > 0]
            name = max(open_splits, key=lambda n: (want[n][c], room[n], -names.index(n)))
            place(i, name)
            for other in labels[i]:
                want[name][other] -= 1
    for i in order:
        if i not in assigned:
            name = max((n for n in names if room[n] > 0), key=lambda n: (room[n], -names.index(n)))
            place(i, name)

    out: dict[str, list[ImageRecord]] = {n: [] for n in names}
    for i in range(len(images)):
        out[assigned[i]].append(images[i])
    return out
