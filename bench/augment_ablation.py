"""What each small-data augmentation op does to AP50, alone, on both image styles.

    python bench/augment_ablation.py --base resources/models/demo.pth --iterations 240

Every run warm-starts from the same model (`--base`, three shapes), trains the same number of
iterations (`--iterations`, same seed, same images: `--images` own-style and `--varied`
varied-style training images) with TrainConfig.finetune's optimisation, and differs only in the
augmentation: `none` is the small-data recipe with every op off (flip and three sizes, i.e.
the light recipe), `op=...` turns one op on at `--p` (scale jitter at its default), `all` is
the small-data recipe as TrainConfig has it (copy-paste included). AP50 is measured after
training on own-style and unseen-style validation images (`bench/style_eval.py`); the unseen
style is never trained on. The same iteration count for every row measures the effect per
step; what an op costs in time is `bench/augment_cost.py`. Prints one table row per run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.data import ConcatDataset  # noqa: E402

from bench.style_eval import (  # noqa: E402
    STYLES,
    TRAIN_SEED,
    VAL_SEED,
    ap50_of,
    detections_of,
    make_images,
)
from detr_model.checkpoint import load_checkpoint  # noqa: E402
from detr_model.data import CocoDetection  # noqa: E402
from detr_model.data.augment import copy_paste_of, train_transforms  # noqa: E402
from detr_model.data.synthetic import SHAPE_CATEGORIES  # noqa: E402
from detr_model.data.transforms import make_transforms  # noqa: E402
from detr_model.data.varied import generate_varied_dataset  # noqa: E402
from detr_model.engine import Trainer  # noqa: E402
from detr_model.losses import build_criterion  # noqa: E402
from detr_model.train_config import TrainConfig  # noqa: E402

OPS = ("photometric_p", "zoom_out_p", "iou_crop_p", "affine_p", "blur_p", "noise_p",
       "copy_paste_p")  # fmt: skip
VARIED_SEED = 3  # not a seed of style_eval's validation images


def _variants(names: list[str], p: float) -> dict[str, dict]:
    off = {op: 0.0 for op in OPS} | {"scale_jitter": 0.0, "augment_recipe": "small_data"}
    table = {"none": off, "all": {"augment_recipe": "small_data"}, "scale_jitter": off | {
        "scale_jitter": TrainConfig.scale_jitter}}  # fmt: skip
    table |= {op.removesuffix("_p"): off | {op: p} for op in OPS}
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {sorted(table)}")
    return {n: table[n] for n in names}


def _training_set(root: Path, args, config: TrainConfig) -> ConcatDataset:
    size = tuple(args.size)
    own = make_images(root / "train", "own", args.images, TRAIN_SEED, size, SHAPE_CATEGORIES)
    varied = root / "train_varied" / "annotations.json"
    if not varied.is_file():
        generate_varied_dataset(varied.parent, args.varied, seed=VARIED_SEED, size=size)
    parts = [
        CocoDetection(path.parent, path, train_transforms(config), copy_paste=copy_paste_of(config))
        for path in (own, varied)
    ]
    return ConcatDataset(parts)


def _validation(root: Path, args, config: TrainConfig) -> dict[str, CocoDetection]:
    tf = make_transforms("val", scales=[config.eval_size], max_size=config.max_size)
    vals = {}
    for style in STYLES:
        folder = root / f"val_{style}"
        path = make_images(folder, style, args.val_images, VAL_SEED[style], tuple(args.size),
                           SHAPE_CATEGORIES)  # fmt: skip
        vals[style] = CocoDetection(folder, path, tf)
    return vals


def _ap50(model, vals: dict[str, CocoDetection]) -> dict[str, float]:
    return {style: ap50_of(val.coco(), detections_of(model, val)) for style, val in vals.items()}


def _train(ckpt, args, changes: dict, vals, root: Path, out: Path) -> tuple[dict, float]:
    """Returns ({style: AP50}, training CPU s) after `args.iterations` iterations with
    TrainConfig.finetune's optimisation and the augmentation `changes` say."""
    config = TrainConfig.finetune(args.train_size).replace(
        epochs=max(1, -(-args.iterations * 8 // (args.images + args.varied))),
        batch_size=8, log_every=10**6, eval_every=10**6, out_dir=str(out), seed=args.seed,
        **changes,
    )  # fmt: skip
    train = _training_set(root, args, config)
    torch.manual_seed(args.seed)
    model = ckpt.build_model().float()
    done = [0]

    def stop() -> bool:
        done[0] += 1
        return done[0] >= args.iterations

    cpu = time.process_time()
    Trainer(model, build_criterion(model.config, config), config, should_stop=stop).fit(train, None)
    cpu_s = time.process_time() - cpu
    model.eval()
    return _ap50(model, vals), cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=ROOT / "resources/models/demo.pth")
    parser.add_argument("--variants", default="none,all,photometric,zoom_out,iou_crop,affine,"
                        "scale_jitter,blur,noise,copy_paste")  # fmt: skip
    parser.add_argument("--p", type=float, default=0.5, help="an op's probability, alone")
    parser.add_argument("--iterations", type=int, default=240)
    parser.add_argument("--images", type=int, default=400, help="own-style training images")
    parser.add_argument("--varied", type=int, default=400, help="varied-style training images")
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--size", type=int, nargs=2, default=(128, 160))
    parser.add_argument("--train-size", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path("/tmp/detr-studio-ablation"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.base)
    vals = _validation(args.data, args, TrainConfig.finetune(args.train_size))
    before = _ap50(ckpt.build_model().float().eval(), vals)
    print(
        f"{args.base.name}, {args.iterations} iterations of batch 8 on {args.images} own + "
        f"{args.varied} varied images, seed {args.seed}, op p {args.p:g}"
    )
    print("| variant | own AP50 | unseen AP50 | CPU s |\n|---|---:|---:|---:|")
    print(f"| before training | {before['own']:.3f} | {before['unseen']:.3f} | – |", flush=True)
    for name, changes in _variants(args.variants.split(","), args.p).items():
        aps, cpu_s = _train(ckpt, args, changes, vals, args.data, args.data / f"run_{name}")
        print(f"| {name} | {aps['own']:.3f} | {aps['unseen']:.3f} | {cpu_s:.0f} |", flush=True)


if __name__ == "__main__":
    main()
