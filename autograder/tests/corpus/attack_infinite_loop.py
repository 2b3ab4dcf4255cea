"""Red-team corpus: an infinite loop in one function (the others still count)"""
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
    while True:
        pass


def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))
