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


# --- each random operation of BatchAugment draws per image (a per-batch draw of any one of them is the trap) ----

def _smooth(n=1, size=32, seed=0):
    """Smooth random float images in [0, 1], asymmetric and colourful (a mirror or a gray copy differs)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


def _only(**changes):
    return AugmentConfig.recipe("none").with_(**changes)


def _outcomes(out, candidates, atol=1e-5):
    """For each output image, the index of the candidate (C, H, W) it equals (or -1)."""
    found = []
    for o in out:
        match = [i for i, c in enumerate(candidates) if torch.allclose(o, c, atol=atol)]
        found.append(match[0] if match else -1)
    return found


def test_flip_is_drawn_per_image():
    x = _smooth().repeat(24, 1, 1, 1)
    out = BatchAugment(32, _only(flip_p=0.5))(x, torch.Generator().manual_seed(0))
    got = _outcomes(out, [x[0], torch.flip(x[0], dims=[-1])])
    assert -1 not in got and set(got) == {0, 1}, got


def test_grayscale_is_drawn_per_image():
    x = _smooth().repeat(24, 1, 1, 1)
    out = BatchAugment(32, _only(gray_p=0.5))(x, torch.Generator().manual_seed(0))
    from ssl_course.augment import grayscale
    got = _outcomes(out, [x[0], grayscale(x[:1])[0].expand(3, -1, -1)])
    assert -1 not in got and set(got) == {0, 1}, got


def test_blur_and_its_sigma_are_drawn_per_image():
    x = _smooth(size=64).repeat(24, 1, 1, 1)
    fixed = BatchAugment(64, _only(blur_p=0.5, blur_sigma=(2.0, 2.0)))
    out = fixed(x, torch.Generator().manual_seed(0))
    rough = (out[..., 1:] - out[..., :-1]).abs().mean(dim=(1, 2, 3))
    unchanged = torch.tensor([torch.allclose(o, x[0], atol=1e-5) for o in out])
    assert unchanged.any() and not unchanged.all()
    assert (rough[~unchanged] < rough[unchanged].min()).all()  # the others are smoother
    varying = BatchAugment(64, _only(blur_p=1.0, blur_sigma=(0.1, 2.0)))(x, torch.Generator().manual_seed(0))
    rough = (varying[..., 1:] - varying[..., :-1]).abs().mean(dim=(1, 2, 3))
    assert len({round(float(r), 6) for r in rough}) > 12  # one sigma per image


def test_jitter_on_off_is_drawn_per_image():
    x = _smooth().repeat(24, 1, 1, 1)
    out = BatchAugment(32, _only(jitter=(0.8, 0.8, 0.8, 0.2), jitter_p=0.5))(x, torch.Generator().manual_seed(0))
    unchanged = torch.tensor([torch.allclose(o, x[0], atol=1e-5) for o in out])
    assert unchanged.any() and not unchanged.all()
    changed = out[~unchanged]
    assert all(not torch.allclose(a, b, atol=1e-3) for a, b in zip(changed, changed[1:]))  # own factors too


def test_crop_position_is_drawn_per_image_and_covers_the_image():
    """Crops of one fixed size: only the position is random, and it must differ between the images of a batch."""
    aug = BatchAugment(8, _only(crop_scale=(0.25, 0.25)))
    boxes = aug.crop_boxes(400, 32, 32, torch.Generator().manual_seed(0))
    x0, y0, w, h = boxes.unbind(1)
    assert (w == 16).all() and (h == 16).all()
    assert len(set(x0.tolist())) == 17 and len(set(y0.tolist())) == 17  # every position 0..16 occurs
    assert x0.min() == 0 and x0.max() == 16 and y0.min() == 0 and y0.max() == 16
    assert abs(float(x0.mean()) - 8) < 1 and abs(float(y0.mean()) - 8) < 1  # uniform, not biased to a side
    assert float(torch.corrcoef(torch.stack([x0, y0]))[0, 1]) < 0.2  # drawn independently
    x = _smooth().repeat(6, 1, 1, 1)
    out = aug(x, torch.Generator().manual_seed(0))
    distinct = {bytes((o * 255).round().to(torch.uint8).numpy()) for o in out}
    assert len(distinct) == 6


def test_each_operation_fires_with_its_probability():
    """The decision rates over 600 images: flip 0.5, jitter 0.8, grayscale 0.2, blur 0.5 (3 sigma bands)."""
    n = 600
    x = _smooth(size=16).repeat(n, 1, 1, 1)
    band = lambda p: 3 * (p * (1 - p) / n) ** 0.5  # noqa: E731
    cases = {
        "flip": (_only(flip_p=0.5), 0.5),
        "jitter": (_only(jitter=(0.8, 0.8, 0.8, 0.2), jitter_p=0.8), 0.8),
        "gray": (_only(gray_p=0.2), 0.2),
        "blur": (_only(blur_p=0.5, blur_sigma=(1.0, 2.0)), 0.5),
    }
    for name, (config, p) in cases.items():
        out = BatchAugment(16, config)(x, torch.Generator().manual_seed(1))
        changed = (out - x).abs().flatten(1).max(1).values > 1e-4
        assert abs(float(changed.float().mean()) - p) < band(p), name


def test_simclr_recipe_parameters_are_the_papers():
    """SimCLR appendix A: crop scale 0.08-1, ratio 3/4-4/3, flip 0.5, jitter (0.8s, 0.8s, 0.8s, 0.2s) with
    p = 0.8, grayscale 0.2, blur p = 0.5 (sigma 0.1-2, kernel 10 % of the side) on images >= 64 px."""
    for s in (1.0, 0.5):
        c = AugmentConfig.recipe("simclr", 32, strength=s)
        assert c == AugmentConfig(crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), flip_p=0.5,
                                  jitter=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s), jitter_p=0.8, gray_p=0.2,
                                  blur_p=0.0, blur_sigma=(0.1, 2.0))
    assert AugmentConfig.recipe("simclr", 64).blur_p == 0.5 and AugmentConfig.recipe("simclr", 63).blur_p == 0.0
    assert AugmentConfig() == AugmentConfig.recipe("simclr", 32)
    assert AugmentConfig.recipe("moco_v1", 96) == AugmentConfig(crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.4),
                                                                jitter_p=1.0, blur_p=0.0)
    assert AugmentConfig.recipe("moco_v2", 96) == AugmentConfig(crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1),
                                                                blur_p=0.5)
    assert AugmentConfig.recipe("moco_v2", 32).blur_p == 0.0
    none = AugmentConfig.recipe("none")
    assert (none.crop_scale, none.crop_ratio, none.flip_p, none.jitter_p, none.gray_p, none.blur_p) == \
        ((1.0, 1.0), (1.0, 1.0), 0.0, 0.0, 0.0, 0.0)
    from ssl_course.methods import SimCLR
    from ssl_course.models import SmallCNN
    assert SimCLR(SmallCNN(4), image_size=96).augment.config == AugmentConfig.recipe("simclr", 96)

    # the per-image torchvision pipeline says the same
    from torchvision.transforms import v2
    crop, flip, jitter, gray, blur, to_float = simclr_transform(96, strength=0.5).transforms
    assert crop.scale == (0.08, 1.0) and crop.ratio == pytest.approx((3 / 4, 4 / 3)) and crop.size == (96, 96)
    assert isinstance(flip, v2.RandomHorizontalFlip) and flip.p == 0.5
    assert isinstance(jitter, v2.RandomApply) and jitter.p == 0.8
    cj = jitter.transforms[0]
    assert cj.brightness == pytest.approx((0.6, 1.4)) and cj.contrast == pytest.approx((0.6, 1.4))
    assert cj.saturation == pytest.approx((0.6, 1.4)) and cj.hue == pytest.approx((-0.1, 0.1))
    assert isinstance(gray, v2.RandomGrayscale) and gray.p == 0.2
    assert isinstance(blur, v2.RandomApply) and blur.p == 0.5
    assert blur.transforms[0].kernel_size == (9, 9) and list(blur.transforms[0].sigma) == [0.1, 2.0]
    assert isinstance(to_float, v2.ToDtype) and to_float.dtype == torch.float32


def _params(transform):
    """A comparable description of a torchvision v2 pipeline: (class name, its parameters) per step."""
    out = []
    for t in transform.transforms:
        if isinstance(t, v2_module().RandomApply):
            out.append(("RandomApply", t.p, _params(v2_module().Compose(t.transforms))))
            continue
        keep = {k: v for k, v in vars(t).items() if not k.startswith("_") and k != "training"}
        out.append((type(t).__name__, {k: tuple(v) if isinstance(v, list) else v for k, v in keep.items()}))
    return out


def v2_module():
    from torchvision.transforms import v2
    return v2


def _cj(b, c, s, h):
    return ("ColorJitter", {"brightness": pytest.approx((1 - b, 1 + b)), "contrast": pytest.approx((1 - c, 1 + c)),
                            "saturation": pytest.approx((1 - s, 1 + s)), "hue": pytest.approx((-h, h))})


def _crop(size, scale):
    return ("RandomResizedCrop", {"size": (size, size), "scale": scale, "ratio": pytest.approx((3 / 4, 4 / 3)),
                                  "interpolation": "bilinear", "antialias": True})


FLOAT = ("ToDtype", {"dtype": torch.float32, "scale": True})


def test_moco_pipelines_are_the_papers():
    """MoCo v1: crop 0.2-1, grayscale 0.2, jitter 0.4 always, flip. v2: crop 0.2-1, jitter (0.4, 0.4, 0.4, 0.1)
    with p = 0.8, grayscale 0.2, blur p = 0.5 (sigma 0.1-2) on images >= 64 px, flip."""
    assert _params(moco_v1_transform(96)) == [
        _crop(96, (0.2, 1.0)), ("RandomGrayscale", {"p": 0.2}), _cj(0.4, 0.4, 0.4, 0.4),
        ("RandomHorizontalFlip", {"p": 0.5}), FLOAT]
    blur = ("RandomApply", 0.5, [("GaussianBlur", {"kernel_size": (9, 9), "sigma": (0.1, 2.0)})])
    head = [_crop(96, (0.2, 1.0)), ("RandomApply", 0.8, [_cj(0.4, 0.4, 0.4, 0.1)]), ("RandomGrayscale", {"p": 0.2})]
    tail = [("RandomHorizontalFlip", {"p": 0.5}), FLOAT]
    assert _params(moco_v2_transform(96)) == head + [blur] + tail
    assert _params(moco_v2_transform(96, blur=False)) == head + tail
    assert len(moco_v2_transform(64).transforms) == 6 and len(moco_v2_transform(63).transforms) == 5
    assert len(moco_v2_transform(32, blur=True).transforms) == 6


def test_simclr_pipeline_options_and_recipe_names():
    blur = ("RandomApply", 0.5, [("GaussianBlur", {"kernel_size": (3, 3), "sigma": (0.1, 2.0)})])
    assert _params(simclr_transform(32, blur=True))[-2] == blur  # kernel 10 % of 32 px, at least 3
    assert len(simclr_transform(64).transforms) == 6 and len(simclr_transform(63).transforms) == 5
    assert len(simclr_transform(96, blur=False).transforms) == 5
    assert _params(simclr_transform(32, crop_scale=(0.3, 0.9)))[0] == _crop(32, (0.3, 0.9))
    assert _params(per_image_transform("simclr", 40, strength=0.5)) == _params(simclr_transform(40, 0.5))
    assert _params(per_image_transform("moco_v1", 40)) == _params(moco_v1_transform(40))
    assert _params(per_image_transform("moco_v2", 96)) == _params(moco_v2_transform(96))
    assert _params(per_image_transform("none", 24)) == [("Resize", {"size": (24,), "max_size": None,
                                                                    "interpolation": "bilinear",
                                                                    "antialias": True}), FLOAT]
    with pytest.raises(ValueError, match="unknown augmentation recipe 'byol'; choose from simclr, moco_v1, "
                                         "moco_v2, none"):
        per_image_transform("byol", 32)


def test_rgb_to_hsv_matches_colorsys():
    import colorsys

    x = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    x[0, :, 0, 0] = torch.tensor([1.0, 0.0, 0.5])  # red is the max and g < b: a negative raw hue, wrapped
    x[0, :, 0, 1] = 0.4  # gray: hue and saturation 0
    x[0, :, 0, 2] = 0.0  # black
    hsv = rgb_to_hsv(x)
    for b in range(2):
        for i in range(5):
            for j in range(5):
                expected = colorsys.rgb_to_hsv(*x[b, :, i, j].tolist())
                assert hsv[b, :, i, j].tolist() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("recipe", ["simclr", "moco_v1", "moco_v2"])
def test_batched_draws_come_only_from_the_given_generator(recipe):
    """Every random draw (crop, flip, jitter, grayscale, blur and its sigma) comes from the generator passed in:
    equal seeds give equal views, and torch's global random state is neither used nor changed."""
    x = (_smooth(8, size=64) * 255).round().to(torch.uint8)
    aug = BatchAugment.recipe(recipe, 64)
    assert aug.config.blur_p == (0.0 if recipe == "moco_v1" else 0.5)
    state = torch.get_rng_state()
    a = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(12345)  # a different global state must not change anything
    b = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert BatchAugment.recipe("simclr", 32, strength=0.5).config == AugmentConfig.recipe("simclr", 32, 0.5)


