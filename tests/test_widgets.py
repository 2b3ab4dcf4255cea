"""The lectures' knobs: the pure functions behind them (ssl_course.interactive, the plots in ssl_course.viz), and
that every widget builder redraws its figure when a control moves."""
import base64
import io
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from ssl_course import interactive, viz, widgets
from ssl_course.augment import BatchAugment
from ssl_course.losses import info_nce, nt_xent
from ssl_course.mi import gaussian_mi


# ---- pure functions --------------------------------------------------------------------------------------------

def test_info_nce_softmax_rows_sum_to_one_and_loss_equals_kernel():
    z1, z2 = interactive.paired_embeddings(n=8, dim=16)
    for t in (0.05, 0.5, 2.0):
        probs = interactive.info_nce_softmax(z1, z2, t)
        assert probs.shape == (8, 8)
        torch.testing.assert_close(probs.sum(1), torch.ones(8))
        assert interactive.info_nce_from_softmax(probs) == pytest.approx(float(info_nce(z1, z2, temperature=t)),
                                                                        rel=1e-5, abs=1e-6)


def test_lower_temperature_sharpens_the_softmax():
    z1, z2 = interactive.paired_embeddings()
    hot, cold = interactive.info_nce_softmax(z1, z2, 2.0), interactive.info_nce_softmax(z1, z2, 0.05)
    entropy = lambda p: float(-(p * p.clamp_min(1e-30).log()).sum(1).mean())  # noqa: E731
    assert entropy(cold) < entropy(hot)
    assert float(cold.max(1).values.mean()) > float(hot.max(1).values.mean())
    # a very high temperature tends to the uniform distribution: loss -> log N
    flat = interactive.info_nce_softmax(z1, z2, 1e4)
    assert interactive.info_nce_from_softmax(flat) == pytest.approx(math.log(8), abs=1e-3)
    with pytest.raises(ValueError):
        interactive.info_nce_softmax(z1, z2, 0.0)


def test_nt_xent_softmax_masks_the_anchor_and_loss_equals_kernel():
    z1, z2 = interactive.paired_embeddings(n=6, dim=8, seed=3)
    for t in (0.1, 0.5, 1.0):
        probs = interactive.nt_xent_softmax(z1, z2, t)
        assert probs.shape == (12, 12)
        torch.testing.assert_close(probs.sum(1), torch.ones(12))
        assert torch.all(torch.diagonal(probs) == 0)
        assert interactive.nt_xent_from_softmax(probs) == pytest.approx(float(nt_xent(z1, z2, t)), rel=1e-5)
    # collapsed embeddings: every other candidate equally likely, loss log(2N - 1)
    ones = torch.ones(6, 4)
    assert interactive.nt_xent_from_softmax(interactive.nt_xent_softmax(ones, ones, 0.2)) == pytest.approx(math.log(11))


def test_mi_ceiling_curve_never_exceeds_log_n_and_tracks_small_mi():
    est = interactive.mi_ceiling_curve([0.5, 2, 8], batch_size=16, dim=10, num_batches=3)
    assert est.shape == (3,)
    assert np.all(est <= math.log(16) + 1e-6)
    assert est[0] == pytest.approx(0.5, abs=0.35)  # far below the ceiling the estimate is close to the truth
    assert est[-1] > math.log(16) - 0.6 and est[-1] < 8  # saturated at the ceiling, far below the truth
    assert gaussian_mi(10, 0.5) > 0


def test_augment_config_knobs():
    cfg = interactive.augment_config(crop_min_scale=0.5, strength=0.5, blur_p=0.3, gray_p=0.0)
    assert cfg.crop_scale == (0.5, 1.0) and cfg.blur_p == 0.3 and cfg.gray_p == 0.0
    assert cfg.jitter == pytest.approx((0.4, 0.4, 0.4, 0.1)) and cfg.jitter_p == 0.8
    assert interactive.augment_config(strength=0.0).jitter_p == 0.0
    # no crop, no colour, no grey, no blur: the views are the images themselves
    x = torch.rand(4, 3, 16, 16)
    identity = interactive.augment_config(crop_min_scale=1.0, strength=0.0, blur_p=0.0, gray_p=0.0, image_size=16)
    identity = identity.with_(crop_ratio=(1.0, 1.0), flip_p=0.0)
    torch.testing.assert_close(BatchAugment(16, identity)(x), x, atol=1e-5, rtol=0)


