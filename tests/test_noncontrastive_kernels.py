"""The kernels of learning without negatives (BYOL, SimSiam, SwAV, DINO) against float64 loops written from the
papers' formulas, plus the properties that make them work: stop-gradients, equipartition, the center's EMA."""
import math

import pytest
import torch

from ssl_course import losses as L


def _cos64(a, b):
    a, b = a.double(), b.double()
    return float(a @ b) / (float(a.norm()) * float(b.norm()))


def _log_softmax64(row, t):
    values = [float(v) / t for v in row]
    m = max(values)
    lse = m + math.log(sum(math.exp(v - m) for v in values))
    return [v - lse for v in values]


def test_negative_cosine_matches_float64_loop_and_stops_the_gradient():
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(7, 5, generator=g, requires_grad=True), torch.randn(7, 5, generator=g, requires_grad=True)
    expected = -sum(_cos64(p[i].detach(), z[i].detach()) for i in range(7)) / 7
    loss = L.negative_cosine(p, z)
    assert abs(loss.item() - expected) < 1e-6
    loss.backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    assert z.grad is None  # the stop-gradient: nothing reaches the target branch
    # the ablation lets the gradient through
    p2, z2 = p.detach().clone().requires_grad_(), z.detach().clone().requires_grad_()
    L.negative_cosine(p2, z2, stop_gradient=False).backward()
    assert z2.grad is not None and z2.grad.abs().sum() > 0


def test_normalized_mse_matches_float64_loop_and_is_two_minus_two_cosine():
    g = torch.Generator().manual_seed(1)
    p, z = torch.randn(6, 4, generator=g, requires_grad=True), torch.randn(6, 4, generator=g, requires_grad=True)
    expected = 0.0
    for i in range(6):
        a, b = p[i].detach().double(), z[i].detach().double()
        expected += float(((a / a.norm() - b / b.norm()) ** 2).sum())
    expected /= 6
    loss = L.normalized_mse(p, z)
    assert abs(loss.item() - expected) < 1e-6
    loss.backward()
    assert z.grad is None and p.grad.abs().sum() > 0
    assert float(L.normalized_mse(z.detach(), 3 * z.detach())) < 1e-6  # same direction: zero loss


def _sinkhorn64(scores, eps, iterations):
    """The paper's appendix A.1 pseudo-code, in float64 loops (K x B layout)."""
    n, k = scores.shape
    q = [[math.exp(float(scores[b, j]) / eps) for b in range(n)] for j in range(k)]
    total = sum(map(sum, q))
    q = [[v / total for v in row] for row in q]
    for _ in range(iterations):
        q = [[v / sum(row) / k for v in row] for row in q]
        col = [sum(q[j][b] for j in range(k)) for b in range(n)]
        q = [[q[j][b] / col[b] / n for b in range(n)] for j in range(k)]
    return torch.tensor([[q[j][b] * n for j in range(k)] for b in range(n)], dtype=torch.float64)


def test_sinkhorn_matches_the_papers_pseudocode_and_equipartitions():
    g = torch.Generator().manual_seed(2)
    scores = torch.nn.functional.normalize(torch.randn(12, 8, generator=g), dim=1)  # cosines in [-1, 1]
    q = L.sinkhorn_knopp(scores, epsilon=0.05, iterations=3)
    assert q.shape == (12, 8)
    assert torch.allclose(q.double(), _sinkhorn64(scores, 0.05, 3), atol=1e-5)
    assert torch.allclose(q.sum(1), torch.ones(12), atol=1e-5)  # a distribution per sample
    # columns approach B / K; with many iterations they reach it
    many = L.sinkhorn_knopp(scores, epsilon=0.05, iterations=200)
    assert torch.allclose(many.sum(0), torch.full((8,), 12 / 8), atol=1e-3)
    # equipartition is the point: a score matrix where every sample prefers prototype 0 still spreads the mass
    biased = scores.clone()
    biased[:, 0] += 2.5  # cosines are within [-1, 1]: +2.5 makes prototype 0 every row's best
    argmax_first = (biased.argmax(1) == 0).float().mean()
    spread = L.sinkhorn_knopp(biased, iterations=200).sum(0)
    assert argmax_first == 1.0 and spread.max() < 12 / 8 + 1e-2
    # epsilon 0.05 on large scores: no overflow (the max is subtracted before exp)
    assert torch.isfinite(L.sinkhorn_knopp(scores * 50, epsilon=0.05)).all()


