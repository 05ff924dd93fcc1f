"""Images on disk and small projects for the format tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, new_uid

EXIF_ORIENTATION = 0x0112


def save_image(path: Path, size: tuple[int, int], *, orientation: int | None = None) -> None:
    """Write an image of `size` (stored pixels); with `orientation` an EXIF tag rotates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (90, 120, 150))
    if orientation is None:
        image.save(path)
        return
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    image.save(path, exif=exif.tobytes())


def project_with_boxes(root: Path) -> Project:
    """Two classes on three images: 64x48, an EXIF-rotated JPEG (40x30 stored, 30x40 shown), and
    one without boxes."""
    save_image(root / "a.png", (64, 48))
    save_image(root / "sub" / "b.jpg", (40, 30), orientation=6)
    save_image(root / "c.png", (20, 20))
    cats = [Category(1, "cat", "#ff0000"), Category(2, "dog", "#00ff00")]
    images = [
        ImageRecord(
            "a.png",
            64,
            48,
            ImageStatus.REVIEWED,
            boxes=[Box(new_uid(), 1.5, 2.25, 30.125, 40, 1), Box(new_uid(), 30, 10, 64, 48, 2)],
        ),
        ImageRecord(
            "sub/b.jpg", 30, 40, ImageStatus.REVIEWED, boxes=[Box(new_uid(), 2, 3, 20, 35, 2)]
        ),
        ImageRecord("c.png", 20, 20, ImageStatus.REVIEWED),
    ]
    return Project(root=root, categories=cats, images=images)


def without_boxes(project: Project) -> Project:
    """Return a project on the same folder and images, with no boxes and no classes."""
    images = [ImageRecord(r.path, r.width, r.height) for r in project.images]
    return Project(root=project.root, images=images)


def boxes_by_image(project: Project) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """Return {image path: sorted (class name, rect)} for comparing two projects."""
    names = {c.id: c.name for c in project.categories}
    return {
        rec.path: sorted((names[b.category_id], b.rect) for b in rec.boxes)
        for rec in project.images
    }
