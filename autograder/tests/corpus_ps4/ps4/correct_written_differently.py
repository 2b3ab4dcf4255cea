"""Red-team corpus (ps4): correct: cosine_similarity, a log-domain Sinkhorn, an einsum DINO loss, lerp: 8 of 8"""
import torch
import torch.nn.functional as F

def simsiam_loss(p1, p2, z1, z2):
    return -(F.cosine_similarity(p1, z2.detach(), dim=-1).mean() + F.cosine_similarity(p2, z1.detach(), dim=-1).mean()) / 2


def byol_loss(p, z):
    p, z = F.normalize(p, dim=1), F.normalize(z.detach(), dim=1)
    return (2 - 2 * (p * z).sum(dim=1)).mean()


def sinkhorn(scores, epsilon=0.05, iterations=3):
    log_q = scores.detach() / epsilon
    B, K = log_q.shape
    log_q = log_q - torch.logsumexp(log_q.flatten(), 0)
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - torch.log(torch.tensor(float(K)))
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - torch.log(torch.tensor(float(B)))
    return torch.exp(log_q) * B


def dino_loss(student, teacher, center, student_temperature=0.1, teacher_temperature=0.04):
    V, T = student.shape[0], teacher.shape[0]
    targets = torch.softmax((teacher.detach() - center.detach()) / teacher_temperature, dim=-1)
    log_p = torch.log_softmax(student / student_temperature, dim=-1)
    cross = -torch.einsum("tnk,vnk->tv", targets, log_p) / student.shape[1]  # (T, V) mean over the batch
    mask = torch.ones(T, V, dtype=torch.bool)
    mask[torch.arange(T), torch.arange(T)] = False
    return cross[mask].mean()


def update_center(center, student, teacher, momentum=0.9):
    return torch.lerp(teacher.detach().flatten(0, -2).mean(0), center, momentum)
