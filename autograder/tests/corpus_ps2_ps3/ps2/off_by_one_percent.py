"""Red-team corpus (ps2): moco_loss with the temperature off by 1 % (t * 1.01)"""
import torch
import torch.nn.functional as F

def ema_update(key_param, query_param, momentum):
    return momentum * key_param + (1.0 - momentum) * query_param


def dequeue_and_enqueue(queue, ptr, keys):
    K, N = queue.shape[0], keys.shape[0]
    rows = (ptr + torch.arange(N)) % K
    new_queue = queue.clone()
    new_queue[rows] = keys.detach().to(queue.dtype)
    return new_queue, int((ptr + N) % K)


def moco_logits(q, k, queue, temperature=0.07):
    l_pos = (q * k).sum(dim=1, keepdim=True)  # N x 1
    l_neg = q @ queue.T  # N x K
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    return logits, torch.zeros(q.shape[0], dtype=torch.long)


def moco_loss(q, k, queue, temperature=0.07):
    logits, labels = moco_logits(q, k.detach(), queue.detach(), temperature * 1.01)
    return F.cross_entropy(logits, labels)


def batch_shuffle_indices(n, generator=None):
    idx_shuffle = torch.randperm(n, generator=generator)
    idx_unshuffle = torch.argsort(idx_shuffle)
    return idx_shuffle, idx_unshuffle
