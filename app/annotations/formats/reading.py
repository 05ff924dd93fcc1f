"""What every label reader shares: finding the project image of a labelled file, and collecting
categories, images and boxes into the same ImportResult the COCO import gives MergeImport.
"""

from __future__ import annotations

import os
from math import isfinite
from pathlib import Path

from app.annotations.coco_import import ImportReport, ImportResult
from app.annotations.formats.writing import MARKER_NAME, read_renamed
from app.annotations.geometry import clamp_rect, rect_area
from app.annotations.model import (
    Attributes,
    Box,
    Category,
    ImageRecord,
    ImageStatus,
    Project,
    generated_color,
    new_uid,
)
from app.annotations.paths import relative_to_root
from detr_model.image_file import ImageReadError, is_image_name, read_size


class LabelImportError(ValueError):
    """A folder or file that cannot be read as the chosen format at all; names it."""


def list_files(root: Path, *, suffix: str | None = None, images: bool = False) -> list[Path]:
    """Return files under `root` (recursive, hidden entries and our project folder skipped).

    With `suffix` only names ending in it (any case); with `images` only image files. Sorted,
    so an import reads files in the same order every time.
    """
    found: list[Path] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            if folder == root:
                raise LabelImportError(
                    f"{root}: cannot list the folder ({exc.strerror or exc})"
                ) from exc
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif (images and is_image_name(name)) or (
                suffix is not None and name.lower().endswith(suffix)
            ):
                found.append(Path(entry.path))
    found.sort()
    return found


class ImageLocator:
    """Maps an image file named by a label file to the project's relative path for it.

    A file under the project folder is that path. A file elsewhere (a dataset exported from
    this project, labels made on a copy) is matched to a project image by its trailing path
    parts (``images/train/a/b.jpg`` finds ``a/b.jpg``), then by a file name only one project
    image has. In a folder we exported (it holds our marker) matching comes first, even inside
    the project folder, and the images the export renamed are found under their old names.
    """

    def __init__(self, project: Project, dataset_root: Path) -> None:
        self.project = project
        self.root = Path(os.path.abspath(project.root))
        self.dataset_root = Path(os.path.abspath(dataset_root))
        self._ours = (self.dataset_root / MARKER_NAME).is_file()
        self._renamed = read_renamed(self.dataset_root)
        self._paths: set[str] | None = None
        self._by_name: dict[str, str | None] | None = None

    def _index(self) -> None:
        self._paths = {rec.path for rec in self.project.images}
        by_name: dict[str, str | None] = {}
        for path in self._paths:
            name = path.rsplit("/", 1)[-1]
            by_name[name] = None if name in by_name else path  # None: two images share it
        self._by_name = by_name

    def project_path(self, file: Path) -> str | None:
        """Return the project-relative path for `file`, or None when it matches no image."""
        if self._ours:  # our own export: its images are copies of project images
            found = self._match(file)
            if found is not None:
                return found
        rel = relative_to_root(file, self.root)
        if rel is not None:
            return rel
        return self._match(file)

    def _match(self, file: Path) -> str | None:
        if self._paths is None:
            self._index()
        assert self._paths is not None and self._by_name is not None
        inside = relative_to_root(file, self.dataset_root)
        parts = (inside or Path(file).name).split("/")
        for start in range(len(parts)):
            candidate = "/".join(parts[start:])
            candidate = self._renamed.get(candidate, candidate)
            if candidate in self._paths:
                return candidate
        return self._by_name.get(parts[-1])


