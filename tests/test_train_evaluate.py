"""The training loop (learning, exact resume, checkpoints, the kNN monitor) and the evaluation protocols."""
import numpy as np
import pytest
import torch

from ssl_course.augment import simclr_transform
from ssl_course.data import TwoViews, load_dataset
from ssl_course.evaluate import (extract_features, knn_accuracy, label_efficiency, linear_probe, pixels,
                                 resolve_device, tsne)
from ssl_course.methods import MoCo, SimCLR
from ssl_course.models import SmallCNN
from ssl_course.train import TrainConfig, learning_rate, load_checkpoint, train


@pytest.fixture(scope="module")
def tiny():
    return load_dataset("shapes", num_images=256, image_size=16)


def _simclr():
    torch.manual_seed(0)
    return SimCLR(SmallCNN(8), projection_dim=16, hidden_dim=32, temperature=0.2, image_size=16)


def _probe_loss(method, views):
    """InfoNCE between the encoder's embeddings of two fixed views, in eval mode: lower = views better matched."""
    from ssl_course.losses import info_nce

    method.eval()
    with torch.no_grad():
        value = info_nce(method.encoder(views[0]), method.encoder(views[1]), temperature=0.2).item()
    method.train()
    return value


def test_a_few_steps_lower_the_loss(tiny):
    torch.manual_seed(0)
    simclr = _simclr()
    history = train(simclr, tiny, TrainConfig(epochs=6, batch_size=64, lr=3e-3, optimizer="adamw", progress=False))
    first, last = np.mean(history.step_losses[:4]), np.mean(history.step_losses[-4:])
    assert last < first - 0.05, (first, last)
    assert len(history.epochs) == 6 and history.epochs[0]["images_per_s"] > 0
    # MoCo's own loss can rise while the queue fills with harder negatives; check what it learns instead
    moco = MoCo.v2(SmallCNN(8), image_size=16, dim=16, hidden_dim=32, queue_size=64, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    views = (moco.augment(tiny.images[:128], gen), moco.augment(tiny.images[:128], gen))
    before = _probe_loss(moco, views)
    train(moco, tiny, TrainConfig(epochs=6, batch_size=64, lr=3e-3, optimizer="adamw", progress=False))
    assert _probe_loss(moco, views) < before - 0.05


def test_interrupted_run_resumes_to_the_same_weights(tiny, tmp_path):
    config = dict(epochs=3, batch_size=64, lr=0.05, progress=False)
    straight = _simclr()
    train(straight, tiny, TrainConfig(**config))

    ckpt = tmp_path / "run.pt"
    interrupted = _simclr()
    train(interrupted, tiny, TrainConfig(**config, checkpoint=str(ckpt), max_steps=5))  # stops mid-epoch 2
    assert load_checkpoint(ckpt)["global_step"] == 5
    resumed = _simclr()  # a fresh process would build the method anew, then resume
    history = train(resumed, tiny, TrainConfig(**config, checkpoint=str(ckpt)))
    assert len(history.step_losses) == 12 and [e["epoch"] for e in history.epochs] == [1, 2, 3]
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert not (tmp_path / "run.pt.tmp").exists()  # written atomically


def test_moco_resume_restores_queue(tiny, tmp_path):
    def make():
        torch.manual_seed(0)
        return MoCo.v2(SmallCNN(8), image_size=16, dim=16, hidden_dim=32, queue_size=128)
    straight, resumed = make(), make()
    cfg = dict(epochs=2, batch_size=64, lr=0.05, progress=False)
    train(straight, tiny, TrainConfig(**cfg))
    train(make(), tiny, TrainConfig(**cfg, checkpoint=str(tmp_path / "m.pt"), max_steps=3))
    train(resumed, tiny, TrainConfig(**cfg, checkpoint=str(tmp_path / "m.pt")))
    assert torch.equal(straight.queue, resumed.queue) and int(straight.queue_ptr) == int(resumed.queue_ptr)
    assert torch.equal(straight.encoder_k.features[0][0].weight, resumed.encoder_k.features[0][0].weight)


def test_knn_monitor_and_per_image_pipeline(tiny):
    """The monitor runs every ``knn_every`` epochs and reports the kNN accuracy (with ``knn_k`` neighbours) of the
    encoder as it is at that epoch's end, from the (train, test) pair it is given."""
    method = _simclr()
    views = TwoViews(tiny.with_transform(None), simclr_transform(16))
    train_set, test_set = tiny.subset(range(0, 256, 2)), tiny.subset(range(1, 256, 2))
    history = train(method, views, TrainConfig(epochs=2, batch_size=64, progress=False, knn_every=2, knn_k=3),
                    knn_data=(train_set, test_set))
    assert [("knn_acc" in e) for e in history.epochs] == [False, True]
    expected = knn_accuracy(*extract_features(method.encoder, train_set), *extract_features(method.encoder, test_set),
                            k=3)
    assert history.epochs[-1]["knn_acc"] == pytest.approx(expected)
    other_k = knn_accuracy(*extract_features(method.encoder, train_set), *extract_features(method.encoder, test_set),
                           k=25)
    assert other_k != pytest.approx(expected)  # so the comparison above does see which k was used


def test_bad_configuration_is_reported(tiny):
    with pytest.raises(ValueError, match="batch_size"):
        train(_simclr(), tiny, TrainConfig(batch_size=1))
    with pytest.raises(ValueError, match="optimizer"):
        train(_simclr(), tiny, TrainConfig(optimizer="lamb"))
    with pytest.raises(ValueError, match="fewer than one batch"):
        train(_simclr(), tiny.subset(range(10)), TrainConfig(batch_size=64, progress=False))
    with pytest.raises(ValueError, match="cuda"):
        if torch.cuda.is_available():
            raise ValueError("cuda is here; nothing to check")
        resolve_device("cuda")


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1.0, warmup_epochs=1, schedule="cosine")
    lrs = [learning_rate(cfg, s, 100, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[-1] < 0.01


def _clusters(n_per=40, d=8, seed=0):
    """Four Gaussian clusters around fixed centres; ``seed`` only changes the points drawn around them."""
    centers = np.random.default_rng(0).normal(0, 5, (4, d))
    rng = np.random.default_rng(seed + 1)
    x = np.concatenate([c + rng.normal(0, 1, (n_per, d)) for c in centers])
    return torch.tensor(x, dtype=torch.float32), torch.tensor(np.repeat(np.arange(4), n_per))


def test_knn_and_linear_probe_on_known_data():
    x, y = _clusters()
    xt, yt = _clusters(n_per=20, seed=1)
    assert knn_accuracy(x, y, xt, yt, k=5) > 0.95
    assert linear_probe(x, y, xt, yt) > 0.95
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    assert linear_probe(x, shuffled, xt, yt) < 0.6  # labels unrelated to the features: near chance
    eff = label_efficiency(x, y, xt, yt, fractions=(0.05, 1.0))
    assert set(eff) == {0.05, 1.0} and eff[1.0] >= eff[0.05] - 0.05


def test_features_are_extracted_in_eval_mode(tiny):
    enc = SmallCNN(8)
    enc.train()
    f1, labels = extract_features(enc, tiny)
    f2, _ = extract_features(enc, tiny.subset(range(5)))
    assert enc.training  # mode restored
    assert f1.shape == (256, 32) and torch.equal(labels, tiny.labels)
    assert torch.allclose(f1[:5], f2, atol=1e-5)  # eval mode: a feature does not depend on its batch
    x, _ = pixels(tiny)
    assert x.shape == (256, 3 * 16 * 16) and x.max() <= 1


def test_tsne_embeds_clusters_apart():
    x, y = _clusters(n_per=30)
    emb, idx = tsne(x.numpy(), perplexity=10, max_points=100)
    assert emb.shape == (len(idx), 2) and len(idx) == 100
    labels = y.numpy()[idx]
    centroid = np.stack([emb[labels == c].mean(0) for c in range(4)])
    spread = np.mean([np.linalg.norm(emb[labels == c] - centroid[c], axis=1).mean() for c in range(4)])
    gaps = [np.linalg.norm(centroid[a] - centroid[b]) for a in range(4) for b in range(a + 1, 4)]
    assert min(gaps) > spread


def test_mean_cosine_and_query_key_agreement(tiny):
    from ssl_course.evaluate import mean_cosine, query_key_agreement
    from ssl_course.losses import momentum_update_

    torch.manual_seed(0)
    moco = MoCo(SmallCNN(8), dim=16, hidden_dim=32, queue_size=64, image_size=16)
    moco.train()
    images = tiny.images[:40]
    assert query_key_agreement(moco, images) == pytest.approx(1.0, abs=1e-5)  # the key encoder starts as a copy
    assert moco.training and moco.encoder_k.training  # modes restored
    with torch.no_grad():
        for p in moco.query_parameters():
            p.add_(0.3 * torch.randn_like(p))
    drifted = query_key_agreement(moco, images, batch_size=16)
    # the same number computed by hand, in eval mode
    moco.eval()
    with torch.no_grad():
        x = images.float() / 255
        k = moco.projector_k(moco.encoder_k(x))
        q = moco.projector_q(moco.encoder_q(x))
        expected = torch.nn.functional.cosine_similarity(k, q).mean().item()
    moco.train()
    assert drifted == pytest.approx(expected, abs=1e-5) and drifted < 0.99
    momentum_update_(moco.key_parameters(), moco.query_parameters(), 0.5)  # halfway back: closer
    halfway = query_key_agreement(moco, images)
    assert drifted < halfway < 1.0
    momentum_update_(moco.key_parameters(), moco.query_parameters(), 0.0)  # momentum 0: the key encoder is a copy
    assert query_key_agreement(moco, images) == pytest.approx(1.0, abs=1e-5)
    flip = torch.nn.Linear(3 * 16 * 16, 4)
    neg = torch.nn.Sequential(torch.nn.Flatten(), flip, torch.nn.Identity())
    negated = torch.nn.Sequential(torch.nn.Flatten(), flip, type("Neg", (torch.nn.Module,), {"forward": lambda s, z: -z})())
    assert mean_cosine(neg, negated, images) == pytest.approx(-1.0, abs=1e-5)


def test_train_step_is_the_loops_step_and_refuses_a_non_finite_loss(tiny, monkeypatch):
    """``train`` takes every step through ``train_step`` (so the benchmark measures the same step), and a loss
    that is not finite stops the step before the optimizer moves the weights."""
    import ssl_course.train as train_module
    from ssl_course.train import build_optimizer, train_step

    calls = []
    real = train_module.train_step
    monkeypatch.setattr(train_module, "train_step", lambda *a, **k: calls.append(k.get("step")) or real(*a, **k))
    history = train(_simclr(), tiny, TrainConfig(epochs=1, batch_size=64, progress=False))
    assert calls == [0, 1, 2, 3] and len(history.step_losses) == 4

    simclr = _simclr()
    optimizer = build_optimizer(simclr, TrainConfig())
    before = [p.detach().clone() for p in simclr.parameters()]
    loss = train_step(simclr.loss, tiny.images[:32], optimizer, torch.Generator().manual_seed(0))
    assert np.isfinite(loss) and any(not torch.equal(a, b) for a, b in zip(before, simclr.parameters()))
    moved = [p.detach().clone() for p in simclr.parameters()]
    with pytest.raises(FloatingPointError, match="at step 7"):
        train_step(lambda batch, generator: simclr.loss(batch, generator) * float("nan"), tiny.images[:32],
                   optimizer, torch.Generator().manual_seed(0), step=7)
    assert all(torch.equal(a, b) for a, b in zip(moved, simclr.parameters()))


def test_representation_table_judges_every_row_alike_and_prints_the_demos_table(capsys):
    """Features are evaluated with ``evaluate_features``; an accuracy dict is taken as measured; the printed table
    is ``format_table``'s (the one ``ssl-course demo`` prints), rows in the given order."""
    from ssl_course.evaluate import evaluate_features, format_table, representation_table

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    separable = torch.nn.functional.one_hot(labels, 3).float() * 5 + 0.1 * torch.randn(60, 3, generator=g)
    noise = torch.randn(60, 3, generator=g)
    features = {"noise": (noise[:40], labels[:40], noise[40:], labels[40:]),
                "separable": (separable[:40], labels[:40], separable[40:], labels[40:])}
    measured = {"linear_probe": 0.5, "knn": 0.25}
    table = representation_table({**features, "measured": measured})
    assert list(table) == ["noise", "separable", "measured"]
    assert table["separable"] == evaluate_features(*features["separable"]) == {"linear_probe": 1.0, "knn": 1.0}
    assert table["measured"] == measured
    printed = capsys.readouterr().out
    assert printed == format_table(table) + "\n"
    assert "| separable | 1.000 | 1.000 |" in printed and "| measured | 0.500 | 0.250 |" in printed
    representation_table(features, show=False)
    assert capsys.readouterr().out == ""
