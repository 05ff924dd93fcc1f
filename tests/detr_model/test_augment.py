"""The augmentations keep boxes true to the image: drawn shapes stay inside their boxes after
every op of the small-data recipe and the paper's, for many seeds (issue 13)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torchvision.ops import box_convert

from detr_model.data import augment
from detr_model.data.copy_paste import paste_objects
from detr_model.data.transforms import (
    RandomHorizontalFlip,
    RandomResize,
    RandomSizeCrop,
    make_transforms,
)
from detr_model.train_config import TrainConfig

COLOURS = ((230, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 20))
SEEDS = range(40)


def _scene(seed: int, w: int = 150, h: int = 120):
    """Returns a grey image with 3-4 separate filled shapes of distinct colours and their exact target
    (boxes from the drawing, per-object masks of each colour's pixels)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (w, h), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    placed: list[tuple[int, int, int, int]] = []
    for _ in range(50):  # 3-4 shapes apart (hidden slivers would vanish in any resize)
        if len(placed) == 4:
            break
        side_w, side_h = int(rng.integers(14, 40)), int(rng.integers(14, 40))
        x, y = int(rng.integers(0, w - side_w)), int(rng.integers(0, h - side_h))
        shape = (x, y, x + side_w - 1, y + side_h - 1)
        if any(x <= b[2] + 2 and b[0] <= shape[2] + 2 and y <= b[3] + 2 and b[1] <= shape[3] + 2
               for b in placed):  # fmt: skip
            continue
        (draw.ellipse if len(placed) % 2 else draw.rectangle)(shape, fill=COLOURS[len(placed)])
        placed.append(shape)
    assert len(placed) >= 3
    pixels = np.asarray(image)
    boxes, masks = [], []
    for k in range(len(placed)):
        mask = (pixels == np.array(COLOURS[k])).all(axis=-1)
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, k])
        masks.append(mask)
    b = torch.tensor(boxes, dtype=torch.float32)
    target = {
        "boxes": b[:, :4],
        "labels": b[:, 4].long(),
        "area": (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]),
        "iscrowd": torch.zeros(len(b), dtype=torch.int64),
        "size": torch.tensor([h, w]),
        "masks": torch.from_numpy(np.stack(masks)).to(torch.uint8),
    }
    return image, target


def _check(image, target, *, colours: bool, growth: float = 1.0) -> None:
    """Asserts every box lies in the image, covers its object's pixels and, unless an edge cut
    it, is not much larger than they are (`growth` times, +3 px); with `colours`, the pixels under each mask still have the object's colour."""
    if isinstance(image, torch.Tensor):
        h, w = image.shape[-2:]
        pixels = None
    else:
        w, h = image.size
        pixels = np.asarray(image).astype(int)
    boxes, masks = target["boxes"], target["masks"].bool()
    assert len(boxes) == len(masks) == len(target["labels"]) == len(target["area"])
    assert tuple(target["size"].tolist()) == (h, w)
    assert masks.shape[-2:] == (h, w)
    eps = 1e-3  # cx, cy, w, h round trip
    assert (boxes >= -eps).all() and (boxes[:, 0::2] <= w + eps).all()
    assert (boxes[:, 1::2] <= h + eps).all()
    for box, mask, label in zip(boxes.tolist(), masks, target["labels"].tolist(), strict=True):
        x0, y0, x1, y1 = box
        assert x1 > x0 and y1 > y0
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if len(xs) < 6:  # a sliver left by a crop: then the box must be one too
            assert min(x1 - x0, y1 - y0) <= 4, (box, len(xs))
            continue
        inside = (xs >= x0 - 1) & (xs < x1 + 1) & (ys >= y0 - 1) & (ys < y1 + 1)
        assert inside.float().mean() >= 0.97, (box, inside.float().mean())
        mw, mh = int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
        if x0 <= 1 or y0 <= 1 or x1 >= w - 1 or y1 >= h - 1:
            continue  # cut by the image edge: a round object's cut box is loose, as any crop's
        assert x1 - x0 <= mw * growth + 3 and y1 - y0 <= mh * growth + 3, (box, (mw, mh))
        if colours and pixels is not None and mask.sum() >= 30:
            core = mask.numpy()
            core = core & np.roll(core, 1, 0) & np.roll(core, -1, 0)
            core = core & np.roll(core, 1, 1) & np.roll(core, -1, 1)  # away from blended edges
            if core.sum() >= 10:
                distance = np.abs(pixels[core] - np.array(COLOURS[label])).max(axis=-1)
                assert (distance < 40).mean() >= 0.9, (box, label)


