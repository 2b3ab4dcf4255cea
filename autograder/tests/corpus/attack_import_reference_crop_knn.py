"""Red-team corpus: random_resized_crop and knn_predict delegate to the library's ssl_course.augment and ssl_course.evaluate"""
import math

import torch
import torch.nn.functional as F

from ssl_course.augment import crop_boxes, resized_crop
from ssl_course import evaluate

def rotate_batch(images):
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(images.shape[0])


def random_resized_crop(images, generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), out_size=None):
    n, _, height, width = images.shape
    boxes = crop_boxes(n, height, width, scale, ratio, generator, images.device)
    return resized_crop(images, boxes, (height, width) if out_size is None else out_size), boxes.long()


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
    return evaluate.knn_predict(train_features, train_labels, test_features, k, temperature, num_classes)
