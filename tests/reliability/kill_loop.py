"""The kill -9 loop: a child edits a project without pause and is killed at random moments;
after each kill the project must open and hold exactly the schedule's first K edits, with K at
least every edit the child had reported durable.

`run_kill_loop` is shared by the test (a few kills) and tools/store_kill_loop.py (50).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.annotations.document import ProjectDocument
from tests.reliability.store_edits import EDITS_KEY, expected_project, first_difference, image_names

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class KillLoopResult:
    """What the loop saw: one entry per kill."""

    kills: int = 0
    reported: list[int] = field(default_factory=list)  # edits reported durable before the kill
    found: list[int] = field(default_factory=list)  # edits the reopened project held
    problems: list[str] = field(default_factory=list)

    @property
    def edits(self) -> int:
        return self.found[-1] if self.found else 0


def _start_child(folder: Path, env: dict, move_at: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.store_child", str(folder), str(move_at)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_kill_loop(
    folder: Path,
    kills: int,
    *,
    seed: int = 0,
    move_at: int = -1,
    max_delay_s: float = 0.25,
    timeout_s: float = 30.0,
) -> KillLoopResult:
    """Kill the editing child `kills` times and check the project after each kill.

    `move_at`: the edit at which the child moves the project to the per-user folder once
    (DETR_STUDIO_DATA_DIR should point somewhere private); -1 never.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in image_names():
        (folder / name).write_bytes(b"")
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = KillLoopResult()
    for k in range(kills):
        child = _start_child(folder, env, move_at)
        try:
            first = child.stdout.readline()  # "ready K" once the project is open
            if not first.startswith("ready"):
                result.problems.append(f"kill {k}: child did not start: {child.stderr.read()}")
                break
            start_edits = int(first.split()[1])
            time.sleep(rng.uniform(0.0, max_delay_s))
            child.send_signal(signal.SIGKILL)
            out, _err = child.communicate(timeout=timeout_s)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout_s)
        durable = [int(line.split()[1]) for line in out.splitlines() if line.startswith("durable")]
        reported = start_edits + max(durable, default=0)
        result.kills += 1
        result.reported.append(reported)
        found = _check(folder, reported, k, result.problems)
        result.found.append(found)
    return result


def _check(folder: Path, reported: int, k: int, problems: list[str]) -> int:
    """Open the project as the app does; return the edits it holds (-1 when it failed)."""
    try:
        doc = ProjectDocument.open_folder(folder)
    except Exception as exc:  # any failure to open is what the loop is looking for
        problems.append(f"kill {k}: the project did not open: {exc}")
        return -1
    try:
        found = int(doc.project.meta.get(EDITS_KEY, 0))
        if found < reported:
            problems.append(f"kill {k}: {reported} edits reported durable, {found} on disk")
        difference = first_difference(doc.project, expected_project(folder, found))
        if difference:
            problems.append(f"kill {k}: not the state after {found} edits: {difference}")
        if doc.warnings:
            problems.append(f"kill {k}: opening warned {doc.warnings}")
    finally:
        doc.close()
    return found
