"""Properties of the PS2 / PS3 cases the grader draws (``autograder/specs.py``), over many seeds: each case must
be able to expose the mistake it exists for. Written against the mutants mutation testing left alive
(benchmarks/RESULTS_mutation.md): e.g. a causality case whose change starts at step 0 compares no past at all, and a
bidirectional GRU would pass it.
"""
from __future__ import annotations

import numpy as np
import pytest

from autograder import specs

SEEDS = range(60)


@pytest.mark.parametrize("seed", SEEDS)
def test_context_cases_change_only_the_future_and_keep_a_past_to_compare(seed):
    first, changed, other = specs._context_cases(np.random.default_rng(seed))
    x, x_future = first.args[0], changed.args[0]
    b, t, d = x.shape
    c = first.module.init_args[1]
    assert first.module.init_args == changed.module.init_args == other.module.init_args == (d, c)
    assert 2 <= b and 6 <= t and 3 <= d and 4 <= c
    assert first.module.seed == changed.module.seed != other.module.seed  # same weights, then other weights
    assert other.args[0] is x or np.array_equal(other.args[0], x)
    assert x.dtype == x_future.dtype == np.float32 and np.all(np.isfinite(x_future))
    differs = np.any(x != x_future, axis=2)  # (B, T): which steps of which sequence were changed
    t0 = int(np.argmax(differs.any(axis=0)))
    # at least two past steps to compare (a look-ahead of one step shows), and every later step changed
    assert 2 <= t0 <= t - 2
    assert not differs[:, :t0].any() and differs[:, t0:].all()


@pytest.mark.parametrize("seed", SEEDS)
def test_enqueue_cases_include_a_wrap_around_and_valid_sizes(seed):
    calls = specs._enqueue_cases(np.random.default_rng(seed))
    assert len(calls) == 4
    wraps = []
    for call in calls:
        queue, ptr, keys = call.args
        k, n = len(queue), len(keys)
        assert 1 <= n <= k and 0 <= ptr < k and queue.shape[1] == keys.shape[1]
        assert np.allclose(np.linalg.norm(queue, axis=1), 1) and np.allclose(np.linalg.norm(keys, axis=1), 1)
        wraps.append(ptr + n > k)
        assert call.label == ("pointer wraps around the end" if ptr + n > k else "random")
    assert wraps[1]  # the second case always runs past the end, with at least two keys
    assert len(calls[1].args[2]) >= 2


@pytest.mark.parametrize("seed", SEEDS[:20])
def test_shuffle_cases_pin_the_generator(seed):
    calls = specs._shuffle_cases(np.random.default_rng(seed))
    ns = [c.args[0] for c in calls]
    seeds = [c.args[1].seed for c in calls]
    assert ns[0] >= 8 and ns[1] >= 8 and ns[2] == 1 and ns[3] == ns[4] == ns[0]
    assert seeds[3] == seeds[0] and seeds[4] != seeds[0] and len(set(seeds[:3])) == 3
    assert all(isinstance(c.args[1], specs.Generator) for c in calls)


@pytest.mark.parametrize("seed", SEEDS[:20])
def test_moco_and_cpc_cases_shapes_and_gradients(seed):
    rng = np.random.default_rng(seed)
    for name in ("moco_logits", "moco_loss"):
        calls = specs._moco_cases(rng, name)
        assert [c.args[0].dtype for c in calls] == [np.float64, np.float64, np.float32]
        for call in calls:
            q, k, queue, t = call.args
            assert q.shape == k.shape and queue.shape[1] == q.shape[1] and 0.05 <= t <= 0.9
            for a in (q, k, queue):
                assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-6)
            assert call.grad_args == (0, 1, 2)
            if name == "moco_logits":  # a (N, 1+K) output is checked through a random weighting, not its sum
                assert call.grad_outputs[0].shape == (len(q), 1 + len(queue)) and call.grad_outputs[1] is None
            else:
                assert call.grad_outputs is None
    for call in specs._cpc_scores_cases(rng):
        c, z, w = call.args
        assert w.shape == (z.shape[1], c.shape[1]) and z.shape[1] != c.shape[1]  # D != C: a transposed W fails
        assert call.grad_args == (0, 1, 2) and call.grad_outputs[0].shape == (len(c), len(z))
    for call in specs._cpc_loss_cases(rng):
        c, z, w = call.args
        assert z.shape[0] == c.shape[0] and w.shape == (z.shape[1], z.shape[2], c.shape[1])
        assert z.shape[2] != c.shape[1] and call.grad_args == (0, 1, 2)
    for call in specs._ema_cases(rng):
        key, query, m = call.args
        assert key.shape == query.shape and 0.5 <= m <= 0.999 and call.grad_args == (0, 1)
        assert call.grad_outputs[0].shape == key.shape


# ------------------------------------------------------------------------ the ContextNetwork property check itself

def _context_outputs(seed=0):
    """A causal stand-in for a GRU's outputs on the three cases: a running mean of tanh(x) over time (finite,
    different at every step, depends only on the past), plus a parameter-dependent offset for the other seed."""
    calls = specs._context_cases(np.random.default_rng(seed))
    c = calls[0].module.init_args[1]

    def causal(x, offset=0.0):
        h = np.tanh(x.astype(np.float64)).mean(axis=2, keepdims=True)  # (B, T, 1)
        h = np.cumsum(h, axis=1) / np.arange(1, x.shape[1] + 1)[None, :, None]
        return h * np.linspace(1, 2, c)[None, None, :] + offset
    outs = [[causal(calls[0].args[0])], [causal(calls[1].args[0])], [causal(calls[2].args[0], 0.5)]]
    info = {"trainable_parameters": 100, "recurrent": ["GRU"]}
    return calls, outs, [{"module_info": dict(info)} for _ in calls]


