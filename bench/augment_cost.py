"""What each training augmentation costs: CPU ms per image at 160 px, one thread (issue 13).

    python bench/augment_cost.py [--images 200] [--size 160]

Each op of the small-data recipe runs alone (probability 1) on decoded synthetic images, then
the whole recipes run (paper at 160 px, the light recipe the tiny presets had before, the
small-data recipe with its probabilities, each with ToTensor and Normalize); the ratio column is
to the paper recipe. Copy-paste includes decoding its donor image, which is most of its cost.
CPU time of this process (time.process_time), so other load on the machine matters less than
for wall time; the load is printed with the table.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from detr_model.data import (  # noqa: E402
    CocoDetection,
    augment,
    generate_shapes_dataset,
)
from detr_model.data.copy_paste import paste_objects  # noqa: E402
from detr_model.data.transforms import RandomHorizontalFlip, make_transforms  # noqa: E402
from detr_model.train_config import TrainConfig  # noqa: E402


def _ops(size: int) -> dict:
    small = TrainConfig.tiny_fast(size)
    paper = TrainConfig.small_images(size)
    return {
        "recipe: paper (flip, multi-scale, crop)": make_transforms(
            "train", scales=paper.scales, max_size=paper.max_size, crop=paper.crop
        ),
        "recipe: light (flip, 3 scales; tiny before)": make_transforms(
            "train", scales=small.scales, max_size=small.max_size, crop=None
        ),
        "recipe: small_data (defaults)": augment.train_transforms(small),
        "flip": RandomHorizontalFlip(p=1.0),
        "photometric": augment.photometric_distortion(1.0),
        "zoom_out": augment.zoom_out(1.0, small.zoom_out_max),
        "iou_crop": augment.iou_crop(1.0),
        "affine": augment.small_affine(1.0, small.affine_degrees),
        "scale_jitter resize": augment.JitteredResize(small.scales, small.max_size, 0.2),
        "blur": augment.blur(1.0),
    }


def _time(fn, samples) -> float:
    start = time.process_time()
    for image, target in samples:
        fn(image, target)
    return (time.process_time() - start) / len(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=160)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = generate_shapes_dataset(tmp, args.images, seed=3, size=args.size)
        data = CocoDetection(tmp, path)
        start = time.process_time()
        samples = [data.load(i) for i in range(len(data))]
        decode = (time.process_time() - start) / len(samples) * 1000
        rows = {name: _time(op, samples) for name, op in _ops(args.size).items()}

        calls = itertools.count(1)

        def paste(image, target):  # the next image is the donor
            return paste_objects(image, target, *data.load(next(calls) % len(data)))

        rows["copy_paste (with donor decode)"] = _time(paste, samples)
        tensor = [(torch.rand(3, args.size, args.size), {}) for _ in range(len(samples))]
        rows["noise (on the tensor)"] = _time(augment.Noise(1.0), tensor)
    paper = rows["recipe: paper (flip, multi-scale, crop)"]
    print(f"{args.images} images of {args.size} px, 1 thread; load {os.getloadavg()[0]:.2f}")
    print(f"image decode (for scale): {decode:.2f} ms")
    print("| op | CPU ms / image | x paper recipe |")
    print("|---|---:|---:|")
    for name, ms in rows.items():
        print(f"| {name} | {ms:.2f} | {ms / paper:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
