"""Augmentations: per-image pipelines and the batched on-device variant (each image its own parameters)."""
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from ssl_course.augment import (AugmentConfig, BatchAugment, hsv_to_rgb, moco_v1_transform, moco_v2_transform,
                                per_image_transform, rgb_to_hsv, simclr_transform)
from ssl_course.data import load_dataset


@pytest.fixture(scope="module")
def images():
    return load_dataset("shapes", num_images=16).images


def test_batched_augmentation_draws_parameters_per_image(images):
    """The trap: a v2 transform on a batched tensor gives every image the same crop. Ours must not."""
    same = images[:1].repeat(8, 1, 1, 1)
    out = BatchAugment.recipe("simclr", 32)(same, torch.Generator().manual_seed(0))
    distinct = {bytes((o * 255).round().to(torch.uint8).numpy()) for o in out}
    assert len(distinct) == 8
    boxes = BatchAugment(32).crop_boxes(8, 32, 32, torch.Generator().manual_seed(0))
    assert len({tuple(b.tolist()) for b in boxes}) == 8
    # whereas torchvision's transform on the batch applies one crop to all
    torch.manual_seed(0)
    batched = simclr_transform(32)(same)
    assert all(torch.equal(batched[0], b) for b in batched[1:])


def test_batched_augmentation_is_reproducible_and_in_range(images):
    aug = BatchAugment.recipe("simclr", 24)
    a = aug(images, torch.Generator().manual_seed(7))
    b = aug(images, torch.Generator().manual_seed(7))
    c = aug(images, torch.Generator().manual_seed(8))
    assert a.shape == (16, 3, 24, 24) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_identity_recipe_returns_the_images(images):
    out = BatchAugment.recipe("none", 32)(images)
    assert torch.allclose(out, images.float() / 255, atol=1e-5)


def test_flip_grayscale_and_crop_boxes(images):
    flip = BatchAugment(32, AugmentConfig.recipe("none").with_(flip_p=1.0))
    assert torch.allclose(flip(images), torch.flip(images.float() / 255, dims=[-1]), atol=1e-5)
    gray = BatchAugment(32, AugmentConfig.recipe("none").with_(gray_p=1.0))(images)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    aug = BatchAugment(32, AugmentConfig(crop_scale=(0.25, 0.5)))
    boxes = aug.crop_boxes(2000, 32, 32, torch.Generator().manual_seed(0))
    x0, y0, w, h = boxes.unbind(1)
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 + w <= 32).all() and (y0 + h <= 32).all()
    area = w * h / 1024
    assert area.min() > 0.2 and area.max() < 0.56 and area.std() > 0.05
    ratio = w / h
    assert ratio.min() > 0.6 and ratio.max() < 1.6


def test_crop_picks_the_box_contents():
    """A crop of the top-left quadrant at full resolution reproduces those pixels."""
    x = torch.rand(1, 3, 16, 16)
    aug = BatchAugment(8)
    out = aug.resized_crop(x, torch.tensor([[0.0, 0.0, 8.0, 8.0]]), torch.tensor([False]))
    assert torch.allclose(out, x[..., :8, :8], atol=1e-5)


def test_color_jitter_changes_colour_per_image_but_not_geometry():
    """Jitter is a colour map applied to every pixel of an image alike: two regions of one colour stay uniform,
    while the colours themselves change, differently for each image."""
    x = torch.zeros(6, 3, 32, 32)
    x[:, :, :, :16] = torch.tensor([0.8, 0.3, 0.2]).view(1, 3, 1, 1)
    x[:, :, :, 16:] = torch.tensor([0.1, 0.5, 0.7]).view(1, 3, 1, 1)
    jitter = BatchAugment(32, AugmentConfig.recipe("none").with_(jitter=(0.8, 0.8, 0.8, 0.2), jitter_p=1.0))
    out = jitter(x, torch.Generator().manual_seed(0))
    assert out[..., :16].std(dim=(2, 3)).max() < 1e-5 and out[..., 16:].std(dim=(2, 3)).max() < 1e-5
    left = out[:, :, 0, 0]
    assert (left - x[:, :, 0, 0]).abs().mean() > 0.05
    assert torch.cdist(left, left).triu(1)[torch.triu(torch.ones(6, 6), 1) > 0].min() > 1e-3


def test_hsv_round_trip_and_hue_shift_match_torchvision():
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5)
    hsv = rgb_to_hsv(x)
    hsv[:, 0] = (hsv[:, 0] + 0.3) % 1.0
    assert torch.allclose(hsv_to_rgb(hsv), TF.adjust_hue(x, 0.3), atol=1e-4)


def test_blur_smooths_each_picked_image(images):
    blur = BatchAugment(64, AugmentConfig.recipe("none").with_(blur_p=1.0, blur_sigma=(2.0, 2.0)))
    big = torch.nn.functional.interpolate(images.float() / 255, size=64)
    out = blur(big)
    rough = lambda t: (t[..., 1:] - t[..., :-1]).abs().mean()  # noqa: E731
    assert rough(out) < 0.6 * rough(big)
    keep = BatchAugment(64, AugmentConfig.recipe("none").with_(blur_p=0.0))
    assert torch.allclose(keep(big), big, atol=1e-5)


@pytest.mark.parametrize("recipe", ["simclr", "moco_v1", "moco_v2", "none"])
def test_per_image_recipes(images, recipe):
    torch.manual_seed(0)
    out = per_image_transform(recipe, 24)(images[0])
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1


def test_recipes_follow_the_papers():
    assert len(simclr_transform(32).transforms) == 5  # no blur on 32 px (SimCLR's CIFAR setting)
    assert len(simclr_transform(96).transforms) == 6
    assert len(moco_v2_transform(224).transforms) > len(moco_v1_transform(224).transforms)
    assert AugmentConfig.recipe("moco_v2", 96).crop_scale == (0.2, 1.0)
    with pytest.raises(ValueError, match="recipe"):
        AugmentConfig.recipe("byol")


def test_fast_hue_shift_matches_torchvision_per_image():
    from ssl_course.augment import adjust_hue

    x = torch.rand(5, 3, 8, 8)
    x[0] = 0.5  # a gray image keeps its colour
    shift = torch.tensor([0.3, -0.45, 0.0, 0.1, 0.5])
    out = adjust_hue(x, shift)
    for i in range(5):
        assert torch.allclose(out[i], TF.adjust_hue(x[i], float(shift[i])), atol=1e-4)
    assert torch.allclose(out[0], x[0])
