"""Every kind of image file, through every reader: the annotation core's header size, the
canvas loader, the Predictor and the training dataset; then through the window and a training
snapshot when files are deleted, truncated or replaced while the project is open.
(Decompression bombs, missing files and EXIF orientation alike everywhere are in
tests/test_one_image_reader.py.)"""

from __future__ import annotations

import builtins
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.annotations.coco import build_coco
from app.annotations.images import scan_folder
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project
from app.training_snapshot import TrainSettings, write_snapshot
from app.workers.image_loader import decode
from detr_model.data.coco import CocoDetection, DatasetError
from detr_model.image_file import ImageReadError, read_size
from detr_model.image_input import prepare_image
from tests.app import conftest as app_fixtures
from tests.app.conftest import open_and_wait, wait_shown

settings, window = app_fixtures.settings, app_fixtures.window  # the window tests' fixtures
SIZE = (40, 30)  # stored (width, height)


def _sixteen_bit(path: Path) -> tuple[int, int, int]:
    """A 16-bit greyscale PNG at 1/4 of full scale: 8-bit grey 64, not clipped white."""
    Image.fromarray(np.full(SIZE[::-1], 16384, dtype=np.uint16)).save(path)
    return (64, 64, 64)


def _cmyk(path: Path) -> tuple[int, int, int]:
    Image.new("CMYK", SIZE, (0, 255, 255, 0)).save(path, quality=95)  # red in ink
    return (255, 0, 0)


def _palette_alpha(path: Path) -> tuple[int, int, int]:
    image = Image.new("P", SIZE, 1)
    image.putpalette([0, 0, 0, 20, 200, 40] + [0] * 762)
    image.save(path, transparency=0)
    return (20, 200, 40)


def _grey(path: Path) -> tuple[int, int, int]:
    Image.new("L", SIZE, 90).save(path, quality=95)
    return (90, 90, 90)


def _rgba(path: Path) -> tuple[int, int, int]:
    Image.new("RGBA", SIZE, (200, 100, 50, 128)).save(path)
    # Half transparent: shown over white, as image viewers do (issue 19).
    return tuple(round((c * 128 + 255 * 127) / 255) for c in (200, 100, 50))


GOOD = {
    "16-bit PNG": ("deep.png", _sixteen_bit),
    "CMYK JPEG": ("print.jpg", _cmyk),
    "palette and alpha PNG": ("palette.png", _palette_alpha),
    "grayscale JPEG": ("grey.jpg", _grey),
    "RGBA PNG": ("alpha.png", _rgba),
    "non-ASCII name with spaces": ("été 写真 (1).png", _rgba),
}


def _dataset(folder: Path, name: str, **options) -> CocoDetection:
    data = {
        "images": [{"id": 1, "file_name": name}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 12]}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (folder / "ann.json").write_text(json.dumps(data))
    return CocoDetection(folder, folder / "ann.json", **options)


def _close(colour, expected, tolerance: int = 3) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(colour, expected, strict=True))


@pytest.mark.parametrize("kind", list(GOOD))
def test_every_reader_sees_the_same_size_and_colour(tmp_path: Path, kind: str) -> None:
    name, make = GOOD[kind]
    path = tmp_path / name
    expected = make(path)
    assert read_size(path) == SIZE
    assert scan_folder(tmp_path) == [name]  # listed by its real name
    shown = decode(str(path)).image
    assert (shown.width(), shown.height()) == SIZE
    colour = shown.pixelColor(5, 5)
    assert _close((colour.red(), colour.green(), colour.blue()), expected), kind
    prepared = prepare_image(path, 30, 40)  # its own size: nothing resized
    assert prepared.original_size == SIZE[::-1]
    assert _close(prepared.pixels[:, 5, 5].tolist(), expected), kind
    image, target = _dataset(tmp_path, name)[0]
    assert image.size == SIZE and image.mode == "RGB"
    assert _close(image.getpixel((5, 5)), expected), kind
    assert target["boxes"].tolist() == [[2.0, 3.0, 12.0, 15.0]]


def _truncated_jpeg(path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    data = io.BytesIO()
    Image.fromarray(pixels).save(data, "JPEG")
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])


BAD = {
    "0-byte file": ("empty.jpg", lambda p: p.write_bytes(b""), "not an image"),
    "text named .jpg": ("notes.jpg", lambda p: p.write_text("not a photo"), "not an image"),
    "truncated JPEG": ("cut.jpg", _truncated_jpeg, "damaged image (truncated JPEG)"),
    "a folder named .png": ("folder.png", lambda p: p.mkdir(), "cannot read"),
}


def _readers(path: Path) -> dict[str, object]:
    return {
        "canvas": lambda: decode(str(path)),
        "predictor": lambda: prepare_image(path, 32, 64),
        "training": lambda: _dataset(path.parent, path.name)[0],
    }


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_file_is_named_with_its_problem_by_every_reader(tmp_path: Path, kind: str) -> None:
    name, make, problem = BAD[kind]
    path = tmp_path / name
    make(path)
    readers = _readers(path)
    if kind != "truncated JPEG":  # its header is whole: the size reads, the pixels do not
        readers["header"] = lambda: read_size(path)
    for where, read in readers.items():
        with pytest.raises((ImageReadError, DatasetError)) as info:
            read()
        assert str(info.value).startswith(f"{path}: {problem}"), (where, str(info.value))


