"""A child process that opens a project, adds a class, says "open" and holds it until stdin."""

from __future__ import annotations

import sys

from app.annotations.commands import AddCategory
from app.annotations.document import ProjectDocument


def main(folder: str) -> int:
    doc = ProjectDocument.open_folder(folder)
    cmd = AddCategory("from the other process")
    cmd.redo(doc.project)
    doc.record(cmd.changed)
    doc.flush()
    print("open", flush=True)
    sys.stdin.readline()
    return 0 if doc.close().saved else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
