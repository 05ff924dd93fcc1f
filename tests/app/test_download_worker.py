"""The download worker off the GUI thread: progress, result, failure and cancel as signals."""

from __future__ import annotations

import threading

import detr_model.download as download
from app.workers.download import DownloadWorker


def _collect(worker: DownloadWorker) -> dict[str, list]:
    seen: dict[str, list] = {"progress": [], "result": [], "failed": [], "finished": []}
    worker.progress.connect(lambda done, total, _m: seen["progress"].append((done, total)))
    worker.result.connect(seen["result"].append)
    worker.failed.connect(seen["failed"].append)
    worker.finished.connect(seen["finished"].append)
    return seen


def test_a_download_reports_progress_then_its_file(qtbot, monkeypatch, tmp_path) -> None:
    target = tmp_path / "detr-r50.pth"

    def fake(name, *, progress=None, cancel=None, **_kwargs):
        assert threading.current_thread() is not threading.main_thread()
        progress(50, 100)
        progress(100, 100)
        return target

    monkeypatch.setattr(download, "download_official", fake)
    worker = DownloadWorker("detr-r50")
    seen = _collect(worker)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    assert worker.stop(5)
    assert seen == {
        "progress": [(50, 100), (100, 100)],
        "result": [str(target)],
        "failed": [],
        "finished": [False],
    }


def test_a_failure_is_a_message_and_a_cancel_is_not(qtbot, monkeypatch) -> None:
    def offline(name, **_kwargs):
        raise download.DownloadError("cannot download https://x/detr-r50.pth (no network?)")

    monkeypatch.setattr(download, "download_official", offline)
    worker = DownloadWorker("detr-r50")
    seen = _collect(worker)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    assert worker.stop(5)
    assert seen["failed"] == ["cannot download https://x/detr-r50.pth (no network?)"]
    assert seen["finished"] == [False] and seen["result"] == []


def test_cancel_stops_a_running_download_within_the_stop_time(qtbot, monkeypatch) -> None:
    started = threading.Event()

    def slow(name, *, progress=None, cancel=None, **_kwargs):
        started.set()
        while not cancel():
            progress(1, None)
            threading.Event().wait(0.01)
        raise download.DownloadCancelled("https://x/detr-r50.pth: download cancelled")

    monkeypatch.setattr(download, "download_official", slow)
    worker = DownloadWorker("detr-r50")
    seen = _collect(worker)
    worker.start()
    assert started.wait(5)
    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        assert worker.stop(5)  # cancels and joins the thread
    assert blocker.args == [True]
    assert seen["failed"] == [] and seen["result"] == []
