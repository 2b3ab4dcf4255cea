"""The reference kernels against float64 loops written straight from the papers' formulas, plus gradients,
invariants and numerical robustness."""
import math

import pytest
import torch

from ssl_course import losses as L


def _log_softmax_loop(logits_row, target):
    m = max(logits_row)
    return -(logits_row[target] - (m + math.log(sum(math.exp(v - m) for v in logits_row))))


def _cos(a, b):
    return float(a @ b) / (float(a.norm()) * float(b.norm()))


def info_nce_loop(q, k, negatives, t, similarity="cosine"):
    """Float64 loop: for each query, -log softmax of the positive among [positive, negatives...]."""
    sim = _cos if similarity == "cosine" else (lambda a, b: float(a @ b))
    total = 0.0
    for i in range(len(q)):
        if negatives is None:
            logits = [sim(q[i], k[j]) / t for j in range(len(k))]
            total += _log_softmax_loop(logits, i)
        else:
            negs = negatives if negatives.dim() == 2 else negatives[i]
            logits = [sim(q[i], k[i]) / t] + [sim(q[i], n) / t for n in negs]
            total += _log_softmax_loop(logits, 0)
    return total / len(q)


def nt_xent_loop(z1, z2, t):
    z = torch.cat([z1, z2]).double()
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        pos = (i + n2 // 2) % n2
        logits = [_cos(z[i], z[j]) / t for j in range(n2) if j != i]
        target = pos if pos < i else pos - 1  # index after removing i
        total += _log_softmax_loop(logits, target)
    return total / n2


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
@pytest.mark.parametrize("negatives", [None, "shared", "per_query"])
def test_info_nce_matches_float64_loop(gen, similarity, negatives):
    n, m, d, t = 6, 5, 4, 0.3
    q, k = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    neg = {None: None, "shared": torch.randn(m, d, generator=gen), "per_query": torch.randn(n, m, d, generator=gen)}
    neg = neg[negatives]
    got = L.info_nce(q, k, neg, temperature=t, similarity=similarity)
    expected = info_nce_loop(q.double(), k.double(), None if neg is None else neg.double(), t, similarity)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("n,t", [(1, 0.5), (4, 0.1), (9, 1.0)])
def test_nt_xent_matches_float64_loop(gen, n, t):
    z1, z2 = torch.randn(n, 7, generator=gen), torch.randn(n, 7, generator=gen)
    assert L.nt_xent(z1, z2, t).item() == pytest.approx(nt_xent_loop(z1, z2, t), rel=1e-5, abs=1e-6)


def test_nt_xent_float64_gradients_match_finite_differences(gen):
    z1 = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: L.nt_xent(a, b, 0.2), (z1, z2))


def test_info_nce_and_moco_gradients_match_finite_differences(gen):
    q = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    neg = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: L.info_nce(a, b, c, 0.3), (q, k, neg))
    assert torch.autograd.gradcheck(lambda a, b: L.info_nce(a, b, None, 0.3, similarity="dot"), (q, k))
    queue = torch.nn.functional.normalize(torch.randn(6, 3, generator=gen, dtype=torch.float64), dim=1)
    assert torch.autograd.gradcheck(lambda a: L.moco_loss(a, k.detach(), queue, 0.2), (q,))


def test_nt_xent_is_symmetric_in_the_two_views_and_permutation_invariant(gen):
    z1, z2 = torch.randn(8, 5, generator=gen), torch.randn(8, 5, generator=gen)
    base = L.nt_xent(z1, z2, 0.5)
    assert L.nt_xent(z2, z1, 0.5).item() == pytest.approx(base.item(), rel=1e-6)
    perm = torch.randperm(8, generator=gen)
    assert L.nt_xent(z1[perm], z2[perm], 0.5).item() == pytest.approx(base.item(), rel=1e-6)
    # but breaking the pairing changes it: the loss does look at which rows are paired
    assert abs(L.nt_xent(z1, z2[perm], 0.5).item() - base.item()) > 1e-3


def test_info_nce_is_permutation_invariant(gen):
    q, k = torch.randn(7, 4, generator=gen), torch.randn(7, 4, generator=gen)
    perm = torch.randperm(7, generator=gen)
    assert L.info_nce(q[perm], k[perm]).item() == pytest.approx(L.info_nce(q, k).item(), rel=1e-6)


