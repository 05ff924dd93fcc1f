"""The one image reader: header sizes with EXIF orientation, decoding with limits, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from detr_model import image_file
from detr_model.image_file import ImageReadError, load_display_image, read_size


def _jpeg_with_orientation(path: Path, size: tuple[int, int], orientation: int) -> None:
    img = Image.new("RGB", size, (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, size[0] // 2, size[1] // 4))  # a marker in the top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, "JPEG", exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("orientation", [1, 3, 5, 6, 7, 8])
def test_read_size_applies_exif_orientation(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "photo.jpg"
    _jpeg_with_orientation(path, (40, 20), orientation)
    expected = (20, 40) if orientation >= 5 else (40, 20)
    assert read_size(path) == expected


def test_read_size_does_not_decode_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "photo.jpg"
    _jpeg_with_orientation(path, (40, 20), 6)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded pixels"))
    assert read_size(path) == (20, 40)


def test_display_image_is_rotated_rgb_matching_read_size(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    _jpeg_with_orientation(path, (40, 20), 6)
    img = load_display_image(path)
    assert img.mode == "RGB" and img.size == (20, 40) == read_size(path)
    assert img.info["full_size"] == (20, 40)
    # orientation 6 = rotate 90 degrees clockwise for display: the top-left marker goes top-right
    assert img.getpixel((18, 2))[2] > 150 and img.getpixel((2, 2))[0] > 150


def test_display_image_converts_grey_and_alpha_to_rgb(tmp_path: Path) -> None:
    Image.new("LA", (8, 6), (100, 255)).save(tmp_path / "a.png")
    Image.new("I;16", (8, 6), 1000).save(tmp_path / "b.tif")
    assert load_display_image(tmp_path / "a.png").mode == "RGB"
    assert load_display_image(tmp_path / "b.tif").size == (8, 6)


def test_max_pixels_reduces_large_images_and_keeps_the_full_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _jpeg_with_orientation(path, (1600, 1200), 8)
    img = load_display_image(path, max_pixels=100_000)
    assert img.width * img.height <= 100_000
    assert img.width < img.height  # rotated
    assert img.info["full_size"] == (1200, 1600)
    png = tmp_path / "big.png"
    Image.new("RGB", (1000, 500)).save(png)
    assert load_display_image(png, max_pixels=20_000).size == (200, 100)


def test_photos_above_the_pil_default_limit_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lower PIL's limit instead of writing a 100-megapixel file: ours must be the one applied.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "photo.png"
    Image.new("RGB", (30, 20)).save(path)
    assert read_size(path) == (30, 20)
    assert load_display_image(path).size == (30, 20)
    assert Image.MAX_IMAGE_PIXELS == 100  # restored


def test_images_above_our_limit_are_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_file, "MAX_IMAGE_PIXELS", 500)
    path = tmp_path / "huge.png"
    Image.new("RGB", (30, 20)).save(path)
    with pytest.raises(ImageReadError, match="huge.png: too large"):
        load_display_image(path)


@pytest.mark.parametrize("keep", [400, -200])  # cut inside the header / inside the pixel data
def test_truncated_jpeg_error_names_the_file(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "img_12.jpg"
    _jpeg_with_orientation(path, (256, 256), 1)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(
        ImageReadError, match=r"photos/img_12.jpg: damaged image \(truncated JPEG\)"
    ):
        load_display_image(path, name="photos/img_12.jpg")


def test_non_images_and_missing_files_raise_image_read_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_text("hello")
    with pytest.raises(ImageReadError, match="fake.jpg: not an image"):
        read_size(path)
    with pytest.raises(ImageReadError, match="gone.png: file not found"):
        load_display_image(tmp_path / "gone.png")


@pytest.mark.parametrize("ext", ["png", "webp", "tiff"])
def test_other_formats_with_exif_orientation_agree_with_the_decoded_size(
    tmp_path: Path, ext: str
) -> None:
    path = tmp_path / f"photo.{ext}"
    exif = Image.Exif()
    exif[0x0112] = 8
    img = Image.new("RGB", (40, 20), (10, 20, 30))
    if ext == "tiff":
        img.save(path, tiffinfo={0x0112: 8})
    else:
        img.save(path, exif=exif.tobytes())
    assert read_size(path) == (20, 40)
    shown = load_display_image(path)
    assert shown.size == shown.info["full_size"] == (20, 40)
