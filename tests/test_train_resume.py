"""The training loop's promises that a run can be stopped and continued: exact resume on both data paths
(in-memory batches augmented by the method, and per-image transforms made in DataLoader workers), Ctrl-C and
periodic checkpoints, atomic writes, a clear error for an unreadable checkpoint or a non-finite loss, and the
CPU paths of the throughput options (bf16 autocast, channels_last, sync_bn)."""
import numpy as np
import pytest
import torch

import ssl_course.train as train_module
from ssl_course.augment import simclr_transform
from ssl_course.data import ImageDataset, SeededItems, TwoViews
from ssl_course.methods import SimCLR
from ssl_course.models import SmallCNN
from ssl_course.train import TrainConfig, load_checkpoint, save_checkpoint, train

SIZE = 12


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(64, 3, 4, 4, generator=g)  # smooth random images: crops and colours change them visibly
    x = torch.nn.functional.interpolate(coarse, size=SIZE, mode="bilinear", align_corners=False)
    return ImageDataset((x * 255).round().to(torch.uint8), torch.arange(64) % 4, list("abcd"), name="smooth")


def _simclr():
    torch.manual_seed(0)
    return SimCLR(SmallCNN(4), projection_dim=8, hidden_dim=16, temperature=0.5, image_size=SIZE)


def _two_views(images):
    return TwoViews(images, simclr_transform(SIZE))


CONFIG = dict(epochs=2, batch_size=16, lr=0.05, progress=False)  # 64 images: 4 steps per epoch, 8 in all


def _assert_same_weights(a, b):
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


@pytest.fixture(scope="module")
def straight_dataloader_run(images):
    method = _simclr()
    history = train(method, _two_views(images), TrainConfig(**CONFIG))
    return method, history


def test_seeded_items_make_a_transform_depend_only_on_the_seed(images):
    seeded = SeededItems(_two_views(images))
    a1, a2, label = seeded[(3, 12345)]
    torch.rand(7)  # whatever ran in between (another worker, another step) does not matter
    b1, b2, _ = seeded[(3, 12345)]
    assert torch.equal(a1, b1) and torch.equal(a2, b2) and label == int(images.labels[3])
    assert not torch.equal(a1, a2)  # the two views are two different draws
    c1, _, _ = seeded[(3, 54321)]
    assert not torch.equal(a1, c1)
    state = torch.get_rng_state()
    seeded[(5, 1)]
    assert torch.equal(state, torch.get_rng_state())  # the caller's random state is left as it was


@pytest.mark.parametrize("workers,stop", [(0, 5), (0, 4), (2, 6)], ids=["mid-epoch", "epoch-boundary", "2-workers"])
def test_dataloader_path_resumes_to_the_same_weights(images, straight_dataloader_run, tmp_path, workers, stop):
    """The per-image path (TwoViews, transforms drawing from torch's global RNG) resumes exactly, with the data
    made in the main process or in worker processes; and what workers make equals what the main process makes."""
    straight, straight_history = straight_dataloader_run
    ckpt = tmp_path / "run.pt"
    config = dict(CONFIG, num_workers=workers, checkpoint=str(ckpt))
    torch.manual_seed(999)  # a different global state before each part: it must not matter
    train(_simclr(), _two_views(images), TrainConfig(**config, max_steps=stop))
    assert load_checkpoint(ckpt)["global_step"] == stop
    torch.manual_seed(123)
    resumed = _simclr()
    history = train(resumed, _two_views(images), TrainConfig(**config))
    _assert_same_weights(straight, resumed)
    assert history.step_losses == straight_history.step_losses
    # every epoch's loss is the mean of all its steps, also of the one resumed in its middle
    for e, record in enumerate(history.epochs):
        assert record["loss"] == pytest.approx(np.mean(history.step_losses[4 * e:4 * e + 4]), rel=1e-12)
        assert record["loss"] == pytest.approx(straight_history.epochs[e]["loss"], rel=1e-12)


def test_in_memory_path_resumes_exactly_and_epoch_loss_covers_the_whole_epoch(images, tmp_path):
    straight = _simclr()
    straight_history = train(straight, images, TrainConfig(**CONFIG))
    ckpt = tmp_path / "mem.pt"
    train(_simclr(), images, TrainConfig(**CONFIG, checkpoint=str(ckpt), max_steps=6))
    resumed = _simclr()
    history = train(resumed, images, TrainConfig(**CONFIG, checkpoint=str(ckpt)))
    _assert_same_weights(straight, resumed)
    assert len(history.epochs) == 2
    second = np.mean(history.step_losses[4:8])
    assert history.epochs[1]["loss"] == pytest.approx(second, rel=1e-12)
    assert abs(np.mean(history.step_losses[6:8]) - second) > 1e-6  # the resumed steps alone would differ
    assert history.epochs[1]["loss"] == pytest.approx(straight_history.epochs[1]["loss"], rel=1e-12)


class _Interrupting(SimCLR):
    """SimCLR whose ``loss`` raises KeyboardInterrupt (Ctrl-C) on a chosen call."""

    def __init__(self, at_call: int, **kwargs):
        super().__init__(**kwargs)
        self.calls, self.at_call = 0, at_call

    def loss(self, batch, generator=None):
        self.calls += 1
        if self.calls == self.at_call:
            raise KeyboardInterrupt
        return super().loss(batch, generator)


