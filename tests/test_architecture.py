"""The dependency rules of DESIGN.md, checked by importing each module in a fresh interpreter."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> list[str]:
    path = ROOT / package.replace(".", "/")
    names = [package]
    for info in pkgutil.walk_packages([str(path)], prefix=package + "."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def _loaded_after_import(module: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"importing {module} failed:\n{out.stderr}"
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("module", _modules("detr_model"))
def test_detr_model_imports_neither_qt_nor_app(module: str) -> None:
    roots = _roots(_loaded_after_import(module))
    assert "PySide6" not in roots
    assert "app" not in roots


@pytest.mark.parametrize("module", _modules("app.annotations"))
def test_annotations_import_neither_qt_nor_torch(module: str) -> None:
    roots = _roots(_loaded_after_import(module))
    assert "PySide6" not in roots
    assert "torch" not in roots


def test_the_checker_sees_a_forbidden_import() -> None:
    # Guards the test itself: a module known to pull in Qt must be seen doing so.
    assert "PySide6" in _roots(_loaded_after_import("app.main_window"))
