"""Library pieces the pretext / CPC / evaluation lectures call: every image method through ``run_experiment``,
tracking IoU helpers, CPC per-step accuracy, sequence features and the two plots."""
import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from ssl_course import viz
from ssl_course.attention import mass_inside
from ssl_course.data import load_dataset, load_speakers, make_clips
from ssl_course.evaluate import evaluate_features, extract_features, extract_sequence_features
from ssl_course.experiment import ExperimentConfig, build, load_splits, run_experiment
from ssl_course.methods import CPCImage, CPCSequence
from ssl_course.methods.cpc import prediction_accuracy
from ssl_course.models import SmallCNN
from ssl_course.tracking import mask_iou, pixel_attention, propagate_mask, propagation_iou


def test_build_gives_every_method_the_encoder_it_needs():
    gray = build(ExperimentConfig(method="colorization", width=8), 32)
    assert gray.encoder.inner.features[0][0].in_channels == 1
    rot_a = build(ExperimentConfig(method="rotation", width=8), 32)
    rot_b = build(ExperimentConfig(method="rotation", width=8), 32)
    assert rot_a.augment is None
    assert all(torch.equal(p, q) for p, q in zip(rot_a.parameters(), rot_b.parameters()))  # same seed, same init
    simclr = build(ExperimentConfig(method="simclr", width=8, temperature=0.3), 32)
    assert simclr.augment is not None and simclr.temperature == 0.3


def test_run_experiment_trains_a_pretext_method():
    config = ExperimentConfig(method="rotation", dataset="digits", width=8, num_images=128, epochs=1, batch_size=32,
                              lr=0.05, optimizer="sgd", progress=False, device="cpu")
    result = run_experiment(config)
    assert len(result.history.step_losses) == 4
    # the features are the trained encoder's (not the untrained one it started from) on the config's splits
    train_set, labelled, test_set = load_splits(config)
    trained = extract_features(result.method.encoder, labelled)[0]
    assert torch.allclose(result.features[0], trained, atol=1e-5) and result.features[0].shape == (128, 32)
    assert torch.equal(result.features[1], labelled.labels) and torch.equal(result.features[3], test_set.labels)
    untrained = extract_features(build(config, 8).encoder, labelled)[0]
    assert not torch.allclose(result.features[0], untrained, atol=1e-3)
    # the accuracies are those of these features
    assert result.accuracy == evaluate_features(*result.features)
    assert result.method.last_accuracy == result.method.last_accuracy  # a rotation accuracy was computed (not NaN)


def test_photo_crops_splits():
    train, labelled, test = load_splits(ExperimentConfig(dataset="photo_crops", num_images=70, num_test=14))
    assert len(train) == 70 and labelled is train and len(test) == 14
    assert train.images.shape[1:] == (3, 32, 32)


def _static_clips():
    clips = make_clips(3, num_frames=3, size=32, seed=0)
    frames, masks = clips.clips.clone(), clips.masks.clone()
    frames[:, -1], masks[:, -1] = frames[:, 0], masks[:, 0]  # the last frame repeats the first
    return frames, masks


def test_pixel_attention_tracks_a_still_frame_and_uniform_attention_does_not():
    frames, masks = _static_clips()
    iou = propagation_iou(pixel_attention, frames, masks)
    # the ceiling: each point copies exactly itself (below 1 only because masks are pooled to the 8x8 grid)
    identity = propagation_iou(lambda r, t: torch.eye(64).expand(r.shape[0], 64, 64), frames, masks)
    assert iou.shape == (3,) and identity.min() > 0.8 and (iou > identity - 0.1).all()
    uniform = lambda r, t: torch.full((r.shape[0], 64, 64), 1 / 64)  # noqa: E731  every point copies the mean
    frac = masks[:, 0].float().mean((1, 2, 3))
    assert (frac < 0.5).all()  # so the averaged mask is below the threshold everywhere
    assert torch.equal(propagation_iou(uniform, frames, masks), torch.zeros(3))


def test_propagation_iou_scores_the_requested_frame():
    clips = make_clips(4, num_frames=3, size=32, seed=1)
    reference, target = clips.clips[:, 0].float() / 255, clips.clips[:, 1].float() / 255
    expected = mask_iou(propagate_mask(pixel_attention(reference, target), clips.masks[:, 0], (32, 32)),
                        clips.masks[:, 1])
    assert torch.allclose(propagation_iou(pixel_attention, clips.clips, clips.masks, target_frame=1), expected)


def test_cpc_prediction_accuracy_is_the_heads_accuracy_in_eval_mode():
    torch.manual_seed(0)
    method = CPCSequence(latent_dim=16, context_dim=16, num_steps=3, num_positions=4)
    signals = load_speakers("test", utterances_per_speaker=2, length=512).signals
    method.train()
    acc = prediction_accuracy(method, signals, seed=3)
    assert method.training and len(acc) == 3 and all(0 <= a <= 1 for a in acc)
    assert acc == prediction_accuracy(method, signals, seed=3)
    method.eval()
    with torch.no_grad():
        rows, futures = method.rows_and_futures(signals, torch.Generator().manual_seed(3))
        assert acc == method.head.accuracy(rows, futures).tolist()
    image_method = CPCImage(SmallCNN(8), context_dim=16)
    images = load_dataset("digits", "test").images[:8].float() / 255
    assert len(prediction_accuracy(image_method, images)) == 2


def test_sequence_features_use_eval_mode():
    torch.manual_seed(0)
    method = CPCSequence(latent_dim=16, context_dim=16)
    data = load_speakers("test", utterances_per_speaker=2, length=512)
    method.train()
    features, labels = extract_sequence_features(method.encoder, data, batch_size=7, device="cpu")
    assert method.encoder.training and torch.equal(labels, data.labels)
    method.eval()
    with torch.no_grad():
        assert torch.allclose(features, method.encoder(data.signals), atol=1e-5)


def test_step_accuracy_and_label_efficiency_plots_draw_their_data():
    ax = viz.step_accuracy({"CPC": [0.9, 0.5, 0.2]}, chance=0.01, first_step=2)
    assert list(ax.lines[0].get_xdata()) == [2, 3, 4] and list(ax.lines[0].get_ydata()) == [0.9, 0.5, 0.2]
    ax = viz.label_efficiency_curves({"a": {1.0: 0.9, 0.01: 0.3, 0.1: 0.6}, "b": {0.01: 0.1, 1.0: 0.5}})
    assert list(ax.lines[0].get_xdata()) == [0.01, 0.1, 1.0] and list(ax.lines[0].get_ydata()) == [0.3, 0.6, 0.9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1%", "10%", "100%"]


def test_mass_inside_a_region():
    region = torch.zeros(2, 4, 4)
    region[:, :2] = 1  # the top half
    uniform = torch.ones(2, 3, 4, 4)  # (B, heads, H, W)
    assert torch.allclose(mass_inside(uniform, region), torch.full((2, 3), 0.5))
    inside = torch.zeros(2, 4, 4)
    inside[0, 0, 1], inside[1, 3, 3] = 2.0, 5.0  # image 0: inside the region; image 1: outside
    assert torch.equal(mass_inside(inside, region.bool()), torch.tensor([1.0, 0.0]))
