"""The grader's references (``autograder/specs.py``) against float64 loops written here from the papers' formulas.

The specs' references call ``ssl_course.losses``; a test that compares them with the library would compare the
library with itself. Here every reference output, on the very cases the grader draws, is recomputed by a plain
Python loop that imports nothing from the library, so a wrong kernel (and therefore a wrong grade) fails.
"""
import math

import numpy as np
import pytest
import torch

from autograder import specs


def _lse(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def _xent(logits, target):
    return _lse(logits) - logits[target]


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _rot90_ccw(img):
    """One counter-clockwise turn of a (C, H, W) array, pixel by pixel: new[:, r, c] = old[:, c, W - 1 - r]."""
    c, h, w = img.shape
    new = np.empty((c, w, h), dtype=img.dtype)
    for r in range(w):
        for col in range(h):
            new[:, r, col] = img[:, col, w - 1 - r]
    return new


def cosine_loop(a, b):
    return np.array([[_cos(a[i], b[j]) for j in range(len(b))] for i in range(len(a))])


def info_nce_loop(q, k, neg, t):
    total = 0.0
    for i in range(len(q)):
        if neg is None:
            logits = [_cos(q[i], k[j]) / t for j in range(len(k))]
            total += _xent(logits, i)
        else:
            logits = [_cos(q[i], k[i]) / t] + [_cos(q[i], n) / t for n in neg]
            total += _xent(logits, 0)
    return total / len(q)


def nt_xent_loop(z1, z2, t):
    z = list(z1) + list(z2)
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        others = [j for j in range(n2) if j != i]
        logits = [_cos(z[i], z[j]) / t for j in others]
        total += _xent(logits, others.index((i + n2 // 2) % n2))
    return total / n2


def moco_logits_loop(q, k, queue, t):
    return np.array([[float(np.dot(q[i], k[i])) / t] + [float(np.dot(q[i], e)) / t for e in queue]
                     for i in range(len(q))])


def cpc_scores_loop(c, z, w):
    n = len(c)
    return np.array([[sum(z[j][a] * sum(w[a][b] * c[i][b] for b in range(c.shape[1])) for a in range(z.shape[1]))
                      for j in range(n)] for i in range(n)])


def cpc_loss_loop(c, z, w):
    per_k = []
    for k in range(z.shape[1]):
        s = cpc_scores_loop(c, z[:, k], w[k])
        per_k.append(sum(_xent(list(s[i]), i) for i in range(len(c))) / len(c))
    return sum(per_k) / len(per_k)


def _torch(x):
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(x.copy())
        return t.double() if t.is_floating_point() else t
    return x


def _f64(x):
    return x.astype(np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x


def _reference(name, args):
    out = specs.find_spec(name).reference(*[_torch(a) for a in args])
    return tuple(o.detach().numpy() if isinstance(o, torch.Tensor) else o for o in
                 (out if isinstance(out, tuple) else (out,)))


def _calls(name, seed=0):
    spec = specs.find_spec(name)
    calls = spec.cases(np.random.default_rng(seed))
    assert calls and all(c.function == name for c in calls)
    return calls


@pytest.mark.parametrize("seed", [0, 1])
def test_rotate_batch_reference(seed):
    for call in _calls("rotate_batch", seed):
        (images,) = call.args
        rotated, labels = _reference("rotate_batch", call.args)
        b = images.shape[0]
        for k in range(4):
            for i in range(b):
                img = images[i]
                for _ in range(k):
                    img = _rot90_ccw(img)
                np.testing.assert_array_equal(rotated[k * b + i], img)
                assert labels[k * b + i] == k


@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_references_match_float64_loops(seed):
    for call in _calls("cosine_similarity_matrix", seed):
        a, b = map(_f64, call.args)
        np.testing.assert_allclose(_reference(call.function, call.args)[0], cosine_loop(a, b), rtol=1e-9, atol=1e-12)
    for call in _calls("info_nce", seed):
        q, k, neg, t = map(_f64, call.args)
        assert float(_reference(call.function, call.args)[0]) == pytest.approx(info_nce_loop(q, k, neg, t), rel=1e-9)
    for name in ("nt_xent", "nt_xent_loop"):
        for call in _calls(name, seed):
            z1, z2, t = map(_f64, call.args)
            assert float(_reference(name, call.args)[0]) == pytest.approx(nt_xent_loop(z1, z2, t), rel=1e-9)
    for call in _calls("ema_update", seed):
        key, query, m = map(_f64, call.args)
        expected = np.vectorize(lambda a, b: m * a + (1 - m) * b)(key, query)
        np.testing.assert_allclose(_reference(call.function, call.args)[0], expected, rtol=1e-12)
    for name in ("moco_logits", "moco_loss"):
        for call in _calls(name, seed):
            q, k, queue, t = map(_f64, call.args)
            logits = moco_logits_loop(q, k, queue, t)
            out = _reference(name, call.args)
            if name == "moco_logits":
                np.testing.assert_allclose(out[0], logits, rtol=1e-9, atol=1e-12)
                assert out[1].tolist() == [0] * len(q)
            else:
                expected = sum(_xent(list(row), 0) for row in logits) / len(q)
                assert float(out[0]) == pytest.approx(expected, rel=1e-9)
    for call in _calls("cpc_scores", seed):
        c, z, w = map(_f64, call.args)
        np.testing.assert_allclose(_reference(call.function, call.args)[0], cpc_scores_loop(c, z, w), rtol=1e-9,
                                   atol=1e-12)
    for call in _calls("cpc_loss", seed):
        c, z, w = map(_f64, call.args)
        assert float(_reference(call.function, call.args)[0]) == pytest.approx(cpc_loss_loop(c, z, w), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_enqueue_reference_is_a_fifo_ring(seed):
    wrapped = False
    for call in _calls("dequeue_and_enqueue", seed):
        queue, ptr, keys = map(_f64, call.args)
        expected = [row.copy() for row in queue]
        p = ptr
        for key in keys:  # one key at a time into the oldest slot
            expected[p] = key
            p = (p + 1) % len(queue)
        new_queue, new_ptr = _reference(call.function, call.args)
        np.testing.assert_array_equal(new_queue, np.array(expected))
        assert int(new_ptr) == p
        wrapped |= ptr + len(keys) > len(queue)
    assert wrapped  # the cases include one that wraps around the end
