"""Shared test set-up: Qt offscreen, one math thread per process, no project left open.

Tests use tiny tensors, where a second thread costs more in hand-over than it gains, and CI has two
cores for the test process and the children some tests start (torchrun, the training CLI).
"""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def export_cache(tmp_path_factory):
    """Models exported for ONNX Runtime / OpenVINO go to a folder of this test run, not the
    user's cache; one folder for the run, so tests that build the same model export it once."""
    folder = tmp_path_factory.mktemp("exported")
    before = os.environ.get("DETR_EXPORT_CACHE")
    os.environ["DETR_EXPORT_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("DETR_EXPORT_CACHE", None)
    else:
        os.environ["DETR_EXPORT_CACHE"] = before


@pytest.fixture(autouse=True)
def _close_project_stores():
    """Stop the writer threads of project databases a test left open (and free their locks)."""
    yield
    from app.annotations.project_store import open_stores

    for leftover in open_stores():
        if not leftover.close(timeout=5.0):
            leftover.abandon()
