"""Which model to use after training: the rule, without a window."""

from __future__ import annotations

import pytest

from app.model_comparison import NEW, OLD, UNSURE, Comparison, ModelScore, compare


def score(label: str, ap: float, **per_class: float) -> ModelScore:
    return ModelScore(label, f"/{label}.pt", ap, min(1.0, ap + 0.3), per_class, per_class, 4)


def test_a_new_model_that_scored_lower_is_never_recommended() -> None:
    result = compare(score("Demo", 0.648), score("New", 0.414), images=4, held_out=True)
    assert result.choice == OLD and result.new_is_worse
    assert "Keep Demo" in result.reason and "scored lower" in result.reason
    assert "0.414 against 0.648 on the same 4 held-out images" in result.reason


def test_a_better_new_model_is_recommended_and_a_class_it_forgot_is_named() -> None:
    old = score("Demo", 0.50, circle=0.81, square=0.2)
    new = score("New", 0.62, circle=0.56, square=0.68)
    result = compare(old, new, images=12, held_out=True)
    assert result.choice == NEW and not result.new_is_worse
    assert "circle (0.81 → 0.56)" in result.reason and "square" not in result.reason


def test_a_tie_keeps_the_model_in_use() -> None:
    result = compare(score("Demo", 0.500), score("New", 0.505), images=4, held_out=True)
    assert result.choice == OLD and "no better" in result.reason


def test_on_the_training_images_the_new_model_needs_a_larger_gain() -> None:
    old, new = score("Demo", 0.50), score("New", 0.53)
    assert compare(old, new, images=3, held_out=True).choice == NEW
    on_training = compare(old, new, images=3, held_out=False)
    assert on_training.choice == OLD
    assert "the 3 training images" in on_training.reason and "optimistic" in on_training.reason
    assert compare(old, score("New", 0.60), images=3, held_out=False).choice == NEW


def test_without_both_scores_nothing_or_the_model_in_use_is_recommended() -> None:
    broken_old = ModelScore("Official R50", error="not downloaded")
    broken_new = ModelScore("New", error="cannot load")
    assert compare(broken_old, score("New", 0.4), images=2, held_out=True).choice == UNSURE
    assert compare(score("Demo", 0.1), broken_new, images=2, held_out=True).choice == OLD
    assert compare(None, broken_new, images=2, held_out=True).choice == UNSURE
    assert compare(None, score("New", 0.4), images=2, held_out=True).choice == NEW


def test_a_comparison_round_trips_through_its_sidecar_data() -> None:
    result = compare(score("Demo", 0.6, circle=0.7), score("New", 0.3), images=1, held_out=True)
    assert Comparison.from_dict(result.to_dict()) == result
    with pytest.raises((KeyError, TypeError)):
        Comparison.from_dict({"new": {}})


def test_the_rules_of_the_loop_import_neither_qt_nor_torch() -> None:
    from tests.test_architecture import _roots_after_importing

    rules = ["app.model_comparison", "app.model_scoring", "app.model_versions",
             "app.label_check", "app.training_snapshot"]  # fmt: skip
    assert not {"PySide6", "torch"} & _roots_after_importing(rules)
