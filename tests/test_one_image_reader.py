"""The app and the model read image files alike: same limit, same EXIF rule, same messages.

Each case goes through every place that reads an image: the annotation core's header size,
the canvas loader, the Predictor and the training dataset.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from app.workers.image_loader import decode
from detr_model.data.coco import CocoDetection
from detr_model.image_file import MAX_IMAGE_PIXELS, ImageReadError, read_size
from detr_model.image_input import prepare_image


def _png_header(path: Path, width: int, height: int) -> Path:
    """Write a few-hundred-byte PNG that claims width x height (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


def _dataset(folder: Path, name: str) -> CocoDetection:
    """A one-image COCO dataset over `folder / name`."""
    data = {
        "images": [{"id": 1, "file_name": name}],
        "annotations": [],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (folder / "ann.json").write_text(json.dumps(data))
    return CocoDetection(folder, folder / "ann.json")


def _messages(path: Path) -> dict[str, str]:
    """Return the error message each reader of `path` gives, by reader."""
    readers = {
        "annotations": lambda: read_size(path),
        "canvas": lambda: decode(str(path)),
        "predictor": lambda: prepare_image(path, 64, 96),
        "training": lambda: _dataset(path.parent, path.name)[0],
    }
    found = {}
    for where, read in readers.items():
        with pytest.raises((ImageReadError, ValueError)) as info:
            read()
        assert "DecompressionBomb" not in type(info.value).__name__, where
        found[where] = str(info.value)
    return found


def test_a_decompression_bomb_is_refused_by_name_everywhere(tmp_path: Path) -> None:
    bomb = _png_header(tmp_path / "bomb.png", 20_000, 20_000)  # 400 MP in 200 bytes
    assert bomb.stat().st_size < 1000
    messages = _messages(bomb)
    assert set(messages.values()) == {
        f"{bomb}: too large (20000x20000, 400 megapixels; the limit is "
        f"{MAX_IMAGE_PIXELS // 1_000_000})"
    }, messages


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("text.jpg", b"hello", "not an image (unknown or damaged format)"),
        ("empty.png", b"", "not an image (unknown or damaged format)"),
        ("missing.png", None, "file not found"),
    ],
)
def test_a_bad_file_gets_one_message_naming_it_everywhere(
    tmp_path: Path, name: str, content: bytes | None, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert set(_messages(path).values()) == {f"{path}: {problem}"}


def test_images_above_pils_limit_and_within_ours_are_read_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 179-250 MP image opened on the canvas and then failed to auto-annotate; lowering PIL's
    # limit stands in for writing one.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    Image.new("RGB", (30, 20), (200, 10, 10)).save(tmp_path / "wide.png")
    path = tmp_path / "wide.png"
    assert read_size(path) == (30, 20)
    assert (decode(str(path)).image.width(), decode(str(path)).image.height()) == (30, 20)
    assert prepare_image(path, 64, 96).original_size == (20, 30)
    image, target = _dataset(tmp_path, "wide.png")[0]
    assert image.size == (30, 20) and target["orig_size"].tolist() == [20, 30]


def test_exif_orientation_is_applied_alike_by_app_and_model(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    stored = Image.new("RGB", (40, 20), (200, 30, 30))
    stored.paste((30, 30, 200), (0, 0, 20, 5))  # a blue marker in the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored turned 90 degrees clockwise
    stored.save(path, exif=exif.tobytes(), quality=95)
    assert read_size(path) == (20, 40)
    shown = decode(str(path)).image
    assert (shown.width(), shown.height()) == (20, 40)
    prepared = prepare_image(path, 20, 40)  # already that size: nothing resized
    assert prepared.original_size == (40, 20)
    image, _ = _dataset(tmp_path, "photo.jpg")[0]
    assert image.size == (20, 40)
    # The marker is top-right in display orientation, for the canvas and for the model alike.
    assert shown.pixelColor(17, 2).blue() > 150 and shown.pixelColor(2, 2).red() > 150
    pixels = prepared.pixels  # (3, 40, 20) uint8
    assert pixels[2, 2, 17] > 150 and pixels[0, 2, 2] > 150
    assert image.getpixel((17, 2))[2] > 150


def test_grayscale_images_reach_the_canvas_as_one_byte_a_pixel(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    gray = Image.linear_gradient("L").resize((301, 7))  # odd width: Qt pads its lines
    gray.save(path)
    loaded = decode(str(path)).image
    assert (loaded.width(), loaded.height()) == (301, 7)
    assert loaded.sizeInBytes() == loaded.bytesPerLine() * 7 < 301 * 7 * 4
    for x, y in ((0, 0), (150, 3), (300, 6)):
        assert loaded.pixelColor(x, y).red() == gray.getpixel((x, y))
