"""Per-model class mappings: which project class each model class becomes (kept in project.meta).

A mapping is {model class name: project category id, or None to ignore the class}. Category
ids are stable (never reused), so a mapping survives renames; a deleted category makes its
model classes unmapped again, and the next run asks about them.
"""

from __future__ import annotations

from collections.abc import Callable

from app.annotations.review import ClassMap, map_by_name, model_class_names, unmapped_names
from app.session import Session

META_CLASS_MAPS = "class_maps"  # project.meta: {model key: {model class: category id | None}}

# Asked with (unmapped model classes, mapping so far); answers {class: id | new name | None}.
AskMapping = Callable[[list[str], ClassMap], "dict[str, int | str | None] | None"]


class ClassMappings:
    """Reads, completes and stores the class mappings of the session's project."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, model_key: str) -> ClassMap:
        """Return the remembered mapping of a model's classes to project category ids."""
        project = self.session.project
        maps = project.meta.get(META_CLASS_MAPS, {}) if project else {}
        found = maps.get(model_key, {}) if isinstance(maps, dict) else {}
        return dict(found) if isinstance(found, dict) else {}

    def ensure(
        self, class_names: list[str] | tuple[str, ...], model_key: str, ask: AskMapping | None
    ) -> ClassMap | None:
        """Return a complete mapping for the model's classes, asking `ask` about new ones.

        Classes named like project classes map to them without a question. Returns None when
        the question is cancelled (or there is no one to ask).
        """
        project = self.session.project
        assert project is not None
        names = model_class_names(class_names)
        mapping = self.get(model_key)
        missing = unmapped_names(names, mapping, project)
        if not missing:
            return mapping
        by_name = map_by_name(missing, project)
        if by_name is None:
            answer = ask(missing, mapping) if ask is not None else None
            if answer is None:
                return None
            by_name = self.resolve_answer(answer)
            by_name.update({n: None for n in missing if n not in by_name})
        mapping.update(by_name)
        self.save(model_key, mapping)
        return mapping

    def resolve_answer(self, answer: dict[str, int | str | None]) -> ClassMap:
        """Return a mapping dialog's answer with new class names turned into new categories."""
        project = self.session.project
        assert project is not None
        mapping: ClassMap = {}
        for name, target in answer.items():
            if isinstance(target, str):  # a new class (or one of that name made meanwhile)
                cat = project.category_by_name(target) or self.session.add_category(target)
                mapping[name] = cat.id if cat is not None else None
            else:
                mapping[name] = target
        return mapping

    def save(self, model_key: str, mapping: ClassMap) -> None:
        """Remember a model's class mapping in the project."""
        project = self.session.project
        if project is None:
            return
        maps = dict(project.meta.get(META_CLASS_MAPS) or {})
        maps[model_key] = dict(mapping)
        self.session.set_meta(META_CLASS_MAPS, maps)
