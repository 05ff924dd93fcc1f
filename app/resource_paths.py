"""Where the bundled files are: the icons and the demo model, in the top-level `resources/`.

In a checkout (and an editable install) they are `resources/` beside the `app` package; a
wheel installs the same folder as package data inside the package (`app/resources/`, mapped
in pyproject.toml), so both layouts are looked for, the installed one first.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "resources"
_CHECKOUT = _PACKAGE.parent / "resources"

RESOURCES_DIR = _INSTALLED if _INSTALLED.is_dir() else _CHECKOUT
ICON_DIR = RESOURCES_DIR / "icons"
MODELS_DIR = RESOURCES_DIR / "models"
DEMO_MODEL_PATH = MODELS_DIR / "demo.pth"


def icon_path(name: str) -> Path:
    """Return the path of the bundled SVG icon `name` (which may not exist)."""
    return ICON_DIR / f"{name}.svg"
