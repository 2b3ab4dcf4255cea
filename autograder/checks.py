"""In-process checks for nbgrader's hidden test cells (they run in the instructor's environment):

    from autograder.checks import check
    check("nt_xent", nt_xent)

The same fresh random cases, reference answers, tolerances and mistake diagnosis as the isolated grader
(``python -m autograder grade``), but the student's function runs inside the notebook's kernel: nbgrader has no
sandbox, so the isolated grader remains the authority for scores that matter. An AssertionError carries only the
feedback text (the likely mistake), never the check's source.
"""
from __future__ import annotations

import numpy as np

from ._runner import execute_call
from .compare import FunctionResult, expected, judge
from .specs import Generator, find_spec


def run_checks(name: str, fn, seed: int | None = None) -> FunctionResult:
    """Grade ``fn`` as the graded function ``name`` in this process; returns the FunctionResult."""
    spec = find_spec(name)
    rng = np.random.default_rng(seed)
    calls = spec.cases(rng)
    exps = None if spec.property_check else [expected(spec, c) for c in calls]
    outcomes = []
    for i, call in enumerate(calls):
        args = [("generator", a.seed, a.skip) if isinstance(a, Generator) else a for a in call.args]
        gos = exps[i].grad_outputs if exps else []
        module = {"seed": call.module.seed, "init_args": list(call.module.init_args)} if call.module else None
        outcomes.append(execute_call(fn, args, tuple(call.grad_args), gos, module))
    return judge(spec, calls, outcomes, exps)


def check(name: str, fn, seed: int | None = None) -> None:
    """Raise AssertionError(feedback) unless ``fn`` passes every check of the graded function ``name``."""
    if fn is None:
        raise AssertionError(f"`{name}` is not defined")
    result = run_checks(name, fn, seed)
    if result.status != "passed":
        raise AssertionError(f"[{result.status}] {result.feedback}")


def _named(name):
    def f(fn, seed=None):
        check(name, fn, seed)
    f.__name__ = f"check_{name}"
    f.__doc__ = f"Hidden checks of `{name}` (see ``check``)."
    return f


check_rotate_batch = _named("rotate_batch")
check_cosine_similarity_matrix = _named("cosine_similarity_matrix")
check_info_nce = _named("info_nce")
check_nt_xent_loop = _named("nt_xent_loop")
check_nt_xent = _named("nt_xent")
check_ema_update = _named("ema_update")
check_dequeue_and_enqueue = _named("dequeue_and_enqueue")
check_moco_logits = _named("moco_logits")
check_moco_loss = _named("moco_loss")
check_batch_shuffle_indices = _named("batch_shuffle_indices")
check_cpc_scores = _named("cpc_scores")
check_cpc_loss = _named("cpc_loss")
check_context_network = _named("ContextNetwork")
check_random_resized_crop = _named("random_resized_crop")
check_knn_predict = _named("knn_predict")
check_simsiam_loss = _named("simsiam_loss")
check_byol_loss = _named("byol_loss")
check_sinkhorn = _named("sinkhorn")
check_dino_loss = _named("dino_loss")
check_update_center = _named("update_center")
