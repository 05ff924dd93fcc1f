"""Shared fixtures of the model library's tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """Run the test on one torch thread: two cores shared by several jobs stall when
    oversubscribed. Modules that train ask for it with `pytestmark`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
