"""What pyproject.toml installs: every package, and resources/ as the app's package data."""

from __future__ import annotations

import sys
from pathlib import Path

from app import resource_paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_installed() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("app", "detr_model")
        for init in (ROOT / top).rglob("__init__.py")
    }
    listed = set(_setuptools()["packages"])
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    resources = {p for p in listed if p.startswith("app.resources")}
    assert listed - resources == found


def test_resources_install_as_the_apps_package_data() -> None:
    config = _setuptools()
    assert config["package-dir"] == {"app.resources": "resources"}
    data = config["package-data"]
    icons = sorted((ROOT / "resources" / "icons").glob(data["app.resources.icons"][0]))
    models = sorted((ROOT / "resources" / "models").glob(data["app.resources.models"][0]))
    assert len(icons) >= 10 and [m.name for m in models] == ["demo.pth"]
    assert not (ROOT / "app" / "resources").exists()  # one place for them


def test_a_checkout_finds_the_top_level_resources() -> None:
    assert resource_paths.RESOURCES_DIR == ROOT / "resources"
    assert resource_paths.DEMO_MODEL_PATH.is_file()
    assert resource_paths.icon_path("undo").is_file()
