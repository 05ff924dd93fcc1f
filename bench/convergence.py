"""Convergence of the tiny DETR from scratch, option by option, and fine-tuning with a new class.

    python bench/convergence.py scratch [--variants base,backbone,dn,...] [--minutes 15]
                                        [--marks 5 10 15] [--size 128 160] [--threads 1]
    python bench/convergence.py finetune --base RUN/best.pt [--marks 2 5] [--modes full,fast]

Every AP50 is measured on two validation sets side by side (bench/style_eval.py): "own"
(100 images of `synthetic.py`, the generator the models were built around) and "unseen" (100
images of `unseen.py`, the stand-in for a user's pictures; its seed is never trained on).
`--train-style own|unseen` picks the generator of the training images (default own). The
budget (`--minutes`, wall clock, or `--cpu-minutes`, CPU time of this process: all threads)
counts training only: the evaluations are left out of it, and the tables give the wall minutes
(evaluations included) beside each mark.

`scratch` trains ModelConfig.tiny on 800 seeded shapes images for the budget per variant,
evaluating after every epoch, and prints AP50 at each mark (the last evaluation finished by
then). Variants (see VARIANTS): `official` (tiny as is: frozen BN, stride 32, the paper's lrs),
`backbone` (trainable BN, stride 16, every layer trained, one lr), each option added to
`backbone` alone, and `fast` (TrainConfig.tiny_fast + ModelConfig.tiny_fast, the chosen
combination).

`finetune` starts from a 3-class checkpoint (`--recipe finetune`: with the app's recipe,
TrainConfig.finetune, cosine over `--epochs`), adds a 4th shape ("cross") with <= 100 training
images (all shapes annotated) and prints the new class's and the old classes' AP50 on 100
4-class validation images of each style at each mark, next to the old classes' AP50 before
fine-tuning, and the seconds per epoch. `--modes full,frozen,fast` compares training every
layer, a frozen backbone, and fast mode (frozen backbone, features cached once:
TrainConfig.feature_cache).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.style_eval import (  # noqa: E402
    STYLES,
    TRAIN_SEED,
    VAL_SEED,
    Clock,
    ap50_of,
    data_folder,
    detections_of,
    make_images,
)
from detr_model.checkpoint import load_checkpoint  # noqa: E402
from detr_model.cli_train import build_model  # noqa: E402
from detr_model.config import TINY_FAST_CHANGES, ModelConfig  # noqa: E402
from detr_model.data import CocoDetection  # noqa: E402
from detr_model.data.augment import copy_paste_of, train_transforms  # noqa: E402
from detr_model.data.synthetic import SHAPE_CATEGORIES  # noqa: E402
from detr_model.data.transforms import make_transforms  # noqa: E402
from detr_model.detr import build_detr  # noqa: E402
from detr_model.engine import Trainer  # noqa: E402
from detr_model.finetune import finetune_model  # noqa: E402
from detr_model.losses import build_criterion  # noqa: E402
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
    "cli": ({}, {}),  # what `train --preset tiny --init none` builds (see _cli_recipe)
}


def _datasets(root: Path, args: argparse.Namespace, config: TrainConfig, shapes=SHAPE_CATEGORIES):
    """Returns the training set (of --train-style) and {style: validation set}."""
    size = tuple(args.size)
    train_dir = data_folder(root, "train", args.train_style)
    make_images(train_dir, args.train_style, args.images, TRAIN_SEED, size, shapes)
    val_tf = make_transforms("val", scales=[config.eval_size], max_size=config.max_size)
    train = CocoDetection(
        train_dir,
        train_dir / "annotations.json",
        train_transforms(config),  # the recipe config names, as the CLI's
        copy_paste=copy_paste_of(config),
    )
    vals = {}
    for style in STYLES:
        val_dir = data_folder(root, "val", style)
        make_images(val_dir, style, args.val_images, VAL_SEED[style], size, shapes)
        vals[style] = CocoDetection(val_dir, val_dir / "annotations.json", val_tf)
    return train, vals


def _clock(args: argparse.Namespace) -> Clock:
    return Clock(cpu=args.cpu_minutes is not None, iterations_per_minute=args.iters_per_minute)


def _cli_recipe(args: argparse.Namespace, out: Path):
    """Returns the parsed arguments and the TrainConfig of `python -m detr_model train --preset
    tiny --init none` with its defaults, but --epochs from the bench and --workers 0 (one
    process, so that CPU time counts all of it); --train-set changes on top."""
    from detr_model.cli import build_parser
    from detr_model.cli_train import train_config

    argv = ["train", "--train-json", "-", "--train-images", "-", "--preset", "tiny",
            "--init", "none", "--epochs", str(args.epochs), "--workers", "0",
            "--device", args.device, "--out", str(out)]  # fmt: skip
    parsed = build_parser().parse_args(argv)
    config = train_config(parsed).replace(log_every=10**6, **_pairs(args.train_set))
    return parsed, config


def _train_config(args: argparse.Namespace, changes: dict[str, Any], out: Path) -> TrainConfig:
    base = TrainConfig.tiny_fast(args.train_size).replace(
        lr_schedule="step", warmup_iters=0, ema_decay=0.0, amp="off"
    )
    if args.lr is not None:
        base = base.replace(lr=args.lr, lr_backbone=args.lr)
    config = base.replace(
        epochs=args.epochs,
        lr_drop=args.epochs,
        log_every=10**6,
        out_dir=str(out),
        device=args.device,
        **changes,
    )
    if args.cpu_minutes is not None and config.num_workers:
        raise SystemExit(
            f"--cpu-minutes counts this process only, not its {config.num_workers} loader "
            "workers: train with num_workers=0"
        )
    return config


def _run(model, criterion, train, vals, config: TrainConfig, args, label: str):
    """Trains for the budget; returns [(minutes, wall minutes, {style: AP50})] of every
    evaluation, the training iterations per wall second and per CPU second, and the epochs
    finished.

    Evaluates after every epoch, or with `--eval-at-marks` only when the budget passes a mark
    (and when the schedule ends first). With `--iters-per-minute R` the budget and the curve
    count iterations (R per minute, e.g. measured on the CPU) instead of time: to compare
    variants on another device.
    """
    clock = _clock(args)
    curve: list[tuple[float, float, dict[str, float]]] = []
    marks = sorted(args.marks)
    epochs = [0]

    def evaluate(minute: float) -> dict[str, float]:
        with clock.paused():
            aps = {
                style: ap50_of(
                    val.coco(), detections_of(trainer.eval_model, val, trainer.amp_dtype)
                )
                for style, val in vals.items()
            }
        curve.append((minute, clock.wall(), aps))
        return aps

    def on_progress(event: dict) -> None:
        if event["event"] != "epoch":
            return
        minute = clock.minutes()
        epochs[0] = event["epoch"]
        aps = {} if args.eval_at_marks else evaluate(minute)
        terms = event.get("losses") or {}
        print(f"  {label:10s} {minute:6.2f} {clock.unit()} ({clock.wall():6.2f} wall)  "
              f"epoch {event['epoch']:3d}  loss {event['loss']:7.3f}  "
              f"ce {terms.get('loss_ce', 0):.3f}  giou {terms.get('loss_giou', 0):.3f}  "
              f"l1 {terms.get('loss_bbox', 0):.3f}  "
              + "  ".join(f"AP50 {s} {ap:.3f}" for s, ap in aps.items()), flush=True)  # fmt: skip

    def out_of_time() -> bool:
        clock.tick()
        minute = clock.minutes()
        while args.eval_at_marks and marks and minute >= marks[0]:
            aps = evaluate(marks.pop(0))  # the weights as the budget passed the mark
            print(f"  {label:10s} mark {curve[-1][0]:g} {clock.unit()} ({clock.wall():6.2f} wall)"
                  "  " + "  ".join(f"AP50 {s} {ap:.3f}" for s, ap in aps.items()),
                  flush=True)  # fmt: skip
        return minute > _budget(args)

    trainer = Trainer(model, criterion, config, on_progress=on_progress, should_stop=out_of_time)
    trainer.fit(train, None)  # evaluated above, on both styles, outside the budget
    if args.eval_at_marks and marks:  # the schedule ended before the last marks
        evaluate(clock.minutes())
    rates = (clock.iterations / max(clock.training_s(), 1e-9),
             clock.iterations / max(clock.training_cpu_s(), 1e-9))  # fmt: skip
    return curve, rates, epochs[0]


def _budget(args: argparse.Namespace) -> float:
    return args.cpu_minutes if args.cpu_minutes is not None else args.minutes


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


def _at(curve: list[tuple[float, float, Any]], mark: float) -> tuple[float, Any]:
    """Returns (wall minutes, result) of the last evaluation done by budget minute `mark`."""
    done = [(wall, result) for t, wall, result in curve if t <= mark + 1e-9]
    return done[-1] if done else (float("nan"), None)


def _load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def _budget_line(args: argparse.Namespace) -> str:
    unit = _clock(args).unit()
    return (f"budget {_budget(args):g} {unit} of training (evaluations left out), "
            f"threads {torch.get_num_threads()}, {_load_line()}")  # fmt: skip


def scratch(args: argparse.Namespace) -> None:
    """Runs every asked variant from scratch and prints the AP50 table (own and unseen)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp) / "data"
        print(f"start: {_load_line()}", flush=True)
        for name in args.variants.split(","):
            model_changes, train_changes = VARIANTS[name]
            model_changes = {**model_changes, **_pairs(args.model_set)}
            train_changes = {**train_changes, **_pairs(args.train_set)}
            out = (args.keep / name) if args.keep else Path(tmp) / name
            if name == "cli":
                parsed, config = _cli_recipe(args, out)
                train, vals = _datasets(root, args, config)
                torch.manual_seed(0)
                model = build_model(parsed, train.class_names)
                model_config = model.config
                print(f"cli: {model_config}\n     {config}", flush=True)
            else:
                config = _train_config(args, train_changes, out)
                train, vals = _datasets(root, args, config)
                model_config = ModelConfig.tiny(num_classes=train.num_classes).replace(
                    **model_changes
                )
                torch.manual_seed(0)
                model = build_detr(model_config)
                print(f"{name}: {model_changes} {train_changes}", flush=True)
            curve, speed, epochs = _run(
                model, build_criterion(model_config, config), train, vals, config, args, name
            )
            best = {s: max((aps[s] for _, _, aps in curve), default=float("nan")) for s in STYLES}
            rows.append((name, [_at(curve, m) for m in args.marks], best, epochs, speed))
    print(f"\ntiny from scratch, {args.images} {args.train_style}-style training images "
          f"{args.size[0]}-{args.size[1]} px; AP50 on {args.val_images} own-style and "
          f"{args.val_images} unseen-style validation images")  # fmt: skip
    print(_budget_line(args))
    unit = _clock(args).unit()
    header = " | ".join(f"own @{m:g} | unseen @{m:g} | wall min @{m:g}" for m in args.marks)
    print(f"| variant ({unit}) | {header} | best own | best unseen | epochs | it/s | it/CPU-s |")
    print("|---|" + "---|---|---|" * len(args.marks) + "---|---|---|---|---|")
    for name, at, best, epochs, speed in rows:
        cells = " | ".join(
            f"{(aps or {}).get('own', float('nan')):.3f} | "
            f"{(aps or {}).get('unseen', float('nan')):.3f} | {wall:.1f}"
            for wall, aps in at
        )
        print(f"| {name} | {cells} | {best['own']:.3f} | {best['unseen']:.3f} | {epochs} | "
              f"{speed[0]:.2f} | {speed[1]:.2f} |")  # fmt: skip


