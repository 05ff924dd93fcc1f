"""A fake training child for the runner tests: prints the CLI's JSON lines, then behaves as told.

Usage: python fake_train.py MODE [CLI arguments…]; MODE is ok | crash | error | stoppable |
stubborn | family (stubborn, with a grandchild process) | cache (fast mode's caching
events first) | gpu (ok, on "cuda:0"). It writes best.pt/last.pt (a few bytes, or best.pt a copy
of $FAKE_BEST) into the folder after --out when it has one.
"""

from __future__ import annotations

import sys
from pathlib import Path

FAKE_CHILD = r"""
import json, os, signal, sys, time
from pathlib import Path

mode, args = sys.argv[1], sys.argv[2:]
out = Path(args[args.index("--out") + 1]) if "--out" in args else None
stop = []

def emit(**event):
    print(json.dumps(event), flush=True)

def save():
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        real = os.environ.get("FAKE_BEST")  # a real checkpoint to hand back as the result
        (out / "last.pt").write_bytes(b"last")
        (out / "best.pt").write_bytes(Path(real).read_bytes() if real else b"best")

if mode == "stoppable":
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
elif mode in ("stubborn", "family"):
    signal.signal(signal.SIGTERM, lambda *a: None)
if mode == "family":  # a grandchild, like a data-loader worker or a torchrun worker
    import subprocess
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(f"grandchild {grandchild.pid}", flush=True)
emit(event="start", images=3, val_images=1, class_names=["circle"], model={}, train_config={},
     device="cuda:0" if mode == "gpu" else "cpu")
print("a log line on stderr", file=sys.stderr, flush=True)
if mode == "cache":  # fast mode: the backbone features first
    for done in (2, 4):
        emit(event="cache", done=done, total=4, scales=[64])
print("not json on stdout", flush=True)
for epoch in (1, 2):
    for i in (1, 2):
        emit(event="iteration", epoch=epoch, epochs=2, iteration=i, iterations=2,
             loss=3.0 / (epoch + i), losses={"loss_ce": 1.0, "loss_bbox": 0.5, "loss_giou": 0.4},
             lr=1e-4, eta_s=1.0)
    save()
    emit(event="epoch", epoch=epoch, epochs=2, loss=2.0 / epoch,
         losses={"loss_ce": 1.0, "loss_bbox": 0.5, "loss_giou": 0.4}, lr=1e-4,
         metrics={"AP": 0.1 * epoch, "AP50": 0.2 * epoch}, time_s=0.1, eta_s=0.0,
         checkpoint=str(out / "last.pt") if out else None)
    if mode in ("stoppable", "stubborn", "family"):
        for _ in range(600):
            if stop:
                emit(event="done", stopped=True, best_checkpoint=str(out / "best.pt"),
                     last_checkpoint=str(out / "last.pt"), epochs_done=epoch, time_s=0.5)
                sys.exit(0)
            time.sleep(0.05)
if mode == "crash":
    print("Traceback: something broke in the child", file=sys.stderr, flush=True)
    import os
    os.abort()
if mode == "error":
    emit(event="error", error="loss is NaN at epoch 2")
    sys.exit(1)
emit(event="done", stopped=False, best_checkpoint=str(out / "best.pt") if out else None,
     last_checkpoint=str(out / "last.pt") if out else None, epochs_done=2, time_s=0.5)
"""


def fake_child(folder: Path) -> Path:
    """Write the fake child script into `folder` and return its path."""
    path = folder / "fake_train.py"
    path.write_text(FAKE_CHILD, encoding="utf-8")
    return path


def fake_command(script: Path, mode: str):
    """Return a controller `command` that starts the fake child in `mode` with the CLI args."""
    return lambda args: [sys.executable, str(script), mode, *args]


def fake_scorer(old_ap: float = 0.5, new_ap: float = 0.3):
    """Return a comparison scorer giving the new version (a "model-*.pt" file) `new_ap` and any
    other model `old_ap`, without loading anything."""
    from app.model_comparison import ModelScore

    def score(path, coco_json, images_root, *, label, on_progress=None, **_options):
        ap = new_ap if Path(path).name.startswith("model-") else old_ap
        if on_progress is not None:
            on_progress(1, 1)
        per_class = {"object": ap}
        return ModelScore(label, str(path), ap, min(1.0, ap * 1.5), per_class, per_class, 1)

    return score


def wait_compared(qtbot, controller, timeout: int = 15000) -> None:
    """Wait until the controller has compared the new model with the model in use."""
    qtbot.waitUntil(
        lambda: controller.comparison is not None and not controller.is_comparing(),
        timeout=timeout,
    )


def boxed_session(folder: Path, *, images: int = 5, reviewed: int = 4):
    """Return a Session on `images` small images with one "object" box each, the first
    `reviewed` of them reviewed (the others proposed)."""
    from app.annotations.model import Box, ImageStatus, new_uid
    from app.session import Session
    from tests.app.conftest import write_images

    write_images(folder, count=images)
    session = Session()
    session.open_folder(folder)
    cat = session.add_category("object").id
    for i, rec in enumerate(session.project.images):
        rec.boxes.append(Box(new_uid(), 10, 10, 60 + i, 50, cat))
        rec.status = ImageStatus.REVIEWED if i < reviewed else ImageStatus.PROPOSED
    return session
