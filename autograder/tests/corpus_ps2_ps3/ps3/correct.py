"""Red-team corpus (ps3): the solution's code: 6 of 6"""
import torch
import torch.nn as nn
import torch.nn.functional as F

def cpc_scores(context, future, weight):
    prediction = context @ weight.T  # N x D: W_k c_i
    return prediction @ future.T  # N x N


def cpc_loss(context, futures, weights):
    n, num_steps, _ = futures.shape
    labels = torch.arange(n)
    losses = [F.cross_entropy(cpc_scores(context, futures[:, k], weights[k]), labels) for k in range(num_steps)]
    return torch.stack(losses).mean()


class ContextNetwork(nn.Module):
    def __init__(self, input_dim, context_dim):
        super().__init__()
        self.gru = nn.GRU(input_dim, context_dim, batch_first=True)

    def forward(self, z):
        context, _ = self.gru(z)
        return context
