"""Reference kernels: the contrastive losses and the small state updates the methods are built from.

Every function here is pure (it returns new tensors; only the explicitly named ``*_`` functions change
their arguments in place), works in float32 / bfloat16 autocast, and computes log-softmaxes with
log-sum-exp (``torch.logsumexp`` / ``F.cross_entropy``), so logits of 1/0.01 = 100 do not overflow.
The tests compare each one against a float64 loop written straight from the paper's formula.

Shapes use N for the batch, D for the embedding dimension, K for the queue length.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F

# RotNet's kernel lives with the pretext kernels (ssl_course.pretext). Kept for the committed lectures (lecture 00 imports
# it from here) and the grader's library lookup (autograder/grade.py); remove when they are re-executed / moved.
from .pretext import rotate_batch

__all__ = [
    "cosine_similarity_matrix",
    "info_nce",
    "nt_xent",
    "moco_logits",
    "moco_loss",
    "ema_update",
    "momentum_update_",
    "dequeue_and_enqueue",
    "mi_lower_bound",
    "batch_shuffle_indices",
    "cpc_scores",
    "cpc_loss",
    "rotate_batch",
]


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pairwise cosine similarity.

    a: (N, D), b: (M, D)  ->  (N, M) with entry [i, j] = a_i . b_j / (|a_i| |b_j|).
    """
    return F.normalize(a, dim=-1, eps=eps) @ F.normalize(b, dim=-1, eps=eps).transpose(-2, -1)


def info_nce(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    negative_keys: torch.Tensor | None = None,
    temperature: float = 0.1,
    similarity: str = "cosine",
    reduction: str = "mean",
) -> torch.Tensor:
    """InfoNCE: an (M+1)-way (or N-way) cross-entropy that picks the positive key out of the candidates.

        L_i = -log  exp(s(q_i, k_i+) / t) / sum_{k in candidates_i} exp(s(q_i, k) / t)

    query:         (N, D)
    positive_key:  (N, D), row i is the positive for query i
    negative_keys: None  -> in-batch negatives: the candidates for q_i are all N positive keys
                            (the other rows' positives act as negatives; N-way classification);
                   (M, D)    -> the same M negatives for every query ((1+M)-way);
                   (N, M, D) -> M negatives of its own for each query.
    temperature:   t > 0; similarity: "cosine" (normalise first) or "dot".
    Returns the mean over queries (a scalar), or (N,) with reduction="none".
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if query.shape != positive_key.shape or query.dim() != 2:
        raise ValueError(f"query and positive_key must both be (N, D), got {tuple(query.shape)} "
                         f"and {tuple(positive_key.shape)}")
    if similarity == "cosine":
        query, positive_key = F.normalize(query, dim=-1), F.normalize(positive_key, dim=-1)
        if negative_keys is not None:
            negative_keys = F.normalize(negative_keys, dim=-1)
    elif similarity != "dot":
        raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")

    if negative_keys is None:
        logits = query @ positive_key.T  # (N, N); the positive of row i is column i
        labels = torch.arange(len(query), device=query.device)
    else:
        positive = (query * positive_key).sum(-1, keepdim=True)  # (N, 1)
        if negative_keys.dim() == 2:
            negative = query @ negative_keys.T  # (N, M)
        elif negative_keys.dim() == 3:
            negative = torch.einsum("nd,nmd->nm", query, negative_keys)  # (N, M)
        else:
            raise ValueError(f"negative_keys must be (M, D) or (N, M, D), got {tuple(negative_keys.shape)}")
        logits = torch.cat([positive, negative], dim=1)  # (N, 1 + M); the positive is column 0
        labels = torch.zeros(len(query), dtype=torch.long, device=query.device)
    return F.cross_entropy(logits / temperature, labels, reduction=reduction)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, reduction: str = "mean") -> torch.Tensor:
    """SimCLR's normalized temperature-scaled cross-entropy over 2N views.

    z1, z2: (N, D), two views of the same N images (row i of z1 and row i of z2 are a positive pair).
    The 2N embeddings z = [z1; z2] are L2-normalised; for each anchor i the positive is its other view
    and the 2N - 2 other embeddings are negatives; the anchor itself is excluded (masked to -inf):

        l_i = -log  exp(sim(z_i, z_pos(i)) / t) / sum_{j != i} exp(sim(z_i, z_j) / t)

    Returns the mean of l over all 2N anchors (a scalar), or (2N,) with reduction="none".
    If every embedding is the same (a collapsed encoder) the loss is exactly log(2N - 1).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must both be (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2N, D)
    logits = (z @ z.T) / temperature  # (2N, 2N)
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positives, reduction=reduction)