def test_ctrl_c_writes_a_checkpoint_that_resumes_exactly(images, tmp_path):
    straight = _simclr()
    train(straight, images, TrainConfig(**CONFIG))
    ckpt = tmp_path / "ctrl_c.pt"
    torch.manual_seed(0)
    interrupted = _Interrupting(6, encoder=SmallCNN(4), projection_dim=8, hidden_dim=16, temperature=0.5,
                                image_size=SIZE)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, images, TrainConfig(**CONFIG, checkpoint=str(ckpt)))
    state = load_checkpoint(ckpt)
    assert state["global_step"] == 5 and len(state["history"]["step_losses"]) == 5  # steps 1-5 finished
    resumed = _simclr()
    train(resumed, images, TrainConfig(**CONFIG, checkpoint=str(ckpt)))
    _assert_same_weights(straight, resumed)


def test_checkpoint_every_saves_on_its_steps_and_at_each_epoch_end(images, tmp_path, monkeypatch):
    saved = []
    real = train_module.save_checkpoint
    monkeypatch.setattr(train_module, "save_checkpoint",
                        lambda path, state: (saved.append(state["global_step"]), real(path, state)))
    train(_simclr(), images, TrainConfig(**CONFIG, checkpoint=str(tmp_path / "c.pt"), checkpoint_every=3))
    assert saved == [3, 4, 6, 8]  # every 3 steps, plus the end of epochs 1 and 2 (4 steps each)
    saved.clear()
    train(_simclr(), images, TrainConfig(**CONFIG, checkpoint=str(tmp_path / "d.pt")))
    assert saved == [4, 8]


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "atomic.pt"
    save_checkpoint(path, {"global_step": 1, "weights": torch.ones(3)})
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"PK\x03\x04 half a zip")  # the first bytes reach the disk, then the process dies
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"global_step": 2, "weights": torch.zeros(3)})
    monkeypatch.setattr(torch, "save", real_save)
    state = load_checkpoint(path)
    assert state["global_step"] == 1 and torch.equal(state["weights"], torch.ones(3))


def test_a_corrupt_checkpoint_is_reported_in_one_line(images, tmp_path):
    path = tmp_path / "corrupt.pt"
    save_checkpoint(path, {"global_step": 1})
    path.write_bytes(path.read_bytes()[:40])  # truncated, as by a full disk
    with pytest.raises(ValueError) as err:
        train(_simclr(), images, TrainConfig(**CONFIG, checkpoint=str(path)))
    message = str(err.value)
    assert message.startswith(f"cannot read checkpoint {path}") and "\n" not in message


class _Exploding(SimCLR):
    """SimCLR whose loss turns NaN on its third call."""

    calls = 0

    def loss(self, batch, generator=None):
        self.calls += 1
        value = super().loss(batch, generator)
        return value * float("nan") if self.calls == 3 else value


def test_a_non_finite_loss_stops_training_before_the_step(images):
    torch.manual_seed(0)
    method = _Exploding(SmallCNN(4), projection_dim=8, hidden_dim=16, image_size=SIZE)
    with pytest.raises(FloatingPointError, match="loss became nan at step 2"):
        train(method, images, TrainConfig(**CONFIG))
    assert all(torch.isfinite(p).all() for p in method.parameters())  # the NaN gradient was never applied


def test_bf16_autocast_and_channels_last_on_the_cpu(images):
    seen = []
    plain = _simclr()
    hook = plain.encoder.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    train(plain, images, TrainConfig(**CONFIG, max_steps=2))
    assert seen and set(seen) == {torch.float32}  # amp=None: off on the CPU
    hook.remove()

    seen.clear()
    low = _simclr()
    low.encoder.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    history = train(low, images, TrainConfig(**CONFIG, max_steps=2, amp=True))
    assert set(seen) == {torch.bfloat16}  # the encoder ran under bf16 autocast
    assert all(np.isfinite(history.step_losses))

    cl = _simclr()
    formats = []
    cl.encoder.register_forward_pre_hook(lambda m, args: formats.append(
        next(m.parameters()).is_contiguous(memory_format=torch.channels_last)))
    history_cl = train(cl, images, TrainConfig(**CONFIG, max_steps=2, channels_last=True))
    convs = [p for p in cl.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert all(formats)
    reference = train(_simclr(), images, TrainConfig(**CONFIG, max_steps=2))
    np.testing.assert_allclose(history_cl.step_losses, reference.step_losses, rtol=1e-4)


def test_sync_bn_on_the_cpu(images):
    """One process: sync_bn has nothing to synchronise and the model is unchanged; under torchrun on the CPU it
    is refused with a message that names the alternative."""
    from ssl_course import distributed

    method = _simclr()
    train(method, images, TrainConfig(**CONFIG, max_steps=1, sync_bn=True))
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in method.modules())
    context = distributed.Context(rank=0, world_size=2, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="sync_bn needs CUDA.*shuffle-BN"):
        distributed.wrap(_simclr(), context, sync_bn=True)


def test_data_order_depends_on_the_seed_and_the_epoch(images):
    from ssl_course.train import _Batches

    def first_batch(seed, epoch):
        batches = _Batches(images, TrainConfig(batch_size=16, seed=seed), torch.device("cpu"))
        return next(iter(batches.epoch(epoch)))

    assert torch.equal(first_batch(0, 0), first_batch(0, 0))
    assert not torch.equal(first_batch(0, 0), first_batch(1, 0))
    assert not torch.equal(first_batch(0, 0), first_batch(0, 1))


def test_a_checkpoint_goes_into_a_new_nested_folder(tmp_path):
    path = tmp_path / "runs" / "simclr" / "last.pt"
    save_checkpoint(path, {"global_step": 3})
    assert load_checkpoint(path)["global_step"] == 3 and not list(path.parent.glob("*.tmp"))