def test_crop_boxes_stay_inside_and_fall_back_to_the_central_square():
    """Boxes of wide aspect ratios often do not fit: only fitting tries are used, both ends of the ratio range
    occur, and when no try fits the box is the largest central square (as torchvision's RandomResizedCrop)."""
    aug = BatchAugment(8, _only(crop_scale=(0.5, 1.0), crop_ratio=(1 / 4, 4.0)))
    x0, y0, w, h = aug.crop_boxes(500, 32, 32, torch.Generator().manual_seed(0)).unbind(1)
    assert (w >= 1).all() and (h >= 1).all() and (x0 + w <= 32).all() and (y0 + h <= 32).all()
    ratio = w / h
    assert (ratio < 0.6).any() and (ratio > 1.6).any()
    for height, width, ratio_range, expected in ((16, 32, (4.0, 4.0), [8.0, 0.0, 16.0, 16.0]),
                                                 (32, 16, (0.25, 0.25), [0.0, 8.0, 16.0, 16.0])):
        never_fits = BatchAugment(8, _only(crop_scale=(1.0, 1.0), crop_ratio=ratio_range))
        boxes = never_fits.crop_boxes(3, height, width, torch.Generator().manual_seed(0))
        assert boxes.tolist() == [expected] * 3


def test_per_image_pipelines_are_built_from_the_same_augment_config():
    """A recipe's numbers are written once (AugmentConfig.recipe): the per-image pipeline carries exactly them,
    and a changed config changes the pipeline."""
    from torchvision.transforms import v2

    from ssl_course.augment import AugmentConfig, per_image_pipeline, per_image_transform

    def ops(pipeline):
        out = []
        for t in pipeline.transforms:
            out += t.transforms if isinstance(t, v2.RandomApply) else [t]
        return {type(t).__name__: t for t in out}

    for recipe, size in (("simclr", 32), ("moco_v1", 32), ("moco_v2", 96)):
        config, found = AugmentConfig.recipe(recipe, size), ops(per_image_transform(recipe, size))
        assert found["RandomResizedCrop"].scale == config.crop_scale
        jitter = found["ColorJitter"]
        assert (jitter.brightness[1] - 1, jitter.contrast[1] - 1, jitter.saturation[1] - 1,
                jitter.hue[1]) == pytest.approx(config.jitter)
        assert found["RandomGrayscale"].p == config.gray_p
        assert ("GaussianBlur" in found) == (config.blur_p > 0)
    weak = ops(per_image_pipeline(AugmentConfig.recipe("simclr").with_(jitter_p=0.0, crop_scale=(0.5, 1.0),
                                                                          invert_p=0.5), 32))
    assert "ColorJitter" not in weak and weak["RandomResizedCrop"].scale == (0.5, 1.0)
    assert weak["RandomInvert"].p == 0.5


