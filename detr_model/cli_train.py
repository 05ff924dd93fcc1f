"""`python -m detr_model train`: build the model, the recipe and the data from the arguments,
run `engine.fit`, report progress as a bar or as JSON lines (`--progress jsonl`)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

from detr_model import distributed as ddp

log = logging.getLogger("detr_model.cli")


def plain(value: Any) -> Any:
    """Returns value with NaN/inf floats as None, so every line is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(plain(obj)) + "\n")
    sys.stdout.flush()


class StopFlag:
    """Set by the first SIGINT/SIGTERM (`signum` keeps which); a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signum = 0

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = self.signum or signum
        if ddp.is_main_process():
            print("stopping after the current iteration ...", file=sys.stderr, flush=True)

    def __call__(self) -> bool:
        return self.requested


class ProgressPrinter:
    """Prints a progress bar on stderr (when it is a terminal) and one line per epoch."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "iteration" and self.tty:
            n, i = max(event["iterations"], 1), event["iteration"]
            bar = "#" * int(24 * i / n)
            eta = duration(event.get("eta_s"))
            sys.stderr.write(
                f"\repoch {event['epoch']}/{event['epochs']} [{bar:<24}] {i}/{n} "
                f"loss {event['loss']:.4f} eta {eta}  "
            )
            sys.stderr.flush()
        elif event["event"] == "cache" and event["done"] == event["total"]:
            scales = ", ".join(str(s) for s in event["scales"])
            print(f"cached the backbone features of {event['total']} images at {scales} px")
        elif event["event"] == "epoch":
            if self.tty:
                sys.stderr.write("\n")
            metrics = event.get("metrics") or {}
            shown = " ".join(
                f"{k} {metrics[k]:.3f}" for k in ("AP", "AP50", "AP75") if k in metrics
            )
            print(
                f"epoch {event['epoch']}/{event['epochs']}  loss {event['loss']:.4f}  "
                f"lr {event['lr']:.2e}  {event['time_s']:.1f}s  {shown}".rstrip(),
                flush=True,
            )


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def init_is_file(args: argparse.Namespace) -> bool:
    """Returns True when `--init` names a model file (not "none", not an official name)."""
    from detr_model.official_models import OFFICIAL_MODELS

    return args.init not in ("none", *OFFICIAL_MODELS)


def init_kind(args: argparse.Namespace) -> str:
    """Returns what `--init` starts from: "none", "official" (a name) or "file"."""
    from detr_model.official_models import OFFICIAL_MODELS

    if args.init == "none":
        return "none"
    return "official" if args.init in OFFICIAL_MODELS else "file"


def run_defaults(args: argparse.Namespace):
    """Returns the TrainingDefaults of this run (the app's training dialog asks the same)."""
    from detr_model.train_defaults import training_defaults

    gpu = False
    if args.fast is None:  # only then does the device matter (and torch get asked)
        gpu = str(args.device).startswith("cuda") or (args.device == "auto" and _cuda_available())
    return training_defaults(init_kind(args), gpu=gpu)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def epochs_for(args: argparse.Namespace, num_images: int | None, batch_size: int) -> int:
    """Returns the epochs to train: `--epochs N`, or `auto_epochs` of the training images
    (`--epochs auto`, the default for a model file), else FIXED_EPOCHS. ValueError when auto
    is asked but the number of images is not known."""
    from detr_model.train_defaults import FIXED_EPOCHS, auto_epochs

    epochs = args.epochs
    if epochs is None:
        epochs = "auto" if run_defaults(args).epochs_from_data else FIXED_EPOCHS
    if epochs != "auto":
        return int(epochs)
    if num_images is None:
        raise ValueError("--epochs auto: the number of training images is not known yet")
    return auto_epochs(num_images, batch_size)


def init_checkpoint(args: argparse.Namespace):
    """Returns the Checkpoint `--init` names (an official one downloaded if needed)."""
    from detr_model.checkpoint import load_checkpoint
    from detr_model.download import resolve_model
    from detr_model.official_models import OFFICIAL_MODELS

    official = args.init if args.init in OFFICIAL_MODELS else None
    return load_checkpoint(resolve_model(args.init), official_name=official)


def build_model(args: argparse.Namespace, class_names: list[str], checkpoint=None):
    """Returns the model to train: from scratch, or `checkpoint` (default: the one `--init`
    names) with its class rows kept by name."""
    from detr_model.config import ModelConfig
    from detr_model.detr import build_detr

    changes = {"num_queries": args.num_queries} if args.num_queries else {}
    if args.init == "none":
        preset = "tiny_fast" if args.preset == "tiny" else args.preset  # from scratch: fast tiny
        config = getattr(ModelConfig, preset)(num_classes=len(class_names))
        return build_detr(config.replace(**changes))
    from detr_model.finetune import finetune_model

    checkpoint = checkpoint or init_checkpoint(args)
    model, surgery = finetune_model(checkpoint, class_names, **changes)
    kept = [class_names[i] for i in sorted(surgery.kept)]
    log.info("initialised from %s; class rows kept: %s", checkpoint.path, kept or "none")
    return model


