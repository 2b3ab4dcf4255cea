"""Red-team corpus (ps4): SimSiam without the stop-gradient (the collapsing ablation)"""
import torch
import torch.nn.functional as F

def simsiam_loss(p1, p2, z1, z2):
    def D(p, z):
        return -(F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(dim=1).mean()
    return 0.5 * D(p1, z2) + 0.5 * D(p2, z1)


def byol_loss(p, z):
    p, z = F.normalize(p, dim=1), F.normalize(z.detach(), dim=1)
    return (2 - 2 * (p * z).sum(dim=1)).mean()


@torch.no_grad()
def sinkhorn(scores, epsilon=0.05, iterations=3):
    Q = torch.exp(scores / epsilon)
    Q = Q / Q.sum()
    B, K = Q.shape
    for _ in range(iterations):
        Q = Q / Q.sum(dim=0, keepdim=True) / K  # every prototype: mass 1/K
        Q = Q / Q.sum(dim=1, keepdim=True) / B  # every sample: mass 1/B
    return Q * B


def dino_loss(student, teacher, center, student_temperature=0.1, teacher_temperature=0.04):
    targets = F.softmax((teacher - center).detach() / teacher_temperature, dim=-1)
    log_p = F.log_softmax(student / student_temperature, dim=-1)
    losses = []
    for i in range(teacher.shape[0]):
        for v in range(student.shape[0]):
            if v != i:
                losses.append(-(targets[i] * log_p[v]).sum(dim=-1).mean())
    return torch.stack(losses).mean()


@torch.no_grad()
def update_center(center, student, teacher, momentum=0.9):
    batch_mean = teacher.reshape(-1, teacher.shape[-1]).mean(dim=0)
    return momentum * center + (1 - momentum) * batch_mean
