"""README.md stays true to the code: the shortcut table is the action table's."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location(
        "readme_shortcuts", ROOT / "tools/readme_shortcuts.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_shortcut_table_matches_the_action_table() -> None:
    tool = _tool()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert tool.render(text) == text, "run: python tools/readme_shortcuts.py"


def test_readme_names_the_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
