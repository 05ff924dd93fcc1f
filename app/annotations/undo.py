"""The undo machinery: the Command protocol, change descriptions, Macro and UndoStack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.annotations.model import Project


@dataclass(frozen=True)
class Changed:
    """What a command touched, for the session to turn into signals.

    `images`: relative paths whose boxes, proposals, status or size changed.
    `categories`: ids whose name, colour or box count changed.
    `category_list`: True when categories were added or removed.
    `image_list`: True when images were added to or removed from the project.
    """

    images: frozenset[str] = frozenset()
    categories: frozenset[int] = frozenset()
    category_list: bool = False
    image_list: bool = False

    def __or__(self, other: Changed) -> Changed:
        return Changed(
            images=self.images | other.images,
            categories=self.categories | other.categories,
            category_list=self.category_list or other.category_list,
            image_list=self.image_list or other.image_list,
        )


class Command:
    """One undoable edit of a Project.

    Subclasses set `text` (shown in the Edit menu) and implement `redo` and `undo`. `redo` may
    raise ValueError/KeyError on its first run (nothing is changed then, and the stack does not
    keep the command). `changed` is valid after the first `redo`.
    """

    text: str = ""

    def redo(self, project: Project) -> None:
        raise NotImplementedError

    def undo(self, project: Project) -> None:
        raise NotImplementedError

    @property
    def changed(self) -> Changed:
        """Return what this command touches."""
        return Changed()

    def merge(self, other: Command) -> bool:
        """Absorb a command pushed right after this one; return True if merged."""
        return False


@dataclass
class Macro(Command):
    """Several commands as one undo step (undone in reverse order)."""

    text: str
    commands: list[Command] = field(default_factory=list)

    def redo(self, project: Project) -> None:
        done: list[Command] = []
        try:
            for cmd in self.commands:
                cmd.redo(project)
                done.append(cmd)
        except Exception:
            for cmd in reversed(done):
                cmd.undo(project)
            raise

    def undo(self, project: Project) -> None:
        for cmd in reversed(self.commands):
            cmd.undo(project)

    @property
    def changed(self) -> Changed:
        total = Changed()
        for cmd in self.commands:
            total = total | cmd.changed
        return total


class UndoStack:
    """A bounded history of commands with a clean (saved) marker."""

    def __init__(self, limit: int = 1000) -> None:
        if limit < 1:
            raise ValueError("undo limit must be at least 1")
        self.limit = limit
        self._commands: list[Command] = []
        self._index = 0  # commands[:index] are done
        self._clean_index: int | None = 0  # None: the saved state fell off the history

    # ----- editing -------------------------------------------------------------------------

    def push(self, cmd: Command, project: Project) -> Command:
        """Run `cmd.redo(project)` and record it; return the command now on top.

        If the redo raises, nothing is recorded and the exception propagates. When the top
        command merges the new one (e.g. arrow-key nudges), the top command is returned.
        """
        cmd.redo(project)
        del self._commands[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None
        top = self._commands[-1] if self._commands else None
        if top is not None and self._clean_index != self._index and top.merge(cmd):
            return top
        self._commands.append(cmd)
        self._index += 1
        overflow = len(self._commands) - self.limit
        if overflow > 0:
            del self._commands[:overflow]
            self._index -= overflow
            if self._clean_index is not None:
                self._clean_index -= overflow
                if self._clean_index < 0:
                    self._clean_index = None
        return cmd

    def undo(self, project: Project) -> Command | None:
        """Undo the last done command and return it (None if there is nothing to undo)."""
        if not self.can_undo:
            return None
        self._index -= 1
        cmd = self._commands[self._index]
        cmd.undo(project)
        return cmd

    def redo(self, project: Project) -> Command | None:
        """Redo the next undone command and return it (None if there is nothing to redo)."""
        if not self.can_redo:
            return None
        cmd = self._commands[self._index]
        cmd.redo(project)
        self._index += 1
        return cmd

    def clear(self) -> None:
        """Forget the history (e.g. when another project opens); the state counts as clean."""
        self._commands.clear()
        self._index = 0
        self._clean_index = 0

    # ----- state ---------------------------------------------------------------------------

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        return self._commands[self._index].text if self.can_redo else ""

    @property
    def clean(self) -> bool:
        """Return True when the project equals its last saved state."""
        return self._clean_index == self._index

    def set_clean(self) -> None:
        """Mark the current state as saved."""
        self._clean_index = self._index

    @property
    def commands(self) -> Sequence[Command]:
        """Return the recorded commands (done ones first)."""
        return tuple(self._commands)

    @property
    def index(self) -> int:
        """Return how many recorded commands are done."""
        return self._index

    def __len__(self) -> int:
        return len(self._commands)
