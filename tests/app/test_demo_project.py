"""The demo folder without a window: drawn once, reused when complete, repaired when not."""

from __future__ import annotations

import json

from app.annotations import store
from app.demo_project import (
    GROUND_TRUTH_NAME,
    create_demo_project,
    default_demo_folder,
    is_complete,
    partial_folder,
)


def test_the_demo_folder_is_in_the_per_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path / "userdata"))
    assert default_demo_folder() == tmp_path / "userdata" / "demo-project"


def test_a_new_demo_has_images_ground_truth_and_classes_but_no_boxes(tmp_path):
    folder = tmp_path / "demo"
    assert not is_complete(folder)
    assert create_demo_project(folder, count=3, size=(64, 80)) == folder
    assert is_complete(folder)
    assert sorted(p.name for p in folder.glob("*.jpg")) == [
        "000001.jpg",
        "000002.jpg",
        "000003.jpg",
    ]
    truth = json.loads((folder / GROUND_TRUTH_NAME).read_text())
    assert [c["name"] for c in truth["categories"]] == ["circle", "square", "triangle"]
    assert truth["annotations"]
    project = store.load_project(store.default_project_file(folder))
    assert project.root == folder
    assert [c.name for c in project.categories] == ["circle", "square", "triangle"]
    assert len(project.images) == 3 and not any(rec.boxes for rec in project.images)
    assert not partial_folder(folder).exists()


def test_a_complete_demo_is_reused_and_a_damaged_one_repaired_keeping_the_users_work(tmp_path):
    folder = tmp_path / "demo"
    create_demo_project(folder, count=3, size=(64, 80))
    first = (folder / "000002.jpg").read_bytes()
    stamp = (folder / "000001.jpg").stat().st_mtime_ns
    create_demo_project(folder, count=3, size=(64, 80))
    assert (folder / "000001.jpg").stat().st_mtime_ns == stamp  # not drawn again

    project_file = store.default_project_file(folder)
    project = store.load_project(project_file)
    project.add_category("hexagon")  # the user's own edit
    store.save_project(project, project_file)
    (folder / "000002.jpg").unlink()
    partial_folder(folder).mkdir()  # as an interrupted run would leave it
    (partial_folder(folder) / "junk.jpg").write_bytes(b"x")
    assert not is_complete(folder)

    create_demo_project(folder, count=3, size=(64, 80))
    assert is_complete(folder)
    assert (folder / "000002.jpg").read_bytes() == first  # same seed, same image
    names = [c.name for c in store.load_project(project_file).categories]
    assert names == ["circle", "square", "triangle", "hexagon"]
    assert not partial_folder(folder).exists()
