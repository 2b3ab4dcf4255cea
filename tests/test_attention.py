"""Attention maps: CNN activation attention, ViT [CLS] attention, colorization attention and mask propagation."""
import matplotlib

matplotlib.use("Agg")

import torch
from torch import nn

from ssl_course.attention import activation_attention, cls_attention, query_attention
from ssl_course.models import SmallCNN, TinyViT
from ssl_course.tracking import colorization_attention, copy_colors, mask_iou, pixel_features, propagate_mask


def test_activation_attention_is_mean_of_powered_activations():
    torch.manual_seed(0)
    cnn = SmallCNN(4).eval()
    x = torch.rand(2, 3, 16, 16)
    maps = activation_attention(cnn, x, p=2)
    assert len(maps) == 3 and all(m.shape == (2, 16, 16) for m in maps)
    assert all(torch.allclose(m.flatten(1).amax(1), torch.ones(2)) for m in maps)
    # the first block's map by hand: mean_c a^2 on the 8x8 grid, upsampled, divided by its max
    a = cnn.features[0](x)
    raw = torch.nn.functional.interpolate(a.pow(2).mean(1, keepdim=True), size=16, mode="bilinear")[:, 0]
    assert torch.allclose(maps[0], raw / raw.flatten(1).amax(1)[:, None, None], atol=1e-6)
    assert len(activation_attention(cnn, x, layers=[-1])) == 1


def test_activation_attention_finds_the_active_region():
    # a one-block "CNN" that responds to brightness: its map must peak where the bright square is
    net = nn.Module()
    net.features = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False))
    nn.init.constant_(net.features[0].weight, 1.0)
    x = torch.zeros(1, 3, 16, 16)
    x[..., 2:6, 10:14] = 1
    m = activation_attention(net, x)[0][0]
    assert m[2:6, 10:14].min() > 0.9 and m[10:, :6].max() < 0.1


def test_vit_shapes_and_cls_attention():
    torch.manual_seed(0)
    vit = TinyViT(image_size=32, patch_size=4, dim=32, depth=2, heads=4)
    x = torch.rand(3, 3, 32, 32)
    features, attentions = vit.forward_with_attention(x)
    assert features.shape == (3, 32) and vit(x).shape == (3, 32) and vit.feature_dim == 32
    assert len(attentions) == 2 and attentions[0].shape == (3, 4, 65, 65)
    assert torch.allclose(attentions[0].sum(-1), torch.ones(3, 4, 65), atol=1e-5)
    maps = cls_attention(vit, x)
    assert maps.shape == (3, 4, 32, 32)
    grid = cls_attention(vit, x, layer=0, upsample=False)
    assert grid.shape == (3, 4, 8, 8)
    expected = attentions[0][:, :, 0, 1:].reshape(3, 4, 8, 8)
    assert torch.allclose(grid, expected / expected.flatten(2).amax(-1)[..., None, None], atol=1e-5)
    assert vit(torch.rand(1, 3, 48, 48)).shape == (1, 32)  # other sizes: interpolated positions


def test_colorization_attention_and_copy():
    torch.manual_seed(0)
    f_ref, f_tgt = torch.randn(2, 5, 3, 3), torch.randn(2, 5, 3, 3)
    a = colorization_attention(f_ref, f_tgt, temperature=0.5)
    assert a.shape == (2, 9, 9) and torch.allclose(a.sum(1), torch.ones(2, 9), atol=1e-6)
    i, j = 4, 7
    logits = (f_ref.flatten(2)[0].T @ f_tgt.flatten(2)[0][:, j]) / 0.5  # over reference positions
    assert torch.allclose(a[0, :, j], torch.softmax(logits, 0), atol=1e-6)
    values = torch.randn(2, 3, 3, 3)
    copied = copy_colors(a, values)
    assert torch.allclose(copied[0, :, j], values.flatten(2)[0] @ a[0, :, j], atol=1e-6)
    assert query_attention(a, (2, 1), (3, 3)).shape == (2, 3, 3)
    assert torch.equal(query_attention(a, (2, 1), (3, 3))[0].flatten(), a[0, :, i + 3])


def test_mask_propagation_with_a_perfect_shift_attention():
    # the target is the reference shifted 2 cells right: an attention that points to the true source gives IoU 1
    h = w = 8
    n = h * w
    a = torch.zeros(1, n, n)
    for r in range(h):
        for c in range(w):
            a[0, r * w + max(c - 2, 0), r * w + c] = 1
    ref_mask = torch.zeros(1, 1, 32, 32)
    ref_mask[..., 8:20, 4:16] = 1
    true = torch.zeros(1, 1, 32, 32)
    true[..., 8:20, 12:24] = 1
    pred = propagate_mask(a, ref_mask, (32, 32))
    assert float(mask_iou(pred, true)[0]) > 0.85
    assert float(mask_iou(ref_mask, true)[0]) < 0.6  # standing still is worse
    assert float(mask_iou(true, true)[0]) == 1.0


def test_pixel_features_are_normalised_patches():
    x = torch.rand(2, 1, 32, 32)
    f = pixel_features(x, stride=4, patch=8)
    assert f.shape == (2, 64, 8, 8)
    assert torch.allclose(f.norm(dim=1), torch.ones(2, 8, 8), atol=1e-5)
    assert torch.allclose(f.mean(1), torch.zeros(2, 8, 8), atol=1e-6)


def test_plots_return_figures():
    from ssl_course.viz import plot_activation_attention, plot_cls_attention, plot_tracking

    x = torch.rand(2, 3, 16, 16)
    fig1 = plot_activation_attention(x, [torch.rand(2, 16, 16)] * 2)
    fig2 = plot_cls_attention(x, torch.rand(2, 3, 16, 16))
    fig3 = plot_tracking(x[0], x[1], torch.rand(4, 4), (1, 2), stride=4, reference_mask=torch.ones(16, 16),
                         propagated=torch.zeros(16, 16), true_mask=torch.ones(16, 16))
    assert len(fig1.axes) == 6 and len(fig2.axes) == 8 and len(fig3.axes) == 5
    import matplotlib.pyplot as plt

    plt.close("all")
