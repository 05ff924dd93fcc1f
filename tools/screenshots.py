"""Take screenshots of the real main window with a generated demo folder and a few boxes.

Usage:
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python tools/screenshots.py
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python tools/screenshots.py --scene proposals
    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshots.py --out /tmp/shot.png
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python tools/screenshots.py --scene welcome

Scenes: "main" (docs/screenshots/main_window.png), "proposals" (docs/screenshots/proposals.png:
model proposals under review, the confidence slider filtering one out, the list sorted least
confident first) and "training" (docs/screenshots/training.png: the training dialog during a real
run of the tiny model on the reviewed demo images, caught after a few epochs, then cancelled),
"comparison" (docs/screenshots/comparison.png: five reviewed images and every default, as a new
user would: the run is cancelled after a while and the dialog shows the model in use and the
new model scored on the same held-out image, with its recommendation) and "export"
(docs/screenshots/export.png: File → Export Dataset for YOLO with a split).

"welcome" (docs/screenshots/welcome.png) is the window of a first run: no project open, the
welcome page with a few recent projects. "demo" (docs/screenshots/demo_auto_annotate.png) opens
the demo project and auto-annotates it with the bundled model: the proposals are its own.

The window is drawn with QWidget.grab(), so the picture is the same under Xvfb, offscreen or a
desktop. Settings go to a temporary file; the demo images are written to a temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from app.pyside_refcount_guard import protect_singletons  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ("circle", "square", "triangle")
COLOURS = ((230, 80, 60), (60, 160, 90), (70, 110, 220), (240, 190, 40), (160, 70, 190))


def demo_folder(folder: Path, count: int = 12, seed: int = 7) -> dict[str, list[tuple]]:
    """Write `count` shape images; return {file name: [(shape, x1, y1, x2, y2), …]}."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, list[tuple]] = {}
    for i in range(count):
        w, h = 960, 640
        top = tuple(rng.randint(150, 230) for _ in range(3))
        bottom = tuple(rng.randint(40, 120) for _ in range(3))
        img = Image.new("RGB", (w, h))
        draw = ImageDraw.Draw(img)
        for y in range(h):
            t = y / h
            draw.line(
                [(0, y), (w, y)],
                fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
            )
        img = img.filter(ImageFilter.GaussianBlur(1))
        draw = ImageDraw.Draw(img)
        objects = []
        wanted = rng.randint(4, 6)
        for _ in range(200):
            if len(objects) == wanted:
                break
            shape = rng.choice(SHAPES)
            side = rng.randint(90, 200)
            x, y = rng.randint(20, w - side - 20), rng.randint(20, h - side - 20)
            if any(
                not (x + side < a or a2 < x or y + side < b or b2 < y)
                for _, a, b, a2, b2 in objects
            ):
                continue
            colour = rng.choice(COLOURS)
            if shape == "circle":
                draw.ellipse([x, y, x + side, y + side], fill=colour, outline=(20, 20, 20), width=3)
            elif shape == "square":
                draw.rectangle(
                    [x, y, x + side, y + side], fill=colour, outline=(20, 20, 20), width=3
                )
            else:
                draw.polygon([(x + side / 2, y), (x + side, y + side), (x, y + side)], fill=colour)
            objects.append((shape, x, y, x + side, y + side))
        name = f"scene_{i + 1:02d}.jpg"
        img.save(folder / name, quality=90)
        truth[name] = objects
    return truth


def wait_for(app, test, timeout_s: float = 10.0) -> None:
    """Process events until `test()` holds (TimeoutError otherwise)."""
    deadline = time.monotonic() + timeout_s
    while not test():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.005)


def proposals_scene(window, app, truth: dict[str, list[tuple]], cats: dict) -> None:
    """Show an image under review: model proposals, one selected, the slider hiding a weak one."""
    from app.annotations.commands import SetProposals
    from app.annotations.model import Proposal, new_uid

    session = window.session
    rng = random.Random(3)
    names = list(truth)
    # The images after the reviewed ones got proposals from a run; scores vary per image.
    for k, name in enumerate(names[5:], start=5):
        props = []
        for shape, *rect in truth[name]:
            jitter = [v + rng.uniform(-6, 6) for v in rect]
            score = min(0.98, max(0.12, rng.gauss(0.8 - 0.04 * k, 0.15)))
            props.append(Proposal(new_uid(), *jitter, cats[shape].id, score=score))
        session.apply_outside_history(SetProposals(name, props))
    shown = names[6]
    objects = truth[shown]
    scores = (0.97, 0.88, 0.64, 0.41, 0.22, 0.9)
    wrong = {2: "circle"}  # one proposal has the wrong class: the user will fix it
    props = []
    for k, (shape, *rect) in enumerate(objects):
        jitter = [v + rng.uniform(-5, 5) for v in rect]
        cid = cats[wrong.get(k, shape)].id
        props.append(Proposal(new_uid(), *jitter, cid, score=scores[k % len(scores)]))
    # A weak false positive on the background: the slider at 0.30 hides it.
    props.append(Proposal(new_uid(), 40, 420, 150, 520, cats["square"].id, score=0.22))
    session.apply_outside_history(SetProposals(shown, props))
    session.set_current(shown)
    wait_for(app, lambda: window.canvas.shown_path() == shown)
    window.auto_ui.slider.set_threshold(0.30)
    window.image_list.sort_box.setCurrentText("Least confident first")
    window.canvas.scene.select_uids([props[3].uid])


