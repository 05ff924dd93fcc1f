"""Issue 19's scenario, measured: review a few demo images, train with the dialog's defaults,
and check the before/after comparison against the images neither model trained on.

Usage:
    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/before_after.py --reviewed 5
    ... --reviewed 5 --cancel-after 120     # cancel as the user in the issue did
    ... --reviewed 12 --epochs 60           # a shorter run

The demo project's 60 images are drawn into a temporary folder; the first `--reviewed` get
their ground-truth boxes and are marked reviewed; a real training run starts from the bundled
demo model (the model in use) through the app's TrainingController with `TrainSettings()`
defaults. When the run ends (or is cancelled), the controller scores both models on its
held-out images, as the dialog shows them; then this script scores both on the images that
were not reviewed (never trained on, never used for the choice) and prints both tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviewed", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="default: automatic")
    parser.add_argument("--cancel-after", type=float, default=None, help="seconds")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from app.pyside_refcount_guard import protect_singletons

    protect_singletons()
    from PySide6.QtWidgets import QApplication

    from app.annotations.model import ImageStatus
    from app.auto_annotate import AutoAnnotator
    from app.demo_project import GROUND_TRUTH_NAME, create_demo_project
    from app.model_scoring import score_checkpoint
    from app.project_transfer import import_coco
    from app.session import Session
    from app.training_controller import TrainingController
    from app.training_snapshot import TrainSettings

    app = QApplication.instance() or QApplication([sys.argv[0]])
    work = args.work or Path(tempfile.mkdtemp(prefix="before-after-"))
    folder = work / "demo-project"
    create_demo_project(folder)
    truth = json.loads((folder / GROUND_TRUTH_NAME).read_text())
    session = Session()
    session.open_folder(folder)
    import_coco(session, folder / GROUND_TRUTH_NAME)
    names = [img["file_name"] for img in truth["images"]]
    reviewed, unseen = names[: args.reviewed], names[args.reviewed :]
    session.set_status(unseen, ImageStatus.UNLABELED)
    session.set_status(reviewed, ImageStatus.REVIEWED)
    for rec in session.project.images:  # only the reviewed images keep their boxes
        if rec.path not in reviewed:
            rec.boxes = []
    auto = AutoAnnotator(session)  # the bundled demo model is in use
    controller = TrainingController(session, auto)
    in_use = auto.current_choice()  # the dialog's default: start from the model in use
    settings = TrainSettings(base=in_use.path, base_label=in_use.label, epochs=args.epochs)
    if not controller.start(settings):
        print(f"training did not start: {controller.error}")
        return 1
    began = time.monotonic()
    while controller.is_running():
        app.processEvents()
        time.sleep(0.02)
        if args.cancel_after and time.monotonic() - began > args.cancel_after:
            controller.cancel()
            args.cancel_after = None
    while controller.is_comparing() or (controller.new_model and controller.comparison is None):
        app.processEvents()
        time.sleep(0.02)
    took = time.monotonic() - began
    comparison = controller.comparison
    if comparison is None:
        print(f"no model was saved: {controller.error}")
        return 1
    epochs = controller.result.epochs_done if controller.result else 0
    how = "cancelled" if controller.result.stopped else "finished"
    print(f"{args.reviewed} reviewed images, {epochs} epochs in {took:.0f} s ({how})")
    print(f"dialog's comparison on {comparison.images} held-out image(s): {comparison.reason}")
    unseen_json = work / "unseen.json"
    keep = {img["id"] for img in truth["images"] if img["file_name"] in unseen}
    data = {
        **truth,
        "images": [i for i in truth["images"] if i["id"] in keep],
        "annotations": [a for a in truth["annotations"] if a["image_id"] in keep],
    }
    unseen_json.write_text(json.dumps(data))
    print(f"\n{'model':<44} {'held-out AP':>11} {'AP50':>6}   {'unseen AP':>9} {'AP50':>6}")
    for score in (comparison.old, comparison.new):
        if score is None:
            continue
        other = score_checkpoint(score.path, unseen_json, folder, label=score.label)
        held = f"{score.ap:>11.3f} {score.ap50:>6.3f}"
        print(f"{score.label[:44]:<44} {held}   {other.ap:>9.3f} {other.ap50:>6.3f}")
    print(f"(unseen: the {len(unseen)} demo images that were not reviewed)")
    controller.shutdown()
    auto.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
