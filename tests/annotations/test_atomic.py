"""Atomic writes: a failing disk write leaves the old file as it was and no temp file behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.annotations import atomic
from app.annotations.atomic import atomic_write_text, remove_stale_temp_files, stale_temp_files
from app.annotations.coco import export_coco
from app.annotations.model import ImageRecord, Project


def test_atomic_write_replaces_the_content(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new ü")
    assert path.read_text(encoding="utf-8") == "new ü"
    assert os.listdir(tmp_path) == ["f.json"]


def test_failed_replace_keeps_the_old_file_and_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.json"
    path.write_text("old")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OSError, match=r"f.json: could not save \(No space left on device\)"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.json"
    path.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="f.json"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_a_failed_coco_export_keeps_the_previous_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(root=tmp_path, images=[ImageRecord("a.jpg", 4, 4)])
    out = tmp_path / "out.json"
    export_coco(project, out)
    old = out.read_text()
    project.images.append(ImageRecord("b.jpg", 4, 4))
    monkeypatch.setattr(atomic.os, "replace", lambda s, d: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        export_coco(project, out)
    assert out.read_text() == old


def test_old_leftover_temp_files_are_found_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "project.json"
    old = tmp_path / ".project.json.abc123.tmp"
    fresh = tmp_path / ".project.json.def456.tmp"
    other = tmp_path / ".other.json.x.tmp"
    for f in (old, fresh, other):
        f.write_text("partial")
    hour_ago = time.time() - 7200
    os.utime(old, (hour_ago, hour_ago))
    assert stale_temp_files(path) == [old]
    assert remove_stale_temp_files(path) == 1
    assert not old.exists() and fresh.exists() and other.exists()
