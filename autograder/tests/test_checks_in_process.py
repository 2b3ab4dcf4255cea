"""The red-team corpora's honest submissions (correct ones and classic mistakes, never the attacks) graded in this
process by ``autograder.checks.run_checks``, the path nbgrader's hidden tests take: the same statuses and named
mistakes as the isolated grader's EXPECTED.json, on two seeds.

Seconds instead of a minute per corpus (no child processes), so it is also the selection that mutation testing of
``autograder/specs.py`` and ``autograder/compare.py`` runs for every mutant (benchmarks/RESULTS_mutation.md).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.checks import run_checks
from autograder.specs import SPECS

HERE = Path(__file__).parent
HONEST = ("correct", "mistake", "off_by", "hardcoded")  # plain code: safe to run in the test process


def _entries():
    for folder in ("corpus", "corpus_ps2_ps3"):
        expected = json.loads((HERE / folder / "EXPECTED.json").read_text())
        for name, want in sorted(expected.items()):
            path = HERE / folder / name
            if path.suffix == ".py" and path.name.startswith(HONEST):
                yield pytest.param(path, want, id=f"{folder}/{name}")


@pytest.mark.parametrize("path, want", list(_entries()))
def test_honest_submission_in_process(path, want):
    ns: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # noqa: S102 - the course's own corpus, no attacks
    for seed in (3, 20240601):
        for spec in SPECS[want["assignment"]]:
            status = want["status"].get(spec.name, "passed")
            if status == "missing_function":
                assert spec.name not in ns
                continue
            result = run_checks(spec.name, ns[spec.name], seed)
            assert result.status == status, (spec.name, seed, result.feedback)
            assert result.score == (spec.points if status == "passed" else 0.0)
            assert result.max_score == spec.points
            assert want["feedback"].get(spec.name, "") in result.feedback, (spec.name, result.feedback)
