"""A COCO-format detection dataset (JSON + image folder) giving DETR targets."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from detr_model.data.copy_paste import paste_objects
from detr_model.image_file import ImageReadError, load_display_image, read_size

log = logging.getLogger(__name__)

Target = dict[str, Tensor]
Transform = Callable[[Any, Target], tuple[Any, Target]]
LABEL_MODES = ("category_id", "contiguous")


class DatasetError(ValueError):
    """A dataset file (annotations or image) is missing or malformed; the message names it."""


def data_problem(exc: Exception) -> str:
    """Returns the one-line message of a data error, also when a loader worker re-raised it
    (torch then wraps the message in "Caught ... in DataLoader worker" and the traceback)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Caught "):
        last = lines[-1].strip()
        kind = type(exc)
        for prefix in (f"{kind.__module__}.{kind.__qualname__}: ", f"{kind.__name__}: "):
            last = last.removeprefix(prefix)
        return last
    return str(exc)


def load_coco_json(path: str | Path) -> dict[str, Any]:
    """Returns the parsed COCO detection JSON, checked for the keys training needs."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: not a COCO file (top level is not an object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{path}: not a COCO detection file (no {key!r} list)")
    try:
        for img in data["images"]:
            int(img["id"]), str(img["file_name"])
        for cat in data["categories"]:
            int(cat["id"]), str(cat["name"])
        for ann in data["annotations"]:
            int(ann["image_id"]), int(ann["category_id"])
            if len(ann["bbox"]) != 4:
                raise ValueError(f"annotation {ann.get('id')} bbox has {len(ann['bbox'])} values")
            if not all(math.isfinite(float(v)) for v in ann["bbox"]):
                # COCOeval would count a NaN ground-truth box as matched by any detection.
                raise ValueError(f"annotation {ann.get('id')} bbox {ann['bbox']} is not finite")
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: malformed COCO entry ({exc!r})") from None
    return data


def coco_api(data: dict[str, Any]):
    """Returns a pycocotools COCO object for already-loaded JSON, without its console output."""
    from pycocotools.coco import COCO

    data = dict(data)
    data.setdefault("info", {})
    data.setdefault("licenses", [])
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO()
        api.dataset = data
        api.createIndex()
    return api


def open_image(path: str | Path) -> Image.Image:
    """Returns the image as RGB in display orientation, read by the one image reader.

    Raises DatasetError with the reader's message (naming the file) when it cannot be read.
    """
    try:
        return load_display_image(path)
    except ImageReadError as exc:
        raise DatasetError(str(exc)) from None


class CocoDetection(torch.utils.data.Dataset):
    """Returns (image, target) pairs from a COCO detection JSON and its image folder.

    Target: `boxes` (N, 4) float32 — absolute x0, y0, x1, y1 before transforms, normalised
    cx, cy, w, h after `Normalize` —, `labels` (N,) int64, `image_id` (1,), `area`, `iscrowd`
    (zeros), `orig_size` and `size` as (h, w). Crowd boxes are left out; boxes are clamped to the
    image and degenerate ones dropped (counted in `dropped_boxes`); images without boxes are kept.
    Labels are COCO category ids (official convention: `num_classes` = max id + 1) or, with
    `labels="contiguous"`, 0 .. K-1 in category-id order. With `check_images`, every image's
    header is read first and the images that cannot be read are left out (ground truth too),
    each logged and listed in `left_out` ("path: problem"); a pixel error found later, in
    `load`, raises DatasetError naming the file. With `copy_paste` p > 0, a sample gets up to
    two objects of another random image pasted in with probability p before its transforms
    (copy_paste.py; training sets only).
    """

    def __init__(
        self,
        images_dir: str | Path,
        ann_file: str | Path,
        transforms: Transform | None = None,
        *,
        labels: str = "category_id",
        check_images: bool = False,
        copy_paste: float = 0.0,
    ):
        if labels not in LABEL_MODES:
            raise ValueError(f"CocoDetection: labels must be one of {LABEL_MODES}, got {labels!r}")
        self.images_dir = Path(images_dir)
        self.ann_file = Path(ann_file)
        if not self.images_dir.is_dir():
            raise DatasetError(f"{self.images_dir}: image folder not found")
        if not 0.0 <= copy_paste <= 1.0:
            raise ValueError(f"CocoDetection: copy_paste must be in [0, 1], got {copy_paste}")
        self.transforms = transforms
        self.copy_paste = copy_paste
        self.data = load_coco_json(self.ann_file)
        self.left_out: list[str] = self._leave_out_unreadable() if check_images else []
        categories = sorted(self.data["categories"], key=lambda c: int(c["id"]))
        self.category_ids = [int(c["id"]) for c in categories]
        if labels == "contiguous":
            self.category_to_label = {cid: i for i, cid in enumerate(self.category_ids)}
            self.class_names = [str(c["name"]) for c in categories]
        else:
            if any(cid < 0 for cid in self.category_ids):
                raise DatasetError(f"{self.ann_file}: negative category id")
            self.category_to_label = {cid: cid for cid in self.category_ids}
            size = max(self.category_ids, default=-1) + 1
            self.class_names = ["N/A"] * size
            for c in categories:
                self.class_names[int(c["id"])] = str(c["name"])
        self.label_to_category = {v: k for k, v in self.category_to_label.items()}
        self.images = list(self.data["images"])
        self.ids = [int(img["id"]) for img in self.images]
        self._parse_annotations()

    def _leave_out_unreadable(self) -> list[str]:
        """Drops the images whose header cannot be read (and their boxes); returns why."""
        problems: list[str] = []
        bad: set[int] = set()
        for img in self.data["images"]:
            try:
                read_size(self.images_dir / str(img["file_name"]))
            except ImageReadError as exc:
                problems.append(str(exc))
                bad.add(int(img["id"]))
        if not bad:
            return []
        for problem in problems:
            log.warning("left out of %s: %s", self.ann_file.name, problem)
        if len(bad) == len(self.data["images"]):
            raise DatasetError(
                f"{self.ann_file}: none of its {len(bad)} images can be read, e.g. {problems[0]}"
            )
        self.data = {
            **self.data,
            "images": [i for i in self.data["images"] if int(i["id"]) not in bad],
            "annotations": [a for a in self.data["annotations"] if int(a["image_id"]) not in bad],
        }
        return problems

    @property
    def num_classes(self) -> int:
        """Returns the number of class slots the model needs (∅ excluded)."""
        return len(self.class_names)

    def _parse_annotations(self) -> None:
        by_image: dict[int, list[dict[str, Any]]] = {i: [] for i in self.ids}
        unknown_images = unknown_cats = 0
        for ann in self.data["annotations"]:
            image_id = int(ann["image_id"])
            if image_id not in by_image:
                unknown_images += 1
                continue
            if int(ann["category_id"]) not in self.category_to_label:
                unknown_cats += 1
                continue
            by_image[image_id].append(ann)
        if unknown_images or unknown_cats:
            raise DatasetError(
                f"{self.ann_file}: {unknown_images} annotation(s) refer to unknown images and "
                f"{unknown_cats} to unknown categories"
            )
        self._targets: list[dict[str, Tensor]] = []
        self.dropped_boxes = 0
        for img in self.images:
            anns = [a for a in by_image[int(img["id"])] if not a.get("iscrowd", 0)]
            boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
            boxes[:, 2:] += boxes[:, :2]
            w, h = img.get("width"), img.get("height")
            if w and h:
                boxes[:, 0::2].clamp_(min=0, max=float(w))
                boxes[:, 1::2].clamp_(min=0, max=float(h))
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            self.dropped_boxes += int((~keep).sum())
            labels = torch.tensor(
                [self.category_to_label[int(a["category_id"])] for a in anns], dtype=torch.int64
            )
            area = torch.tensor(
                [float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in anns],
                dtype=torch.float32,
            )
            self._targets.append({"boxes": boxes[keep], "labels": labels[keep], "area": area[keep]})
        if self.dropped_boxes:
            log.warning(
                "%s: dropped %d degenerate box(es) (zero width or height after clamping)",
                self.ann_file,
                self.dropped_boxes,
            )

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, index: int) -> Path:
        """Returns the path of image `index`."""
        return self.images_dir / str(self.images[index]["file_name"])

    def load(self, index: int) -> tuple[Image.Image, Target]:
        """Returns image `index` (RGB, EXIF applied) and its target before transforms."""
        path = self.image_path(index)
        image = open_image(path)
        w, h = image.size
        raw = self._targets[index]
        boxes = raw["boxes"].clone()
        boxes[:, 0::2].clamp_(min=0, max=w)
        boxes[:, 1::2].clamp_(min=0, max=h)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        target = {
            "boxes": boxes[keep],
            "labels": raw["labels"][keep],
            "image_id": torch.tensor([self.ids[index]], dtype=torch.int64),
            "area": raw["area"][keep],
            "iscrowd": torch.zeros(int(keep.sum()), dtype=torch.int64),
            "orig_size": torch.tensor([h, w], dtype=torch.int64),
            "size": torch.tensor([h, w], dtype=torch.int64),
        }
        return image, target

    def __getitem__(self, index: int) -> tuple[Any, Target]:
        image, target = self.load(index)
        if self.copy_paste > 0 and len(self) > 1 and float(torch.rand(())) < self.copy_paste:
            donor = int(torch.randint(len(self) - 1, ()))
            donor += donor >= index  # any image but this one
            image, target = paste_objects(image, target, *self.load(donor))
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def coco(self):
        """Returns the pycocotools COCO object of the ground truth (for COCOeval)."""
        return coco_api(self.data)
