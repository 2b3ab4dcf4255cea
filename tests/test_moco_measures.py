"""Lecture 04's two MoCo measures move in opposite directions with the momentum, and their names say so:

* ``evaluate.query_key_agreement``: cosine between the key branch and the query branch on the same images. The key
  encoder lags the query encoder more as m grows, so it FALLS with the momentum (1.0 at m = 0).
* ``interactive.stored_key_consistency``: cosine between a key stored in the queue and what the current key encoder
  gives for the same input. A slow key encoder keeps old keys valid, so it RISES with the momentum.
"""
import torch

from ssl_course import interactive
from ssl_course.evaluate import query_key_agreement
from ssl_course.losses import momentum_update_
from ssl_course.methods import MoCo
from ssl_course.models import SmallCNN

MOMENTA = (0.0, 0.9, 0.99, 0.999)


def test_stored_key_consistency_rises_with_momentum():
    means = [interactive.stored_key_consistency(m, 4096, batch_size=64)["mean"] for m in MOMENTA]
    assert all(a < b for a, b in zip(means, means[1:])), means


def drifted_agreement(momentum, steps=30, size=0.02):
    """A controlled run: the query encoder takes the same sequence of random SGD-like steps for every momentum,
    the key encoder follows by EMA; then the agreement of the two branches on fixed images."""
    torch.manual_seed(0)
    moco = MoCo(SmallCNN(8), dim=16, hidden_dim=32, queue_size=64, image_size=16)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(32, 3, 16, 16, generator=g)
    with torch.no_grad():
        for _ in range(steps):
            for p in moco.query_parameters():
                p.add_(size * torch.randn(p.shape, generator=g) * (p.abs().mean() + 1e-3))
            momentum_update_(moco.key_parameters(), moco.query_parameters(), momentum)
    return query_key_agreement(moco, images, device="cpu")


def test_query_key_agreement_falls_with_momentum():
    values = [drifted_agreement(m) for m in MOMENTA]
    assert abs(values[0] - 1.0) < 1e-5  # m = 0: the key encoder is the query encoder
    assert all(a > b for a, b in zip(values, values[1:])), values
