"""Shared test set-up: Qt offscreen, one math thread per process.

Tests use tiny tensors, where a second thread costs more in hand-over than it gains, and CI has two
cores for the test process and the children some tests start (torchrun, the training CLI).
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
