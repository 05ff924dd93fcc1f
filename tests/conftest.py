"""Shared test set-up: Qt offscreen, small thread counts for a 2-core machine."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
