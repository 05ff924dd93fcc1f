"""The session's hand-over to the project database: user edits at once, model results of one
event-loop pass as one transaction, counts kept by the store, the title clean once on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.annotations import store, store_writer
from app.annotations.commands import SetProposals
from app.annotations.document import open_target
from app.annotations.model import Proposal
from app.session import Session
from tests.app.conftest import write_images


@pytest.fixture
def session(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))
    folder = tmp_path / "photos"
    write_images(folder, count=30)
    s = Session()
    s.open_folder(folder)
    yield s
    assert s.close_project().saved


def _count_transactions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    real = store_writer.StoreWriter._transaction
    calls: list[int] = []

    def counted(self, conn, change):
        calls.append(len(change.images))
        return real(self, conn, change)

    monkeypatch.setattr(store_writer.StoreWriter, "_transaction", counted)
    return calls


def test_model_results_of_one_pass_are_one_transaction(qtbot, session, monkeypatch) -> None:
    assert session.autosave_now() is not None
    calls = _count_transactions(monkeypatch)
    cat = session.add_category("thing").id
    assert session.autosave_now() is not None
    calls.clear()
    paths = [rec.path for rec in session.project.images]
    for k, path in enumerate(paths):  # as the inference worker's results arrive
        props = [Proposal(f"p{k}-{j}", j, j, j + 9, j + 9, cat, 0.5) for j in range(5)]
        assert session.apply_outside_history(SetProposals(path, props))
    assert calls == []  # nothing handed over yet: the window's thread went on
    qtbot.waitUntil(lambda: not session.is_dirty(), timeout=5000)
    assert calls == [len(paths)]
    on_disk = store.load_project(session.project_file)
    assert all(len(rec.proposals) == 5 for rec in on_disk.images)


def test_a_batch_is_one_transaction_and_counts_follow_it(qtbot, session, monkeypatch) -> None:
    cat = session.add_category("thing").id
    assert session.autosave_now() is not None
    calls = _count_transactions(monkeypatch)
    with session.batch():
        for path in ("img0.png", "img1.png", "img2.png"):
            session.set_current(path)
            session.add_box((1, 1, 20, 20), cat)
    assert session.autosave_now() is not None
    assert len(calls) == 1
    assert session.project.box_counts() == {cat: 3}
    assert sum(session.project.status_counts().values()) == 30


def test_the_title_stays_clean_for_an_edit_that_reaches_the_disk(qtbot, session) -> None:
    seen = []
    session.dirty_changed.connect(seen.append)
    session.add_category("thing")
    qtbot.waitUntil(lambda: not session.is_dirty(), timeout=2000)
    qtbot.wait(2 * 25)  # two polls more
    assert True not in seen  # a commit of a few ms never flashes "*" in the title


def test_dropped_paths_are_told_apart(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    write_images(folder, count=1)
    (tmp_path / "coco.json").write_text("{}")
    (tmp_path / "project.sqlite").write_bytes(b"")
    assert open_target(folder) == ("folder", folder.resolve())
    assert open_target(folder / "img0.png")[0] == "image"
    assert open_target(tmp_path / "project.sqlite")[0] == "project"
    assert open_target(tmp_path / "coco.json")[0] == "coco"
    with pytest.raises(FileNotFoundError):
        open_target(tmp_path / "missing")