def _finetune_once(ckpt, train, vals, config: TrainConfig, marks: list[float], args):
    """Returns ({style: old AP50 before}, [(mark, wall minutes, {style: (new, old)})], timing)
    of one fine-tuning run; timing: {"epochs", "s_per_epoch", "cache_s"} (the evaluations at
    the marks not counted)."""
    names = train.class_names
    cats = vals["own"].label_to_category  # both styles number the classes alike
    old_ids = [cats[i] for i, n in enumerate(names) if n in SHAPE_CATEGORIES]
    new_ids = [cats[i] for i, n in enumerate(names) if n == "cross"]
    base_model = ckpt.build_model()
    by_name = {n: cats[i] for i, n in enumerate(names) if i in cats}
    base_map = {i: by_name[n] for i, n in enumerate(ckpt.class_names) if n in by_name}
    before = {
        style: ap50_of(val.coco(), detections_of(base_model, val, None, base_map), old_ids)
        for style, val in vals.items()
    }
    torch.manual_seed(0)
    model, _ = finetune_model(ckpt, names)
    results: list[tuple[float, float, dict[str, tuple[float, float]]]] = []
    clock = _clock(args)
    timing = {"epochs": 0, "epoch_s": 0.0, "cache_s": 0.0}

    def on_progress(event: dict) -> None:
        if event["event"] == "cache" and event["done"] == event["total"]:
            timing["cache_s"] = clock.training_s()
        elif event["event"] == "epoch":
            timing["epochs"] += 1
            timing["epoch_s"] += event["time_s"]

    def stop() -> bool:
        # Evaluates when a mark is passed (outside the budget); stops after the last.
        clock.tick()
        if clock.minutes() < marks[len(results)]:
            return False
        evaluate(marks[len(results)])
        timing["epoch_s"] -= clock.last_pause_s  # inside an epoch's time
        return len(results) == len(marks)

    def evaluate(mark: float) -> None:
        with clock.paused():
            aps = {}
            for style, val in vals.items():
                dets = detections_of(model, val, trainer.amp_dtype)
                aps[style] = (
                    ap50_of(val.coco(), dets, new_ids),
                    ap50_of(val.coco(), dets, old_ids),
                )
        results.append((mark, clock.wall(), aps))
        print(f"  lr {config.lr:g} @{results[-1][0]:g} {clock.unit()} ({clock.wall():.1f} wall): "
              + "  ".join(f"{s}: new {n:.3f} old {o:.3f} (before {before[s]:.3f})"
                          for s, (n, o) in aps.items())
              + f" after {timing['epochs']} epochs", flush=True)  # fmt: skip

    criterion = build_criterion(model.config, config)
    trainer = Trainer(model, criterion, config, on_progress=on_progress, should_stop=stop)
    trainer.fit(train, None)
    if len(results) < len(marks):  # the schedule ended first: its end counts for the rest
        evaluate(marks[len(results)])
        wall, aps = results[-1][1:]
        results.extend([(m, wall, aps) for m in marks[len(results) :]])
    timing["s_per_epoch"] = timing["epoch_s"] / max(timing["epochs"], 1)
    return before, results, timing


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
        print(f"start: {_load_line()}", flush=True)
        for mode in args.modes.split(","):
            for lr in args.lrs:
                changes = {"lr": lr, "lr_backbone": lr, "amp": args.amp, **FINETUNE_MODES[mode]}
                if args.recipe == "finetune":  # the app's and the CLI's (--init a file)
                    config = TrainConfig.finetune(args.train_size).replace(
                        epochs=args.epochs, log_every=10**6, out_dir=str(Path(tmp) / "run"),
                        device=args.device, **{**changes, **_pairs(args.train_set)},
                    )  # fmt: skip
                else:
                    config = _train_config(
                        args, {**changes, **_pairs(args.train_set)}, Path(tmp) / "run"
                    )
                    config = config.replace(epochs=10**4, lr_drop=10**4, ema_decay=0.0)
                train, vals = _datasets(root, args, config, shapes)
                print(f"{mode}, lr {lr:g}:", flush=True)
                before, results, timing = _finetune_once(ckpt, train, vals, config, marks, args)
                rows.append((mode, lr, before, results, timing))
    print(f"\nfine-tune with a new class: {args.images} {args.train_style}-style images; AP50 "
          f"on {args.val_images} own-style and {args.val_images} unseen-style images")  # fmt: skip
    print(_budget_line(args))
    unit = _clock(args).unit()
    cells = [f"{k} @{m:g}" for m in marks for k in ("new own", "old own", "new unseen",
                                                    "old unseen", "wall min")]  # fmt: skip
    print(f"| mode ({unit}) | lr | s/epoch | caching s | old before own | old before unseen | "
          + " | ".join(cells) + " |")  # fmt: skip
    print("|---|---|---|---|---|---|" + "---|" * len(cells))
    for mode, lr, before, results, timing in rows:
        values = " | ".join(
            f"{aps['own'][0]:.3f} | {aps['own'][1]:.3f} | {aps['unseen'][0]:.3f} | "
            f"{aps['unseen'][1]:.3f} | {wall:.1f}"
            for _, wall, aps in results
        )
        print(f"| {mode} | {lr:g} | {timing['s_per_epoch']:.1f} | {timing['cache_s']:.0f} | "
              f"{before['own']:.3f} | {before['unseen']:.3f} | {values} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("scratch", "finetune"))
    parser.add_argument("--variants", default="official,backbone,dn,focal,queries,cosine,ema,fast")
    parser.add_argument("--minutes", type=float, help="wall-clock budget of training")
    parser.add_argument(
        "--cpu-minutes", type=float, help="budget in CPU minutes of this process (all threads)"
    )
    parser.add_argument(
        "--train-style", choices=STYLES, default="own", help="generator of the training images"
    )
    parser.add_argument("--marks", type=float, nargs="+")
    parser.add_argument(
        "--eval-at-marks", action="store_true", help="scratch: evaluate at the marks only"
    )
    parser.add_argument("--images", type=int)
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--size", type=int, nargs=2, default=[128, 160], help="data sizes")
    parser.add_argument("--train-size", type=int, default=128, help="training/eval side")
    parser.add_argument("--epochs", type=int, default=40, help="schedule length (cosine/drop)")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-4], help="finetune lrs")
    parser.add_argument("--modes", default="full", help=f"finetune: of {','.join(FINETUNE_MODES)}")
    parser.add_argument("--base", type=Path, help="finetune: the 3-class checkpoint")
    parser.add_argument(
        "--recipe",
        choices=("bench", "finetune"),
        default="bench",
        help="finetune: bench (tiny_fast at a constant lr) | finetune (TrainConfig.finetune, "
        "the app's: cosine over --epochs)",
    )
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
    if args.cpu_minutes is not None and args.minutes is not None:
        parser.error("give --minutes or --cpu-minutes, not both")
    if args.cpu_minutes is not None and args.iters_per_minute:
        parser.error("--cpu-minutes and --iters-per-minute are two different clocks")
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