def test_stored_key_consistency_momentum_and_queue_size():
    fresh = interactive.stored_key_consistency(0.0, 32, batch_size=32)
    assert fresh["consistency"].tolist() == pytest.approx([1.0])  # only the newest batch: nothing is stale
    slow = interactive.stored_key_consistency(0.999, 4096, batch_size=32)
    fast = interactive.stored_key_consistency(0.0, 4096, batch_size=32)
    assert len(fast["age"]) == 4096 // 32
    assert slow["mean"] > fast["mean"] + 0.1  # the momentum encoder keeps old keys consistent
    small_queue = interactive.stored_key_consistency(0.0, 256, batch_size=32)
    assert small_queue["mean"] > fast["mean"]  # a longer queue holds staler keys
    # older keys are less consistent (on average)
    assert fast["consistency"][:10].mean() > fast["consistency"][-10:].mean()


def test_attention_map_picks_and_normalises():
    att = torch.zeros(2, 3, 4, 5, 5)
    att[1, 2, 3, 0, 4] = 7.0
    m = interactive.attention_map(att, layer=1, head=3, image=2)
    assert m.shape == (5, 5) and m.max() == 1.0 and m.min() == 0.0 and m[0, 4] == 1.0
    patches = torch.arange(16.0).view(1, 1, 1, 16)
    np.testing.assert_allclose(interactive.attention_map(patches, 0, 0, 0), (np.arange(16.0) / 15).reshape(4, 4))
    with pytest.raises(ValueError):
        interactive.attention_map(torch.rand(1, 1, 1, 15), 0, 0, 0)


def test_new_plots_draw():
    import matplotlib.pyplot as plt

    ax = viz.softmax_bars(torch.tensor([0.1, 0.7, 0.2]), positive=1, masked=0)
    assert len(ax.patches) == 3 and ax.patches[1].get_facecolor() != ax.patches[0].get_facecolor()
    ax = viz.mi_ceiling([1, 2, 4], [0.9, 1.8, 2.7], batch_size=16)
    assert any(abs(line.get_ydata()[0] - math.log(16)) < 1e-9 for line in ax.get_lines())
    ax = viz.per_k_accuracy({1: 0.9, 2: 0.6}, k=2)
    assert len(ax.patches) == 2
    ax = viz.attention_overlay(torch.rand(3, 8, 8), np.eye(4))
    assert len(ax.images) == 2
    viz.stored_key_consistency_curve(interactive.stored_key_consistency(0.9, 64), 0.9, 64)
    plt.close("all")


# ---- widget builders: a moved control redraws ------------------------------------------------------------------

def _png(explorer) -> bytes:
    data = explorer.image.value
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def _check_redraw(explorer, name, new_value):
    before, text_before, renders = _png(explorer), explorer.text.value, explorer.renders
    explorer.controls[name].value = new_value
    assert explorer.renders == renders + 1
    assert _png(explorer) != before, f"moving {name} did not change the figure"
    return text_before


def test_explorer_bundle_carries_a_static_png_of_its_state():
    e = widgets.temperature_explorer()
    bundle = e._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == e.image.value
    from PIL import Image

    assert e.image.layout.width == f"{Image.open(io.BytesIO(e.image.value)).width}px"  # shown at its own size


def test_temperature_explorer_redraws_and_reports_kernel_loss():
    e = widgets.temperature_explorer(temperature=0.5)
    assert "0.5" in e.text.value
    before = _check_redraw(e, "temperature", 0.05)
    assert e.text.value != before and "0.05" in e.text.value
    z1, z2 = interactive.paired_embeddings()
    assert f"{float(info_nce(z1, z2, temperature=0.05)):.4f}" in e.text.value
    e = widgets.temperature_explorer(loss="nt_xent")
    _check_redraw(e, "temperature", 2.0)
    assert f"{float(nt_xent(z1, z2, 2.0)):.4f}" in e.text.value


def test_batch_size_explorer_redraws():
    e = widgets.batch_size_explorer(true_mis=(1, 4), batch_sizes=(4, 16), batch_size=4, num_batches=2)
    _check_redraw(e, "batch_size", 16)
    assert f"log N = {math.log(16):.2f}" in e.text.value


def test_augmentation_explorer_redraws_each_knob():
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    e = widgets.augmentation_explorer(images, num=4)
    for name, value in (("crop_min_scale", 0.9), ("strength", 0.0), ("blur_p", 1.0), ("gray_p", 1.0)):
        _check_redraw(e, name, value)


