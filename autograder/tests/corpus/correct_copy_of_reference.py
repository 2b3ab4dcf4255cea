"""Red-team corpus: the library's nt_xent pasted with renamed variables: passes, but flagged"""
import torch
import torch.nn.functional as F

def rotate_batch(images):
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(images.shape[0])


def cosine_similarity_matrix(a, b):
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).T


def info_nce(query, positive_key, negative_keys=None, temperature=0.1):
    q, k = F.normalize(query, dim=1), F.normalize(positive_key, dim=1)
    if negative_keys is None:
        return F.cross_entropy(q @ k.T / temperature, torch.arange(len(q)))
    neg = F.normalize(negative_keys, dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ neg.T], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))


def nt_xent_loop(z1, z2, temperature=0.5):
    z = torch.cat([z1, z2])
    n = z1.shape[0]
    total = 0.0
    for i in range(2 * n):
        others = [F.cosine_similarity(z[i], z[j], dim=0) / temperature for j in range(2 * n) if j != i]
        positive = F.cosine_similarity(z[i], z[(i + n) % (2 * n)], dim=0) / temperature
        total = total - (positive - torch.logsumexp(torch.stack(others), dim=0))
    return total / (2 * n)


def nt_xent(a, b, temperature=0.5, reduction="mean"):
    """My own loss."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"a and b must both be (N, D), got {tuple(a.shape)} and {tuple(b.shape)}")
    m = a.shape[0]
    emb = F.normalize(torch.cat([a, b], dim=0), dim=1)
    lg = (emb @ emb.T) / temperature
    mask = torch.eye(2 * m, dtype=torch.bool, device=emb.device)
    lg = lg.masked_fill(mask, float("-inf"))
    pos = torch.cat([torch.arange(m, 2 * m), torch.arange(0, m)]).to(emb.device)
    return F.cross_entropy(lg, pos, reduction=reduction)