def training_scene(window, app, truth: dict[str, list[tuple]], cats: dict, epochs: int = 4):
    """Review 10 images, start a real training run, return the dialog after `epochs` epochs."""
    from app.annotations.model import ImageStatus

    session = window.session
    names = list(truth)
    for name in names[5:11]:  # 0-3 are reviewed already, 4 is the one under review
        session.set_current(name)
        for shape, *rect in truth[name]:
            session.add_box(tuple(rect), cats[shape].id)
    session.set_status(names[:4] + names[5:11], ImageStatus.REVIEWED)
    window.show_training_dialog()
    dialog = window.training_dialog
    dialog.epochs_spin.setValue(40)
    dialog.batch_spin.setValue(2)
    dialog.resize(980, 760)
    if not dialog.start():
        raise RuntimeError(f"training did not start: {window.training.error}")
    controller = window.training
    wait_for(app, lambda: len(controller.epochs) >= epochs or not controller.is_running(), 600)
    if not controller.is_running():
        raise RuntimeError(f"training ended early: {controller.error}")
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    return dialog


def export_scene(window, app):
    """Show File → Export Dataset for YOLO with a train/val/test split; return the dialog."""
    from app.dialogs.export_dialog import ExportDialog

    dialog = ExportDialog(window.session.project.root, "yolo", window)
    dialog.split_check.setChecked(True)
    dialog.train_spin.setValue(70)
    dialog.val_spin.setValue(20)
    dialog.test_spin.setValue(10)
    dialog.only_reviewed.setChecked(True)
    dialog.show()
    for _ in range(30):
        app.processEvents()
        time.sleep(0.01)


def comparison_scene(window, app, truth, cats, seconds: float = 90.0):
    """Review one more image (five in all), train with the defaults from the demo model in use,
    cancel after `seconds`, return the dialog once both models are scored."""
    from app.annotations.model import ImageStatus

    session = window.session
    name = list(truth)[5]
    session.set_current(name)
    for shape, *rect in truth[name]:
        session.add_box(tuple(rect), cats[shape].id)
    session.set_status([name], ImageStatus.REVIEWED)
    window.show_training_dialog()
    dialog = window.training_dialog
    dialog.resize(980, 820)
    if not dialog.start():
        raise RuntimeError(f"training did not start: {window.training.error}")
    controller = window.training
    deadline = time.monotonic() + seconds
    wait_for(app, lambda: time.monotonic() > deadline or not controller.is_running(), 900)
    controller.cancel()
    wait_for(app, lambda: controller.comparison is not None, 600)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    logging.info("comparison: %s", controller.comparison.reason)
    return dialog


def welcome_scene(out: Path, size: str) -> int:
    """Draw the window of a first run (welcome page, three recent projects) into `out`."""
    import os

    logging.basicConfig(level=logging.INFO)
    tmp = Path(tempfile.mkdtemp(prefix="detr-studio-shots-"))
    home = tmp / "home"
    os.environ["HOME"] = str(home)  # the page shows folders under ~ as ~/…
    recent = [
        home / "datasets" / "warehouse-pallets",
        home / "photos" / "birds-2024",
        home / ".local" / "share" / "detr-studio" / "demo-project",
    ]
    protect_singletons()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import Settings

    app = create_application([sys.argv[0]])
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    for folder in reversed(recent):  # the first one is the newest
        folder.mkdir(parents=True)
        settings.add_recent_project(folder)
    window = MainWindow(settings)
    width, height = (int(v) for v in size.split("x"))
    window.resize(width, height)
    window.show()
    window.first_run.update_page()
    wait_for(app, window.first_run.is_showing)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = window.grab().save(str(out))
    window.close()
    window.loader.shutdown()
    if not saved:
        logging.error("could not write %s", out)
        return 1
    logging.info("wrote %s (%s)", out, QApplication.platformName())
    return 0


