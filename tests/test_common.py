"""The small helpers every layer shares (ssl_course.common)."""
import pytest
import torch
from torch import nn

from ssl_course.common import as_float_images, batch_images, eval_mode, resolve_device


def test_eval_mode_sets_eval_and_gives_back_each_modules_own_mode_even_on_error():
    a, b = nn.BatchNorm1d(2), nn.Dropout()
    b.eval()  # a trains, b does not: each must get its own mode back
    with eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
    with pytest.raises(RuntimeError):
        with eval_mode(a):
            assert not a.training
            raise RuntimeError
    assert a.training


def test_image_scale_comes_from_the_dtype_not_the_values():
    dark = torch.full((1, 3, 2, 2), 1, dtype=torch.uint8)  # max 1: a value-based guess would not rescale it
    assert torch.allclose(as_float_images(dark), torch.full((1, 3, 2, 2), 1 / 255))
    x = torch.rand(1, 3, 2, 2, dtype=torch.float64)
    assert as_float_images(x).dtype == torch.float32 and torch.allclose(as_float_images(x), x.float())
    from ssl_course.viz import to_display

    assert to_display(dark[0]).max() == pytest.approx(1 / 255)  # the attention plots' image, too


def test_batch_images_and_resolve_device():
    images = torch.zeros(2, 3, 4, 4)
    assert batch_images(images) is images and batch_images((images, torch.zeros(2))) is images
    assert batch_images([images]) is images
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device("auto").type in ("cpu", "cuda", "mps")
