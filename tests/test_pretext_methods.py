"""Every pretext method: output shapes, the encoder contract, and that a few steps on a tiny fixed batch lower
its loss. Tiny widths and images keep the whole file to a few seconds."""
import pytest
import torch

from ssl_course.data import ClipDataset, make_clips
from ssl_course.methods import METHODS, build_method
from ssl_course.models import SmallCNN
from ssl_course.pretext import hamming_permutations, min_hamming_distance


def _images(n=16, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth random images (upsampled noise), so that rotations, tiles and colours carry structure
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    x = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    return (x * 255).round().to(torch.uint8)


CASES = {
    "rotation": (lambda: SmallCNN(4), {}),
    "relative_patch": (lambda: SmallCNN(4), dict(hidden_dim=16)),
    "jigsaw": (lambda: SmallCNN(4), dict(grid=3, num_permutations=10, hidden_dim=16)),
    "inpainting": (lambda: SmallCNN(4), dict(decoder_width=8)),
    "inpainting_adv": (lambda: SmallCNN(4), dict(decoder_width=8, mask="region", adversarial_weight=0.01)),
    "colorization": (lambda: SmallCNN(4, in_channels=1), dict(decoder_width=8)),
    "colorization_reg": (lambda: SmallCNN(4, in_channels=1), dict(decoder_width=8, objective="regression")),
    "cpc_image": (lambda: SmallCNN(4), dict(context_dim=8)),
}


def _build(case):
    make_encoder, kwargs = CASES[case]
    name = case.replace("_adv", "").replace("_reg", "")
    torch.manual_seed(0)
    return build_method(name, make_encoder(), **kwargs)


def _lowers_loss(method, batch, steps=12, lr=0.02):
    opt = torch.optim.Adam(method.parameters(), lr=lr)

    def fixed_loss():
        return method.loss(batch, torch.Generator().manual_seed(123))  # the same random draws every time

    with torch.no_grad():
        before = float(fixed_loss())
    for _ in range(steps):
        opt.zero_grad()
        fixed_loss().backward()
        opt.step()
    with torch.no_grad():
        return before, float(fixed_loss())


@pytest.mark.parametrize("case", list(CASES))
def test_method_encoder_contract_and_training_lowers_loss(case):
    method = _build(case)
    x = _images()
    feats = method.encoder(x.float() / 255)
    assert feats.shape == (16, method.encoder.feature_dim)
    loss = method.loss(x, torch.Generator().manual_seed(0))
    assert loss.dim() == 0 and torch.isfinite(loss)
    if case == "inpainting_adv":
        # the total holds the discriminator's loss, which need not fall; the reconstruction must
        method.loss(x, torch.Generator().manual_seed(123))
        hole_before = method.last_losses["hole"]
        _lowers_loss(method, x)
        assert method.last_losses["hole"] < 0.9 * hole_before
        assert set(method.last_losses) == {"hole", "context", "generator_adv", "discriminator"}
        return
    before, after = _lowers_loss(method, x)
    assert after < 0.9 * before, (before, after)


def test_all_new_methods_are_registered():
    for name in ("rotation", "relative_patch", "jigsaw", "inpainting", "colorization", "cpc_image",
                 "cpc_sequence", "color_tracking"):
        assert name in METHODS
    with pytest.raises(ValueError):
        build_method("cpc_sequence", SmallCNN(4))


def test_rotation_logits_and_initial_loss():
    method = _build("rotation")
    assert method(torch.rand(5, 3, 32, 32)).shape == (5, 4)
    # an untrained 4-way classifier starts near log 4
    assert abs(float(method.loss(_images())) - torch.log(torch.tensor(4.0))) < 0.5


def test_rotation_optional_augment_is_applied_before_rotating():
    from ssl_course.augment import AugmentConfig, BatchAugment

    torch.manual_seed(0)
    crops = BatchAugment(32, AugmentConfig.recipe("none").with_(crop_scale=(0.6, 1.0)))
    method = build_method("rotation", SmallCNN(4), augment=crops)
    assert method.augment is crops and _build("rotation").augment is None
    seen = []
    method.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    images = _images()
    loss = method.loss(images, torch.Generator().manual_seed(0))
    from ssl_course.pretext import as_float_images, rotate_batch
    expected, labels = rotate_batch(crops(as_float_images(images), torch.Generator().manual_seed(0)))
    assert torch.equal(seen[0], expected)  # the encoder saw the four rotations of the augmented images
    assert not torch.allclose(seen[0], rotate_batch(as_float_images(images))[0], atol=1e-3)
    logits = method.head(method.encoder(expected))
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)
    assert method.last_accuracy == pytest.approx((logits.argmax(1) == labels).float().mean().item())


def test_jigsaw_shuffle_uses_the_permutation_set():
    method = _build("jigsaw")
    assert min_hamming_distance(method.permutations) >= 6
    assert torch.equal(method.permutations, hamming_permutations(10, 9, 0))
    tiles = torch.arange(4 * 9).float().view(4, 9, 1, 1, 1).expand(4, 9, 3, 2, 2)
    shuffled, labels = method.shuffle(tiles, torch.Generator().manual_seed(0))
    for i in range(4):
        order = shuffled[i, :, 0, 0, 0] - 9 * i  # which original tile is shown in each slot
        assert torch.equal(order.long(), method.permutations[labels[i]])
    assert method(torch.rand(4, 9, 3, 8, 8)).shape == (4, 10)


def test_relative_patch_logits_shape():
    method = _build("relative_patch")
    assert method(torch.rand(6, 3, 8, 8), torch.rand(6, 3, 8, 8)).shape == (6, 8)


def test_inpainting_output_masks_and_hole_only_loss():
    method = _build("inpainting")
    x = torch.rand(4, 3, 32, 32)
    for kind in ("center", "block", "region"):
        method.mask_kind = kind
        mask = method.make_mask(4, 32, 32, torch.Generator().manual_seed(0))
        assert mask.shape == (4, 1, 32, 32) and 0 < mask.mean() < 0.6
    recon = method(x, mask)
    assert recon.shape == x.shape and recon.min() >= 0 and recon.max() <= 1
    # the input the encoder sees does not depend on the pixels in the hole
    method.eval()
    changed = x * (1 - mask) + torch.rand_like(x) * mask
    assert torch.allclose(method(x, mask), method(changed, mask), atol=1e-6)


def test_colorization_outputs():
    method = _build("colorization")
    out = method(torch.rand(2, 1, 32, 32))
    assert out.shape == (2, 121, 32, 32)
    method.eval()
    assert method.colorize(_images(2)).shape == (2, 3, 32, 32)
    # grey images: every pixel's true bin is the centre (a = b = 0) one; the loss must see that target
    grey = torch.full((2, 3, 32, 32), 0.5)
    assert method.encoder(grey).shape == (2, 16)


def test_color_tracker_shapes_and_training():
    clips = make_clips(8, num_frames=3, size=32, seed=0, photos=("coffee", "chelsea", "astronaut"))
    assert isinstance(clips, ClipDataset) and clips.clips.shape == (8, 3, 3, 32, 32)
    torch.manual_seed(0)
    method = build_method("color_tracking", SmallCNN(4, in_channels=1), embed_dim=8)
    batch = (clips.clips, clips.masks)
    a = method.attention(clips.clips[:, 0].float() / 255, clips.clips[:, 1].float() / 255)
    assert a.shape == (8, 64, 64) and torch.allclose(a.sum(1), torch.ones(8, 64), atol=1e-5)
    before, after = _lowers_loss(method, batch, steps=10, lr=0.02)
    assert after < before - 0.05, (before, after)
