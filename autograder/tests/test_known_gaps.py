"""Submissions the grader is known to mark too high: each is a strict xfail, so the fix of the grader turns it
into a failure here ("XPASS(strict)") and the entry moves to the red-team corpus with its exact score."""
from __future__ import annotations

import json

import pytest

from autograder.grade import grade_path
from autograder.tests.redteam_attacks import ps1
from autograder.tests.reference_ps1 import CROP

DEF_LINE = CROP.splitlines()[0] + "\n"
# The passed generator's seed, not its state: a fresh generator from initial_seed(). Two calls with one generator
# (a training loop's steps) then draw the same boxes every time. Every crop case hands the student a fresh
# generator, so "same seed -> same boxes, other seed -> other boxes" cannot tell it from a correct crop; a case
# with a generator that has already drawn would (that needs the generator's state, not only its seed, to travel
# from the grader to the child: specs.Generator, checks.py, grade.py's JSON and _runner.py).
RESEEDS = CROP.replace(DEF_LINE, DEF_LINE + "    generator = torch.Generator().manual_seed(generator.initial_seed())\n")


@pytest.mark.xfail(strict=True, reason="known gap: random_resized_crop is only called with fresh generators")
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
