"""`python -m detr_model {synth,train,eval,predict}`: the command line of the DETR library.

Errors in arguments or files end with one line on stderr and a non-zero exit, no traceback
(`-v` logs it). `train --progress jsonl` prints one JSON object per line for programs to read.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from detr_model import distributed as ddp
from detr_model.cli_predict import add_predict_arguments, label_to_category
from detr_model.cli_train import emit_json, run_train

log = logging.getLogger("detr_model.cli")

PRESETS = ("tiny", "detr_r50", "detr_r101", "detr_r50_dc5", "detr_r101_dc5")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


# synth ------------------------------------------------------------------------------------------


def _synth(args: argparse.Namespace) -> int:
    from detr_model.data.synthetic import SHAPE_CATEGORIES, generate_shapes_dataset
    from detr_model.data.unseen import generate_unseen_dataset
    from detr_model.data.varied import generate_varied_dataset

    size = args.size[0] if len(args.size) == 1 else (args.size[0], args.size[1])
    options = {"seed": args.seed, "size": size, "image_format": args.format}
    options["shapes"] = tuple(args.shapes or SHAPE_CATEGORIES)
    if args.objects:
        options["objects"] = (args.objects[0], args.objects[1])
    generate = {
        "own": generate_shapes_dataset,
        "varied": generate_varied_dataset,
        "unseen": generate_unseen_dataset,
    }[args.style]
    path = generate(args.out, args.images, **options)
    data = json.loads(path.read_text())
    print(f"wrote {len(data['images'])} images and {len(data['annotations'])} boxes: {path}")
    return 0


# eval ---------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace):
    from detr_model.checkpoint import load_checkpoint
    from detr_model.devices import pick_device
    from detr_model.download import resolve_model
    from detr_model.official_models import OFFICIAL_MODELS

    ckpt = load_checkpoint(
        resolve_model(args.checkpoint),
        official_name=args.checkpoint if args.checkpoint in OFFICIAL_MODELS else None,
    )
    size, max_size = ckpt.input_size()
    if args.image_size:
        size, max_size = args.image_size, max(max_size, args.image_size)
    return ckpt, ckpt.build_model(pick_device(args.device)), size, max_size


def _eval(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader

    from detr_model.data.coco import CocoDetection
    from detr_model.data.transforms import collate_fn, make_transforms
    from detr_model.evaluation import evaluate

    ckpt, model, size, max_size = _load(args)
    dataset = CocoDetection(
        args.images, args.json, make_transforms("val", scales=[size], max_size=max_size)
    )
    loader = DataLoader(
        dataset, batch_size=args.batch_size, collate_fn=collate_fn, num_workers=args.workers
    )
    mapping = label_to_category(ckpt.class_names, dataset.data["categories"])
    metrics = evaluate(model, loader, dataset.coco(), label_to_category=mapping)
    emit_json({"checkpoint": str(ckpt.path), "images": len(dataset), **metrics})
    return 0


# parser -----------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _epochs(text: str) -> int | str:
    return "auto" if text == "auto" else _positive(text)


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of `python -m detr_model`."""
    parser = _Parser(prog="python -m detr_model", description="DETR: train, evaluate, predict.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (tracebacks too)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("synth", help="write a synthetic shapes dataset (images + COCO JSON)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=_positive, nargs="+", default=[256], help="side, or MIN MAX")
    p.add_argument(
        "--objects", type=int, nargs=2, metavar=("MIN", "MAX"), help="default 1 4 (unseen: 0 5)"
    )
    p.add_argument(
        "--style",
        choices=("own", "varied", "unseen"),
        default="own",
        help="own: the generator models are built on; varied: a second training style; "
        "unseen: a different one, for evaluation only",
    )
    p.add_argument("--shapes", nargs="+", help="class names, ids 1.. in order (default 3 shapes)")
    p.add_argument("--format", choices=("jpg", "png"), default="jpg")
    p.set_defaults(func=_synth)

    p = sub.add_parser("train", help="train or fine-tune on a COCO-format dataset")
    p.add_argument("--train-json", type=Path, required=True)
    p.add_argument("--train-images", type=Path, required=True)
    p.add_argument("--val-json", type=Path)
    p.add_argument("--val-images", type=Path)
    p.add_argument("--init", default="none", help="none | an official name (detr-r50, ...) | PATH")
    p.add_argument("--preset", choices=PRESETS, default="tiny", help="architecture for --init none")
    p.add_argument(
        "--epochs",
        type=_epochs,
        help="N or auto (about 1,500 iterations); default: auto when --init is a model file, "
        "else 50",
    )
    p.add_argument(
        "--batch-size",
        type=_positive,
        help="default 8 for tiny from scratch, 4 from a model file (as the app), otherwise 2",
    )
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-backbone", type=float)
    p.add_argument("--lr-drop", type=_positive, help="epochs before the lr drops (default 2/3)")
    p.add_argument("--num-queries", type=_positive)
    p.add_argument("--image-size", type=_positive, help="shorter side at eval; scales training")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument(
        "--augment-recipe",
        choices=("paper", "small_data"),
        help="paper: flip, scales (and the paper's crop for full-size training); small_data: "
        "also photometric, zoom-out, IoU crop, affine, blur, noise, copy-paste (augment.py)",
    )
    p.add_argument(
        "--fast",
        action=argparse.BooleanOptionalAction,
        help="freeze the backbone and cache its features once (fast fine-tuning on a CPU); "
        "default: on for an official model without a GPU",
    )
    p.add_argument("--labels", choices=("category_id", "contiguous"), default="category_id")
    p.add_argument("--eval-every", type=_positive, default=1)
    p.add_argument("--log-every", type=_positive, help="iterations between progress events (10)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--amp",
        choices=("auto", "bf16", "off"),
        help="default: bf16 for tiny from scratch on a CPU with AMX/AVX-512-BF16, else auto",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--resume", type=Path, help="a last.pt to continue")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--progress", choices=("bar", "jsonl"), default="bar")
    p.set_defaults(func=run_train)

    for name, helptext in (("eval", "COCO AP of a checkpoint"), ("predict", "detect objects")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--checkpoint", required=True, help="PATH or an official model name")
        p.add_argument("--device", default="auto")
        p.add_argument("--image-size", type=_positive)
        if name == "eval":
            p.add_argument("--json", type=Path, required=True)
            p.add_argument("--images", type=Path, required=True)
            p.add_argument("--batch-size", type=_positive, default=2)
            p.add_argument("--workers", type=int, default=0)
            p.set_defaults(func=_eval)
        else:
            add_predict_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Returns the exit status of one command: 0 ok, 1 error, 2 bad arguments, 130 interrupted
    (`train`: 130 or 143 when SIGINT or SIGTERM stopped it cleanly)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for people, the traceback only with -v
        log.info("traceback", exc_info=True)  # shown with -v (INFO)
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, (RuntimeError, TypeError, KeyError, AttributeError)) and not _ours(exc):
            message = f"{type(exc).__name__}: {message}"
        if getattr(args, "progress", None) == "jsonl" and ddp.is_main_process():
            emit_json({"event": "error", "error": message})
        print(f"error: {message}", file=sys.stderr)
        return 1


def _ours(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("detr_model")