def _t0(calls):
    return int(np.argmax(np.any(calls[0].args[0] != calls[1].args[0], axis=(0, 2))))


def test_context_property_accepts_a_causal_parameter_dependent_network():
    calls, outs, outcomes = _context_outputs()
    assert specs._context_property(calls, outs, outcomes) == (True, "")
    assert specs._context_property(calls, outs) == (True, "")  # no module facts from the child: not required
    # facts missing for one call (an older runner): the module checks are skipped, never crash
    assert specs._context_property(calls, outs, [outcomes[0], {}, outcomes[2]]) == (True, "")
    # a causal context that changes by 50 % after t0 is a change (not "does not change")
    t0 = _t0(calls)
    outs[1][0] = outs[0][0].copy()
    outs[1][0][:, t0:] *= 1.5
    assert specs._context_property(calls, outs, outcomes) == (True, "")


def _verdict(mutate, seed=1):
    calls, outs, outcomes = _context_outputs(seed)
    mutate(calls, outs, outcomes, _t0(calls))
    ok, message = specs._context_property(calls, outs, outcomes)
    assert not ok
    return message


def test_context_property_names_each_way_to_be_wrong():
    def no_output(calls, outs, outcomes, t0):
        outs[1] = [None]
    assert "must return one tensor of shape (B, T, context_dim)" in _verdict(no_output)

    def wrong_shape_second(calls, outs, outcomes, t0):
        outs[1][0] = outs[1][0][:, :-1]
    assert "must have shape (B, T, context_dim)" in _verdict(wrong_shape_second)

    def nan(calls, outs, outcomes, t0):
        outs[0][0][0, 0, 0] = np.nan
    assert "NaN or infinite" in _verdict(nan)

    def leaks_50_percent(calls, outs, outcomes, t0):  # the past moves by half when the future changes
        outs[1][0][:, :t0] *= 1.5
    assert "depends on inputs after t" in _verdict(leaks_50_percent)

    def ignores_input(calls, outs, outcomes, t0):
        outs[1][0] = outs[0][0].copy()
    assert "does not change when the inputs change" in _verdict(ignores_input)

    def constant_in_time(calls, outs, outcomes, t0):
        for o in outs[:2]:
            o[0] = np.broadcast_to(o[0][:, :1], o[0].shape).copy() + 1e-7 * np.arange(o[0].shape[1])[None, :, None]
        outs[1][0][:, t0:] += 1.0
    # only the changed future moves: the first output is the same at every step up to 1e-7
    assert "the same at every time step" in _verdict(constant_in_time)

    def constant_but_step_one(calls, outs, outcomes, t0):
        o = np.broadcast_to(outs[0][0][:, :1], outs[0][0].shape).copy()
        o[:, 1] += 1.0  # differs at step 1 only: not constant, so this one must pass that check...
        outs[0][0] = o
        outs[1][0] = o.copy()
        outs[1][0][:, t0:] += 2.0
        for oc in outcomes:  # ...and fail on the next one, the GRU
            oc["module_info"]["recurrent"] = []
    assert "built on a GRU" in _verdict(constant_but_step_one)

    def untrained(calls, outs, outcomes, t0):
        outcomes[1]["module_info"]["trainable_parameters"] = 0
    assert "no trainable parameters" in _verdict(untrained)

    def count_not_reported(calls, outs, outcomes, t0):
        del outcomes[2]["module_info"]["trainable_parameters"]
    assert "no trainable parameters" in _verdict(count_not_reported)

    def no_gru(calls, outs, outcomes, t0):
        for o in outcomes:
            o["module_info"]["recurrent"] = ["LSTM"]
    assert "built on a GRU (nn.GRU or nn.GRUCell)" in _verdict(no_gru)

    def parameter_free(calls, outs, outcomes, t0):
        outs[2][0] = outs[0][0].copy()
    assert "does not depend on the network's parameters" in _verdict(parameter_free)


def test_context_property_accepts_one_trainable_parameter():
    calls, outs, outcomes = _context_outputs(2)
    for o in outcomes:
        o["module_info"]["trainable_parameters"] = 1
    assert specs._context_property(calls, outs, outcomes) == (True, "")


@pytest.mark.parametrize("seed", range(20))
def test_ps4_cases_sinkhorn_marginals_and_targets_without_gradient(seed):
    """PS4's Sinkhorn references: rows sum to 1, and on the many-iterations case every column sums to N/K; the
    targets of the other PS4 functions (z, the teacher, the center) get a zero reference gradient."""
    import numpy as np
    from autograder.compare import expected
    from autograder.specs import spec_for
    rng = np.random.default_rng(seed)
    spec = spec_for("ps4", "sinkhorn")
    for call in spec.cases(rng):
        q = expected(spec, call).outputs[0]
        n, k = q.shape
        assert np.allclose(q.sum(1), 1, atol=1e-4), call.label
        if "many iterations" in call.label:
            assert np.allclose(q.sum(0), n / k, rtol=1e-3), call.label
    for name, zero in (("simsiam_loss", (2, 3)), ("byol_loss", (1,)), ("dino_loss", (1, 2)),
                       ("update_center", (0, 1))):
        spec = spec_for("ps4", name)
        for call in spec.cases(rng):
            grads = expected(spec, call).grads
            for pos in zero:
                assert not np.any(grads[pos]), (name, call.label, pos)
            if name in ("simsiam_loss", "byol_loss", "dino_loss"):
                assert np.any(grads[0]), (name, call.label)
