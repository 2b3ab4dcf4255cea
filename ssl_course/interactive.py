"""The computations behind the lectures' knobs: pure functions of their arguments, unit-tested in
tests/test_widgets.py. ``ssl_course.widgets`` wires sliders to these (and to the plots in ``ssl_course.viz``);
nothing here imports ipywidgets.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentConfig
from .losses import cosine_similarity_matrix
from .mi import optimal_critic_estimate


# --------------------------------------------------------------------------------------------------------------
# InfoNCE / NT-Xent and the temperature
# --------------------------------------------------------------------------------------------------------------

def paired_embeddings(n: int = 8, dim: int = 16, noise: float = 0.8, seed: int = 0):
    """(z1, z2), each (n, dim): z2 is z1 plus Gaussian noise of std ``noise`` (row i of each is a positive pair),
    a stand-in for the two views' projections that makes the temperature's effect visible."""
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, dim, generator=g)
    return z1, z1 + noise * torch.randn(n, dim, generator=g)


def info_nce_softmax(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, N) row-softmax of cosine(z1_i, z2_j) / t: row i is the probability InfoNCE gives each candidate of being
    query i's positive (the positive is column i). Each row sums to 1."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(cosine_similarity_matrix(z1, z2) / temperature, dim=1)


def info_nce_from_softmax(probs: torch.Tensor) -> float:
    """The InfoNCE loss read off the softmax matrix: mean_i -log p_ii (equals ``losses.info_nce``)."""
    return float(-torch.log(torch.diagonal(probs)).mean())


def nt_xent_softmax(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """(2N, 2N) softmax NT-Xent computes for every anchor of [z1; z2] over the 2N candidates, the anchor itself
    masked (probability exactly 0); anchor i's positive is column (i + N) mod 2N. Each row sums to 1."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    return torch.softmax(logits, dim=1)


def nt_xent_from_softmax(probs: torch.Tensor) -> float:
    """NT-Xent read off ``nt_xent_softmax``: mean over the 2N anchors of -log p(positive) (equals
    ``losses.nt_xent``)."""
    n2 = len(probs)
    positives = (torch.arange(n2) + n2 // 2) % n2
    return float(-torch.log(probs[torch.arange(n2), positives]).mean())


# --------------------------------------------------------------------------------------------------------------
# the log N ceiling of the MI estimate
# --------------------------------------------------------------------------------------------------------------

def mi_ceiling_curve(true_mis, batch_size: int, dim: int = 10, num_batches: int = 5, seed: int = 0) -> np.ndarray:
    """InfoNCE estimates (optimal critic, correlated Gaussians) for each true MI at one batch size N; every value
    is <= log N. (``mi.optimal_critic_estimate`` per point.)"""
    return np.array([optimal_critic_estimate(float(m), dim, int(batch_size), num_batches=num_batches, seed=seed)
                     for m in true_mis])


# --------------------------------------------------------------------------------------------------------------
# augmentations
# --------------------------------------------------------------------------------------------------------------

def augment_config(crop_min_scale: float = 0.2, strength: float = 1.0, blur_p: float = 0.0, gray_p: float = 0.2,
                   image_size: int = 32) -> AugmentConfig:
    """SimCLR's recipe with the four knobs a reader can turn: the smallest crop area (fraction of the image), the
    colour-jitter strength s (0 turns jitter off), the blur and grayscale probabilities."""
    cfg = AugmentConfig.recipe("simclr", image_size, strength).with_(crop_scale=(float(crop_min_scale), 1.0),
                                                                      blur_p=float(blur_p), gray_p=float(gray_p))
    return cfg.with_(jitter_p=0.0) if strength <= 0 else cfg


# --------------------------------------------------------------------------------------------------------------
# MoCo: how consistent are the keys stored in the queue with the current key encoder?
# --------------------------------------------------------------------------------------------------------------

def stored_key_consistency(momentum: float, queue_size: int, batch_size: int = 32, dim: int = 32, steps: int | None = None,
                    lr: float = 0.1, seed: int = 0) -> dict:
    """A toy of MoCo's dictionary: the query encoder is a linear map that drifts like SGD (a random step of size
    ``lr`` relative to its size each iteration); the key encoder follows it by EMA with ``momentum``; each iteration enqueues a batch
    of keys and keeps the newest ``queue_size`` (``steps`` iterations; by default enough to fill the queue).
    Consistency of a stored key = cosine between it and what the *current* key encoder gives for the same input:
    it rises with the momentum (unlike ``evaluate.query_key_agreement``, the cosine between the key and the query
    branches, which falls with it).

    Returns {"age": (A,) iterations since the key was encoded, "consistency": (A,) mean cosine per age,
    "mean": mean cosine over the whole queue}. m -> 1 keeps old keys consistent; m = 0 (key encoder = query
    encoder) makes them stale as the queue grows, which is MoCo's argument for the momentum encoder.
    """
    g = torch.Generator().manual_seed(seed)
    w_q = torch.eye(dim) + 0.1 * torch.randn(dim, dim, generator=g)
    w_k = w_q.clone()
    max_age = max(1, -(-int(queue_size) // int(batch_size)))
    steps = max_age + 50 if steps is None else steps  # by default, long enough to fill the queue
    inputs: list[torch.Tensor] = []
    keys: list[torch.Tensor] = []
    for _ in range(steps):
        w_q = w_q + lr * torch.randn(dim, dim, generator=g) / math.sqrt(dim)
        w_q = w_q * (math.sqrt(dim) / w_q.norm())  # keep the scale: each step moves the encoder by about lr
        w_k = momentum * w_k + (1 - momentum) * w_q
        x = torch.randn(batch_size, dim, generator=g)
        inputs.append(x)
        keys.append(x @ w_k.T)
        inputs, keys = inputs[-max_age:], keys[-max_age:]
    ages, cons = [], []
    for age, (x, k) in enumerate(zip(reversed(inputs), reversed(keys))):
        ages.append(age)
        cons.append(float(F.cosine_similarity(k, x @ w_k.T, dim=1).mean()))
    consistency = np.array(cons)
    # the last batch of the queue may be partly filled: weight by how many of its keys are kept
    counts = np.full(len(ages), batch_size, dtype=float)
    counts[-1] = queue_size - batch_size * (len(ages) - 1)
    return {"age": np.array(ages), "consistency": consistency,
            "mean": float((consistency * counts).sum() / counts.sum())}



# --------------------------------------------------------------------------------------------------------------
# attention maps
# --------------------------------------------------------------------------------------------------------------

def attention_map(attention, layer: int, head: int, image: int) -> np.ndarray:
    """Pick one (h, w) map out of ``attention`` and scale it to [0, 1].

    attention: (L, B, H, h, w) spatial maps, or (L, B, H, P) with P = g * g patch scores (a ViT's CLS row without
    the CLS column) which are reshaped to (g, g). Indices: layer L, image B, head H.
    """
    a = torch.as_tensor(np.asarray(attention), dtype=torch.float32)
    m = a[layer, image, head]
    if m.dim() == 1:
        side = int(round(math.sqrt(m.numel())))
        if side * side != m.numel():
            raise ValueError(f"{m.numel()} patch scores do not form a square grid")
        m = m.view(side, side)
    m = m - m.min()
    return (m / m.max().clamp_min(1e-12)).numpy()
