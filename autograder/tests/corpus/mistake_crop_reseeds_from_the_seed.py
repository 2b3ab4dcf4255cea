"""Red-team corpus: random_resized_crop builds a fresh generator from the passed one's initial_seed(): right for a fresh generator, the same boxes at every step of a training loop"""
import math

import torch
import torch.nn.functional as F

def rotate_batch(images):
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(images.shape[0])


def random_resized_crop(images, generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), out_size=None):
    generator = torch.Generator().manual_seed(generator.initial_seed())
    n, _, height, width = images.shape
    size = (height, width) if out_size is None else (out_size, out_size)
    crops, boxes = [], []
    for i in range(n):
        for _ in range(10):
            u = torch.rand(2, generator=generator, dtype=torch.float64)
            area = height * width * (scale[0] + (scale[1] - scale[0]) * float(u[0]))
            r = math.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * float(u[1]))
            w, h = round(math.sqrt(area * r)), round(math.sqrt(area / r))
            if 0 < w <= width and 0 < h <= height:
                break
        else:
            w = h = min(height, width)
        x0 = int(torch.randint(0, width - w + 1, (1,), generator=generator))
        y0 = int(torch.randint(0, height - h + 1, (1,), generator=generator))
        crop = images[i:i + 1, :, y0:y0 + h, x0:x0 + w]
        crops.append(F.interpolate(crop, size=size, mode="bilinear", align_corners=False))
        boxes.append([x0, y0, w, h])
    return torch.cat(crops), torch.tensor(boxes)


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


def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))


def knn_predict(train_features, train_labels, test_features, k=20, temperature=0.07, num_classes=None):
    num_classes = num_classes or int(train_labels.max()) + 1
    sim = F.normalize(test_features, dim=1) @ F.normalize(train_features, dim=1).T
    top_sim, top_idx = sim.topk(k, dim=1)
    votes = torch.zeros(len(test_features), num_classes, dtype=sim.dtype)
    votes.scatter_add_(1, train_labels[top_idx], torch.exp(top_sim / temperature))
    return votes.argmax(dim=1)