def test_sinkhorn_is_float32_and_without_gradient_under_autocast():
    scores = torch.randn(6, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q = L.sinkhorn_knopp(scores @ torch.eye(4))
    assert q.dtype == torch.float32 and not q.requires_grad


def test_swapped_prediction_matches_float64_loop():
    g = torch.Generator().manual_seed(3)
    views, n, k, t = 4, 5, 6, 0.1
    scores = torch.randn(views, n, k, generator=g, requires_grad=True)
    codes = torch.softmax(torch.randn(2, n, k, generator=g), -1)
    expected = 0.0
    for i in range(2):
        inner = 0.0
        for v in range(views):
            if v == i:
                continue
            inner += sum(-sum(float(codes[i, b, j]) * lp for j, lp in enumerate(_log_softmax64(scores[v, b], t)))
                         for b in range(n)) / n
        expected += inner / (views - 1)
    expected /= 2
    loss = L.swapped_prediction_loss(scores, codes, t)
    assert abs(loss.item() - expected) < 1e-5
    loss.backward()
    assert scores.grad.abs().sum() > 0


def test_swapped_prediction_swaps_the_code_never_predicts_itself():
    # crop 0 predicts only crop 1's code and vice versa: a code equal to its own crop's softmax changes nothing
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(2, 3, 4, generator=g)
    codes = torch.softmax(torch.randn(2, 3, 4, generator=g), -1)
    changed = codes.clone()
    changed[0] = torch.softmax(torch.randn(3, 4, generator=g), -1)
    # changing crop 0's code changes only the term in which crop 1 predicts it
    d0 = float(L.swapped_prediction_loss(scores, changed)) - float(L.swapped_prediction_loss(scores, codes))
    log_p1 = torch.log_softmax(scores[1] / 0.1, -1)
    expected = float((-(changed[0] * log_p1).sum(-1).mean() + (codes[0] * log_p1).sum(-1).mean()) / 2)
    assert abs(d0 - expected) < 1e-5


def _dino64(student, teacher, center, ts, tt):
    total, count = 0.0, 0
    for i in range(teacher.shape[0]):
        for v in range(student.shape[0]):
            if v == i:
                continue
            per = 0.0
            for b in range(student.shape[1]):
                target = [math.exp(x) for x in _log_softmax64(teacher[i, b].double() - center.double(), tt)]
                per += -sum(p * lp for p, lp in zip(target, _log_softmax64(student[v, b], ts)))
            total += per / student.shape[1]
            count += 1
    return total / count


def test_dino_loss_matches_float64_loop_and_never_reaches_the_teacher():
    g = torch.Generator().manual_seed(5)
    student = torch.randn(4, 3, 7, generator=g, requires_grad=True)
    teacher = torch.randn(2, 3, 7, generator=g, requires_grad=True)
    center = torch.randn(7, generator=g, requires_grad=True)
    loss = L.dino_loss(student, teacher, center, 0.1, 0.04)
    assert abs(loss.item() - _dino64(student.detach(), teacher.detach(), center.detach(), 0.1, 0.04)) < 1e-4
    loss.backward()
    assert student.grad.abs().sum() > 0
    assert teacher.grad is None and center.grad is None


def test_dino_centering_and_sharpening_act_on_the_teacher_only():
    g = torch.Generator().manual_seed(6)
    student, teacher = torch.randn(2, 4, 5, generator=g), torch.randn(2, 4, 5, generator=g)
    # a center that is a constant shift changes nothing (softmax is shift-invariant)
    base = L.dino_loss(student, teacher, torch.zeros(5))
    assert abs(float(L.dino_loss(student, teacher, torch.full((5,), 3.0))) - float(base)) < 1e-5
    # a colder teacher makes sharper targets: with the student equal to the teacher, the cross-entropy falls
    # towards the student's own entropy bound as the teacher sharpens
    assert float(L.dino_loss(teacher.flip(0), teacher, torch.zeros(5), 0.1, 0.01)) != float(base)


def test_dino_center_update_is_an_ema_of_the_teacher_batch_mean():
    g = torch.Generator().manual_seed(7)
    teacher = torch.randn(2, 6, 3, generator=g)
    center = torch.randn(3, generator=g)
    new = L.dino_center_update(center, teacher, momentum=0.9)
    expected = 0.9 * center.double() + 0.1 * teacher.double().reshape(-1, 3).mean(0)
    assert torch.allclose(new.double(), expected, atol=1e-6)
    assert not torch.equal(new, center)  # the input is returned unchanged, the result is new
    # momentum 1 keeps the center; 0 replaces it by the batch mean
    assert torch.allclose(L.dino_center_update(center, teacher, 1.0), center)
    assert torch.allclose(L.dino_center_update(center, teacher, 0.0), teacher.reshape(-1, 3).mean(0), atol=1e-6)


def test_bad_shapes_and_settings_raise_one_line_errors():
    with pytest.raises(ValueError, match="must both be"):
        L.negative_cosine(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match="epsilon"):
        L.sinkhorn_knopp(torch.randn(3, 4), epsilon=0.0)
    with pytest.raises(ValueError, match="codes"):
        L.swapped_prediction_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="center"):
        L.dino_loss(torch.randn(2, 3, 4), torch.randn(1, 3, 4), torch.zeros(5))


def test_float64_input_stays_float64():
    """The graders compare students' float64 answers with these kernels at float64 tolerances (1e-6)."""
    g = torch.Generator().manual_seed(3)
    p, z = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    assert L.negative_cosine(p, z).dtype == torch.float64 and L.normalized_mse(p, z).dtype == torch.float64
    assert L.sinkhorn_knopp(torch.randn(6, 3, generator=g, dtype=torch.float64)).dtype == torch.float64
    s, t, c = (torch.randn(3, 5, 4, generator=g, dtype=torch.float64), torch.randn(2, 5, 4, generator=g,
               dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    assert L.dino_loss(s, t, c).dtype == torch.float64 and L.dino_center_update(c, t).dtype == torch.float64
