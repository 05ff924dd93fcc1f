"""A disk that is slow but not failing: saving and closing wait; the project never moves."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.annotations import store, store_writer
from app.annotations.commands import AddCategory
from app.annotations.document import ProjectDocument
from app.annotations.store_writer import StillWriting


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))


def _slow_commits(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = store_writer.StoreWriter._transaction

    def slow(self, conn, change):
        time.sleep(seconds)
        return real(self, conn, change)

    monkeypatch.setattr(store_writer.StoreWriter, "_transaction", slow)


def test_a_slow_save_says_still_writing_and_does_not_move_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = ProjectDocument.open_folder(tmp_path)
    where = doc.path
    _slow_commits(monkeypatch, 0.6)
    cmd = AddCategory("cat")
    cmd.redo(doc.project)
    doc.record(cmd.changed)
    with pytest.raises(StillWriting):
        doc.save(timeout=0.1)
    assert doc.path == where and doc.status().error is None
    assert doc.close(timeout=0.1).saved  # close waits for the slow write instead of moving
    assert doc.path == where
    assert [c.name for c in store.load_project(where).categories] == ["cat"]
    assert not store.user_project_file(tmp_path).exists()
