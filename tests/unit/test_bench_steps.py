"""The benchmark harness's step selection and its guard against a step leaving a subprocess running (the
recovery step's workers once outlived it and applied the unread step's events first, failing that step)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, cast

import pytest

from benchmarks.__main__ import STEPS, only_list, parse, stop_leftovers
from benchmarks.env import BenchEnv
from benchmarks.report import Section


class FakeProcess:
    def __init__(self, name: str) -> None:
        self.name, self.stopped = name, False

    def stop(self) -> None:
        self.stopped = True


def test_only_takes_a_comma_list_of_known_steps() -> None:
    assert only_list("recovery, unread") == {"recovery", "unread"}
    assert parse(["--only", "unread,recovery"]).only == {"recovery", "unread"}
    assert STEPS.index("recovery") < STEPS.index("unread")  # run in the full run's order, whatever order given


@pytest.mark.parametrize("text", ["recovery,nope", ",", ""])
def test_only_refuses_unknown_or_empty_names(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        only_list(text)


def test_a_step_leaving_processes_running_has_them_stopped_and_says_so(tmp_path: Path) -> None:
    env = BenchEnv("run", cast(Any, None), 15, tmp_path)
    left = [FakeProcess("recovery-a"), FakeProcess("recovery-b3")]
    env.processes += cast(Any, left)
    section = Section("6. Recovery")
    stop_leftovers(env, "recovery", [section])
    assert all(p.stopped for p in left)
    assert env.processes == []
    assert len(section.notes) == 1 and "recovery-a, recovery-b3" in section.notes[0]


def test_a_step_that_stopped_its_processes_gets_no_note(tmp_path: Path) -> None:
    env = BenchEnv("run", cast(Any, None), 15, tmp_path)
    section = Section("7. Unread")
    stop_leftovers(env, "unread", [section])
    assert section.notes == []
