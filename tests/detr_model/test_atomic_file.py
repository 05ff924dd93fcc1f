"""Atomic writes: a failing disk write leaves the old file as it was and no temp file behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from detr_model import atomic_file as atomic
from detr_model.atomic_file import atomic_write_text, remove_stale_temp_files, stale_temp_files


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


def test_a_block_that_fails_keeps_the_old_file_and_raises_its_own_error(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    with pytest.raises(ZeroDivisionError), atomic.atomic_write(path) as f:
        f.write(b"half of the new")
        1 / 0  # noqa: B018
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.pt"]


def test_new_files_get_ordinary_permissions_and_replaced_ones_keep_theirs(tmp_path: Path) -> None:
    fresh = tmp_path / "new.json"
    atomic.atomic_write_json(fresh, {"a": [1, 2]})
    assert json.loads(fresh.read_text()) == {"a": [1, 2]}
    assert fresh.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600
    private = tmp_path / "private.json"
    private.write_text("{}")
    private.chmod(0o600)
    atomic.atomic_write_json(private, [])
    assert private.stat().st_mode & 0o777 == 0o600


def test_checkpoints_dataset_files_and_exports_share_the_writer(tmp_path: Path) -> None:
    # Every writer leaves only its file: the temp files are the one writer's.
    from detr_model.checkpoint import save_checkpoint
    from detr_model.config import ModelConfig
    from detr_model.data.synthetic import generate_shapes_dataset
    from detr_model.detr import build_detr

    model = build_detr(ModelConfig.tiny(num_classes=1))
    path = save_checkpoint(tmp_path / "ckpt" / "m.pt", model, class_names=["x"])
    assert os.listdir(path.parent) == ["m.pt"] and path.stat().st_mode & 0o777 == 0o644
    json_path = generate_shapes_dataset(tmp_path / "shapes", 1, size=32)
    assert [p.name for p in json_path.parent.iterdir() if p.suffix != ".jpg"] == [json_path.name]
