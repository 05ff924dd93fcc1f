"""Status lines made of phrases ("12 images · 4 reviewed"), for labels that wrap."""

from __future__ import annotations

from collections.abc import Iterable

NO_BREAK_SPACE = "\u00a0"
SEPARATOR = " · "


def join_phrases(phrases: Iterable[str]) -> str:
    """Return the phrases joined by " · ", each with no-break spaces inside, so a word-wrapped
    label breaks the line only between phrases ("7 unlabeled", never "7" / "unlabeled")."""
    return SEPARATOR.join(p.replace(" ", NO_BREAK_SPACE) for p in phrases)
