"""Red-team corpus: only two functions written"""
import torch
import torch.nn.functional as F

def rotate_batch(images):
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(images.shape[0])


def cosine_similarity_matrix(a, b):
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