def test_ablation_halves_are_the_recipe_with_one_half_switched_off():
    """colour_only / crop_only are the expressions lecture 03 and the ablation benchmark spelled out by hand."""
    base = AugmentConfig.recipe("simclr").with_(crop_scale=(0.5, 1.0))
    assert base.colour_only() == base.with_(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
    assert base.crop_only() == base.with_(jitter_p=0.0, gray_p=0.0)
    assert base.crop_only().crop_scale == (0.5, 1.0) and base.colour_only().jitter == base.jitter


def test_multicrop_gives_global_then_local_views_each_drawn_per_image():
    from ssl_course.augment import MultiCrop
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    crops = MultiCrop(32, num_global=2, num_local=3)(images, torch.Generator().manual_seed(0))
    assert [tuple(c.shape) for c in crops] == [(6, 3, 32, 32)] * 2 + [(6, 3, 16, 16)] * 3
    again = MultiCrop(32, num_global=2, num_local=3)(images, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(crops, again))
    assert not torch.equal(crops[0], crops[1])  # two different global views
    assert not torch.equal(crops[2][0], crops[2][1])  # per-image parameters
    box_areas = MultiCrop(32).local_view.crop_boxes(500, 32, 32, torch.Generator().manual_seed(1))[:, 2:].prod(1)
    assert float(box_areas.max()) <= 0.14 * 1024 * 1.3  # local crops cover a small part (rounding to pixels)
