"""The PS4 red-team corpus: every submission in corpus_ps4/<ps>/ must get exactly the score (and
statuses, and the named mistake in its feedback) in corpus_ps4/EXPECTED.json.

Each folder is graded once (two at a time) by the isolated grader, in child processes, with the same fixed seed and
limits as the PS1 corpus. The expected scores are reasoned in build_corpus_ps4.py: the problem set's total
minus the points of every function the mistake reaches.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.grade import grade_path
from autograder.sandbox import Limits
from autograder.specs import SPECS

CORPUS = Path(__file__).with_name("corpus_ps4")
EXPECTED = json.loads((CORPUS / "EXPECTED.json").read_text())
ASSIGNMENTS = ("ps4",)
LIMITS = Limits(wall_seconds=25, call_seconds=3, cpu_seconds=40, memory_mb=1200, file_size_mb=8)  # as test_corpus


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    reports = {}
    for ps in ASSIGNMENTS:
        out = tmp_path_factory.mktemp(f"corpus-{ps}-grades")
        for r in grade_path(CORPUS / ps, ps, out, seed=20240601, limits=LIMITS, jobs=2):
            reports[f"{ps}/{Path(r['submission']).name}"] = r
    return reports


def test_every_file_is_expected_and_every_classic_mistake_is_there():
    on_disk = {f"{ps}/{p.name}" for ps in ASSIGNMENTS for p in (CORPUS / ps).iterdir()}
    assert on_disk == set(EXPECTED)
    # each mistake costs points; a correct submission gets the full total, nothing else does
    for name, want in EXPECTED.items():
        total = sum(s.points for s in SPECS[want["assignment"]])
        assert (want["score"] == total) == Path(name).name.startswith("correct"), name
        assert want["assignment"] == name.split("/")[0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_submission(graded, name):
    want = EXPECTED[name]
    report = graded[name]
    statuses = {f["name"]: f["status"] for f in report["functions"]}
    assert set(statuses) == {s.name for s in SPECS[want["assignment"]]}
    assert statuses == {fn: want["status"].get(fn, "passed") for fn in statuses}, \
        json.dumps(report["functions"], indent=1)
    assert report["score"] == want["score"]
    feedback = {f["name"]: f["feedback"] for f in report["functions"]}
    for fn, text in want["feedback"].items():
        assert text in feedback[fn], feedback[fn]
    assert bool(report["flags"]) == want["flagged"], report["flags"]
