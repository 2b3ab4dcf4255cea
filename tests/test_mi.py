"""The InfoNCE mutual-information estimators of lecture 02, against the known MI of correlated Gaussians."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from ssl_course import mi


@pytest.mark.parametrize("dim,target", [(1, 0.5), (10, 4.0), (10, 10.0)])
def test_rho_for_mi_inverts_the_closed_form(dim, target):
    assert mi.gaussian_mi(dim, mi.rho_for_mi(target, dim)) == pytest.approx(target, rel=1e-12)


def test_samples_have_the_asked_correlation():
    x, y = mi.correlated_gaussians(200_000, 2, 0.6, torch.Generator().manual_seed(0))
    corr = np.corrcoef(x[:, 0].numpy(), y[:, 0].numpy())[0, 1]
    assert corr == pytest.approx(0.6, abs=0.01)
    assert float(y.std()) == pytest.approx(1.0, abs=0.01)  # unit marginal variance, as the critic assumes


def test_optimal_critic_is_the_log_density_ratio_in_float64():
    dim, rho = 3, 0.7
    x, y = mi.correlated_gaussians(5, dim, rho, torch.Generator().manual_seed(1))
    scores = mi.optimal_critic_scores(x.double(), y.double(), rho).numpy()
    var = 1 - rho ** 2
    for i in range(5):
        for j in range(5):
            cond = multivariate_normal(mean=rho * x[i].double().numpy(), cov=var * np.eye(dim)).logpdf(y[j].double().numpy())
            marginal = multivariate_normal(mean=np.zeros(dim), cov=np.eye(dim)).logpdf(y[j].double().numpy())
            assert scores[i, j] == pytest.approx(cond - marginal, abs=1e-9)


def test_info_nce_from_scores_matches_a_float64_loop():
    scores = torch.randn(6, 6, generator=torch.Generator().manual_seed(2)) * 30  # large: needs log-sum-exp
    expected = np.mean([-(s[i] - np.logaddexp.reduce(s)) for i, s in enumerate(scores.double().numpy())])
    assert float(mi.info_nce_from_scores(scores)) == pytest.approx(expected, rel=1e-5)


def test_optimal_estimate_is_close_to_the_truth_when_log_n_is_large():
    estimate = mi.optimal_critic_estimate(1.0, dim=10, batch_size=1024, num_batches=5, device="cpu")
    assert 0.85 < estimate < 1.1


def test_estimate_saturates_at_log_n():
    n = 16
    estimate = mi.optimal_critic_estimate(10.0, dim=10, batch_size=n, num_batches=10, device="cpu")
    assert estimate <= math.log(n) + 1e-9
    assert estimate > math.log(n) - 0.1  # true MI 10 nats >> log 16 = 2.77: the bound, not the truth, is the limit


def test_learned_critic_learns_but_stays_below_both_the_truth_and_log_n():
    untrained = mi.learned_critic_estimate(2.0, dim=10, batch_size=64, steps=0, device="cpu")
    trained = mi.learned_critic_estimate(2.0, dim=10, batch_size=64, steps=150, device="cpu")
    assert untrained < 0.5
    assert 1.2 < trained <= min(math.log(64), 2.0 + 0.15)


def test_samples_are_the_generators_draws_on_every_device():
    """x is the generator's first standard-normal draw and y = rho x + sqrt(1 - rho^2) eps with eps the second,
    in that order, whatever the device argument; on a GPU the samples equal the CPU ones."""
    rho = 0.5
    g = torch.Generator().manual_seed(3)
    x_ref, eps = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    y_ref = (rho * x_ref.double() + math.sqrt(1 - rho ** 2) * eps.double()).float()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in [None] + devices:
        x, y = mi.correlated_gaussians(8, 3, rho, torch.Generator().manual_seed(3), device=device)
        assert x.device.type == (device or "cpu")
        assert torch.equal(x.cpu(), x_ref)
        assert torch.allclose(y.cpu(), y_ref, rtol=0, atol=1e-6)
