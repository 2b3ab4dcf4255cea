"""The few helpers every layer uses, written once: the device, uint8 -> float images, evaluation mode, and the
images of a training batch. Imports nothing from ``ssl_course``, so any module may import it."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["resolve_device", "as_float_images", "eval_mode", "batch_images"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu. A named device that is not there is a clear error."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU here; use --device cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for, but it is not available; use --device cpu or auto")
    return device


def as_float_images(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W) in 0..255 -> float32 in [0, 1]; float input is returned as float32 unchanged.
    The scale is decided by the dtype, never guessed from the values (a dark uint8 image stays dark)."""
    return batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()


@contextlib.contextmanager
def eval_mode(*modules: nn.Module):
    """``with eval_mode(encoder):`` runs the block with every module in eval mode (BatchNorm running statistics,
    no dropout) and gives each back the train/eval mode it had, also when the block raises."""
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield modules[0] if len(modules) == 1 else modules
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def batch_images(batch):
    """What a method's ``loss`` trains on: the first tensor of a (images, labels, ...) batch from a DataLoader, or
    the batch itself when the training loop hands over images alone (uint8 (B, 3, H, W), signals, clips)."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch
