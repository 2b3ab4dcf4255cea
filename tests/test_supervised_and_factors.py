"""The supervised reference, the shapes' generative factors and what decodes them, nearest-neighbour retrieval."""
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch

from ssl_course import viz
from ssl_course.augment import BatchAugment
from ssl_course.data import ImageDataset, label_subset, load_dataset, make_shapes
from ssl_course.evaluate import decode_factors, nearest_neighbours, ridge_r2
from ssl_course.experiment import ExperimentConfig, build, label_efficiency_comparison, load_splits, run_supervised
from ssl_course.methods import Supervised
from ssl_course.models import SmallCNN
from ssl_course.train import TrainConfig, train


def test_factors_come_from_the_same_draws_as_the_images():
    images, labels = make_shapes(300, seed=3)
    images_f, labels_f, factors = make_shapes(300, seed=3, return_factors=True)
    assert torch.equal(torch.as_tensor(images), torch.as_tensor(images_f)) and np.array_equal(labels, labels_f)
    assert np.array_equal(factors["shape"], labels)
    assert factors["position"].shape == (300, 2) and factors["shape colour"].shape == (300, 3)
    # polarity is what it says: a bright shape's centre pixel is brighter than the image's corners, and vice versa
    x = images.astype(np.float64).mean(1)  # (N, H, W) brightness
    cx = np.clip(np.round((factors["position"][:, 0] + 1) * 16 - 0.5).astype(int), 0, 31)
    cy = np.clip(np.round((factors["position"][:, 1] + 1) * 16 - 0.5).astype(int), 0, 31)
    centre = x[np.arange(300), cy, cx]
    corners = x[:, [0, 0, -1, -1], [0, -1, 0, -1]].mean(1)
    solid = np.isin(labels, [0, 2, 5, 8])  # disk, square, star, semicircle cover their centre
    brighter = centre > corners
    assert np.mean(brighter[solid] == (factors["polarity"][solid] == 1)) > 0.95
    # the object mask covers the shape: its pixels have the shape's colour, the others do not
    rgb = images.transpose(0, 2, 3, 1) / 255.0
    distance = np.abs(rgb - factors["shape colour"][:, None, None, :]).max(-1)  # (N, H, W)
    assert np.median(distance[factors["object mask"]]) < 0.1 < np.median(distance[~factors["object mask"]])


def test_dataset_keeps_factors_through_subset():
    train = load_dataset("shapes", "train", num_images=50)
    sub = train.subset([3, 7, 9])
    assert np.array_equal(sub.factors["shape"], train.labels.numpy()[[3, 7, 9]])
    assert np.allclose(sub.factors["scale"], train.factors["scale"][[3, 7, 9]])
    with pytest.raises(ValueError, match="rows"):
        ImageDataset(train.images[:5], train.labels[:5], train.classes, factors={"a": np.zeros(4)})


def test_ridge_r2_matches_a_float64_least_squares_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    w = rng.normal(size=(6, 2))
    y = x @ w + 0.5 * rng.normal(size=(400, 2))
    # with a vanishing penalty, ridge is ordinary least squares (with an intercept)
    design = np.c_[x[:300], np.ones(300)]
    coef, *_ = np.linalg.lstsq(design, y[:300], rcond=None)
    pred = np.c_[x[300:], np.ones(100)] @ coef
    expected = np.mean(1 - ((y[300:] - pred) ** 2).sum(0) / ((y[300:] - y[300:].mean(0)) ** 2).sum(0))
    got = ridge_r2(torch.tensor(x[:300]), y[:300], torch.tensor(x[300:]), y[300:], alpha=1e-9)
    assert got == pytest.approx(expected, abs=1e-6)
    # features that carry nothing about the target explain nothing
    noise = ridge_r2(torch.tensor(rng.normal(size=(300, 6))), y[:300], torch.tensor(rng.normal(size=(100, 6))),
                     y[300:])
    assert noise < 0.05


def test_decode_factors_reads_what_the_features_hold():
    train, test = load_dataset("shapes", "train", num_images=600), load_dataset("shapes", "test", num_images=300)

    def features(ds):  # a hand-made representation: polarity and position, nothing of the shape or scale
        f = ds.factors
        return torch.tensor(np.c_[f["polarity"], f["position"]], dtype=torch.float32)

    scores = decode_factors(features(train), train.factors, features(test), test.factors)
    assert scores["polarity"] == 1.0 and scores["position"] > 0.99
    assert scores["shape"] < 0.3 and scores["scale"] < 0.05
    assert "object mask" not in scores


