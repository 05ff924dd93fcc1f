"""Folder scan: image names in natural order, without opening a file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from app.annotations.images import natural_key, scan_folder


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_scan_sorts_naturally_and_matches_extensions_in_any_case(tmp_path: Path) -> None:
    _touch(tmp_path, "img10.jpg", "img2.JPG", "img1.png", "b.TIFF", "c.webp", "d.bmp", "e.Jpeg")
    _touch(tmp_path, "notes.txt", "img3.gif", "f.tif")
    assert scan_folder(tmp_path) == [
        "b.TIFF",
        "c.webp",
        "d.bmp",
        "e.Jpeg",
        "f.tif",
        "img1.png",
        "img2.JPG",
        "img10.jpg",
    ]


def test_scan_recurses_only_when_asked_and_skips_hidden_and_project_folders(
    tmp_path: Path,
) -> None:
    _touch(tmp_path, "a.jpg", "sub/b.jpg", "sub/deeper/c.jpg", "sub2/d.jpg")
    _touch(tmp_path, ".hidden/x.jpg", ".detr-studio/thumb.jpg", "._a.jpg", "sub/.y.jpg")
    (tmp_path / "folder.jpg").mkdir()  # a folder with an image-like name is not an image
    assert scan_folder(tmp_path) == ["a.jpg"]
    assert scan_folder(tmp_path, recursive=True) == [
        "a.jpg",
        "sub/b.jpg",
        "sub/deeper/c.jpg",
        "sub2/d.jpg",
    ]


def test_natural_order_compares_folder_by_folder() -> None:
    paths = ["s10/a.jpg", "s2/b.jpg", "S2/a.jpg", "img001.jpg", "img1.jpg", "x.jpg"]
    assert sorted(paths, key=natural_key) == [
        "img001.jpg",
        "img1.jpg",
        "S2/a.jpg",
        "s2/b.jpg",
        "s10/a.jpg",
        "x.jpg",
    ]


def test_scan_of_ten_thousand_files_is_fast_and_opens_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _touch(tmp_path, *(f"img{i}.jpg" for i in range(10_000)))
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("scan opened a file"))
    start = time.perf_counter()
    paths = scan_folder(tmp_path)
    elapsed = time.perf_counter() - start
    assert len(paths) == 10_000
    assert paths[:3] == ["img0.jpg", "img1.jpg", "img2.jpg"] and paths[-1] == "img9999.jpg"
    assert elapsed < 1.0


def test_scan_of_a_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="nope"):
        scan_folder(tmp_path / "nope")
