"""BYOL, SimSiam, SwAV and DINO as methods: which parameters the gradient reaches (and which only the EMA moves),
what the collapse ablations remove, SwAV's prototype freezing and codes, DINO's center, multi-crop on a ViT,
the wiring (build_method, experiment.build, the CLI), exact resume and the collapse monitor."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ssl_course.augment import AugmentConfig, BatchAugment, MultiCrop
from ssl_course.data import ImageDataset
from ssl_course.losses import dino_center_update, dino_loss
from ssl_course.methods import BYOL, DINO, METHODS, NON_CONTRASTIVE, SimSiam, SwAV, build_method
from ssl_course.methods.base import forward_by_size
from ssl_course.models import SmallCNN, TinyViT
from ssl_course.train import History, TrainConfig, load_checkpoint, monitor_collapse, save_checkpoint, train

SIZE, B = 16, 8
SMALL = {"byol": dict(projection_dim=8, hidden_dim=16), "simsiam": dict(projection_dim=8, hidden_dim=16),
         "swav": dict(projection_dim=8, hidden_dim=16, num_prototypes=6, num_local=2),
         "dino": dict(out_dim=12, hidden_dim=16, bottleneck_dim=8, num_local=2)}


def make(name, encoder=None, **kwargs):
    torch.manual_seed(0)
    return build_method(name, encoder if encoder is not None else SmallCNN(4), image_size=SIZE,
                        **{**SMALL[name], **kwargs})


def images(n=B, size=SIZE, seed=1):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)  # smooth images, so crops and colours change them visibly
    return (F.interpolate(coarse, size=size, mode="bilinear", align_corners=False) * 255).round().to(torch.uint8)


def frozen_parameters(method):
    """The parameters that only the EMA moves (none for SimSiam and SwAV)."""
    if isinstance(method, BYOL):
        return method.target_parameters()
    if isinstance(method, DINO):
        return method.teacher_parameters()
    return []


@pytest.mark.parametrize("name", NON_CONTRASTIVE)
def test_loss_is_finite_and_gradients_reach_exactly_the_trainable_parameters(name):
    method = make(name)
    loss = method.loss(images(), torch.Generator().manual_seed(0))
    assert loss.dim() == 0 and loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    frozen = {id(p) for p in frozen_parameters(method)}
    for pname, p in method.named_parameters():
        if id(p) in frozen:  # never updated by backprop: no gradient at all
            assert not p.requires_grad and p.grad is None, pname
        else:  # every trainable parameter takes part (DDP runs with find_unused_parameters=False)
            assert p.requires_grad and p.grad is not None and torch.isfinite(p.grad).all(), pname
    trainable = [p for p in method.parameters() if p.requires_grad and p.grad is not None]
    assert sum(float(p.grad.abs().sum()) for p in trainable) > 0
    if name in ("byol", "dino"):
        assert frozen and len(frozen) == len(list(method.encoder.parameters())) + len(
            list((method.online_projector if name == "byol" else method.student_head).parameters()))


@pytest.mark.parametrize("name", ["byol", "dino"])
def test_the_target_moves_by_the_ema_of_the_online_weights(name):
    method = make(name, momentum=0.9)
    online = method.online_parameters() if name == "byol" else method.student_parameters()
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.5)
    method.loss(images(), torch.Generator().manual_seed(0)).backward()
    optimizer.step()
    before = [p.detach().clone() for p in frozen_parameters(method)]
    method.loss(images(), torch.Generator().manual_seed(1))  # the EMA step of the next call
    moved = 0
    for old, new, o in zip(before, frozen_parameters(method), online, strict=True):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * o.detach(), rtol=1e-6, atol=1e-7)
        moved += int(not torch.equal(old, new))
    assert moved > 0


def test_simsiam_stop_gradient_is_the_only_thing_keeping_the_gradient_off_the_target_branch():
    """With a predictor that ignores its input, the loss reaches the encoder only through the other view's z:
    with the stop-gradient the encoder gets no gradient at all; without it (the collapsing ablation) it does."""

    class Constant(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.p = nn.Parameter(torch.randn(1, dim))

        def forward(self, z):
            return self.p.expand(len(z), -1)

    for stop_gradient in (True, False):
        method = make("simsiam", stop_gradient=stop_gradient)
        method.predictor = Constant(8)
        method.loss(images(), torch.Generator().manual_seed(0)).backward()
        grads = [p.grad for p in method.encoder.parameters()]
        if stop_gradient:
            assert all(g is None for g in grads)
        else:
            assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


def test_byol_without_predictor_sits_at_a_zero_loss_fixed_point():
    """Without the predictor, online and target compute the same function at the start (the target is a copy):
    on two identical views the loss is 0 and the gradient vanishes, whatever the images; the predictor breaks
    that symmetry (the reason the paper's table 5 collapses without it)."""
    x = images().float() / 255
    plain = make("byol", predictor=False)
    assert not list(plain.predictor.parameters())
    plain.eval()  # BatchNorm with running statistics: both networks compute exactly the same function
    loss = plain.loss((x, x))
    loss.backward()
    assert float(loss.detach()) < 1e-5
    assert max(float(p.grad.abs().max()) for p in plain.online_parameters()) < 1e-4
    with_predictor = make("byol")
    with_predictor.eval()
    assert float(with_predictor.loss((x, x))) > 0.01


def test_swav_prototypes_are_frozen_for_the_first_steps_then_learn_and_stay_on_the_sphere():
    method = make("swav", freeze_prototypes_steps=2)
    initial = method.prototypes.weight.detach().clone()
    # AdamW with weight decay: a frozen prototype may be scaled by the decay, never turned
    optimizer = torch.optim.AdamW(method.parameters(), lr=0.05, weight_decay=0.5)
    grads = []
    for step in range(3):
        optimizer.zero_grad()
        method.loss(images(), torch.Generator().manual_seed(step)).backward()
        grads.append(method.prototypes.weight.grad.clone())
        # the loss normalises the prototypes before using them: unit rows after every call
        torch.testing.assert_close(method.prototypes.weight.norm(dim=1), torch.ones(6), rtol=1e-6, atol=1e-6)
        if step < 2:
            torch.testing.assert_close(method.prototypes.weight, initial, rtol=1e-6, atol=1e-6)
        optimizer.step()
    assert torch.equal(grads[0], torch.zeros_like(grads[0])) and torch.equal(grads[1], torch.zeros_like(grads[1]))
    assert float(grads[2].abs().sum()) > 0
    assert int(method.steps) == 3
    method.loss(images(), torch.Generator().manual_seed(9))
    assert not torch.allclose(method.prototypes.weight, initial, atol=1e-4)  # learned after the freeze


def test_swav_codes_come_from_the_global_crops_and_are_distributions():
    method = make("swav", num_local=3)
    seen = []
    real = method.codes
    method.codes = lambda scores: (seen.append(scores.clone()), real(scores))[1]
    method.loss(images(), torch.Generator().manual_seed(0))
    assert len(seen) == 1 and seen[0].shape == (2, B, 6)  # 2 global crops of the 2 + 3, N x K scores each
    assert not seen[0].requires_grad
    codes = real(seen[0])
    torch.testing.assert_close(codes.sum(-1), torch.ones(2, B), rtol=1e-5, atol=1e-5)  # rows sum to 1
    assert (codes >= 0).all()
    # the scores are cosines of unit embeddings and unit prototypes
    assert float(seen[0].abs().max()) <= 1 + 1e-5


def test_dino_center_tracks_the_teacher_only():
    crops = MultiCrop(SIZE, num_local=2)(images(), torch.Generator().manual_seed(0))
    method = make("dino", momentum=1.0)  # the teacher stays the initial copy
    teacher = forward_by_size(method.teacher, crops[:2]).float()
    loss = method.loss(tuple(crops))
    torch.testing.assert_close(method.center, dino_center_update(torch.zeros(12), teacher, 0.9))
    assert float(method.center.abs().sum()) > 0
    # another student (its last layer perturbed): another loss, the same center
    other = make("dino", momentum=1.0)
    with torch.no_grad():
        other.student_head.last_layer.weight.add_(torch.randn_like(other.student_head.last_layer.weight))
    other_loss = other.loss(tuple(crops))
    assert abs(float(other_loss) - float(loss)) > 1e-4
    torch.testing.assert_close(other.center, method.center, rtol=0, atol=0)


def test_dino_ablations_turn_off_centering_and_sharpening():
    crops = tuple(MultiCrop(SIZE, num_local=2)(images(), torch.Generator().manual_seed(0)))
    plain = make("dino", centering=False, sharpening=False, momentum=1.0)
    teacher = forward_by_size(plain.teacher, list(crops[:2])).float()
    student = forward_by_size(plain.embed, list(crops)).float()
    loss = plain.loss(crops)
    assert torch.equal(plain.center, torch.zeros(12))  # centering off: the center stays zero
    # sharpening off: the teacher's temperature is the student's
    torch.testing.assert_close(loss, dino_loss(student, teacher, torch.zeros(12), 0.1, 0.1))
    default = make("dino", momentum=1.0)
    torch.testing.assert_close(default.loss(crops), dino_loss(student, teacher, torch.zeros(12), 0.1, 0.04))


def test_dino_trains_a_tiny_vit_on_global_and_local_crops():
    torch.manual_seed(0)
    vit = TinyViT(image_size=SIZE, patch_size=4, dim=16, depth=1, heads=2)
    method = make("dino", encoder=vit)
    crops = method.augment(images(), torch.Generator().manual_seed(0))
    assert [c.shape[-1] for c in crops] == [SIZE, SIZE, SIZE // 2, SIZE // 2]  # local crops: 2 x 2 patches
    loss = method.loss(images(), torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and float(vit.pos_embed.grad.abs().sum()) > 0
    assert method.embed(crops[2]).shape == (B, 12)


def test_build_and_experiment_hand_each_method_its_augmentation_and_temperature():
    from ssl_course.experiment import ExperimentConfig, build

    assert set(NON_CONTRASTIVE) <= set(METHODS)
    base = AugmentConfig.recipe("simclr").with_(jitter=(0.1, 0.1, 0.1, 0.05))
    classes = {"byol": BYOL, "simsiam": SimSiam, "swav": SwAV, "dino": DINO}
    for name, cls in classes.items():
        config = ExperimentConfig(method=name, width=4, augment=base, method_kwargs=SMALL[name])
        method = build(config, SIZE)
        assert type(method) is cls
        if name in ("swav", "dino"):  # the config's recipe is the multi-crop's base; the crop scales are its own
            assert isinstance(method.augment, MultiCrop)
            assert method.augment.global_view.config.jitter == base.jitter
            assert method.augment.local_view.config.crop_scale == (0.05, 0.14)
        else:
            assert isinstance(method.augment, BatchAugment) and method.augment.config == base
    assert build(ExperimentConfig(method="swav", width=4), SIZE).temperature == 0.1  # None: the method's own
    assert build(ExperimentConfig(method="swav", width=4, temperature=0.3), SIZE).temperature == 0.3
    dino = build(ExperimentConfig(method="dino", width=4, temperature=0.3), SIZE)  # two temperatures: untouched
    assert (dino.student_temperature, dino.teacher_temperature) == (0.1, 0.04)


@pytest.mark.parametrize("name", NON_CONTRASTIVE)
def test_the_cli_accepts_the_method(name):
    from ssl_course.cli import experiment_config, parse_args
    from ssl_course.experiment import build

    config = experiment_config(parse_args(["train", "--method", name, "--encoder", "small_cnn", "--width", "4"]),
                               SIZE)
    assert config.method == name and config.temperature is None
    assert type(build(config, SIZE)).__name__.lower() == name


def test_a_tiny_cli_run_of_dino(tmp_path):
    import json

    from ssl_course.cli import main

    out = tmp_path / "dino"
    code = main(["demo", "--method", "dino", "--epochs", "1", "--num-images", "64", "--batch-size", "32",
                 "--width", "4", "--no-supervised", "--out", str(out), "--no-progress", "--device", "cpu",
                 "--monitor-every", "1"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "dino" and "dino encoder" in results["accuracy"]


# --- the training loop: exact resume, the collapse monitor ----------------------------------------------------------

@pytest.fixture(scope="module")
def dataset():
    return ImageDataset(images(64, 12, seed=0), torch.arange(64) % 4, list("abcd"), name="smooth")


CONFIG = dict(epochs=2, batch_size=16, lr=0.05, progress=False)  # 64 images: 4 steps per epoch, 8 in all


def _small(name, **kwargs):
    torch.manual_seed(0)
    return build_method(name, SmallCNN(4), image_size=12, **{**SMALL[name], **kwargs})


@pytest.mark.parametrize("name,kwargs", [("byol", {}), ("swav", {"freeze_prototypes_steps": 6})],
                         ids=["byol-ema", "swav-freeze-counter"])
def test_resume_gives_the_same_weights_targets_and_counters(name, kwargs, dataset, tmp_path):
    """Stopped at step 5 and resumed: BYOL's target (moved by the EMA, not the optimizer) and SwAV's step
    counter (the prototypes are frozen until step 6, across the resume point) come back exactly."""
    straight = _small(name, **kwargs)
    straight_history = train(straight, dataset, TrainConfig(**CONFIG))
    ckpt = tmp_path / "run.pt"
    train(_small(name, **kwargs), dataset, TrainConfig(**CONFIG, checkpoint=str(ckpt), max_steps=5))
    resumed = _small(name, **kwargs)
    history = train(resumed, dataset, TrainConfig(**CONFIG, checkpoint=str(ckpt)))
    assert history.step_losses == straight_history.step_losses
    for (key, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), key
    if name == "swav":
        assert int(resumed.steps) == 8


def test_the_collapse_monitor_records_and_old_checkpoints_still_load(dataset, tmp_path):
    method = _small("simsiam")
    ckpt = tmp_path / "m.pt"
    history = train(method, dataset, TrainConfig(**CONFIG, monitor_every=3, checkpoint=str(ckpt)))
    assert [r["step"] for r in history.monitor] == [3, 6]
    assert all(set(r) == {"step", "output_std", "effective_rank"} for r in history.monitor)
    assert all(0 < r["output_std"] and 1 <= r["effective_rank"] <= 8 for r in history.monitor)
    # a checkpoint written before History had a monitor field resumes
    state = load_checkpoint(ckpt)
    del state["history"]["monitor"]
    state["global_step"] = 6
    state["history"]["step_losses"] = state["history"]["step_losses"][:6]
    save_checkpoint(ckpt, state)
    resumed = train(_small("simsiam"), dataset, TrainConfig(**CONFIG, monitor_every=3, checkpoint=str(ckpt)))
    assert resumed.monitor == [] and len(resumed.step_losses) == 8
    assert History().monitor == []


def test_the_monitor_measures_method_embed_in_eval_mode(dataset):
    method = _small("byol")
    method.train()
    stats = monitor_collapse(method, dataset.images[:32], torch.device("cpu"), batch_size=5)
    assert method.training  # the mode is given back
    with torch.no_grad():
        method.eval()
        z = method.embed(dataset.images[:32].float() / 255)
    from ssl_course.evaluate import collapse_monitor

    expected = collapse_monitor(z)
    assert stats["output_std"] == pytest.approx(expected["output_std"], rel=1e-5)
    assert stats["effective_rank"] == pytest.approx(expected["effective_rank"], rel=1e-4)

    collapsed = copy.deepcopy(method)
    collapsed.embed = lambda x: torch.ones(len(x), 8)  # a constant output: what collapse looks like
    constant = monitor_collapse(collapsed, dataset.images[:32], torch.device("cpu"))
    assert constant == {"output_std": 0.0, "effective_rank": 1.0}


def test_small_run_recipe_applies_the_method_settings_then_the_ablation():
    from ssl_course.experiment import ExperimentConfig, small_run_recipe

    simsiam = small_run_recipe(ExperimentConfig(method="simsiam"), stop_gradient=False)
    assert (simsiam.optimizer, simsiam.lr, simsiam.method_kwargs) == ("sgd", 0.06, {"stop_gradient": False})
    dino = small_run_recipe(ExperimentConfig(method="dino", method_kwargs={"num_local": 4}), centering=False)
    assert dino.method_kwargs == {"momentum": 0.99, "num_local": 4, "centering": False}  # the caller's win
    simclr = ExperimentConfig(method="simclr")
    assert small_run_recipe(simclr) == simclr