def test_supervised_training_learns_the_labels_through_the_one_loop():
    # the class is which colour channel is lit, under noise: learnable only by reading the labels
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (192,), generator=g)
    images = torch.randint(0, 120, (192, 3, 16, 16), generator=g, dtype=torch.uint8)
    images[torch.arange(192), labels] += 100
    data = ImageDataset(images, labels, ["r", "g", "b"])
    torch.manual_seed(0)
    method = Supervised(SmallCNN(8), num_classes=3, augment=BatchAugment.recipe("none", 16))
    before = method.accuracy(images, labels)
    history = train(method, data, TrainConfig(epochs=6, batch_size=32, lr=3e-3, optimizer="adamw", progress=False))
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"] - 0.3
    assert before < 0.6 and method.accuracy(images, labels) > 0.95


def test_loss_uses_the_labels_it_is_given():
    torch.manual_seed(0)
    method = Supervised(SmallCNN(8), num_classes=3).eval()
    images = torch.randint(0, 255, (6, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        logits = method(images.float() / 255)
    labels = logits.argmax(1)
    wrong = (labels + 1) % 3
    method.augment = None  # no augmentation: the loss is exactly cross-entropy on these logits
    x = images.float() / 255
    assert method.loss((x, labels)) < method.loss((x, wrong))
    assert float(method.loss((x, labels)).detach()) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)),
                                                            rel=1e-5)


def test_run_supervised_uses_the_same_labels_and_start_as_the_probe(tmp_path):
    config = ExperimentConfig(num_images=200, num_test=100, width=8, batch_size=64, epochs=1, progress=False)
    data = load_splits(config)
    result = run_supervised(config, data, fraction=0.1, steps=3)
    assert result.labelled_images == len(label_subset(data[1].labels.numpy(), 0.1, seed=config.seed))
    # from scratch starts from the weights the self-supervised run starts from: 3 steps move them only a little
    start = torch.cat([p.flatten() for p in build(config, 32).encoder.parameters()])
    other = torch.cat([p.flatten() for p in build(config.with_(seed=1), 32).encoder.parameters()])
    trained = torch.cat([p.detach().flatten() for p in result.method.encoder.parameters()])
    assert 0 < (trained - start).norm() < 0.5 * (other - start).norm()
    given = build(config, 32).encoder
    snapshot = [p.clone() for p in given.parameters()]
    run_supervised(config, data, fraction=0.1, encoder=given, steps=2)
    assert all(torch.equal(a, b) for a, b in zip(snapshot, given.parameters()))  # fine-tuning works on a copy
    rows = label_efficiency_comparison(config, data, given, fractions=(0.1, 1.0), steps=2)
    assert set(rows) == {"self-supervised + linear probe", "self-supervised, fine-tuned", "supervised from scratch"}
    assert all(set(r) == {0.1, 1.0} and all(0 <= a <= 1 for a in r.values()) for r in rows.values())


def test_nearest_neighbours_and_their_figure():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    query = torch.tensor([[2.0, 0.1], [0.0, -3.0]])
    idx = nearest_neighbours(query, gallery, k=2)
    assert idx[0].tolist() == [0, 2]  # cosine, nearest first: not the Euclidean order
    assert set(idx[1].tolist()) == {0, 3}  # (0, -1) is orthogonal to both: a tie, broken either way
    images = torch.randint(0, 255, (4, 3, 8, 8), dtype=torch.uint8)
    fig = viz.nearest_neighbours(images[:2], images, {"a": idx.numpy(), "b": idx.numpy()},
                                 query_labels=[0, 1], gallery_labels=[0, 1, 0, 1])
    assert len(fig.axes) == 2 * 2 * 3
    framed = fig.axes[1].spines["left"].get_edgecolor()
    assert framed[:3] == matplotlib.colors.to_rgb("tab:green")  # query 0 (class 0), neighbour 0 (class 0)


def test_inversion_is_drawn_per_image_and_off_by_default():
    from ssl_course.augment import AugmentConfig

    images = torch.rand(64, 3, 8, 8)
    plain = AugmentConfig.recipe("none")
    assert torch.equal(BatchAugment(8, plain)(images, torch.Generator().manual_seed(0)), images)
    out = BatchAugment(8, plain.with_(invert_p=0.5))(images, torch.Generator().manual_seed(0))
    inverted = torch.isclose(out, 1 - images).flatten(1).all(1)
    kept = torch.isclose(out, images).flatten(1).all(1)
    assert bool((inverted | kept).all())  # each image is either inverted or untouched
    assert 10 < int(inverted.sum()) < 54  # and the decision is drawn per image, not once per batch
    # recipes without inversion draw nothing for it: their random stream (and past results) are unchanged
    recipe = AugmentConfig.recipe("simclr")
    assert recipe.invert_p == 0.0
