"""The demo project: seeded synthetic shape images in the user's data folder, ready to annotate.

The images start unlabeled, so a new user can auto-annotate them; the project already has
the three shape classes, so the demo model's classes map by name without a question. The
generator's COCO file is kept beside the images as `ground_truth.json` (not imported) for
measuring the model or the user later. No Qt here; torch is imported (by the generator) only
when images are made, so call `create_demo_project` off the GUI thread.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from app.annotations import store

log = logging.getLogger(__name__)

DEMO_FOLDER_NAME = "demo-project"
DEMO_IMAGES = 60
DEMO_SEED = 7  # keep it apart from the seeds the demo model is trained and validated on
DEMO_SIZE = (256, 320)  # min and max side in pixels, drawn per image
GROUND_TRUTH_NAME = "ground_truth.json"
IMAGE_SUFFIX = ".jpg"


def default_demo_folder() -> Path:
    """Return where "Open demo project" puts its images (in the per-user data folder)."""
    return store.user_data_dir() / DEMO_FOLDER_NAME


def partial_folder(folder: Path) -> Path:
    """Return the folder images are drawn in before they move to `folder`."""
    return folder.with_name(f".{folder.name}.partial")


def ground_truth_images(folder: Path) -> list[str] | None:
    """Return the image names the ground-truth file lists (None if it is missing or damaged)."""
    try:
        data = json.loads((folder / GROUND_TRUTH_NAME).read_text(encoding="utf-8"))
        return [str(image["file_name"]) for image in data["images"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("%s: no usable ground truth (%s)", folder, exc)
        return None


def is_complete(folder: Path) -> bool:
    """Return True when `folder` holds the ground-truth file and every image it lists."""
    names = ground_truth_images(folder)
    return bool(names) and all((folder / name).is_file() for name in names)


def count_drawn(folder: Path) -> int:
    """Return how many demo images are in `folder` so far (0 when it does not exist)."""
    try:
        return sum(1 for p in folder.iterdir() if p.suffix == IMAGE_SUFFIX)
    except OSError:
        return 0


def create_demo_project(
    folder: Path | None = None,
    *,
    count: int = DEMO_IMAGES,
    seed: int = DEMO_SEED,
    size: tuple[int, int] = DEMO_SIZE,
) -> Path:
    """Return the demo folder, drawing its images first unless it is already complete.

    The images are drawn in a side folder and moved in at the end, so an interrupted run never
    leaves a half-made demo that looks complete. A demo folder missing some files gets them
    back (the same seed draws the same images) and keeps the user's project file.
    """
    folder = Path(folder) if folder is not None else default_demo_folder()
    if is_complete(folder):
        log.info("demo project %s is complete", folder)
        return folder
    from detr_model.data.synthetic import SHAPE_CATEGORIES, generate_shapes_dataset

    partial = partial_folder(folder)
    if partial.exists():
        shutil.rmtree(partial)  # left by an interrupted run; only ever ours
    partial.parent.mkdir(parents=True, exist_ok=True)
    generate_shapes_dataset(
        partial, count, seed=seed, size=size, image_format="jpg", json_name=GROUND_TRUTH_NAME
    )
    if not store.default_project_file(folder).exists():
        project = store.new_project(partial)
        for name in SHAPE_CATEGORIES:
            project.add_category(name)
        store.save_project(project, store.default_project_file(partial))
    if not folder.exists():
        os.replace(partial, folder)
    else:
        _move_missing(partial, folder)
        shutil.rmtree(partial)
    log.info("demo project: %d images in %s", count, folder)
    return folder


def _move_missing(source: Path, target: Path) -> None:
    """Move into `target` the files of `source` it lacks; the ground truth last."""
    entries = sorted(source.iterdir(), key=lambda p: p.name == GROUND_TRUTH_NAME)
    for entry in entries:
        destination = target / entry.name
        if entry.name == GROUND_TRUTH_NAME or not destination.exists():
            os.replace(entry, destination)
