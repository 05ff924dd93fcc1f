"""Convergence of the tiny DETR from scratch, option by option, and fine-tuning with a new class.

    python bench/convergence.py scratch [--variants base,backbone,dn,...] [--minutes 15]
                                        [--marks 5 10 15] [--size 128 160] [--threads 1]
    python bench/convergence.py finetune --base RUN/best.pt [--marks 2 5] [--modes full,fast]

`scratch` trains ModelConfig.tiny on 800 seeded synthetic shapes images (val: 100 others) for a
wall-clock budget per variant, evaluating after every epoch, and prints AP50 at each mark (the
last evaluation finished by then; time includes evaluation). Variants (see VARIANTS): `official`
(tiny as is: frozen BN, stride 32, the paper's lrs), `backbone` (trainable BN, stride 16, every
layer trained, one lr), each option added to `backbone` alone, and `fast` (TrainConfig.tiny_fast
+ ModelConfig.tiny_fast, the chosen combination).

`finetune` starts from a 3-class checkpoint, adds a 4th shape ("cross") with <= 100 training
images (all shapes annotated) and prints the new class's and the old classes' AP50 on 100
4-class validation images at each mark, next to the old classes' AP50 before fine-tuning, and
the seconds per epoch. `--modes full,frozen,fast` compares training every layer, a frozen
backbone, and fast mode (frozen backbone, features cached once: TrainConfig.feature_cache).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from detr_model.checkpoint import load_checkpoint  # noqa: E402
from detr_model.config import TINY_FAST_CHANGES, ModelConfig  # noqa: E402
from detr_model.data import CocoDetection, collate_fn, generate_shapes_dataset  # noqa: E402
from detr_model.data.synthetic import SHAPE_CATEGORIES  # noqa: E402
from detr_model.data.transforms import make_transforms  # noqa: E402
from detr_model.detr import build_detr  # noqa: E402
from detr_model.engine import fit  # noqa: E402
from detr_model.evaluation import predict_dataset  # noqa: E402
from detr_model.finetune import finetune_model  # noqa: E402
from detr_model.losses import build_criterion  # noqa: E402
from detr_model.postprocess import PostProcess  # noqa: E402
from detr_model.train_config import TINY_FAST_TRAIN, TrainConfig  # noqa: E402

BACKBONE = {"backbone_norm": "bn", "feature_stride": 16, "train_stem": True, "dropout": 0.0}
# name -> (ModelConfig changes, TrainConfig changes) on top of `backbone` (except official)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "official": ({}, {"lr": 1e-4, "lr_backbone": 1e-5}),
    "backbone": (BACKBONE, {}),
    "dn": ({**BACKBONE, "dn_groups": 5}, {}),
    "focal": (
        {**BACKBONE, "class_score": "sigmoid"},
        {"set_cost_class": 2.0, "ce_loss_coef": 2.0},
    ),
    "queries": ({**BACKBONE, "num_queries": 30}, {}),
    "cosine": (BACKBONE, {"lr_schedule": "cosine", "warmup_iters": 100}),
    "ema": (BACKBONE, {"ema_decay": 0.999}),
    "bf16": (BACKBONE, {"amp": "bf16"}),
    "gn": ({**BACKBONE, "backbone_norm": "gn"}, {}),
    "anchors": ({**BACKBONE, "query_anchors": True}, {}),
    "groups": ({**BACKBONE, "query_groups": 3}, {}),
    "lr5e-4": (BACKBONE, {"lr": 5e-4, "lr_backbone": 5e-4, "warmup_iters": 50}),
    "dn-bf16": ({**BACKBONE, "dn_groups": 5}, {"amp": "bf16"}),
    "focal-bf16": (
        {**BACKBONE, "class_score": "sigmoid"},
        {"set_cost_class": 2.0, "ce_loss_coef": 2.0, "amp": "bf16"},
    ),
    "q30-bf16": ({**BACKBONE, "num_queries": 30}, {"amp": "bf16"}),
    "anchors-bf16": ({**BACKBONE, "query_anchors": True}, {"amp": "bf16"}),
    "anchors-dn-bf16": ({**BACKBONE, "query_anchors": True, "dn_groups": 5}, {"amp": "bf16"}),
    "fast": (TINY_FAST_CHANGES, {**TINY_FAST_TRAIN, "amp": "bf16"}),
}


def _ap50_by_class(coco_gt: Any, detections: list[dict], cat_ids: list[int]) -> float:
    """Returns the mean AP50 over `cat_ids` (0 when there are no detections)."""
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco_gt, coco_gt.loadRes(detections), iouType="bbox")
        ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
    p = ev.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, recall, classes, all areas, 100 dets
    per_class = [float(np.mean(p[:, k][p[:, k] > -1])) for k in range(p.shape[1])]
    return float(np.mean(per_class))


def _datasets(root: Path, args: argparse.Namespace, config: TrainConfig, shapes=SHAPE_CATEGORIES):
    size = tuple(args.size)
    train_dir, val_dir = root / "train", root / "val"
    if not (train_dir / "annotations.json").is_file():
        generate_shapes_dataset(train_dir, args.images, seed=1, size=size, shapes=shapes)
    if not (val_dir / "annotations.json").is_file():
        generate_shapes_dataset(val_dir, args.val_images, seed=2, size=size, shapes=shapes)
    train_tf = make_transforms(
        "train", scales=config.scales, max_size=config.max_size, crop=config.crop
    )
    val_tf = make_transforms("val", scales=[config.eval_size], max_size=config.max_size)
    train = CocoDetection(train_dir, train_dir / "annotations.json", train_tf)
    val = CocoDetection(val_dir, val_dir / "annotations.json", val_tf)
    return train, val


def _train_config(args: argparse.Namespace, changes: dict[str, Any], out: Path) -> TrainConfig:
    base = TrainConfig.tiny_fast(args.train_size).replace(
        lr_schedule="step", warmup_iters=0, ema_decay=0.0, amp="off"
    )
    if args.lr is not None:
        base = base.replace(lr=args.lr, lr_backbone=args.lr)
    return base.replace(
        epochs=args.epochs,
        lr_drop=args.epochs,
        log_every=10**6,
        out_dir=str(out),
        device=args.device,
        **changes,
    )


def _run(model, criterion, train, val, config: TrainConfig, args, label: str):
    """Trains for the budget; returns [(minutes, AP50)] of every evaluation and iterations/s.

    With `--iters-per-minute R` the budget and the curve count iterations (R per minute, e.g.
    measured on the CPU) instead of wall-clock time: to compare variants on another device.
    """
    started = time.monotonic()
    curve: list[tuple[float, float]] = []
    iterations = [0]
    rate = args.iters_per_minute

    def now() -> float:
        if rate:
            return iterations[0] / rate
        return (time.monotonic() - started) / 60

    def on_progress(event: dict) -> None:
        if event["event"] != "epoch":
            return
        minute = now()
        ap50 = float((event.get("metrics") or {}).get("AP50", float("nan")))
        curve.append((minute, ap50))
        terms = event.get("losses") or {}
        print(f"  {label:10s} {minute:6.2f} min  epoch {event['epoch']:3d}  "
              f"loss {event['loss']:7.3f}  ce {terms.get('loss_ce', 0):.3f}  "
              f"giou {terms.get('loss_giou', 0):.3f}  l1 {terms.get('loss_bbox', 0):.3f}  "
              f"AP50 {ap50:.3f}", flush=True)  # fmt: skip

    def out_of_time() -> bool:
        iterations[0] += 1
        return now() > args.minutes

    fit(model, criterion, train, val, config, on_progress=on_progress, should_stop=out_of_time)
    seconds = time.monotonic() - started
    return curve, iterations[0] / seconds


def _pairs(items: list[str]) -> dict[str, Any]:
    """Returns {key: value} from "key=value" strings (values parsed as Python literals)."""
    import ast

    out: dict[str, Any] = {}
    for item in items:
        key, _, text = item.partition("=")
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text
    return out


def _at(curve: list[tuple[float, float]], mark: float) -> float:
    done = [ap for t, ap in curve if t <= mark + 1e-9]
    return done[-1] if done else float("nan")


def scratch(args: argparse.Namespace) -> None:
    """Runs every asked variant from scratch and prints the AP50 table."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp) / "data"
        for name in args.variants.split(","):
            model_changes, train_changes = VARIANTS[name]
            model_changes = {**model_changes, **_pairs(args.model_set)}
            train_changes = {**train_changes, **_pairs(args.train_set)}
            out = (args.keep / name) if args.keep else Path(tmp) / name
            config = _train_config(args, train_changes, out)
            train, val = _datasets(root, args, config)
            model_config = ModelConfig.tiny(num_classes=train.num_classes).replace(**model_changes)
            torch.manual_seed(0)
            model = build_detr(model_config)
            print(f"{name}: {model_changes} {train_changes}", flush=True)
            curve, speed = _run(
                model, build_criterion(model_config, config), train, val, config, args, name
            )
            rows.append(
                (
                    name,
                    [_at(curve, m) for m in args.marks],
                    max((ap for _, ap in curve), default=float("nan")),
                    len(curve),
                    speed,
                )
            )
    print(f"\ntiny from scratch, {args.images} images {args.size[0]}-{args.size[1]} px, "
          f"threads {torch.get_num_threads()}, budget {args.minutes} min")  # fmt: skip
    header = " | ".join(f"AP50 @{m:g} min" for m in args.marks)
    print(f"| variant | {header} | best | epochs | it/s |")
    print("|---|" + "---|" * (len(args.marks) + 3))
    for name, at, best, epochs, speed in rows:
        cells = " | ".join(f"{v:.3f}" for v in at)
        print(f"| {name} | {cells} | {best:.3f} | {epochs} | {speed:.2f} |")


