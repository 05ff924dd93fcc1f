"""Run the project store's kill -9 loop in full (the test runs 10 of the 50 kills).

Usage: python tools/store_kill_loop.py [--kills 50] [--seed 0] [--move-at 600] [--folder DIR]
A child process edits a project without pause (tests/reliability/store_child.py) and is
killed with SIGKILL at a random moment up to 0.25 s after it opened the project, `--kills`
times; after each kill the project is opened as the app does and compared with the exact state
of the edit schedule. At edit --move-at the child moves the project to the per-user folder once
(a private one under the temp folder), so later kills land after a move. Prints one line per
kill and a summary; exit code 1 on any problem.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.annotations.store import DATA_DIR_ENV  # noqa: E402
from tests.reliability.kill_loop import run_kill_loop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--move-at", type=int, default=600)
    parser.add_argument("--folder", type=Path, help="project folder (default: a temp folder)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="detr-studio-kill-"))
    folder = args.folder or tmp / "photos"
    os.environ[DATA_DIR_ENV] = str(tmp / "userdata")  # the move goes here, not to the real one
    start = time.perf_counter()
    try:
        result = run_kill_loop(folder, args.kills, seed=args.seed, move_at=args.move_at)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for k, (reported, found) in enumerate(zip(result.reported, result.found, strict=True)):
        print(f"kill {k + 1:3d}: {reported:6d} edits reported durable, {found:6d} on disk")
    lost = sum(1 for r, f in zip(result.reported, result.found, strict=True) if f < r)
    print(
        f"{result.kills} kills in {time.perf_counter() - start:.1f} s, {result.edits} edits; "
        f"kills that lost a reported edit: {lost}; problems: {len(result.problems)}"
    )
    for problem in result.problems:
        print(f"PROBLEM {problem}")
    return 1 if result.problems or result.kills < args.kills else 0


if __name__ == "__main__":
    sys.exit(main())
