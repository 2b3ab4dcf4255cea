"""Red-team corpus (ps2): correct, written with loops, lerp and scatter: 7 of 7"""
import torch
import torch.nn.functional as F

def ema_update(key_param, query_param, momentum):
    return torch.lerp(query_param, key_param, momentum)  # q + m (k - q) = m k + (1 - m) q


def dequeue_and_enqueue(queue, ptr, keys):
    new_queue = queue.clone()
    for i in range(keys.shape[0]):
        new_queue[(ptr + i) % queue.shape[0]] = keys[i]
    return new_queue, (ptr + keys.shape[0]) % queue.shape[0]


def moco_logits(q, k, queue, temperature=0.07):
    logits = torch.einsum("nc,mc->nm", q, torch.cat([k.new_zeros(1, k.shape[1]), queue]))
    logits[:, 0] = torch.einsum("nc,nc->n", q, k)
    return logits / temperature, torch.zeros(len(q), dtype=torch.int64)


def moco_loss(q, k, queue, temperature=0.07):
    logits, labels = moco_logits(q, k.detach(), queue.detach(), temperature)
    return F.cross_entropy(logits, labels)


def batch_shuffle_indices(n, generator=None):
    idx_shuffle = torch.randperm(n, generator=generator)
    idx_unshuffle = torch.empty_like(idx_shuffle)
    idx_unshuffle[idx_shuffle] = torch.arange(n)
    return idx_shuffle, idx_unshuffle
