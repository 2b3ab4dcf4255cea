"""Red-team corpus (ps3): correct: einsum, an explicit loop over k, a GRUCell: 6 of 6"""
import torch
import torch.nn as nn
import torch.nn.functional as F

def cpc_scores(context, future, weight):
    return torch.einsum("jd,dc,ic->ij", future, weight, context)


def cpc_loss(context, futures, weights):
    total = 0.0
    for k in range(futures.shape[1]):
        scores = cpc_scores(context, futures[:, k], weights[k])
        total = total + (torch.logsumexp(scores, dim=1) - torch.diagonal(scores)).mean()
    return total / futures.shape[1]


class ContextNetwork(nn.Module):
    def __init__(self, input_dim, context_dim):
        super().__init__()
        self.cell = nn.GRUCell(input_dim, context_dim)
        self.context_dim = context_dim

    def forward(self, z):
        h = z.new_zeros(z.shape[0], self.context_dim)
        out = []
        for t in range(z.shape[1]):
            h = self.cell(z[:, t], h)
            out.append(h)
        return torch.stack(out, dim=1)