def test_moco_explorer_toy_and_precomputed():
    e = widgets.moco_explorer(queue_size=256, queue_sizes=(64, 256, 1024))
    _check_redraw(e, "momentum", 0.0)
    _check_redraw(e, "queue_size", 1024)
    results = {(256, 0.99): 0.61, (1024, 0.99): 0.66, (256, 0.9): 0.55, (1024, 0.9): 0.5}
    e = widgets.moco_explorer(results, queue_size=1024, momentum=0.99)
    assert "0.660" in e.text.value
    _check_redraw(e, "queue_size", 256)
    assert "0.610" in e.text.value
    _check_redraw(e, "momentum", 0.9)


def test_cpc_explorer_redraws_with_and_without_tsne():
    e = widgets.cpc_explorer([0.9, 0.7, 0.4])
    _check_redraw(e, "k", 3)
    assert "0.400" in e.text.value
    rng = np.random.default_rng(0)
    emb = {k: (rng.normal(size=(20, 2)), np.arange(20) % 2) for k in (1, 2)}
    e = widgets.cpc_explorer({1: 0.8, 2: 0.6}, embeddings=emb)
    _check_redraw(e, "k", 2)


def test_attention_explorer_redraws_for_layer_head_and_image():
    images = torch.rand(2, 3, 16, 16)
    e = widgets.attention_explorer(images, torch.rand(2, 2, 3, 4, 4))
    for name, value in (("layer", 1), ("head", 2), ("image", 1)):
        _check_redraw(e, name, value)


def test_tsne_explorer_precomputed_and_on_demand():
    rng = np.random.default_rng(0)
    emb = {(m, p): (rng.normal(size=(30, 2)), np.arange(30) % 3) for m in ("raw", "SimCLR") for p in (5, 30)}
    e = widgets.tsne_explorer(embeddings=emb)
    _check_redraw(e, "method", "SimCLR")
    _check_redraw(e, "perplexity", 5 if e.controls["perplexity"].value != 5 else 30)
    feats = {"raw": (rng.normal(size=(40, 6)), np.arange(40) % 2)}
    e = widgets.tsne_explorer(features=feats, perplexities=(5, 10), max_points=40)
    _check_redraw(e, "perplexity", 5 if e.controls["perplexity"].value != 5 else 10)
    with pytest.raises(ValueError):
        widgets.tsne_explorer()


def test_parameter_explorer_with_abbreviations_and_widgets():
    import ipywidgets
    import matplotlib.pyplot as plt

    def draw(slope, kind, shift):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [shift, shift + slope], kind)
        return ax, f"slope {slope}"

    e = widgets.parameter_explorer(draw, slope=(0.0, 2.0), kind=["-", "o"],
                                   shift=ipywidgets.IntSlider(value=0, min=0, max=3))
    assert isinstance(e.controls["slope"], ipywidgets.FloatSlider)
    assert isinstance(e.controls["kind"], ipywidgets.Dropdown)
    _check_redraw(e, "slope", 2.0)
    assert e.text.value == "slope 2.0"
    _check_redraw(e, "kind", "o")
    _check_redraw(e, "shift", 3)


def test_sinkhorn_explorer_reaches_equipartition_as_iterations_grow():
    from ssl_course import widgets as W

    import re

    def column_range(text):
        low, high = map(float, re.search(r"column sums ([0-9.]+) to ([0-9.]+)", text).groups())
        return low, high

    explorer = W.sinkhorn_explorer(iterations=0)
    low, high = column_range(explorer.text.value)
    assert high - low > 4  # alone, the samples crowd onto the first prototypes
    explorer.controls["iterations"].value = 20
    assert explorer.renders == 2
    low, high = column_range(explorer.text.value)  # every column sum approaches N / K = 32 / 8 = 4
    assert 3.9 < low <= 4.0 <= high < 4.1


def test_collapse_explorer_draws_the_selected_runs():
    from ssl_course import widgets as W

    monitors = {"with stop-gradient": [{"step": 0, "output_std": 0.1, "effective_rank": 9.0}],
                "without": [{"step": 0, "output_std": 0.001, "effective_rank": 1.0}]}
    monitors["without"].append({"step": 10, "output_std": 0.0001, "effective_rank": 1.0})
    explorer = W.collapse_explorer(monitors)
    assert explorer.text.value.startswith("at the end") and "without: std 0.000" in explorer.text.value
    explorer.controls["step"].value = 5  # replayed up to step 5: the record at step 10 is not shown yet
    assert "at step 5" in explorer.text.value and "without: std 0.001" in explorer.text.value
    explorer.controls["runs"].value = ("with stop-gradient",)
    assert "without" not in explorer.text.value and explorer.renders == 3