def _finetune_once(ckpt, train, val, config: TrainConfig, marks: list[float]):
    """Returns (old AP50 before, [(minute, new AP50, old AP50)], timing) of one fine-tuning run;
    timing: {"epochs", "s_per_epoch", "cache_s"} (the evaluations at the marks not counted)."""
    names, cats = train.class_names, val.label_to_category
    old_ids = [cats[i] for i, n in enumerate(names) if n in SHAPE_CATEGORIES]
    new_ids = [cats[i] for i, n in enumerate(names) if n == "cross"]
    loader = DataLoader(val, batch_size=8, collate_fn=collate_fn)
    base_model = ckpt.build_model()
    by_name = {n: cats[i] for i, n in enumerate(names) if i in cats}
    base_map = {i: by_name[n] for i, n in enumerate(ckpt.class_names) if n in by_name}
    post = PostProcess(base_model.config.class_score)
    dets = predict_dataset(base_model, loader, postprocess=post, label_to_category=base_map)
    old_before = _ap50_by_class(val.coco(), dets, old_ids)
    torch.manual_seed(0)
    model, _ = finetune_model(ckpt, names)
    results: list[tuple[float, float, float]] = []
    started = time.monotonic()
    timing = {"epochs": 0, "epoch_s": 0.0, "cache_s": 0.0}

    def on_progress(event: dict) -> None:
        if event["event"] == "cache" and event["done"] == event["total"]:
            timing["cache_s"] = time.monotonic() - started
        elif event["event"] == "epoch":
            timing["epochs"] += 1
            timing["epoch_s"] += event["time_s"]

    def stop() -> bool:
        # Evaluates when a mark is passed (evaluation time counts); stops after the last.
        if (time.monotonic() - started) / 60 < marks[len(results)]:
            return False
        eval_started = time.monotonic()
        dets = predict_dataset(model, loader, postprocess=post, label_to_category=cats)
        new_ap = _ap50_by_class(val.coco(), dets, new_ids)
        old_ap = _ap50_by_class(val.coco(), dets, old_ids)
        results.append((marks[len(results)], new_ap, old_ap))
        timing["epoch_s"] -= time.monotonic() - eval_started  # inside an epoch's time
        print(f"  lr {config.lr:g} @{results[-1][0]:g} min: new {new_ap:.3f} "
              f"old {old_ap:.3f} (before {old_before:.3f}) after {timing['epochs']} epochs",
              flush=True)  # fmt: skip
        return len(results) == len(marks)

    criterion = build_criterion(model.config, config)
    fit(model, criterion, train, None, config, on_progress=on_progress, should_stop=stop)
    timing["s_per_epoch"] = timing["epoch_s"] / max(timing["epochs"], 1)
    return old_before, results, timing


