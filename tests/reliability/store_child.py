"""A child process that edits a project without pause, for the kill -9 loop.

Usage: python -m tests.reliability.store_child FOLDER [MOVE_AT]
Opens the folder's project the way the app does (ProjectDocument), reads how many edits of
the schedule it holds (meta "kill_loop_edits"), then applies the next edits of
`store_edits.apply_edit` in bursts of 1 to 8 queued without waiting (a user nudging a box, a
batch of model results), each burst followed by waiting until it is on disk. Prints "ready K"
once open (K: edits already in the project), and "durable S" each time change set S of this
run is on disk, so edit K + S is reported durable. Every 40th edit is a File → Save
(checkpoint), so kills also land in saves. At edit MOVE_AT the project moves to the per-user
folder (as when the image folder stops accepting writes), so kills also land after a move.
"""

from __future__ import annotations

import contextlib
import random
import sys

from app.annotations.document import ProjectDocument
from app.annotations.store import user_project_file
from app.annotations.store_writer import StillWriting
from tests.reliability.store_edits import EDITS_KEY, apply_edit

SAVE_EVERY = 40


def main(folder: str, move_at: int) -> int:
    def durable(seq: int) -> None:
        sys.stdout.write(f"durable {seq}\n")
        sys.stdout.flush()

    doc = ProjectDocument.open_folder(folder, on_durable=durable)
    done = int(doc.project.meta.get(EDITS_KEY, 0))
    print(f"ready {done}", flush=True)
    bursts = random.Random(done)
    while True:
        for _ in range(bursts.randint(1, 8)):
            changed = apply_edit(doc.project, done)
            done += 1
            doc.project.meta[EDITS_KEY] = done
            doc.record(changed)
            if done % SAVE_EVERY == 0:
                with contextlib.suppress(StillWriting):  # a busy disk: still queued
                    doc.save()
            if 0 <= move_at <= done and doc.path != user_project_file(doc.project.root):
                doc.rescue("the kill loop moves the project once")  # again if a kill cut it
        doc.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else -1))
