"""The dependency rules of DESIGN.md: import-linter's static contracts (pyproject.toml), and
what a fresh interpreter actually loads when the packages are imported."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_LINT = """
import sys
from importlinter.cli import lint_imports
sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))
"""

_PROBE = """
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _modules(package: str) -> list[str]:
    path = ROOT / package.replace(".", "/")
    names = [package]
    for info in pkgutil.walk_packages([str(path)], prefix=package + "."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def _roots_after_importing(modules: list[str]) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"importing {modules} failed:\n{out.stderr}"
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _offenders(package: str, forbidden: set[str]) -> dict[str, list[str]]:
    """Return {module: forbidden packages it loads}; empty when the package keeps the rule."""
    modules = _modules(package)
    # One interpreter for the whole package keeps the common case fast; only when the rule is
    # broken is each module imported alone, to name the culprits.
    if not forbidden & _roots_after_importing(modules):
        return {}
    report = {m: sorted(forbidden & _roots_after_importing([m])) for m in modules}
    return {m: bad for m, bad in report.items() if bad}


def test_detr_model_imports_neither_qt_nor_app() -> None:
    assert _offenders("detr_model", {"PySide6", "app"}) == {}


def test_annotations_import_neither_qt_nor_torch() -> None:
    assert _offenders("app.annotations", {"PySide6", "torch"}) == {}


def test_the_checker_sees_a_forbidden_import() -> None:
    # Guards the test itself: a module known to pull in Qt must be reported.
    assert _offenders("app.canvas", {"PySide6"}) != {}


def _lint_imports(config: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _LINT, str(config)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_of_pyproject_hold() -> None:
    out = _lint_imports(ROOT / "pyproject.toml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "5 kept, 0 broken" in out.stdout


def test_the_contracts_see_an_import_inside_a_function(tmp_path: Path) -> None:
    # What the sys.modules probe misses: an import that runs only when a function is called.
    package = tmp_path / "probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("def later():\n    import PySide6  # noqa\n")
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["probe_pkg"]\ninclude_external_packages = true\n'
        '[[tool.importlinter.contracts]]\nname = "no Qt"\ntype = "forbidden"\n'
        'source_modules = ["probe_pkg"]\nforbidden_modules = ["PySide6"]\n'
    )
    out = _lint_imports(config, cwd=tmp_path)
    assert out.returncode == 1 and "no Qt BROKEN" in out.stdout, out.stdout + out.stderr
    assert "probe_pkg -> PySide6" in out.stdout
