"""Encoders, heads, SimCLR and MoCo: shapes, structure, and that each method's loss is its kernel."""
import copy

import pytest
import torch

from ssl_course.augment import BatchAugment
from ssl_course.losses import nt_xent
from ssl_course.methods import MoCo, SimCLR, build_method
from ssl_course.models import ProjectionHead, PredictionHead, SmallCNN, build_encoder, cifar_resnet


def test_encoder_output_shapes():
    x = torch.rand(2, 3, 32, 32)
    assert SmallCNN(8)(x).shape == (2, 32)
    net = cifar_resnet(18)
    assert net(x).shape == (2, 512) and net.feature_dim == 512
    assert isinstance(net.maxpool, torch.nn.Identity) and net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    big = build_encoder("resnet18_imagenet")
    assert big(torch.rand(1, 3, 96, 96)).shape == (1, 512) and big.conv1.kernel_size == (7, 7)
    with pytest.raises(ValueError):
        build_encoder("vgg")


def test_resnet50_cifar_feature_dim():
    assert cifar_resnet(50).feature_dim == 2048


def test_heads():
    head = ProjectionHead(32, 64, 16, num_layers=2)
    assert head(torch.rand(4, 32)).shape == (4, 16)
    assert len([m for m in head if isinstance(m, torch.nn.Linear)]) == 2
    assert ProjectionHead(32, num_layers=0).out_dim == 32
    assert PredictionHead(16, 32)(torch.rand(4, 16)).shape == (4, 16)


def test_simclr_loss_is_nt_xent_of_its_projections():
    torch.manual_seed(0)
    method = SimCLR(SmallCNN(8), projection_dim=16, hidden_dim=32, temperature=0.3)
    v1, v2 = torch.rand(6, 3, 32, 32), torch.rand(6, 3, 32, 32)
    loss = method.loss((v1, v2))
    z1, z2 = method(torch.cat([v1, v2])).chunk(2)
    assert loss.item() == pytest.approx(nt_xent(z1, z2, 0.3).item(), rel=1e-5)
    # raw uint8 images are augmented by the method itself
    images = (torch.rand(6, 3, 32, 32) * 255).to(torch.uint8)
    assert torch.isfinite(method.loss(images, torch.Generator().manual_seed(0)))


def test_moco_momentum_encoder_and_queue():
    torch.manual_seed(0)
    method = MoCo(SmallCNN(8), dim=16, hidden_dim=32, queue_size=12, momentum=0.9, shuffle_bn_groups=2)
    assert all(not p.requires_grad for p in method.key_parameters())
    for pk, pq in zip(method.key_parameters(), method.query_parameters()):
        assert torch.equal(pk, pq)  # the key encoder starts as a copy
    with torch.no_grad():  # move the query encoder so the EMA is visible
        for p in method.query_parameters():
            p.add_(1.0)
    key_before = [p.clone() for p in method.key_parameters()]
    query_now = [p.clone() for p in method.query_parameters()]
    queue_before = method.queue.clone()
    loss = method.loss((torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)), torch.Generator().manual_seed(0))
    loss.backward()
    for b, q, pk in zip(key_before, query_now, method.key_parameters()):
        assert torch.allclose(pk, 0.9 * b + 0.1 * q, atol=1e-6)
    assert int(method.queue_ptr) == 4
    assert torch.equal(method.queue[4:], queue_before[4:]) and not torch.equal(method.queue[:4], queue_before[:4])
    assert torch.allclose(method.queue[:4].norm(dim=1), torch.ones(4), atol=1e-5)  # stored keys are normalised
    assert all(p.grad is None for p in method.key_parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.query_parameters())


def test_moco_shuffle_bn_changes_key_statistics_but_not_keys_in_eval():
    torch.manual_seed(0)
    method = MoCo(SmallCNN(8), dim=16, hidden_dim=32, queue_size=16, shuffle_bn_groups=4)
    x = torch.rand(8, 3, 32, 32)
    whole = method._embed(method.encoder_k, method.projector_k, x)
    method.shuffle_bn_groups = 1
    one = method._embed(method.encoder_k, method.projector_k, x)
    assert not torch.allclose(whole, one, atol=1e-4)  # groups of 2 images have their own BN statistics


def test_moco_versions_and_registry():
    v1, v2 = MoCo.v1(SmallCNN(8)), MoCo.v2(SmallCNN(8))
    assert len([m for m in v1.projector_q if isinstance(m, torch.nn.Linear)]) == 1
    assert len([m for m in v2.projector_q if isinstance(m, torch.nn.Linear)]) == 2
    assert v1.temperature == 0.07 and v2.temperature == 0.2
    for name in ("simclr", "moco_v1", "moco_v2"):
        assert build_method(name, SmallCNN(8)).encoder is not None
    with pytest.raises(ValueError, match="unknown method"):
        build_method("byol", SmallCNN(8))


def test_method_without_augmentation_refuses_raw_images():
    method = SimCLR(SmallCNN(8), augment=BatchAugment.recipe("simclr", 32))
    method.augment = None
    with pytest.raises(ValueError, match="augment"):
        method.loss(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def test_encoder_copy_for_baseline_is_independent():
    enc = SmallCNN(8)
    baseline = copy.deepcopy(enc)
    with torch.no_grad():
        next(enc.parameters()).add_(1)
    assert not torch.equal(next(enc.parameters()), next(baseline.parameters()))
