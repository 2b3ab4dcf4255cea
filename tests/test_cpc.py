"""CPC: position sampling, the method's use of the reference kernel against a float64 loop, per-k accuracy, the
speakers data, and that training lowers the loss."""
import math

import torch

from ssl_course.data import SequenceDataset, load_speakers, make_speakers
from ssl_course.methods import CPCImage, CPCSequence
from ssl_course.methods.cpc import _CPCHead
from ssl_course.models import SmallCNN


def _float64_cpc_loss(rows, futures, weights):
    """L = mean_k mean_i -log softmax_j(z_j,k^T W_k c_i)[i], written as loops in float64."""
    rows, futures, weights = rows.double(), futures.double(), weights.double()
    n, num_steps, _ = futures.shape
    total = 0.0
    for k in range(num_steps):
        for i in range(n):
            prediction = weights[k] @ rows[i]  # W_k c_i, (D,)
            scores = [float(futures[j, k] @ prediction) for j in range(n)]
            top = max(scores)
            log_norm = top + math.log(sum(math.exp(s - top) for s in scores))
            total += log_norm - scores[i]
    return total / (n * num_steps)


def test_sampling_pairs_each_context_with_its_own_future():
    head = _CPCHead(context_dim=2, latent_dim=2, num_steps=3, first_step=2)
    s, t_len = 5, 12
    # encode (sequence, time) in the values so the pairing can be read back
    seq = torch.arange(s).float()[:, None].expand(s, t_len)
    time = torch.arange(t_len).float()[None].expand(s, t_len)
    codes = torch.stack([seq, time], dim=-1)  # (S, T, 2)
    rows, futures = head.sample(codes, codes, num_positions=4, first=3, generator=torch.Generator().manual_seed(0))
    assert rows.shape == (20, 2) and futures.shape == (20, 3, 2)
    assert torch.equal(rows[:, 0], torch.arange(5).float().repeat_interleave(4))  # row n = s * positions + p
    assert torch.equal(futures[..., 0], rows[:, :1].expand(20, 3))  # same sequence
    assert torch.equal(futures[..., 1] - rows[:, 1:], torch.tensor([2.0, 3.0, 4.0]).expand(20, 3))  # t+2..t+4
    assert rows[:, 1].min() >= 3 and futures[..., 1].max() <= t_len - 1
    assert len(rows[:, 1].unique()) > 1


def test_sequence_method_loss_equals_float64_loop():
    torch.manual_seed(0)
    method = CPCSequence(latent_dim=8, context_dim=6, num_steps=3, num_positions=3).eval()
    signals = torch.randn(4, 1, 512)
    loss = method.loss((signals,), torch.Generator().manual_seed(5))
    rows, futures = method.rows_and_futures(signals, torch.Generator().manual_seed(5))
    assert rows.shape == (12, 6) and futures.shape == (12, 3, 8)
    expected = _float64_cpc_loss(rows.detach(), futures.detach(), method.head.weights.detach())
    assert abs(float(loss.detach()) - expected) < 1e-4
    # per-k accuracy: argmax over the same N candidates, recomputed by hand
    acc = method.head.accuracy(rows, futures)
    for k in range(3):
        scores = futures[:, k].double() @ (method.head.weights[k].double() @ rows.double().T)  # (N_j, N_i)
        manual = (scores.argmax(0) == torch.arange(12)).double().mean()
        assert abs(float(acc[k]) - float(manual)) < 1e-6
    assert method.encoder(signals).shape == (4, 6)


def test_context_is_causal():
    torch.manual_seed(0)
    method = CPCSequence(latent_dim=8, context_dim=6).eval()
    x = torch.randn(2, 1, 1024)
    y = x.clone()
    y[..., 700:] = torch.randn(2, 1, 324)  # change the end of the signal
    _, c_x = method.encoder.embed(x)
    _, c_y = method.encoder.embed(y)
    # latents before ~sample 650 (t < 20 at stride 32, receptive field < 50 samples) do not see the change
    assert torch.allclose(c_x[:, :20], c_y[:, :20], atol=1e-6)
    assert not torch.allclose(c_x[:, -1], c_y[:, -1])


def test_image_method_shapes_and_positions():
    torch.manual_seed(0)
    method = CPCImage(SmallCNN(4), context_dim=8, num_steps=2, num_positions=3)
    images = torch.rand(5, 3, 32, 32)
    z = method.encoder.grid(images)
    assert z.shape == (5, 7, 7, 16)  # patch 8, stride 4 on 32 px
    assert method.encoder(images).shape == (5, 16)
    rows, futures = method.rows_and_futures(images, torch.Generator().manual_seed(0))
    assert rows.shape == (15, 8) and futures.shape == (15, 2, 16)
    assert method.head.first_step == 2  # rows r+1 overlap row r by half: skipped
    # every future is a real patch latent from the same image, at least two rows below some context row
    for n in range(15):
        image = n // 3
        for k in range(2):
            hits = (z[image] - futures[n, k]).abs().amax(-1) < 1e-5  # (7, 7)
            assert hits.any() and hits.nonzero()[:, 0].min() >= 2 + k


def test_speakers_dataset():
    signals, labels = make_speakers(num_speakers=4, utterances_per_speaker=3, length=512, seed=0)
    assert signals.shape == (12, 1, 512) and signals.dtype == torch.float32.__class__ or signals.dtype.name == "float32"
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    again, _ = make_speakers(num_speakers=4, utterances_per_speaker=3, length=512, seed=0)
    assert (signals == again).all()
    test, _ = make_speakers(num_speakers=4, utterances_per_speaker=3, length=512, seed=0, split="test")
    assert not (signals == test).all()
    assert abs(signals.std(axis=2).mean() - 1) < 1e-3  # loudness carries no identity
    # the identity lives in the pitch: the dominant frequency differs between speakers more than within
    spectrum = abs(torch.fft.rfft(torch.from_numpy(signals[:, 0]), dim=1))
    peak = spectrum[:, 1:].argmax(1).float()
    per_speaker = torch.stack([peak[torch.from_numpy(labels) == s].float().mean() for s in range(4)])
    assert per_speaker.max() > 1.3 * per_speaker.min()
    ds = load_speakers("test", num_speakers=3, utterances_per_speaker=2, length=256)
    assert isinstance(ds, SequenceDataset) and len(ds) == 6 and ds[0][0].shape == (1, 256)


def test_training_lowers_sequence_loss_through_the_shared_loop():
    from ssl_course.train import TrainConfig, train

    torch.manual_seed(0)
    data = load_speakers("train", num_speakers=4, utterances_per_speaker=16, length=512)
    method = CPCSequence(latent_dim=16, context_dim=16, num_steps=2, num_positions=4)
    history = train(method, data, TrainConfig(epochs=6, batch_size=16, lr=3e-3, optimizer="adamw", device="cpu",
                                              progress=False))
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"] - 0.1
    assert len(method.last_accuracy) == 2
