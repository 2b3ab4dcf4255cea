"""Unit tests of ``autograder/compare.py``'s decisions, written to kill the mutants mutation testing left alive
(benchmarks/RESULTS_mutation.md): the reference side's arguments, the mistake diagnosis's tolerance and its
handling of variants that do not apply, tolerances at their edges, the order in which a status is decided.

Student outcomes are built by hand (the dict ``_runner.execute_call`` returns) or by calling real functions through
``checks.run_checks``; expected values are computed here in float64 with numpy, not with ``ssl_course``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import compare
from autograder.checks import run_checks
from autograder.compare import _close, diagnose, judge, to_reference_args
from autograder.specs import Call, Generator, Spec


def _spec(mistakes=None, outputs=("float",), points=2.0, name="f"):
    return Spec(name, lambda rng: [], lambda x: x * 2, outputs, points, mistakes or {})


def _outcome(*arrays, **extra):
    return {"error": None, "outputs": [("tensor", np.asarray(a)) for a in arrays], "grads": [],
            "grad_error": None, "inputs_after": [], **extra}


# ------------------------------------------------------------------------------------------ reference side

def test_reference_args_rebuild_the_students_generator_and_promote_floats():
    """A Generator argument must reach the reference as a torch.Generator seeded like the student's (so both draw the
    same permutation); float arrays become float64 tensors, with requires_grad exactly for grad_args."""
    x32, ints = np.ones((2, 3), np.float32), np.arange(3)
    call = Call("f", [x32, ints, Generator(123), 0.5, None], grad_args=(0,))
    x, i, g, t, none = to_reference_args(call)
    assert x.dtype == torch.float64 and x.requires_grad
    assert i.dtype == torch.int64 and not i.requires_grad
    assert isinstance(g, torch.Generator)
    assert torch.equal(torch.randperm(20, generator=g), torch.randperm(20, generator=torch.Generator().manual_seed(123)))
    assert t == 0.5 and none is None
    x32[0, 0] = 7.0  # the reference works on a copy: later edits of the call's arrays do not leak into it
    assert x[0, 0].item() == 1.0


# ------------------------------------------------------------------------------------------ diagnosis

def test_diagnosis_skips_variants_that_raise_or_return_another_arity():
    """A known mistake whose variant cannot run on a case, or returns a different number of outputs, is not the
    student's mistake; the one that reproduces the output is named."""
    def raises(x):
        raise RuntimeError("does not apply")

    calls = [Call("f", [np.array([1.0, 2.0])])]
    student = [_outcome(np.array([3.0, 6.0]))]
    spec = _spec({"raises": raises, "two outputs": lambda x: (x * 3, x * 3), "times three": lambda x: x * 3})
    assert diagnose(spec, calls, student, [0]) == "times three"
    assert diagnose(_spec({"raises": raises}), calls, student, [0]) is None


def test_diagnosis_needs_the_variant_on_every_failing_case():
    calls = [Call("f", [np.array([1.0])]), Call("f", [np.array([-1.0])])]
    student = [_outcome(np.array([1.0])), _outcome(np.array([1.0]))]  # |x|: equals "identity" on case 0 only
    spec = _spec({"identity": lambda x: x, "absolute value": lambda x: x.abs()})
    assert diagnose(spec, calls, student, [0, 1]) == "absolute value"


@pytest.mark.parametrize("relative_error, named", [(5e-4, True), (5e-3, False)])
def test_diagnosis_tolerates_float32_rounding_of_the_students_output(relative_error, named):
    """The mistake is named when the student's output is the variant's up to a low-precision tolerance (10x the
    float32 one: 2e-3 relative), not beyond; the float64 tolerance (1e-6) would miss float32 students."""
    calls = [Call("f", [np.array([1.0, 2.0, 3.0])])]
    student = [_outcome(np.array([3.0, 6.0, 9.0]) * (1 + relative_error))]
    spec = _spec({"times three": lambda x: x * 3})
    assert (diagnose(spec, calls, student, [0]) == "times three") is named


# ------------------------------------------------------------------------------------------ tolerances

@pytest.mark.parametrize("low, rel, ok", [(False, 5e-7, True), (False, 5e-6, False),
                                          (True, 1e-4, True), (True, 1e-3, False)])
