"""A child process whose disk fills up half-way through a large write (RLIMIT_FSIZE).

Usage: python -m tests.reliability.full_disk_child FOLDER LIMIT_BYTES
Opens the project, caps the size of any file it writes at LIMIT_BYTES (writes past it fail
with EFBIG, as on a full disk), records a large batch of proposals, and reports what the store
says ("failed <error>", then "rescue <message>" for the try to move the project, which fails the
same way). After a line on stdin it lifts the cap, lets the writer retry and reports "saved"
and "closed".
"""

from __future__ import annotations

import resource
import signal
import sys

from app.annotations.commands import SetProposals
from app.annotations.document import ProjectDocument, SaveError
from app.annotations.model import Proposal
from app.annotations.undo import Changed

PROPOSALS_PER_IMAGE = 300


def main(folder: str, limit: int) -> int:
    doc = ProjectDocument.open_folder(folder)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a dead process
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    paths = [rec.path for rec in doc.project.images]
    for path in paths:
        props = [
            Proposal(f"{path}-{j}", j, j, j + 9, j + 9, 1, 0.5) for j in range(PROPOSALS_PER_IMAGE)
        ]
        SetProposals(path, props).redo(doc.project)
    doc.record(Changed(images=frozenset(paths)))
    on_disk = doc.flush(3.0)
    print(f"failed {doc.status().error}" if not on_disk else "saved early", flush=True)
    try:
        print(f"rescue {doc.rescue(doc.status().error or '')}", flush=True)
    except SaveError as exc:
        print(f"rescue failed {exc}", flush=True)
    sys.stdin.readline()
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    doc.store.writer.retry_now()
    print(f"saved {doc.flush(20.0)}", flush=True)
    print(f"closed {doc.close().saved}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