def train_config(args: argparse.Namespace, checkpoint=None, *, num_images: int | None = None):
    """Returns the TrainConfig the arguments ask for; a model file's recipe reads `checkpoint`
    (default: loaded from `--init`); automatic epochs count `num_images` training images."""
    from detr_model.train_config import TrainConfig

    size = args.image_size
    if args.init == "none" and args.preset == "tiny":
        base = TrainConfig.tiny_fast(size or run_defaults(args).image_size)
    elif init_is_file(args):  # a model file: the fine-tuning recipe
        ckpt = checkpoint or init_checkpoint(args)
        size = size or ckpt.input_size()[0]
        base = TrainConfig.finetune(size)
        if ckpt.config.backbone_norm == "frozen_bn":  # official-style backbone: the paper's ratio
            base = base.replace(lr_backbone=base.lr / 10)
    else:
        base = TrainConfig.small_images(size) if size else TrainConfig()
    batch_size = args.batch_size or base.batch_size
    epochs = epochs_for(args, num_images, batch_size)
    fast = fast_mode(args)
    changes = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": args.lr if args.lr is not None else base.lr,
        "lr_backbone": 0.0
        if fast
        else (args.lr_backbone if args.lr_backbone is not None else base.lr_backbone),
        "lr_drop": args.lr_drop or max(1, round(epochs * 2 / 3)),
        "num_workers": args.workers,
        "eval_every": args.eval_every,
        "device": args.device,
        "amp": args.amp or base.amp,
        "seed": args.seed,
        "out_dir": str(args.out),
        "resume": str(args.resume) if args.resume else None,
        "augment": not args.no_augment,
        "augment_recipe": args.augment_recipe or base.augment_recipe,
        "feature_cache": fast,
        "log_every": args.log_every or base.log_every,
    }
    return base.replace(**changes)


def fast_mode(args: argparse.Namespace) -> bool:
    """Returns True for fast mode: `--fast`, or by default for an official model without a GPU."""
    return args.fast if args.fast is not None else run_defaults(args).fast


def datasets(args: argparse.Namespace, config):
    from detr_model.data.augment import copy_paste_of, train_transforms
    from detr_model.data.coco import CocoDetection
    from detr_model.data.transforms import make_transforms

    eval_tf = make_transforms("val", scales=[config.eval_size], max_size=config.max_size)
    # Images whose header cannot be read are left out now (and named), not met mid-run.
    checked = {"labels": args.labels, "check_images": True}
    train = CocoDetection(
        args.train_images,
        args.train_json,
        train_transforms(config),
        copy_paste=copy_paste_of(config),
        **checked,
    )
    val = None
    if args.val_json:
        val = CocoDetection(args.val_images, args.val_json, eval_tf, **checked)
        if val.category_to_label != train.category_to_label:
            raise ValueError(
                f"{args.val_json}: its categories differ from those of {args.train_json}"
            )
    return train, val


def run_train(args: argparse.Namespace) -> int:
    """Returns 0 after training as the parsed `train` arguments say, 128 + the signal number
    when a signal stopped it (130 SIGINT, 143 SIGTERM; last.pt is written); errors raise."""
    from detr_model.devices import pick_device
    from detr_model.engine import fit
    from detr_model.losses import build_criterion

    if bool(args.val_json) != bool(args.val_images):
        raise ValueError("--val-json and --val-images go together")
    ddp.init_distributed()
    try:
        jsonl = args.progress == "jsonl"
        stop = StopFlag()
        stop.install()
        # A model file is read once, for its recipe and its weights; an official model is
        # downloaded only once the data has been found.
        checkpoint = init_checkpoint(args) if init_is_file(args) else None
        # The transforms do not depend on the epochs, which may depend on the images found.
        config = train_config(args, checkpoint, num_images=0)
        train, val = datasets(args, config)
        config = train_config(args, checkpoint, num_images=len(train))
        model = build_model(args, train.class_names, checkpoint)
        main = ddp.is_main_process()
        if jsonl and main:
            emit_json(
                {
                    "event": "start",
                    "images": len(train),
                    "val_images": len(val) if val is not None else 0,
                    "left_out": train.left_out + (val.left_out if val is not None else []),
                    "class_names": train.class_names,
                    "model": model.config.to_dict(),
                    "train_config": config.to_dict(),
                    "processes": ddp.world_size(),
                    "device": str(pick_device(config.device)),
                }
            )
        on_progress = (lambda e: emit_json(e)) if jsonl else ProgressPrinter()
        criterion = build_criterion(model.config, config)
        started = time.monotonic()
        result = fit(
            model, criterion, train, val, config, on_progress=on_progress, should_stop=stop
        )
        if main:
            done = {
                "event": "done",
                "stopped": result.stopped,
                "best_checkpoint": result.best_checkpoint,
                "last_checkpoint": result.last_checkpoint,
                "epochs_done": len(result.history),
                "time_s": time.monotonic() - started,
            }
            if jsonl:
                emit_json(done)
            else:
                state = "stopped" if result.stopped else "finished"
                print(f"{state}; best checkpoint: {result.best_checkpoint}", flush=True)
        return 128 + stop.signum if result.stopped and stop.signum else 0
    finally:
        ddp.cleanup()