def test_close_uses_dtype_aware_relative_tolerances(low, rel, ok):
    target = np.array([0.5, -1.0, 1.0])
    assert _close(target * (1 + rel), target, low) is ok


def test_close_scales_the_absolute_tolerance_with_the_largest_value():
    """A tiny entry next to a large one is compared with atol relative to the large one (float64: 1e-9 x max)."""
    target = np.array([1e6, 0.0])
    assert _close(np.array([1e6, 5e-4]), target, False)
    assert not _close(np.array([1e6, 5e-3]), target, False)
    # with values below 1 the absolute tolerance stays 1e-9
    assert not _close(np.array([0.5, 5e-8]), np.array([0.5, 0.0]), False)


def test_close_on_shapes_and_non_finite_values():
    assert _close(np.array([2.0]), np.array(2.0), False)  # one element: shape () and (1,) are the same number
    assert not _close(np.zeros(2), np.zeros(3), True)
    assert not _close(np.zeros((2, 3)), np.zeros((3, 2)), True)
    assert _close(np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), False)  # -inf logits of a masked diagonal
    assert not _close(np.array([1.0, 1.0]), np.array([np.inf, 1.0]), False)
    assert not _close(np.array([np.nan, 1.0]), np.array([0.0, 1.0]), True)


# ------------------------------------------------------------------------------------------ statuses


def test_status_precedence_and_scores():
    spec, calls = _spec(), [Call("f", [np.ones(2)])] * 2
    exps = [compare.Expected([np.ones(2) * 2], [], [])] * 2
    order = [("forbidden", "forbidden_import"), ("missing", "missing_function"), ("out_of_memory", "out_of_memory"),
             ("timeout", "timeout"), ("error", "crashed")]
    for k, (marker, status) in enumerate(order):
        outcome = _outcome(np.ones(2) * 2, **{m: "RuntimeError: boom" for m, _ in order[k:]})
        result = judge(spec, calls, [_outcome(np.ones(2) * 2), outcome], exps)
        assert (result.status, result.score, result.max_score) == (status, 0.0, 2.0), marker
    passed = judge(spec, calls, [_outcome(np.ones(2) * 2)] * 2, exps)
    assert (passed.status, passed.score, passed.feedback) == ("passed", 2.0, "all checks passed.")


def test_crash_feedback_names_the_case_and_in_place_hint():
    spec, calls = _spec(), [Call("f", [np.ones(2)], label="views swapped")]
    exps = [compare.Expected([np.ones(2) * 2], [], [])]
    err = "RuntimeError: a leaf Variable that requires grad is being used in an in-place operation."
    result = judge(spec, calls, [_outcome(error=err)], exps)
    assert result.status == "crashed" and "'views swapped'" in result.feedback
    assert result.feedback.endswith("(an input is modified in place)")
    plain = judge(spec, calls, [_outcome(error="ValueError: nope")], exps)
    assert "in place" not in plain.feedback and "ValueError: nope" in plain.feedback


def test_default_backward_weights_only_for_a_scalar_loss():
    """Without explicit grad_outputs, a scalar loss is differentiated as is (weight 1); a matrix output is not
    silently checked through its sum (specs give matrices a random vector-Jacobian product instead)."""
    call = Call("f", [np.ones(2)], grad_args=(0,))
    scalar = compare.grad_outputs_for(_spec(), call, [np.array(1.5), np.zeros(3)])
    assert len(scalar) == 2 and scalar[1] is None
    assert scalar[0].shape == () and scalar[0] == 1.0
    assert compare.grad_outputs_for(_spec(), call, [np.zeros((2, 2))]) == [None]
    assert compare.grad_outputs_for(_spec(), Call("f", [np.ones(2)]), [np.array(1.0)]) == []
    weights = [np.full((2, 2), 3.0)]
    assert compare.grad_outputs_for(_spec(), Call("f", [np.ones(2)], grad_outputs=weights), [np.zeros((2, 2))]) == weights


def test_function_result_serialises_every_field_for_the_report():
    """The per-student JSON and Gradescope's results.json are built from to_dict()."""
    r = compare.FunctionResult("nt_xent", "wrong", 0.0, 2.0, "the diagonal is not masked", ["copy"])
    assert r.to_dict() == {"name": "nt_xent", "status": "wrong", "score": 0.0, "max_score": 2.0,
                           "feedback": "the diagonal is not masked", "flags": ["copy"]}