@pytest.mark.parametrize("n", [2, 5, 32])
def test_collapsed_embeddings_give_log_2n_minus_1(n):
    z = torch.ones(n, 16)
    assert L.nt_xent(z, z.clone(), 0.1).item() == pytest.approx(math.log(2 * n - 1), rel=1e-6)


def test_no_overflow_at_low_temperature_with_large_logits(gen):
    z1 = torch.randn(16, 8, generator=gen) * 1e4
    z2 = z1 + torch.randn(16, 8, generator=gen)
    loss = L.nt_xent(z1, z2, 0.01)
    assert torch.isfinite(loss)
    q = torch.randn(16, 8, generator=gen) * 50
    loss = L.info_nce(q, q.clone(), torch.randn(30, 8, generator=gen) * 50, temperature=0.01, similarity="dot")
    assert torch.isfinite(loss)  # logits up to ~2.5e5: a naive exp would overflow float32
    expected = info_nce_loop(q.double(), q.double(), None, 0.01, "dot")
    assert torch.isfinite(L.info_nce(q, q.clone(), None, 0.01, "dot"))
    assert L.info_nce(q, q.clone(), None, 0.01, "dot").item() == pytest.approx(expected, rel=1e-6)


def test_float32_and_bfloat16_autocast_agree_with_float64(gen):
    z1, z2 = torch.randn(32, 16, generator=gen), torch.randn(32, 16, generator=gen)
    ref = L.nt_xent(z1.double(), z2.double(), 0.2).item()
    assert L.nt_xent(z1, z2, 0.2).item() == pytest.approx(ref, rel=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = L.nt_xent(z1, z2, 0.2)
    assert low.item() == pytest.approx(ref, rel=3e-2)


def test_moco_logits_layout(gen):
    q = torch.nn.functional.normalize(torch.randn(4, 3, generator=gen), dim=1)
    k = torch.nn.functional.normalize(torch.randn(4, 3, generator=gen), dim=1)
    queue = torch.nn.functional.normalize(torch.randn(10, 3, generator=gen), dim=1)
    logits, labels = L.moco_logits(q, k, queue, 0.5)
    assert logits.shape == (4, 11) and labels.tolist() == [0, 0, 0, 0]
    for i in range(4):
        assert logits[i, 0].item() == pytest.approx(float(q[i] @ k[i]) / 0.5, rel=1e-6)
        for j in range(10):
            assert logits[i, 1 + j].item() == pytest.approx(float(q[i] @ queue[j]) / 0.5, rel=1e-5, abs=1e-6)
    # MoCo's loss is InfoNCE with the queue as shared negatives (inputs already normalised)
    assert L.moco_loss(q, k, queue, 0.5).item() == pytest.approx(
        info_nce_loop(q.double(), k.double(), queue.double(), 0.5), rel=1e-5)


def test_moco_loss_sends_no_gradient_into_keys_or_queue(gen):
    q = torch.randn(3, 4, generator=gen, requires_grad=True)
    k = torch.randn(3, 4, generator=gen, requires_grad=True)
    queue = torch.randn(5, 4, generator=gen, requires_grad=True)
    L.moco_loss(q, k, queue).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert k.grad is None and queue.grad is None


def test_ema_and_momentum_update():
    key, query = torch.full((3,), 2.0), torch.full((3,), 4.0)
    assert torch.allclose(L.ema_update(key, query, 0.75), torch.full((3,), 2.5))
    assert torch.equal(L.ema_update(key, query, 1.0), key)
    assert torch.equal(L.ema_update(key, query, 0.0), query)
    k_net, q_net = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = [p.clone() for p in k_net.parameters()]
    L.momentum_update_(k_net.parameters(), q_net.parameters(), 0.9)
    for b, pk, pq in zip(before, k_net.parameters(), q_net.parameters()):
        assert torch.allclose(pk, 0.9 * b + 0.1 * pq)
    with pytest.raises(ValueError):
        L.ema_update(key, query, 1.5)


def test_dequeue_and_enqueue_is_fifo_with_wraparound():
    queue = torch.arange(10.0).view(5, 2)
    new, ptr = L.dequeue_and_enqueue(queue, 3, torch.full((3, 2), -1.0))
    assert ptr == 1
    assert new[:, 0].tolist() == [-1.0, 2.0, 4.0, -1.0, -1.0]  # rows 3, 4, then 0 replaced
    assert queue[0, 0].item() == 0.0  # the input is not modified
    # after K / N enqueues of N keys every original entry is gone, oldest first
    q, p = queue, 0
    for step in range(5):
        q, p = L.dequeue_and_enqueue(q, p, torch.full((1, 2), 100.0 + step))
    assert q[:, 0].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    with pytest.raises(ValueError):
        L.dequeue_and_enqueue(queue, 0, torch.zeros(6, 2))


def test_mi_lower_bound_and_shuffle_indices(gen):
    assert L.mi_lower_bound(0.0, 16) == pytest.approx(math.log(16))
    assert L.mi_lower_bound(math.log(16), 16) == pytest.approx(0.0)
    idx, inv = L.batch_shuffle_indices(12, gen)
    x = torch.randn(12, 3)
    assert torch.equal(x[idx][inv], x)
    assert sorted(idx.tolist()) == list(range(12)) and idx.tolist() != list(range(12))


def test_cpc_loss_matches_float64_loop(gen):
    n, num_k, c, d = 6, 3, 5, 4
    ctx, fut, w = torch.randn(n, c, generator=gen), torch.randn(n, num_k, d, generator=gen), torch.randn(num_k, d, c,
                                                                                                             generator=gen)
    per_k = []
    for k in range(num_k):
        total = 0.0
        for i in range(n):
            pred = w[k].double() @ ctx[i].double()
            logits = [float(fut[j, k].double() @ pred) for j in range(n)]
            total += _log_softmax_loop(logits, i)
        per_k.append(total / n)
    got = L.cpc_loss(ctx, fut, w, reduction="none")
    assert got.tolist() == pytest.approx(per_k, rel=1e-5)
    assert L.cpc_loss(ctx, fut, w).item() == pytest.approx(sum(per_k) / num_k, rel=1e-5)


def test_kernels_reject_bad_input():
    with pytest.raises(ValueError):
        L.nt_xent(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(ValueError):
        L.info_nce(torch.randn(3, 2), torch.randn(3, 2), temperature=0)
    with pytest.raises(ValueError):
        L.info_nce(torch.randn(3, 2), torch.randn(3, 2), similarity="l2")


# --- edges found by mutation testing (benchmarks/RESULTS_mutation.md): defaults, reductions, boundaries, messages

def test_default_temperatures_are_the_documented_ones(gen):
    q, k = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    queue = torch.nn.functional.normalize(torch.randn(7, 3, generator=gen), dim=1)
    assert L.info_nce(q, k).item() == pytest.approx(info_nce_loop(q.double(), k.double(), None, 0.1), rel=1e-5)
    assert L.nt_xent(q, k).item() == pytest.approx(nt_xent_loop(q, k, 0.5), rel=1e-5)
    qn, kn = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(k, dim=1)
    assert L.moco_loss(qn, kn, queue).item() == pytest.approx(
        info_nce_loop(qn.double(), kn.double(), queue.double(), 0.07), rel=1e-5)
    assert torch.allclose(L.moco_logits(qn, kn, queue)[0], L.moco_logits(qn, kn, queue, 0.07)[0])


def test_unreduced_losses_give_one_value_per_anchor(gen):
    z1, z2 = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    per_anchor = L.nt_xent(z1, z2, 0.3, reduction="none")
    assert per_anchor.shape == (8,)
    z = torch.cat([z1, z2]).double()
    for i in range(8):  # anchor i alone: the loop over its 2N - 1 candidates
        others = [j for j in range(8) if j != i]
        logits = [_cos(z[i], z[j]) / 0.3 for j in others]
        assert per_anchor[i].item() == pytest.approx(_log_softmax_loop(logits, others.index((i + 4) % 8)), rel=1e-5)
    q, k = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    per_query = L.info_nce(q, k, temperature=0.3, reduction="none")
    assert per_query.shape == (4,)
    for i in range(4):
        logits = [_cos(q[i].double(), k[j].double()) / 0.3 for j in range(4)]
        assert per_query[i].item() == pytest.approx(_log_softmax_loop(logits, i), rel=1e-5)


def test_boundaries_that_are_allowed_and_refused(gen):
    for bad in (0.0, -0.1):  # temperature 0 divides by zero: refused, like a negative one
        with pytest.raises(ValueError, match="temperature must be > 0"):
            L.nt_xent(torch.randn(2, 3), torch.randn(2, 3), bad)
        with pytest.raises(ValueError, match="temperature must be > 0"):
            L.moco_logits(torch.randn(2, 3), torch.randn(2, 3), torch.randn(4, 3), bad)
    with pytest.raises(ValueError, match="momentum must be in"):
        L.ema_update(torch.zeros(1), torch.zeros(1), -0.1)
    # a queue may take exactly K keys at once (they replace all of it), not K + 1
    queue = torch.zeros(4, 2)
    new, ptr = L.dequeue_and_enqueue(queue, 1, torch.ones(4, 2))
    assert torch.equal(new, torch.ones(4, 2)) and ptr == 1
    with pytest.raises(ValueError, match="cannot enqueue 5 keys into a queue of 4"):
        L.dequeue_and_enqueue(queue, 0, torch.ones(5, 2))
    with pytest.raises(ValueError, match=r"keys \(2, 3\) do not match queue rows \(4, 2\)"):
        L.dequeue_and_enqueue(queue, 0, torch.ones(2, 3))
    assert L.mi_lower_bound(0.5, 2) == pytest.approx(math.log(2) - 0.5)  # 2 candidates: the smallest task
    with pytest.raises(ValueError, match="need at least 2 candidates, got 1"):
        L.mi_lower_bound(0.5, 1)


def test_mismatched_shapes_are_refused_with_their_shapes():
    with pytest.raises(ValueError, match=r"query and positive_key must both be \(N, D\), got \(3, 2\) and \(4, 2\)"):
        L.info_nce(torch.randn(3, 2), torch.randn(4, 2))  # in-batch negatives would silently accept this
    with pytest.raises(ValueError, match=r"got \(3, 2, 1\) and \(3, 2, 1\)"):
        L.info_nce(torch.randn(3, 2, 1), torch.randn(3, 2, 1))
    with pytest.raises(ValueError, match=r"negative_keys must be \(M, D\) or \(N, M, D\), got \(1, 3, 5, 2\)"):
        L.info_nce(torch.randn(3, 2), torch.randn(3, 2), torch.randn(1, 3, 5, 2))
    with pytest.raises(ValueError, match="similarity must be 'cosine' or 'dot', got 'l2'"):
        L.info_nce(torch.randn(3, 2), torch.randn(3, 2), similarity="l2")
    with pytest.raises(ValueError, match=r"z1 and z2 must both be \(N, D\), got \(3, 2\) and \(4, 2\)"):
        L.nt_xent(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="3 future steps but 2 predictors W_k"):
        L.cpc_loss(torch.randn(4, 5), torch.randn(4, 3, 6), torch.randn(2, 6, 5))


def test_shuffle_indices_follow_the_generator():
    a, _ = L.batch_shuffle_indices(32, torch.Generator().manual_seed(7))
    b, _ = L.batch_shuffle_indices(32, torch.Generator().manual_seed(7))
    torch.manual_seed(0)
    c, _ = L.batch_shuffle_indices(32, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cosine_similarity_matrix_matches_a_loop(gen):
    a, b = torch.randn(4, 3, generator=gen), torch.randn(5, 3, generator=gen) * 7
    got = L.cosine_similarity_matrix(a, b)
    assert got.shape == (4, 5)
    for i in range(4):
        for j in range(5):
            assert got[i, j].item() == pytest.approx(_cos(a[i].double(), b[j].double()), rel=1e-5, abs=1e-6)
    zero = L.cosine_similarity_matrix(torch.zeros(1, 3), b)  # eps keeps a zero vector finite
    assert torch.equal(zero, torch.zeros(1, 5))


def test_info_nce_refuses_a_zero_temperature():
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        L.info_nce(torch.randn(3, 2), torch.randn(3, 2), temperature=0)
