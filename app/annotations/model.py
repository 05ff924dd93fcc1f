"""The annotation data model: categories, boxes, proposals, images and the project.

Coordinates are float pixels in display orientation (EXIF applied), xyxy. Paths are relative to
the project root with forward slashes.
"""

from __future__ import annotations

import colorsys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

Rect = tuple[float, float, float, float]
# Extra per-box facts other tools keep (Pascal VOC's difficult/truncated/pose, labelme's
# flags): sorted (name, value) pairs, so a Box stays hashable and compares by value.
Attributes = tuple[tuple[str, "str | int | float | bool"], ...]

# Distinct, readable on photos; used in order before falling back to generated hues.
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#bcf60c",
    "#ffe119",
    "#008080",
    "#9a6324",
    "#800000",
    "#808000",
    "#000075",
    "#fabebe",
    "#aaffc3",
    "#e6beff",
    "#ffd8b1",
)


def new_uid() -> str:
    """Return a fresh unique id for a box or proposal."""
    return uuid.uuid4().hex


class ImageStatus(str, Enum):
    """Review state of one image."""

    UNLABELED = "unlabeled"
    PROPOSED = "proposed"
    REVIEWED = "reviewed"


@dataclass
class Category:
    """A class of objects; `id` is stable from 1 and never reused within a project."""

    id: int
    name: str
    color: str


@dataclass(frozen=True)
class Box:
    """A labelled box in display-orientation pixels (xyxy)."""

    uid: str
    x1: float
    y1: float
    x2: float
    y2: float
    category_id: int
    score: float | None = None
    source: str = "manual"  # "manual" | "model" | "import"
    attributes: Attributes = ()

    @property
    def rect(self) -> Rect:
        """Return (x1, y1, x2, y2)."""
        return (self.x1, self.y1, self.x2, self.y2)

    def attribute(self, name: str, default: object = None) -> object:
        """Return the value of attribute `name` (`default` when the box has none)."""
        for key, value in self.attributes:
            if key == name:
                return value
        return default

    def moved_to(self, rect: Rect) -> Box:
        """Return a copy of this box with a new rectangle."""
        x1, y1, x2, y2 = rect
        return replace(self, x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2))

    def with_category(self, category_id: int) -> Box:
        """Return a copy of this box with another category."""
        return replace(self, category_id=category_id)


@dataclass(frozen=True)
class Proposal:
    """A model detection waiting for review."""

    uid: str
    x1: float
    y1: float
    x2: float
    y2: float
    category_id: int
    score: float
    model: str = ""

    @property
    def rect(self) -> Rect:
        """Return (x1, y1, x2, y2)."""
        return (self.x1, self.y1, self.x2, self.y2)

    def to_box(self) -> Box:
        """Return the accepted box (same uid, source "model", with the score)."""
        return Box(
            uid=self.uid,
            x1=self.x1,
            y1=self.y1,
            x2=self.x2,
            y2=self.y2,
            category_id=self.category_id,
            score=self.score,
            source="model",
        )


@dataclass
class ImageRecord:
    """One image of the project with its boxes and pending proposals."""

    path: str
    width: int | None = None
    height: int | None = None
    status: ImageStatus = ImageStatus.UNLABELED
    boxes: list[Box] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int] | None:
        """Return (width, height) in display orientation, or None while unknown."""
        if self.width is None or self.height is None:
            return None
        return (self.width, self.height)

    def box(self, uid: str) -> Box:
        """Return the box with this uid (KeyError if absent)."""
        for b in self.boxes:
            if b.uid == uid:
                return b
        raise KeyError(f"{self.path}: no box {uid}")

    def proposal(self, uid: str) -> Proposal:
        """Return the proposal with this uid (KeyError if absent)."""
        for p in self.proposals:
            if p.uid == uid:
                return p
        raise KeyError(f"{self.path}: no proposal {uid}")

    # A record read from the project database may arrive with its boxes and proposals still on
    # disk: then `__dict__` holds a loader under LOADER_KEY instead of the two lists, and the
    # first read of either list fills both. Normal attribute lookup never reaches __getattr__
    # once they are there, so loaded records cost nothing extra.
    def __getattr__(self, name: str):
        if name in _LAZY_FIELDS:
            loader = self.__dict__.get(LOADER_KEY)
            if loader is not None:
                loader(self)
                return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def loaded(self) -> bool:
        """Return True when the boxes and proposals are in memory (always, unless read lazily)."""
        return LOADER_KEY not in self.__dict__


LOADER_KEY = "_load_boxes"
_LAZY_FIELDS = frozenset({"boxes", "proposals"})


def generated_color(index: int) -> str:
    """Return a colour for the index-th category: the palette first, then golden-ratio hues."""
    if index < len(PALETTE):
        return PALETTE[index]
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


