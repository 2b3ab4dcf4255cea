"""CLIP on captioned shapes: the caption generator, the tokenizer, the clip_loss kernel against a float64 loop,
the zero-shot classifier and retrieval on cases with known answers, the CLI, and exact resume."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssl_course.data import FACTOR_WORDS, add_captions, caption_vocabulary, load_dataset, load_splits, make_captions
from ssl_course.data.captions import FACTORS, shape_prompts
from ssl_course.evaluate import retrieval, zero_shot
from ssl_course.losses import clip_loss
from ssl_course.methods import CLIP, build_method
from ssl_course.models import SmallCNN, TextTransformer
from ssl_course.text import Vocabulary
from ssl_course.train import TrainConfig, load_checkpoint, train


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", "train", num_images=400, seed=3)


def _words(caption):
    return set(caption.split())


# --- captions -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("named", [FACTORS, ("shape", "size", "position", "background"), ("shape",),
                                   ("colour", "position")])
def test_captions_name_only_allowed_factors(shapes, named):
    captions, mentions = make_captions(shapes.factors, seed=1, named_factors=named)
    assert len(captions) == len(shapes)
    for f in FACTORS:
        used = [bool(_words(c) & FACTOR_WORDS[f]) for c in captions]
        if f in named:
            # a factor's words appear exactly where the caption mentions it; shape is named in every caption
            assert used == list(mentions[f]), f
            assert any(used) or f == "size"
        else:
            assert not any(used) and not mentions[f].any(), f
    if "shape" in named:
        assert mentions["shape"].all()
    else:
        assert not mentions["shape"].any()


def test_captions_are_partial_varied_and_say_the_truth(shapes):
    captions, mentions = make_captions(shapes.factors, seed=1)
    # real alt-text names only some factors: every factor but shape is sometimes left out
    for f in ("colour", "size", "position", "background"):
        assert 0.2 < mentions[f].mean() < 0.8, f
    assert len(set(captions)) > 0.8 * len(captions)
    prefixes = {c.split()[0] for c in captions}
    assert {"a", "there"} <= prefixes or len(prefixes) >= 3
    from ssl_course.data.captions import SHAPE_CLASSES, SHAPE_WORDS
    for c, label in zip(captions, shapes.labels.tolist()):  # the shape word is one of the true class's synonyms
        assert _words(c) & FACTOR_WORDS["shape"] <= set(SHAPE_WORDS[SHAPE_CLASSES[label]])
    for c, (x, y), pol in zip(captions, shapes.factors["position"], shapes.factors["polarity"]):
        w = _words(c)
        assert not ("left" in w and x > -0.1) and not ("right" in w and x < 0.1)
        assert not ("top" in w and y > -0.1) and not ("bottom" in w and y < 0.1)
        assert not ("dark" in w and pol == 0) and not ("light" in w and pol == 1)


def test_colour_ablation_has_no_colour_word(shapes):
    no_colour = tuple(f for f in FACTORS if f != "colour")
    ablated = add_captions(shapes, seed=1, named_factors=no_colour)
    colour = FACTOR_WORDS["colour"]
    assert not any(_words(c) & colour for c in ablated.captions)
    assert any(_words(c) & colour for c in add_captions(shapes, seed=1).captions)
    assert torch.equal(ablated.images, shapes.images)  # same images, other captions
    with pytest.raises(ValueError, match="unknown factors"):
        make_captions(shapes.factors, named_factors=("shape", "texture"))


def test_captions_are_deterministic_per_seed_and_splits_are_disjoint():
    train, labelled, test = load_splits("captioned_shapes", 60, 30, seed=4)
    again = load_splits("captioned_shapes", 60, 30, seed=4)[0]
    assert labelled is train and train.captions == again.captions and torch.equal(train.tokens, again.tokens)
    assert load_splits("captioned_shapes", 60, 30, seed=5)[0].captions != train.captions
    # the images are exactly shapes' (its random draws are untouched), and train and test share no image
    plain = load_dataset("shapes", "train", num_images=60, seed=4)
    assert torch.equal(plain.images, train.images) and torch.equal(plain.labels, train.labels)
    flat_train = {bytes(x.numpy()) for x in train.images}
    assert not flat_train & {bytes(x.numpy()) for x in test.images}
    sub = train.subset([5, 2])
    assert sub.captions == [train.captions[5], train.captions[2]] and torch.equal(sub.tokens, train.tokens[[5, 2]])


# --- tokenizer ----------------------------------------------------------------------------------------------------

def test_vocabulary_round_trip_and_unknown_words():
    vocab = caption_vocabulary()
    train = load_dataset("captioned_shapes", "train", num_images=50, seed=0)
    assert vocab.decode(train.tokens) == train.captions
    tokens = vocab.encode(["a red star", "a star"])
    assert tokens.dtype == torch.int64 and tokens.shape == (2, 5)
    assert tokens[0, 0] == vocab.bos_id and tokens[0, 4] == vocab.eos_id and tokens[1, 4] == vocab.pad_id == 0
    assert vocab.encode(["a red star"], length=8).shape == (1, 8)
    unk = vocab.encode(["a zebra star"])
    assert unk[0, 2] == vocab.unk_id and vocab.decode(unk) == ["a <unk> star"]
    assert Vocabulary(["b", "a"]).itos == Vocabulary(["a", "b", "a"]).itos  # ids do not depend on the order
    with pytest.raises(ValueError, match="length"):
        vocab.encode(["a red star"], length=3)


# --- clip_loss -------------------------------------------------------------------------------------------------------

def _clip_loss_loop(u, v, logit_scale):
    u, v = u.double(), v.double()
    s = math.exp(min(logit_scale, math.log(100)))
    n = len(u)
    u = [x / x.norm() for x in u]
    v = [x / x.norm() for x in v]
    i2t = t2i = 0.0
    for i in range(n):
        i2t += -(s * u[i] @ v[i] - torch.logsumexp(torch.stack([s * u[i] @ v[j] for j in range(n)]), 0))
        t2i += -(s * v[i] @ u[i] - torch.logsumexp(torch.stack([s * v[i] @ u[j] for j in range(n)]), 0))
    return (i2t / n + t2i / n) / 2


@pytest.mark.parametrize("logit_scale", [math.log(1 / 0.07), 0.0, 6.0])
def test_clip_loss_matches_a_float64_loop_and_is_symmetric(logit_scale):
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(7, 5, generator=g) * 3, torch.randn(7, 5, generator=g)
    loss = clip_loss(u, v, torch.tensor(logit_scale))
    torch.testing.assert_close(loss.double(), _clip_loss_loop(u, v, logit_scale), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(clip_loss(v, u, logit_scale), loss)  # swapping the modalities: the same value
    perm = torch.randperm(7, generator=g)
    torch.testing.assert_close(clip_loss(u[perm], v[perm], logit_scale), loss)  # permuting the pairs
    # a batch of identical embeddings: each row is a uniform guess over N
    torch.testing.assert_close(clip_loss(torch.ones(7, 5), torch.ones(7, 5), 2.0), torch.tensor(math.log(7)))


def test_gradient_reaches_the_logit_scale_and_the_clamp_stops_it():
    g = torch.Generator().manual_seed(1)
    u, v = torch.randn(6, 4, generator=g, requires_grad=True), torch.randn(6, 4, generator=g)
    scale = torch.tensor(1.0, requires_grad=True)
    clip_loss(u, v, scale).backward()
    assert scale.grad is not None and scale.grad.abs() > 0 and u.grad.abs().sum() > 0
    # the derivative by finite differences
    eps = 1e-3
    fd = (clip_loss(u, v, 1.0 + eps) - clip_loss(u, v, 1.0 - eps)) / (2 * eps)
    torch.testing.assert_close(scale.grad, fd.detach(), rtol=1e-2, atol=1e-4)
    above = torch.tensor(math.log(100) + 1.0, requires_grad=True)
    value = clip_loss(u, v, above)
    value.backward()
    assert above.grad == 0  # clamped at log 100: the scale cannot grow past 100
    torch.testing.assert_close(value, clip_loss(u, v, math.log(100)))


def test_clip_method_initialisation_and_bf16_autocast():
    clip = build_method("clip", SmallCNN(4), embed_dim=8, text_dim=16)
    assert isinstance(clip, CLIP) and math.isclose(float(clip.logit_scale.detach()), math.log(1 / 0.07), rel_tol=1e-6)
    assert math.isclose(clip.temperature, 0.07, rel_tol=1e-5)
    data = load_dataset("captioned_shapes", "train", num_images=8, seed=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = clip.loss((data.images, data.tokens))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert clip.logit_scale.grad is not None and clip.text_encoder.token_embedding.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="captioned"):
        clip.loss(data.images)


def test_text_encoder_ignores_padding():
    torch.manual_seed(0)
    enc = TextTransformer(20, dim=16, depth=2, heads=4).eval()
    tokens = torch.tensor([[1, 5, 6, 2]])
    padded = torch.tensor([[1, 5, 6, 2, 0, 0, 0]])
    torch.testing.assert_close(enc(tokens), enc(padded), rtol=1e-5, atol=1e-6)
    assert enc(torch.tensor([[1, 5, 6, 2], [1, 6, 5, 2]])).shape == (2, 16)


# --- zero-shot and retrieval ------------------------------------------------------------------------------------

class _FakeModel(torch.nn.Module):
    """Images are (N, D) vectors used as their own embeddings; a prompt "p<i>" embeds as TEXTS[i]."""

    def __init__(self, texts):
        super().__init__()
        self.texts = texts

    def tokenize(self, prompts):
        return torch.tensor([int(p[1:]) for p in prompts])

    def encode_text(self, tokens):
        return self.texts[tokens]

    def encode_image(self, images):
        return images


def test_zero_shot_with_one_hot_embeddings_is_exact():
    texts = torch.eye(4) * torch.tensor([1.0, 3.0, 0.5, 2.0])[:, None]  # norms must not matter
    model = _FakeModel(texts)
    labels = torch.tensor([2, 0, 3, 1, 1, 0])
    images = F.one_hot(labels, 4).float() * 5 + 0.1
    out = zero_shot(model, images, {f"c{i}": [f"p{i}"] for i in range(4)}, labels=labels)
    assert out["accuracy"] == 1.0 and torch.equal(out["predictions"], labels)
    assert out["classes"] == ["c0", "c1", "c2", "c3"] and out["scores"].shape == (6, 4)


def test_prompt_ensembling_averages_after_normalisation():
    # class 0 has a long prompt along x and a short one along y: normalised first, their mean points at 45 degrees;
    # averaged raw, it would point almost along x and the image below would go to class 0
    texts = torch.tensor([[10.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    model = _FakeModel(texts)
    image = torch.tensor([[1.0, -0.3]])
    out = zero_shot(model, image, {"zero": ["p0", "p1"], "one": ["p2"]}, labels=torch.tensor([1]))
    assert out["accuracy"] == 1.0
    raw_mean = F.normalize(texts[:2].mean(0), dim=0)
    assert float(F.normalize(image, dim=1)[0] @ raw_mean) > float(F.normalize(image, dim=1)[0] @ F.normalize(texts[2], dim=0))


def test_retrieval_recall_on_a_known_permutation():
    n = 10
    text = torch.eye(n)
    image = torch.eye(n)
    assert retrieval(image, text, ks=(1, 5)) == {"image_to_text": {1: 1.0, 5: 1.0}, "text_to_image": {1: 1.0, 5: 1.0}}
    # images 0..3 match the text of the next image better than their own: their own text ranks second
    shifted = image.clone()
    for i in range(4):
        shifted[i] = 0.8 * text[(i + 1) % n] + 0.5 * text[i]
    out = retrieval(shifted, text, ks=(1, 2))
    assert out["image_to_text"] == {1: pytest.approx(0.6), 2: 1.0}
    # texts 1, 2, 3: image j-1 points at text j more strongly than image j does (0.85 vs 0.53), so their own image
    # ranks second; text 0 (no other image points at it) and text 4 (its own image is unchanged) rank first
    assert out["text_to_image"] == {1: pytest.approx(0.7), 2: 1.0}


def test_shape_prompts_cover_every_class_with_known_words():
    prompts = shape_prompts()
    vocab = caption_vocabulary()
    assert len(prompts) == 10 and all(len(p) >= 3 for p in prompts.values())
    assert all(vocab.unk_id not in vocab.encode(p) for p in prompts.values())
    assert "an elbow" in prompts["L-shape"] and "a picture of an outline" in prompts["frame"]


# --- training: the CLI, and exact resume --------------------------------------------------------------------------

def test_tiny_cli_run_trains_clip_and_reports_zero_shot(tmp_path):
    out = tmp_path / "clip"
    proc = subprocess.run([sys.executable, "-m", "ssl_course.cli", "demo", "--method", "clip", "--dataset",
                           "captioned_shapes", "--epochs", "1", "--num-images", "256", "--batch-size", "64",
                           "--width", "8", "--out", str(out), "--no-progress", "--no-supervised"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "clip" and results["train_images"] == 256
    assert 0 <= results["zero_shot_accuracy"] <= 1 and set(results["retrieval"]) == {"image_to_text", "text_to_image"}
    assert "clip encoder" in results["accuracy"] and "zero-shot" in proc.stdout


def test_cli_refuses_clip_on_a_dataset_without_captions(capsys):
    from ssl_course.cli import main

    with pytest.raises(SystemExit) as info:
        main(["demo", "--method", "clip", "--dataset", "shapes"])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and "has none (use --dataset captioned_shapes)" in err[-1]
    with pytest.raises(ValueError, match="captioned"):  # the library says the same
        train(_clip(), load_dataset("shapes", "train", num_images=32), TrainConfig(epochs=1, batch_size=16,
                                                                                  progress=False))


def _clip():
    torch.manual_seed(0)
    return CLIP(SmallCNN(4), embed_dim=8, text_dim=16)


def test_resume_gives_the_same_weights(tmp_path):
    data = load_dataset("captioned_shapes", "train", num_images=64, seed=0)
    config = dict(epochs=2, batch_size=16, lr=0.01, optimizer="adamw", progress=False)
    straight = _clip()
    history = train(straight, data, TrainConfig(**config))
    ckpt = tmp_path / "clip.pt"
    train(_clip(), data, TrainConfig(**config, checkpoint=str(ckpt), max_steps=5))
    assert load_checkpoint(ckpt)["global_step"] == 5
    torch.manual_seed(7)
    resumed = _clip()
    resumed_history = train(resumed, data, TrainConfig(**config, checkpoint=str(ckpt)))
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert resumed_history.step_losses == history.step_losses
    assert float(straight.logit_scale.detach()) != math.log(1 / 0.07)  # the temperature was learnt
