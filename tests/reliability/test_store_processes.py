"""Project store faults with real processes: kill -9 in a loop, a disk that fills up half-way
through a write, and a second process on the same project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.annotations import store
from app.annotations.commands import AddBox, AddCategory
from app.annotations.document import ProjectDocument
from app.annotations.model import Box
from app.annotations.project_lock import ProjectLockedError
from tests.reliability.kill_loop import ROOT, run_kill_loop

# The tool runs the full 50 kills (tools/store_kill_loop.py); CI runs 10, about 7 s.
CI_KILLS = 10


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))


def _child(module: str, *args: str, env_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), store.DATA_DIR_ENV: str(env_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", f"tests.reliability.{module}", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_during_edits_saves_and_a_move_never_loses_a_reported_edit(tmp_path: Path) -> None:
    # The move once failed this: after it, reopening picked the folder's old database again.
    result = run_kill_loop(tmp_path / "photos", CI_KILLS, seed=7, move_at=120)
    assert result.problems == []
    assert result.kills == CI_KILLS
    assert all(
        found >= reported for found, reported in zip(result.found, result.reported, strict=True)
    )
    assert result.edits > 120  # the child really edited between the kills, and moved
    assert store.user_project_file(tmp_path / "photos").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_disk_full_half_way_through_a_write_keeps_the_old_database(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(20):
        (folder / f"img{k:02d}.jpg").write_bytes(b"")
    doc = ProjectDocument.open_folder(folder)
    for cmd in (AddCategory("cat"), AddBox("img00.jpg", Box("b1", 1, 2, 30, 40, 1))):
        cmd.redo(doc.project)
        doc.record(cmd.changed)
    assert doc.close().saved
    child = _child("full_disk_child", str(folder), str(200_000), env_dir=tmp_path / "userdata")
    try:
        failed = child.stdout.readline()
        rescue = child.stdout.readline()
        assert failed.startswith("failed") and "could not save" in failed, child.stderr.read()
        assert rescue.startswith("rescue failed") and "Save As" in rescue
        # While the child's writes fail, the file on disk is the old project, whole.
        during = store.load_project(store.default_project_file(folder))
        assert [b.uid for b in during.image("img00.jpg").boxes] == ["b1"]
        assert all(not rec.proposals for rec in during.images)
        out, err = child.communicate("go\n", timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert "saved True" in out and "closed True" in out, err
    after = store.load_project(store.default_project_file(folder))
    assert all(len(rec.proposals) == 300 for rec in after.images)
    assert [b.uid for b in after.image("img00.jpg").boxes] == ["b1"]


def test_a_second_process_is_refused_while_the_first_has_the_project(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    holder = _child("hold_project", str(folder), env_dir=tmp_path / "userdata")
    try:
        assert holder.stdout.readline().strip() == "open", holder.stderr.read()
        with pytest.raises(ProjectLockedError, match=rf"open in another .*process {holder.pid}"):
            ProjectDocument.open_folder(folder)
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    doc = ProjectDocument.open_folder(folder)  # free once the first one closed
    assert [c.name for c in doc.project.categories] == ["from the other process"]
    doc.close()