@dataclass
class Project:
    """An image folder with its categories and annotations.

    `images` and `categories` are plain lists; after changing them other than through the
    methods here, call `reindex()` (lookups also repair a stale index on a miss).
    """

    root: Path
    categories: list[Category] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    next_category_id: int = 1
    meta: dict = field(default_factory=dict)
    _image_index: dict[str, ImageRecord] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _category_index: dict[int, Category] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _indexed_images: list[ImageRecord] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # Set by the project database, which sees every change: box counts per category kept up to
    # date edit by edit (None when the image list changed without it seeing).
    stored_box_counts: Callable[[], dict[int, int] | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    stored_status_counts: Callable[[], dict[ImageStatus, int] | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.categories:
            self.next_category_id = max(
                self.next_category_id, max(c.id for c in self.categories) + 1
            )
        self.reindex()

    # ----- indexes -------------------------------------------------------------------------

    def reindex(self) -> None:
        """Rebuild the path and category-id lookups from the lists."""
        self._image_index = {rec.path: rec for rec in self.images}
        self._category_index = {c.id: c for c in self.categories}
        self._indexed_images = self.images

    def _image_index_stale(self) -> bool:
        return self.images is not self._indexed_images or len(self._image_index) != len(self.images)

    def image(self, path: str) -> ImageRecord:
        """Return the image record for a relative path (KeyError if absent)."""
        rec = self._image_index.get(path)
        if rec is None or rec.path != path:
            # A miss is cheap to trust unless the list was changed behind the index's back.
            if rec is not None or self._image_index_stale():
                self.reindex()
                rec = self._image_index.get(path)
            if rec is None:
                raise KeyError(f"no image {path!r} in project {self.root}")
        return rec

    def has_image(self, path: str) -> bool:
        """Return True if the project lists this relative path."""
        try:
            self.image(path)
        except KeyError:
            return False
        return True

    def add_images(self, records: Iterable[ImageRecord]) -> list[ImageRecord]:
        """Append records whose path is not yet listed; return those added."""
        if self._image_index_stale():
            self.reindex()
        added = []
        for rec in records:
            if rec.path in self._image_index:
                continue
            self.images.append(rec)
            self._image_index[rec.path] = rec
            added.append(rec)
        return added

    def category(self, category_id: int) -> Category:
        """Return the category with this id (KeyError if absent)."""
        cat = self._category_index.get(category_id)
        if cat is None or cat.id != category_id:
            self.reindex()  # categories are few: a rebuild is cheap
            cat = self._category_index.get(category_id)
            if cat is None:
                raise KeyError(f"no category id {category_id}")
        return cat

    def category_by_name(self, name: str) -> Category | None:
        """Return the category with this exact name (whitespace-trimmed), or None."""
        name = name.strip()
        for cat in self.categories:
            if cat.name == name:
                return cat
        return None

    # ----- categories ----------------------------------------------------------------------

    def next_color(self) -> str:
        """Return a colour not used by any category yet (palette order, then generated)."""
        used = {c.color.lower() for c in self.categories}
        index = 0
        while True:
            color = generated_color(index)
            if color not in used:
                return color
            index += 1

    def add_category(self, name: str, color: str | None = None) -> Category:
        """Create a category with the next stable id and return it."""
        name = name.strip()
        if not name:
            raise ValueError("a category needs a name")
        if self.category_by_name(name) is not None:
            raise ValueError(f"category {name!r} already exists")
        cat = Category(id=self.next_category_id, name=name, color=color or self.next_color())
        self.next_category_id += 1
        self.insert_category(cat)
        return cat

    def insert_category(self, cat: Category, index: int | None = None) -> None:
        """Put an existing category object back (used by undo and import); keeps ids unique."""
        if cat.id in self._category_index and self._category_index[cat.id] in self.categories:
            raise ValueError(f"category id {cat.id} already exists")
        if index is None:
            self.categories.append(cat)
        else:
            self.categories.insert(index, cat)
        self._category_index[cat.id] = cat
        self.next_category_id = max(self.next_category_id, cat.id + 1)

    def remove_category(self, category_id: int) -> int:
        """Remove a category (not its boxes); return its former position in the list."""
        cat = self.category(category_id)
        index = self.categories.index(cat)
        del self.categories[index]
        self._category_index.pop(category_id, None)
        return index

    # ----- counts --------------------------------------------------------------------------

    def box_counts(self) -> dict[int, int]:
        """Return the number of boxes per category id (every category listed, 0 included)."""
        counts = {c.id: 0 for c in self.categories}
        stored = self.stored_box_counts() if self.stored_box_counts is not None else None
        if stored is not None:  # 100,000 images: no walk over a million boxes after each edit
            for cid, n in stored.items():
                counts[cid] = counts.get(cid, 0) + n
            return counts
        for rec in self.images:
            for b in rec.boxes:
                counts[b.category_id] = counts.get(b.category_id, 0) + 1
        return counts

    def status_counts(self) -> dict[ImageStatus, int]:
        """Return the number of images in each status."""
        stored = self.stored_status_counts() if self.stored_status_counts is not None else None
        if stored is not None:
            return stored
        counts = dict.fromkeys(ImageStatus, 0)
        for rec in self.images:
            counts[rec.status] += 1
        return counts
