"""File → Import Detections as Proposals: a results file's boxes arrive as proposals to review."""

from __future__ import annotations

import json
from pathlib import Path

from tests.app.conftest import open_and_wait


def test_a_results_file_arrives_as_proposals_outside_the_undo_history(
    qtbot, window, image_folder: Path, tmp_path: Path
) -> None:
    open_and_wait(qtbot, window, image_folder)
    window.session.add_category("cat")
    results = tmp_path / "results.json"
    results.write_text(json.dumps([
        {"image_id": 1, "file_name": str(image_folder / "img1.png"), "category_id": 1,
         "category_name": "cat", "bbox": [10, 10, 40, 30], "score": 0.42},
    ]))  # fmt: skip
    steps = len(window.session.undo_stack)
    assert window.actions["import_results"] in window.menus["File"].actions()
    window.import_results(results)
    rec = window.session.project.image("img1.png")
    assert [(p.rect, p.score) for p in rec.proposals] == [((10, 10, 50, 40), 0.42)]
    assert rec.boxes == []
    assert len(window.session.undo_stack) == steps  # Ctrl+Z keeps undoing the user's own edits
