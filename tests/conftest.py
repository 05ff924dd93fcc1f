"""Shared test set-up: Qt offscreen, one math thread per process, no project left open.

Tests use tiny tensors, where a second thread costs more in hand-over than it gains, and CI has two
cores for the test process and the children some tests start (torchrun, the training CLI).
"""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _close_project_stores():
    """Stop the writer threads of project databases a test left open (and free their locks)."""
    yield
    from app.annotations.project_store import open_stores

    for leftover in open_stores():
        if not leftover.close(timeout=5.0):
            leftover.abandon()