def demo_scene(out: Path, size: str) -> int:
    """Open the demo project, auto-annotate it with the bundled model, draw the window."""
    logging.basicConfig(level=logging.INFO)
    tmp = Path(tempfile.mkdtemp(prefix="detr-studio-shots-"))
    protect_singletons()
    from PySide6.QtCore import QSettings

    from app.application import create_application
    from app.demo_project import create_demo_project
    from app.main_window import MainWindow
    from app.settings import Settings

    app = create_application([sys.argv[0]])
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    folder = tmp / "demo-project"
    create_demo_project(folder)
    window = MainWindow(settings)
    width, height = (int(v) for v in size.split("x"))
    window.resize(width, height)
    window.show()
    window.open_path(folder)
    finished: list[int] = []
    window.auto.run_finished.connect(lambda done, _cancelled: finished.append(done))
    if not window.auto.run_unreviewed():
        raise RuntimeError("auto-annotate did not start")
    wait_for(app, lambda: bool(finished), 300)
    names = [rec.path for rec in window.session.project.images]
    window.session.set_current(names[2])
    wait_for(app, lambda: window.canvas.shown_path() == names[2])
    window.canvas.view.fit()
    for _ in range(30):
        app.processEvents()
        time.sleep(0.01)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = window.grab().save(str(out))
    logging.info("auto-annotated %d images; wrote %s (%s)", finished[0], out, app.platformName())
    window.session.undo_stack.set_clean()
    window.close()
    window.loader.shutdown()
    window.auto.shutdown()
    return 0 if saved else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scene",
        choices=("main", "proposals", "training", "comparison", "export", "welcome", "demo"),
        default="main",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--size", default="1400x860", help="window size WxH")
    args = parser.parse_args()
    if args.scene == "welcome":
        return welcome_scene(args.out or ROOT / "docs" / "screenshots" / "welcome.png", args.size)
    if args.scene == "demo":
        out = args.out or ROOT / "docs" / "screenshots" / "demo_auto_annotate.png"
        return demo_scene(out, args.size)
    if args.out is None:
        name = {"main": "main_window.png"}.get(args.scene, f"{args.scene}.png")
        args.out = ROOT / "docs" / "screenshots" / name
    logging.basicConfig(level=logging.INFO)
    protect_singletons()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.annotations.commands import SetProposals
    from app.annotations.model import ImageStatus, Proposal, new_uid
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="detr-studio-shots-"))
    truth = demo_folder(tmp / "shapes-demo")
    app = create_application([sys.argv[0]])
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    window.open_path(tmp / "shapes-demo")
    session = window.session
    wait_for(app, lambda: window.canvas.shown_path() == "scene_01.jpg")

    cats = {name: session.add_category(name) for name in SHAPES}
    # Earlier images: annotated and reviewed, so the list shows progress.
    for name in list(truth)[:4]:
        session.set_current(name)
        for shape, *rect in truth[name]:
            session.add_box(tuple(rect), cats[shape].id)
        session.set_status([name], ImageStatus.REVIEWED)
    # The image on screen: two boxes drawn, one selected, the rest waiting as model proposals.
    current = list(truth)[4]
    session.set_current(current)
    wait_for(app, lambda: window.canvas.shown_path() == current)
    objects = truth[current]
    for shape, *rect in objects[:2]:
        session.add_box(tuple(rect), cats[shape].id)
    proposals = [
        Proposal(new_uid(), *(v + 3 for v in rect), cats[shape].id, score=0.91 - 0.2 * k)
        for k, (shape, *rect) in enumerate(objects[2:])
    ]
    session.push(SetProposals(current, proposals))  # drawn dashed with their scores
    record = session.project.image(current)
    window.canvas.scene.select_uids([record.boxes[0].uid])
    shot = window
    if args.scene == "proposals":
        proposals_scene(window, app, truth, cats)
    elif args.scene == "training":
        shot = training_scene(window, app, truth, cats)
    elif args.scene == "export":
        shot = export_scene(window, app)
    elif args.scene == "comparison":
        shot = comparison_scene(window, app, truth, cats)
    window.canvas.view.fit()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not shot.grab().save(str(args.out)):
        logging.error("could not write %s", args.out)
        return 1
    logging.info("wrote %s (%s)", args.out, QApplication.platformName())
    if window.training.is_running():
        window.training.cancel()
        wait_for(app, lambda: not window.training.is_running(), 30)
    window.training.shutdown()  # a comparison still scoring stops
    session.undo_stack.set_clean()
    window.close()
    window.loader.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
