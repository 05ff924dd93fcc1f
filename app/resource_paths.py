"""Where the bundled files are: icons and the demo model, inside the `app` package.

They live in the package (app/resources/) so a checkout, an editable install and a wheel
install all find them the same way, relative to this file.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent / "resources"
ICON_DIR = RESOURCES_DIR / "icons"
MODELS_DIR = RESOURCES_DIR / "models"
DEMO_MODEL_PATH = MODELS_DIR / "demo.pth"


def icon_path(name: str) -> Path:
    """Return the path of the bundled SVG icon `name` (which may not exist)."""
    return ICON_DIR / f"{name}.svg"
