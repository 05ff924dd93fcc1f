"""The training dialog's rules without a window (app.training_summary), and the app and the
CLI training the same data the same way."""

from __future__ import annotations

from pathlib import Path

from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, new_uid
from app.resource_paths import DEMO_MODEL_PATH
from app.training_snapshot import TrainSettings, cli_arguments, write_snapshot
from app.training_summary import base_kind, data_summary, defaults_for
from detr_model.train_defaults import auto_epochs


def _project(root: Path, boxes: dict[str, int], images: int = 6) -> Project:
    cats = [Category(i + 1, name, "#ff0000") for i, name in enumerate(boxes)]
    project = Project(root=root, categories=cats, next_category_id=len(cats) + 1)
    for i in range(images):
        rec = ImageRecord(f"img{i}.png", 100, 80, ImageStatus.REVIEWED)
        for cat in cats:
            if i < boxes[cat.name]:
                rec.boxes.append(Box(new_uid(), 5 + i, 5, 40 + i, 40, cat.id))
        project.images.append(rec)
    project.reindex()
    return project


def test_the_summary_names_the_split_the_automatic_epochs_and_the_weak_classes(tmp_path):
    project = _project(tmp_path, {"square": 6, "circle": 2, "cross": 0}, images=6)
    summary = data_summary(project, None, None, 4)
    assert summary.text.startswith("6 reviewed images (5 train, 1 held out for AP)")
    assert "boxes: square 6, circle 2, cross 0" in summary.text
    assert summary.text.endswith(f"· {auto_epochs(5, 4)} epochs")
    assert "Few boxes (< 10) for square, circle" in summary.warning
    assert "No boxes for cross: the model will not learn them." in summary.warning
    assert "epochs" not in data_summary(project, None, 30, 4).text  # asked: nothing to show
    assert "all train; AP on the same 6" in data_summary(project, 0.0, None, 4).text
    for rec in project.images:
        rec.status = ImageStatus.PROPOSED
    assert "Mark images reviewed (Space)" in data_summary(project, None, None, 4).warning
    assert data_summary(None, None, None, 4).text == "No folder is open"


def test_the_dialog_defaults_are_the_cli_rules_for_the_same_model() -> None:
    official = {"/cache/detr-r50.pth"}
    assert base_kind("", official) == "none"
    assert base_kind("/cache/detr-r50.pth", official) == "official"
    assert base_kind("/p/.detr-studio/models/model-1.pt", official) == "file"
    assert defaults_for("/cache/detr-r50.pth", official, gpu=False).fast
    assert not defaults_for("/cache/detr-r50.pth", official, gpu=True).fast
    assert not defaults_for("/models/demo.pth", official, gpu=False).fast
    assert not defaults_for("", official, gpu=False).fast_allowed


def test_an_app_run_and_a_cli_run_of_the_same_data_get_the_same_epochs_and_config(tmp_path):
    from detr_model.cli import build_parser
    from detr_model.cli_train import datasets, init_checkpoint, train_config
    from tests.app.training_support import boxed_session

    session = boxed_session(tmp_path / "photos", images=12, reviewed=12)
    settings = TrainSettings(base=str(DEMO_MODEL_PATH), base_label="Demo")
    snap = write_snapshot(session.project, tmp_path / "run", settings)
    app_args = cli_arguments(snap, settings)  # what the dialog runs
    cli_args = list(app_args)
    assert "--image-size" not in app_args  # both train at the size the model was trained at
    for flag in ("--epochs", "--batch-size"):  # a user who leaves these to the CLI
        i = cli_args.index(flag)
        del cli_args[i : i + 2]
    parser = build_parser()
    app_ns, cli_ns = (parser.parse_args(["train", *a]) for a in (app_args, cli_args))
    assert cli_ns.epochs is None and cli_ns.batch_size is None
    checkpoint = init_checkpoint(cli_ns)
    first = train_config(cli_ns, checkpoint, num_images=0)
    train, _val = datasets(cli_ns, first)  # the images the CLI finds, as run_train counts them
    assert len(train) == snap.train_images
    app_config = train_config(app_ns, checkpoint, num_images=len(train))
    cli_config = train_config(cli_ns, checkpoint, num_images=len(train))
    assert app_config.epochs == cli_config.epochs == auto_epochs(snap.train_images, 4)
    assert app_config.to_dict() == cli_config.to_dict()
    shown = data_summary(session.project, settings.val_fraction, None, settings.batch_size)
    assert f"· {cli_config.epochs} epochs" in shown.text  # and the dialog says so beforehand


def test_the_summary_counts_the_replayed_images_into_the_automatic_epochs(tmp_path):
    import json

    project = _project(tmp_path, {"square": 6}, images=6)  # 5 train, 1 held out
    run = tmp_path / "training" / "run-1"
    run.mkdir(parents=True)
    names = [f"img{i}.png" for i in range(3)] + [f"old{i}.png" for i in range(20)]
    images = [{"id": i, "file_name": n, "width": 100, "height": 80} for i, n in enumerate(names)]
    (run / "train.json").write_text(
        json.dumps({"images": images, "annotations": [], "categories": []})
    )
    summary = data_summary(project, None, None, 4, [run])
    assert "· up to 5 images of earlier runs replayed" in summary.text  # as many as new ones
    assert summary.text.endswith(f"· {auto_epochs(10, 4)} epochs")
    assert "replayed" not in data_summary(project, None, None, 4, []).text
