"""Correct PS2 and PS3 functions as submission source text (the solutions' code), shared by the PS2/PS3 corpus
builder (build_corpus_ps2_ps3.py): each classic mistake replaces one of them."""
HEAD2 = "import torch\nimport torch.nn.functional as F\n\n"
EMA = '''def ema_update(key_param, query_param, momentum):
    return momentum * key_param + (1.0 - momentum) * query_param
'''
ENQ = '''def dequeue_and_enqueue(queue, ptr, keys):
    K, N = queue.shape[0], keys.shape[0]
    rows = (ptr + torch.arange(N)) % K
    new_queue = queue.clone()
    new_queue[rows] = keys.detach().to(queue.dtype)
    return new_queue, int((ptr + N) % K)
'''
LOGITS = '''def moco_logits(q, k, queue, temperature=0.07):
    l_pos = (q * k).sum(dim=1, keepdim=True)  # N x 1
    l_neg = q @ queue.T  # N x K
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    return logits, torch.zeros(q.shape[0], dtype=torch.long)
'''
LOSS = '''def moco_loss(q, k, queue, temperature=0.07):
    logits, labels = moco_logits(q, k.detach(), queue.detach(), temperature)
    return F.cross_entropy(logits, labels)
'''
SHUFFLE = '''def batch_shuffle_indices(n, generator=None):
    idx_shuffle = torch.randperm(n, generator=generator)
    idx_unshuffle = torch.argsort(idx_shuffle)
    return idx_shuffle, idx_unshuffle
'''
PS2 = {"ema_update": EMA, "dequeue_and_enqueue": ENQ, "moco_logits": LOGITS, "moco_loss": LOSS,
       "batch_shuffle_indices": SHUFFLE}

HEAD3 = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"
SCORES = '''def cpc_scores(context, future, weight):
    prediction = context @ weight.T  # N x D: W_k c_i
    return prediction @ future.T  # N x N
'''
CPC_LOSS = '''def cpc_loss(context, futures, weights):
    n, num_steps, _ = futures.shape
    labels = torch.arange(n)
    losses = [F.cross_entropy(cpc_scores(context, futures[:, k], weights[k]), labels) for k in range(num_steps)]
    return torch.stack(losses).mean()
'''
CONTEXT = '''class ContextNetwork(nn.Module):
    def __init__(self, input_dim, context_dim):
        super().__init__()
        self.gru = nn.GRU(input_dim, context_dim, batch_first=True)

    def forward(self, z):
        context, _ = self.gru(z)
        return context
'''
PS3 = {"cpc_scores": SCORES, "cpc_loss": CPC_LOSS, "ContextNetwork": CONTEXT}