def test_an_unreadable_file_is_named_as_unreadable_by_every_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", SIZE).save(path)
    path.chmod(0)
    real_open = builtins.open
    if os.access(path, os.R_OK):  # root reads anything: refuse it as a file system would

        def refusing_open(file, *args, **kwargs):
            if os.fspath(file) == os.fspath(path):
                raise PermissionError(13, "Permission denied", os.fspath(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refusing_open)
    readers = {**_readers(path), "header": lambda: read_size(path)}
    for where, read in readers.items():
        with pytest.raises((ImageReadError, DatasetError)) as info:
            read()
        assert str(info.value) == f"{path}: cannot read (Permission denied)", where


def test_exif_rotated_boxes_and_sizes_stay_in_display_orientation_through_training(
    tmp_path: Path,
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 80x40, shown 40x80
    Image.new("RGB", (80, 40), (10, 200, 10)).save(tmp_path / "photo.jpg", exif=exif.tobytes())
    project = Project(
        root=tmp_path,
        categories=[Category(1, "thing", "#ff0000")],
        images=[
            ImageRecord(
                "photo.jpg",
                status=ImageStatus.REVIEWED,
                boxes=[Box("b", 5, 50, 30, 75, 1)],  # lower half: only inside a 40x80 image
            )
        ],
    )
    snapshot = write_snapshot(project, tmp_path / "run", TrainSettings(val_fraction=0))
    written = json.loads(snapshot.train_json.read_text())
    assert (written["images"][0]["width"], written["images"][0]["height"]) == (40, 80)
    assert written["annotations"][0]["bbox"] == [5, 50, 25, 25]
    data = CocoDetection(tmp_path, snapshot.train_json, labels="contiguous")
    image, target = data[0]
    assert image.size == (40, 80) and target["orig_size"].tolist() == [80, 40]
    assert target["boxes"].tolist() == [[5.0, 50.0, 30.0, 75.0]]
    assert prepare_image(tmp_path / "photo.jpg", 40, 80).original_size == (80, 40)


def _reviewed_project(root: Path, count: int = 5) -> Project:
    names = app_fixtures.write_images(root, count=count)
    w, h = app_fixtures.IMAGE_SIZE
    records = [
        ImageRecord(n, w, h, ImageStatus.REVIEWED, boxes=[Box(f"b{i}", 10, 10, 50, 40, 1)])
        for i, n in enumerate(names)
    ]
    return Project(root=root, categories=[Category(1, "thing", "#ff0000")], images=records)


def test_a_snapshot_leaves_out_deleted_truncated_and_replaced_images_and_names_them(
    tmp_path: Path,
) -> None:
    root = tmp_path / "photos"
    project = _reviewed_project(root)
    (root / "img1.png").unlink()
    (root / "img2.png").write_bytes((root / "img0.png").read_bytes()[:20])  # cut inside its header
    Image.new("RGB", (30, 30)).save(root / "img3.png")  # replaced by another picture
    snapshot = write_snapshot(project, tmp_path / "run", TrainSettings(val_fraction=0))
    written = json.loads(snapshot.train_json.read_text())
    assert sorted(i["file_name"] for i in written["images"]) == ["img0.png", "img4.png"]
    assert {a["image_id"] for a in written["annotations"]} == {i["id"] for i in written["images"]}
    assert snapshot.train_images == 2
    problems = "\n".join(snapshot.left_out)
    assert "img1.png: file not found" in problems
    assert "img2.png: " in problems
    assert "img3.png: 30x30 on disk but 160x120 when annotated" in problems
    record = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert record["skipped_images"] == snapshot.left_out
    # The project itself is untouched: nothing the user made is lost.
    assert [len(r.boxes) for r in project.images] == [1] * 5
    data, _ = build_coco(project)
    assert len(data["images"]) == 5  # an export still lists what the user annotated


def test_a_snapshot_whose_images_are_all_gone_says_so(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    project = _reviewed_project(root, count=2)
    for rec in project.images:
        (root / rec.path).unlink()
    with pytest.raises(ValueError, match="None of the reviewed images can be read, e.g. img0.png"):
        write_snapshot(project, tmp_path / "run", TrainSettings())


def test_an_image_deleted_or_replaced_while_open_is_reported_and_its_boxes_kept(
    qtbot, window, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    app_fixtures.write_images(root, count=4)
    open_and_wait(qtbot, window, root)
    session = window.session
    project = session.project
    project.add_category("thing")
    session.project.image("img2.png").boxes.append(Box("kept", 1, 1, 9, 9, 1))
    (root / "img2.png").unlink()
    Image.new("RGB", (64, 64), (250, 250, 0)).save(root / "img3.png")
    window.loader.forget()  # as after the cache let them go
    with qtbot.waitSignal(window.canvas.image_failed, timeout=5000):
        session.set_current("img2.png")
    assert "img2.png: file not found" in window.statusBar().currentMessage()
    assert [b.uid for b in project.image("img2.png").boxes] == ["kept"]
    session.set_current("img3.png")
    wait_shown(qtbot, window, "img3.png")
    assert project.image("img3.png").size == (64, 64)  # the size on disk now
    assert window.canvas.scene.image_size() == (64, 64)
