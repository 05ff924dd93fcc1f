"""The garbage-collector pause used while loading large files."""

from __future__ import annotations

import gc

import pytest

from app.annotations.gcpause import paused_gc


def test_nested_pauses_switch_the_collector_back_on_only_at_the_end() -> None:
    assert gc.isenabled()
    with paused_gc():
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_switches_the_collector_back_on() -> None:
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