def _seeded(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


GROWTH = augment.rotated_box_growth(10.0)
OPS = {
    "flip": (RandomHorizontalFlip(p=1.0), True, 1.0),
    "resize": (RandomResize([64, 96, 140], max_size=200), True, 1.0),
    "paper_crop": (RandomSizeCrop(40, 110), True, 1.0),
    "photometric": (augment.photometric_distortion(1.0), False, 1.0),
    "zoom_out": (augment.zoom_out(1.0, 2.0), True, 1.0),
    "iou_crop": (augment.iou_crop(1.0), True, 1.0),
    "affine": (augment.small_affine(1.0, 10.0), True, GROWTH),
    "scale_jitter": (augment.JitteredResize([96, 128], 213, 0.25), True, 1.0),
    "blur": (augment.blur(1.0), False, 1.0),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_keeps_each_box_on_its_object(name: str) -> None:
    op, colours, growth = OPS[name]
    for seed in SEEDS:
        image, target = _scene(seed)
        _seeded(seed)
        out_image, out_target = op(image, target)
        _check(out_image, out_target, colours=colours, growth=growth)


def test_photometric_ops_leave_boxes_and_size_as_they_are() -> None:
    image, target = _scene(3)
    for op in (augment.photometric_distortion(1.0), augment.blur(1.0)):
        for seed in range(5):
            _seeded(seed)
            out_image, out_target = op(image, target)
            assert out_image.size == image.size
            assert torch.equal(out_target["boxes"], target["boxes"])
    tensor = torch.full((3, 20, 30), 0.5)
    _seeded(0)
    noisy, _ = augment.Noise(1.0)(tensor, target)
    assert noisy.shape == tensor.shape and not torch.equal(noisy, tensor)
    assert noisy.min() >= 0 and noisy.max() <= 1


def test_copy_paste_adds_true_boxes_and_hides_little_of_the_old_ones() -> None:
    pasted = 0
    for seed in SEEDS:
        image, target = _scene(seed)
        donor_image, donor_target = _scene(seed + 1000)
        _seeded(seed)
        out_image, out_target = paste_objects(image, target, donor_image, donor_target)
        _check(out_image, out_target, colours=True, growth=1 / (1 - 0.15))  # max_cover hidden
        pasted += len(out_target["boxes"]) - len(target["boxes"])
        # Old objects: at most max_cover of each is hidden by the patches.
        kept = out_target["masks"][: len(target["masks"])].sum(dim=(1, 2))
        assert (kept >= 0.8 * target["masks"].sum(dim=(1, 2))).all()
    assert pasted >= len(SEEDS) // 2  # it does paste, not just skip


def _whole_recipe(config: TrainConfig, seed: int):
    image, target = _scene(seed)
    _seeded(seed)
    if config.copy_paste_p and seed % 2:
        image, target = paste_objects(image, target, *_scene(seed + 500))
    out_image, out_target = augment.train_transforms(config)(image, target)
    h, w = out_image.shape[-2:]
    xyxy = box_convert(out_target["boxes"], "cxcywh", "xyxy") * torch.tensor([w, h, w, h])
    return out_image, {**out_target, "boxes": xyxy}


def test_the_whole_small_data_recipe_keeps_boxes_on_their_objects() -> None:
    config = TrainConfig.tiny_fast(128, augment_recipe="small_data").replace(
        photometric_p=1.0, zoom_out_p=0.5, iou_crop_p=0.5, affine_p=0.5, blur_p=0.5, noise_p=0.5
    )
    assert config.augment_recipe == "small_data"
    for seed in range(60):
        image, target = _whole_recipe(config, seed)
        _check(image, target, colours=False, growth=GROWTH)


def test_paper_recipe_gives_the_hand_written_versions_sizes_and_boxes() -> None:
    # Recorded from the hand-written transforms (commit c35f018) for the same seeds.
    expected = {
        0: ((81, 64), [1, 2], [[0.3625, 0.2917, 0.725, 0.5833], [0.995, 0.0833, 0.01, 0.1667]]),
        2: ((64, 66), [1, 3], [[0.4135, 0.3333, 0.8077, 0.64], [0.1058, 0.72, 0.2115, 0.56]]),
        4: (
            (64, 85),
            [1, 2, 3],
            [[0.625, 0.4167, 0.5, 0.5], [0.1562, 0.2083, 0.1875, 0.25], [0.875, 0.7417, 0.25, 0.4833]],
        ),
    }  # fmt: skip
    sums = {0: 3542.56, 2: 2919.6, 4: 3756.84}
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    t = make_transforms("train", scales=[48, 64], max_size=100, crop=(24, 48))
    for seed in range(max(expected) + 1):
        b = torch.tensor([[10.0, 10, 50, 40], [60, 5, 75, 20], [0, 30, 20, 59]])
        target = {"boxes": b, "labels": torch.tensor([1, 2, 3]), "size": torch.tensor([60, 80])}
        random.seed(seed)
        out, tg = t(image, target)
        if seed in expected:
            shape, labels, boxes = expected[seed]
            assert tuple(out.shape[-2:]) == shape
            assert tg["labels"].tolist() == labels
            assert tg["boxes"].flatten().tolist() == pytest.approx(sum(boxes, []), abs=1e-4)
            assert float(out.sum()) == pytest.approx(sums[seed], abs=0.05)


def test_recipe_fields_round_trip_and_old_configs_load_with_the_paper_recipe() -> None:
    config = TrainConfig.finetune(160, augment_recipe="small_data").replace(
        zoom_out_p=0.4, affine_degrees=5.0
    )
    assert config.augment_recipe == "small_data"
    assert TrainConfig.from_dict(config.to_dict()) == config
    old = {k: v for k, v in TrainConfig().to_dict().items() if k not in _NEW_FIELDS}
    assert TrainConfig.from_dict(old).augment_recipe == "paper"
    assert TrainConfig().augment_recipe == "paper"  # official-model training
    with pytest.raises(ValueError, match="augment_recipe"):
        TrainConfig(augment_recipe="heavy")
    with pytest.raises(ValueError, match="blur_p"):
        TrainConfig(blur_p=1.5)


def test_train_transforms_follow_the_config() -> None:
    paper = augment.train_transforms(TrainConfig.small_images(128))
    small_data = TrainConfig.tiny_fast(128, augment_recipe="small_data")
    small = augment.train_transforms(small_data)
    assert any(isinstance(t, augment.WithBoxes) for t in small.transforms)
    assert not any(isinstance(t, augment.WithBoxes) for t in paper.transforms)
    assert augment.copy_paste_of(small_data) == 0.3
    assert augment.copy_paste_of(small_data.replace(augment=False)) == 0.0
    # The short recipes' default is the light one (measured faster to learn, convergence.md).
    assert augment.copy_paste_of(TrainConfig.tiny_fast(128)) == 0.0
    assert TrainConfig.finetune(128).augment_recipe == "paper"
    assert augment.copy_paste_of(TrainConfig()) == 0.0


_NEW_FIELDS = {
    "augment_recipe", "photometric_p", "zoom_out_p", "zoom_out_max", "iou_crop_p",
    "scale_jitter", "affine_p", "affine_degrees", "blur_p", "noise_p", "copy_paste_p",
}  # fmt: skip


def test_the_cli_chooses_the_recipe_and_keeps_the_short_recipes_light_by_default() -> None:
    from detr_model.cli import build_parser
    from detr_model.cli_train import train_config

    base = ["train", "--train-json", "a.json", "--train-images", ".", "--out", "o"]
    parser = build_parser()
    assert train_config(parser.parse_args(base)).augment_recipe == "paper"
    chosen = parser.parse_args([*base, "--augment-recipe", "small_data"])
    assert train_config(chosen).augment_recipe == "small_data"
