"""Red-team corpus: correct, with Python loops everywhere"""
import torch
import torch.nn.functional as F

def rotate_batch(images):
    out, labels = [], []
    for k in range(4):
        for img in images:
            x = img
            for _ in range(k):
                x = x.transpose(-2, -1).flip(-2)  # one quarter turn counter-clockwise
            out.append(x)
            labels.append(k)
    return torch.stack(out), torch.tensor(labels)


def cosine_similarity_matrix(a, b):
    rows = []
    for i in range(a.shape[0]):
        row = []
        for j in range(b.shape[0]):
            row.append((a[i] * b[j]).sum() / (a[i].norm() * b[j].norm()))
        rows.append(torch.stack(row))
    return torch.stack(rows)


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


def nt_xent(z1, z2, temperature=0.5):
    z = torch.cat([z1, z2])
    n = z1.shape[0]
    total = 0.0
    for i in range(2 * n):
        others = [F.cosine_similarity(z[i], z[j], dim=0) / temperature for j in range(2 * n) if j != i]
        positive = F.cosine_similarity(z[i], z[(i + n) % (2 * n)], dim=0) / temperature
        total = total - (positive - torch.logsumexp(torch.stack(others), dim=0))
    return total / (2 * n)