FINETUNE_MODES: dict[str, dict[str, Any]] = {
    "full": {},  # every layer the recipe trains, backbone at the same lr
    "frozen": {"lr_backbone": 0.0},  # backbone frozen, run every step
    "fast": {"lr_backbone": 0.0, "feature_cache": True},  # frozen, features cached once
}


def finetune(args: argparse.Namespace) -> None:
    """Fine-tunes `--base` with a 4th class and prints new/old AP50 at each mark, per mode."""
    shapes = (*SHAPE_CATEGORIES, "cross")
    ckpt = load_checkpoint(args.base)
    marks = sorted(args.marks)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp) / "ft_data"
        for mode in args.modes.split(","):
            for lr in args.lrs:
                changes = {"lr": lr, "lr_backbone": lr, "amp": args.amp, **FINETUNE_MODES[mode]}
                config = _train_config(
                    args, {**changes, **_pairs(args.train_set)}, Path(tmp) / "run"
                )
                config = config.replace(epochs=10**4, lr_drop=10**4, ema_decay=0.0)
                train, val = _datasets(root, args, config, shapes)
                print(f"{mode}, lr {lr:g}:", flush=True)
                before, results, timing = _finetune_once(ckpt, train, val, config, marks)
                rows.append((mode, lr, before, results, timing))
    print(f"\nfine-tune with a new class: {args.images} images, threads {torch.get_num_threads()}")
    print("| mode | lr | s/epoch | caching s | old AP50 before | " + " | ".join(
        f"new @{m:g} min | old @{m:g} min" for m in marks) + " |")  # fmt: skip
    print("|---|---|---|---|---|" + "---|---|" * len(marks))
    for mode, lr, before, results, timing in rows:
        cells = " | ".join(f"{n:.3f} | {o:.3f}" for _, n, o in results)
        print(f"| {mode} | {lr:g} | {timing['s_per_epoch']:.1f} | {timing['cache_s']:.0f} | "
              f"{before:.3f} | {cells} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("scratch", "finetune"))
    parser.add_argument("--variants", default="official,backbone,dn,focal,queries,cosine,ema,fast")
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--marks", type=float, nargs="+")
    parser.add_argument("--images", type=int)
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--size", type=int, nargs=2, default=[128, 160], help="data sizes")
    parser.add_argument("--train-size", type=int, default=128, help="training/eval side")
    parser.add_argument("--epochs", type=int, default=40, help="schedule length (cosine/drop)")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-4], help="finetune lrs")
    parser.add_argument("--modes", default="full", help=f"finetune: of {','.join(FINETUNE_MODES)}")
    parser.add_argument("--base", type=Path, help="finetune: the 3-class checkpoint")
    parser.add_argument("--data", type=Path, help="folder to keep the generated data in")
    parser.add_argument("--keep", type=Path, help="scratch: keep each variant's run here")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="bf16", help="finetune: amp mode")
    parser.add_argument("--iters-per-minute", type=float, help="count iterations, not time")
    parser.add_argument("--model-set", nargs="*", default=[], help="ModelConfig key=value")
    parser.add_argument("--train-set", nargs="*", default=[], help="TrainConfig key=value")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.mode == "scratch":
        args.minutes = args.minutes or 15.0
        args.marks = args.marks or [5, 10, 15]
        args.images = args.images or 800
        scratch(args)
    else:
        if args.base is None:
            parser.error("finetune needs --base")
        args.minutes = args.minutes or 5.0
        args.marks = args.marks or [2, 5]
        args.images = args.images or 100
        finetune(args)


if __name__ == "__main__":
    main()