class ResultBuilder:
    """Collects what a reader finds into an ImportResult, reporting everything it skips."""

    @classmethod
    def for_folder(cls, folder: str | os.PathLike, project: Project) -> ResultBuilder:
        """Return a builder for importing `folder` (LabelImportError when it is no folder)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise LabelImportError(f"{folder}: not a folder")
        return cls(project, folder.name, folder)

    def __init__(self, project: Project, source: str, dataset_root: Path) -> None:
        self.project = project
        self.report = ImportReport(source=source)
        self.locator = ImageLocator(project, dataset_root)
        self._records: dict[str, ImageRecord] = {}
        self._categories: dict[str, Category] = {}
        self._twice: list[str] = []

    # ----- categories ----------------------------------------------------------------------

    def category_id(self, name: str) -> int:
        """Return the id for a class name, creating the class (ids from 1, in reading order)."""
        name = name.strip()
        cat = self._categories.get(name)
        if cat is None:
            index = len(self._categories)
            cat = Category(index + 1, name, generated_color(index))
            self._categories[name] = cat
        return cat.id

    # ----- images --------------------------------------------------------------------------

    def image(
        self, file: Path, where: str, *, stated_size: tuple[int, int] | None = None
    ) -> ImageRecord | None:
        """Return the record that boxes for `file` go to, or None after reporting why.

        The size is the project's when it knows it, else read from the file's header (EXIF
        orientation applied). `stated_size` is the size the label file claims: a label file
        made on another size of the image (or on its unrotated pixels) would put every box in
        the wrong place, so its boxes are refused instead.
        """
        path = self.locator.project_path(file)
        if path is None:
            self.report.skip(
                "image not in the project",
                f"{where}: {Path(file).name} is not in the project folder "
                "and matches none of its images",
            )
            return None
        rec = self._records.get(path)
        if rec is not None:
            self._twice.append(path)
            return rec
        size = self._size(path, file, where, stated_size)
        if size is False:
            return None
        rec = ImageRecord(path=path, status=ImageStatus.REVIEWED)
        if size is not None:
            rec.width, rec.height = size
        self._records[path] = rec
        return rec

    def unlabelled_image(self, file: Path) -> None:
        """Add an image that has no label file (status unlabeled) if it maps to the project."""
        path = self.locator.project_path(file)
        if path is not None and path not in self._records:
            self._records[path] = ImageRecord(path=path)

    def _size(self, path: str, file: Path, where: str, stated: tuple[int, int] | None):
        known = self.project.has_image(path)
        size = self.project.image(path).size if known else None
        if size is None:
            on_disk = self.project.root / path if known else file
            if not os.path.isfile(on_disk):
                on_disk = file
            if not os.path.isfile(on_disk):
                if not known:
                    self.report.skip(
                        "image file not found", f"{where}: {Path(file).name} not found"
                    )
                    return False
                if stated is not None:
                    return stated  # a project image whose file is gone: trust the labels
            try:
                size = read_size(on_disk, name=path)
            except ImageReadError as exc:
                self.report.skip("unreadable image", f"{where}: {exc}")
                return False
        if stated is not None and stated != size:
            if stated == (size[1], size[0]):
                self.report.skip(
                    "size of the unrotated image",
                    f"{where}: says {stated[0]}x{stated[1]}, the image shows "
                    f"{size[0]}x{size[1]} (EXIF rotation): labelled without its rotation, "
                    "boxes not imported",
                )
            else:
                self.report.skip(
                    "size differs from the image",
                    f"{where}: says {stated[0]}x{stated[1]}, the image is "
                    f"{size[0]}x{size[1]}; boxes not imported",
                )
            return False
        return size

    # ----- boxes ---------------------------------------------------------------------------

    def add_box(
        self,
        rec: ImageRecord,
        rect: tuple[float, float, float, float],
        category_id: int,
        where: str,
        *,
        score: float | None = None,
        attributes: Attributes = (),
    ) -> bool:
        """Add a box (xyxy pixels, display orientation) to `rec`; False after reporting why."""
        if not all(isinstance(v, (int, float)) and isfinite(v) for v in rect):
            self.report.skip("box has non-finite numbers", f"{where}: {rect!r}")
            return False
        x1, y1, x2, y2 = (float(v) for v in rect)
        if x2 <= x1 or y2 <= y1:
            self.report.skip("zero-size box", f"{where}: box {rect!r} has no area")
            return False
        if rec.size is not None and not (
            x1 >= 0 and y1 >= 0 and x2 <= rec.width and y2 <= rec.height
        ):
            clamped = clamp_rect((x1, y1, x2, y2), rec.width, rec.height)
            if rect_area(clamped) <= 0:
                self.report.skip(
                    "box outside its image", f"{where}: box {rect!r} is outside the image"
                )
                return False
            self.report.clamped_boxes += 1
            x1, y1, x2, y2 = clamped
        rec.boxes.append(
            Box(new_uid(), x1, y1, x2, y2, category_id, score, "import", tuple(sorted(attributes)))
        )
        return True

    def result(self) -> ImportResult:
        """Return the ImportResult with the report's counts filled in."""
        records = list(self._records.values())
        categories = list(self._categories.values())
        self.report.images = len(records)
        self.report.boxes = sum(len(r.boxes) for r in records)
        self.report.categories = len(categories)
        if self._twice:
            self.report.notes.append(
                f"{len(self._twice)} images have two label files (first: {self._twice[0]}); "
                "their boxes were combined."
            )
        return ImportResult(categories=categories, images=records, report=self.report)