def moco_logits(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.07):
    """MoCo's (1+K)-way logits and labels.

    q:     (N, C) queries from the query encoder, L2-normalised
    k:     (N, C) keys of the same images from the momentum encoder, L2-normalised (no gradient needed)
    queue: (K, C) earlier keys (negatives), L2-normalised, one per row
    Returns logits (N, 1 + K) = [q.k, q.queue^T] / t and labels (N,) of zeros (the positive is column 0).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    l_pos = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
    l_neg = q @ queue.T  # (N, K)
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return logits, labels


def moco_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Mean InfoNCE of MoCo: cross-entropy of ``moco_logits`` (shapes as there). Gradients flow into q only."""
    logits, labels = moco_logits(q, k.detach(), queue.detach(), temperature)
    return F.cross_entropy(logits, labels)


def ema_update(key_param: torch.Tensor, query_param: torch.Tensor, momentum: float) -> torch.Tensor:
    """One exponential-moving-average step: returns m * key + (1 - m) * query (any shape, same for both)."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    return momentum * key_param + (1.0 - momentum) * query_param


@torch.no_grad()
def momentum_update_(key_params: Iterable[torch.Tensor], query_params: Iterable[torch.Tensor], momentum: float) -> None:
    """In place: theta_k <- m theta_k + (1 - m) theta_q for each pair of parameters (MoCo / BYOL target)."""
    for pk, pq in zip(key_params, query_params, strict=True):
        pk.copy_(ema_update(pk, pq.detach(), momentum))


def dequeue_and_enqueue(queue: torch.Tensor, ptr: int, keys: torch.Tensor) -> tuple[torch.Tensor, int]:
    """FIFO update of MoCo's dictionary, held as a ring buffer.

    queue: (K, C), ptr: index of the oldest entry, keys: (N, C) with N <= K.
    The N oldest entries (rows ptr, ptr+1, ... wrapping around at K) are replaced by ``keys``.
    Returns the new queue (the input is not modified) and the new pointer (ptr + N) mod K.
    """
    K, N = queue.shape[0], keys.shape[0]
    if keys.shape[1:] != queue.shape[1:]:
        raise ValueError(f"keys {tuple(keys.shape)} do not match queue rows {tuple(queue.shape)}")
    if N > K:
        raise ValueError(f"cannot enqueue {N} keys into a queue of {K}")
    rows = (ptr + torch.arange(N, device=queue.device)) % K
    new_queue = queue.clone()
    new_queue[rows] = keys.detach().to(queue.dtype)
    return new_queue, int((ptr + N) % K)


def mi_lower_bound(info_nce_loss: float | torch.Tensor, num_candidates: int):
    """The InfoNCE bound on mutual information (in nats): I(x; y) >= log N - L_InfoNCE.

    num_candidates: N, the number of candidates each query picks its positive from (1 positive + N-1 negatives).
    The estimate can never exceed log N, whatever the true mutual information.
    """
    if num_candidates < 2:
        raise ValueError(f"need at least 2 candidates, got {num_candidates}")
    return math.log(num_candidates) - info_nce_loss


def batch_shuffle_indices(n: int, generator: torch.Generator | None = None, device=None):
    """MoCo's shuffle-BN permutation: (idx_shuffle, idx_unshuffle), both (n,) int64, with
    x[idx_shuffle][idx_unshuffle] == x. Keys are computed on the shuffled batch, split into groups that each get
    their own BatchNorm statistics, then put back in order with idx_unshuffle."""
    idx_shuffle = torch.randperm(n, generator=generator, device=device)
    idx_unshuffle = torch.argsort(idx_shuffle)
    return idx_shuffle, idx_unshuffle


def cpc_scores(context: torch.Tensor, future: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """CPC's bilinear scores for one prediction step k (van den Oord et al. 2018, eq. 3, in log space):

        scores[i, j] = z_j^T W_k c_i

    context: (N, C) context vectors c_t from g_ar; future: (N, D) latents z_{t+k} from g_enc, row i being the true
    future of row i; weight: (D, C), the step's W_k. Returns (N, N); the positives are on the diagonal.
    """
    return (context @ weight.T) @ future.T


def cpc_loss(context: torch.Tensor, futures: torch.Tensor, weights: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
    """CPC's InfoNCE over prediction steps k = 1..K, with the other rows of the batch as negatives.

    context: (N, C) context vectors; futures: (N, K, D) with futures[:, k-1] = z_{t+k}; weights: (K, D, C).
    N counts (sequence, time) positions: for row i the candidates at step k are the true z_{t+k} and the N - 1
    other rows' latents at that step (other sequences, other times).
    For each k: L_k = cross-entropy of ``cpc_scores`` picking the diagonal. Returns mean_k L_k, or (K,) with
    reduction="none".
    """
    n, num_steps, _ = futures.shape
    if weights.shape[0] != num_steps:
        raise ValueError(f"{num_steps} future steps but {weights.shape[0]} predictors W_k")
    labels = torch.arange(n, device=context.device)
    per_step = torch.stack([F.cross_entropy(cpc_scores(context, futures[:, k], weights[k]), labels)
                            for k in range(num_steps)])
    return per_step.mean() if reduction == "mean" else per_step
