"""Submissions the grader was known to mark too high. A gap is pinned here as a strict xfail; the fix of the grader
turns it into a failure ("XPASS(strict)"), the xfail is removed (the test stays, as a normal one) and the entry
moves to the red-team corpus with its exact score. No gap is open now."""
from __future__ import annotations

import json

import pytest

from autograder.grade import grade_path
from autograder.tests.redteam_attacks import ps1
from autograder.tests.reference_ps1 import CROP

DEF_LINE = CROP.splitlines()[0] + "\n"
# The passed generator's seed, not its state: a fresh generator from initial_seed(). Two calls with one generator
# (a training loop's steps) then draw the same boxes every time. Closed: the last crop case hands the student a
# generator that has already drawn (specs.Generator(seed, skip), built the same way in checks.py, grade.py's JSON
# and _runner.py), whose boxes must differ from a fresh generator's. Also in the corpus as
# mistake_crop_reseeds_from_the_seed.py (10/12).
RESEEDS = CROP.replace(DEF_LINE, DEF_LINE + "    generator = torch.Generator().manual_seed(generator.initial_seed())\n")


def test_a_crop_that_reseeds_from_the_generators_seed_loses_its_points(tmp_path):
    assert RESEEDS != CROP
    submission = tmp_path / "subs" / "mistake_crop_reseeds_from_the_seed.py"
    submission.parent.mkdir()
    submission.write_text(ps1({"random_resized_crop": RESEEDS}))
    grade_path(submission.parent, "ps1", tmp_path / "out", seed=318231593)
    report = json.loads((tmp_path / "out" / "mistake_crop_reseeds_from_the_seed.json").read_text())
    crop = next(f for f in report["functions"] if f["name"] == "random_resized_crop")
    others = [f for f in report["functions"] if f["name"] != "random_resized_crop"]
    assert all(f["status"] == "passed" for f in others)  # the rest of the submission is the correct one
    assert crop["status"] == "wrong" and crop["score"] == 0
