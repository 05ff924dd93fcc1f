"""The window fixtures of tests/app for the reliability cases that drive the window."""

from tests.app.conftest import image_folder, settings, window  # noqa: F401
