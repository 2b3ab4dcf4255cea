"""Encoders, heads, SimCLR and MoCo: shapes, structure, and that each method's loss is its kernel."""
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
    """The projection MLP computes Linear -> BatchNorm -> ReLU -> Linear (no bias before BN), a linear head is
    one Linear layer, the "no head" ablation returns its input, and the predictor maps dim -> hidden -> dim."""
    torch.manual_seed(0)
    x = torch.randn(6, 32)
    head = ProjectionHead(32, 64, 16, num_layers=2).eval()
    with torch.no_grad():
        for m in head.modules():  # non-trivial BN statistics, so that using them (or not) shows
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(), m.running_var.uniform_(0.5, 2.0), m.weight.normal_(), m.bias.normal_()
    first, bn, last = head[0], head[1], head[3]
    assert first.bias is None and last.bias is not None
    hidden = torch.relu((first(x) - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias)
    assert torch.allclose(head(x), hidden @ last.weight.T + last.bias, atol=1e-5)
    assert head(x).shape == (6, 16) and head.out_dim == 16
    linear = ProjectionHead(32, 64, 16, num_layers=1)
    assert [type(m) for m in linear] == [torch.nn.Linear] and linear[0].bias is not None
    assert torch.allclose(linear(x), x @ linear[0].weight.T + linear[0].bias)
    none = ProjectionHead(32, num_layers=0)
    assert none.out_dim == 32 and torch.equal(none(x), x)
    pred = PredictionHead(16, 32)
    assert [type(m) for m in pred] == [torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU, torch.nn.Linear]
    assert (pred[0].in_features, pred[0].out_features, pred[3].out_features) == (16, 32, 16) and pred.out_dim == 16


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
    # in eval mode BatchNorm uses its running statistics: the grouping no longer changes a key
    method.eval()
    one_eval = method._embed(method.encoder_k, method.projector_k, x)
    method.shuffle_bn_groups = 4
    whole_eval = method._embed(method.encoder_k, method.projector_k, x)
    assert torch.allclose(whole_eval, one_eval, atol=1e-5)
    assert torch.allclose(whole_eval.norm(dim=1), torch.ones(8), atol=1e-5)
    # and each group of the training-mode keys is what that group alone gives
    method.train()
    for g, chunk in enumerate(x.chunk(4)):
        alone = torch.nn.functional.normalize(method.projector_k(method.encoder_k(chunk)), dim=1)
        assert torch.allclose(whole[2 * g:2 * g + 2], alone, atol=1e-5)


def test_moco_versions_and_registry():
    v1, v2 = MoCo.v1(SmallCNN(8)), MoCo.v2(SmallCNN(8))
    assert len([m for m in v1.projector_q if isinstance(m, torch.nn.Linear)]) == 1
    assert len([m for m in v2.projector_q if isinstance(m, torch.nn.Linear)]) == 2
    assert v1.temperature == 0.07 and v2.temperature == 0.2
    for name in ("simclr", "moco_v1", "moco_v2", "byol", "simsiam", "swav", "dino"):
        assert build_method(name, SmallCNN(8)).encoder is not None
    with pytest.raises(ValueError, match="unknown method"):
        build_method("barlow_twins", SmallCNN(8))


def test_method_without_augmentation_refuses_raw_images():
    method = SimCLR(SmallCNN(8), augment=BatchAugment.recipe("simclr", 32))
    method.augment = None
    with pytest.raises(ValueError, match="augment"):
        method.loss(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def test_moco_key_encoder_is_an_independent_copy():
    """MoCo's key encoder and head start equal to the query ones but share no storage: training the query side
    moves the key side only through the momentum update."""
    torch.manual_seed(0)
    method = MoCo(SmallCNN(4), dim=8, hidden_dim=16, queue_size=8)
    key_before = [p.clone() for p in method.key_parameters()]
    assert len(key_before) == len(method.query_parameters())
    with torch.no_grad():
        for p in method.query_parameters():
            p.add_(1.0)
    assert all(torch.equal(b, p) for b, p in zip(key_before, method.key_parameters()))
    key_ptrs = {p.data_ptr() for p in method.key_parameters()}
    assert not key_ptrs & {p.data_ptr() for p in method.query_parameters()}
    assert method.encoder is method.encoder_q


def test_moco_queue_holds_the_momentum_encoders_keys():
    """After a step, the enqueued rows are the keys of the momentum encoder (computed here independently: the
    shuffled key batch, embedded group by group, put back in order), not the queries."""
    torch.manual_seed(0)
    method = MoCo(SmallCNN(4), dim=8, hidden_dim=16, queue_size=12, momentum=0.5, shuffle_bn_groups=2)
    with torch.no_grad():  # the query side moves away, so that queries and keys differ
        for p in method.query_parameters():
            p.add_(0.5 * torch.randn_like(p))
    g = torch.Generator().manual_seed(1)
    x_q, x_k = torch.rand(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
    key_before = [p.clone() for p in method.key_parameters()]
    query = [p.clone() for p in method.query_parameters()]
    method.queue_ptr.fill_(10)  # enqueueing 4 keys wraps around: rows 10, 11, 0, 1
    old_queue = method.queue.clone()
    method.loss((x_q, x_k), torch.Generator().manual_seed(5))
    # the key encoder after its momentum update
    for b, q, p in zip(key_before, query, method.key_parameters()):
        assert torch.allclose(p, 0.5 * b + 0.5 * q, atol=1e-6)
    perm = torch.randperm(4, generator=torch.Generator().manual_seed(5))  # the step's shuffle
    with torch.no_grad():
        shuffled = x_k[perm]
        embedded = torch.cat([method.projector_k(method.encoder_k(shuffled[:2])),
                              method.projector_k(method.encoder_k(shuffled[2:]))])
        keys = torch.empty_like(embedded)
        keys[perm] = torch.nn.functional.normalize(embedded, dim=1)
        queries = torch.nn.functional.normalize(torch.cat([method.projector_q(method.encoder_q(x_q[:2])),
                                                           method.projector_q(method.encoder_q(x_q[2:]))]), dim=1)
    rows = [10, 11, 0, 1]
    assert torch.allclose(method.queue[rows], keys, atol=1e-5)
    assert not torch.allclose(method.queue[rows], queries, atol=1e-2)
    assert torch.equal(method.queue[2:10], old_queue[2:10]) and int(method.queue_ptr) == 2


def test_moco_defaults_and_arguments():
    """The defaults are MoCo v2's recipe at CIFAR size; the checks accept the boundary values."""
    method = MoCo(SmallCNN(4))
    assert (method.temperature, method.momentum, method.shuffle_bn_groups) == (0.2, 0.99, 4)
    assert method.queue.shape == (4096, 128) and int(method.queue_ptr) == 0
    assert method.queue_ptr.dtype == torch.long
    assert torch.allclose(method.queue.norm(dim=1), torch.ones(4096), atol=1e-5)  # random unit keys to start
    assert MoCo.v1(SmallCNN(4)).augment.image_size == 32 and MoCo.v2(SmallCNN(4)).augment.image_size == 32
    linears = [m for m in method.projector_q if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 512), (512, 128)]  # SmallCNN(4): 16 features
    from ssl_course.augment import AugmentConfig
    assert method.augment.image_size == 32 and method.augment.config == AugmentConfig.recipe("moco_v2", 32)
    own = BatchAugment(16)
    assert MoCo(SmallCNN(4), augment=own).augment is own
    v2 = MoCo.v2(SmallCNN(4), image_size=64, queue_size=16)
    assert v2.augment.image_size == 64 and v2.augment.config == AugmentConfig.recipe("moco_v2", 64)
    assert v2.queue.shape[0] == 16
    v1 = MoCo.v1(SmallCNN(4), image_size=48, queue_size=8)
    assert v1.augment.image_size == 48 and v1.augment.config == AugmentConfig.recipe("moco_v1", 48)
    assert v1.queue.shape[0] == 8 and v1.momentum == 0.999
    for ok in (dict(queue_size=1), dict(momentum=0.0), dict(momentum=1.0), dict(shuffle_bn_groups=1)):
        MoCo(SmallCNN(4), dim=4, hidden_dim=8, **ok)
    for bad in (dict(queue_size=0), dict(momentum=-0.1), dict(momentum=1.5), dict(shuffle_bn_groups=0)):
        with pytest.raises(ValueError, match="^need queue_size >= 1, 0 <= momentum <= 1 and shuffle_bn_groups >= 1$"):
            MoCo(SmallCNN(4), dim=4, hidden_dim=8, **bad)


def test_moco_loss_uses_its_temperature_and_the_queue_before_the_update():
    torch.manual_seed(0)
    method = MoCo(SmallCNN(4), dim=8, hidden_dim=16, queue_size=12, temperature=0.3, shuffle_bn_groups=1)
    g = torch.Generator().manual_seed(1)
    x_q, x_k = torch.rand(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
    queue = method.queue.clone()
    loss = method.loss((x_q, x_k), torch.Generator().manual_seed(5))
    with torch.no_grad():
        q = torch.nn.functional.normalize(method.projector_q(method.encoder_q(x_q)), dim=1)
        k = method.queue[:4]  # what was enqueued: this step's keys
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / 0.3
    expected = torch.nn.functional.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_moco_calls_the_distributed_hooks_when_they_are_set():
    """Under torchrun the trainer sets ``batch_shuffle`` and ``all_gather``; here they are stand-ins that record
    their inputs: the key images and the step's generator go to the shuffle, the restored keys to the gather, and
    the queue receives what the gather returns."""
    torch.manual_seed(0)
    method = MoCo(SmallCNN(4), dim=8, hidden_dim=16, queue_size=16, shuffle_bn_groups=1)
    seen = {}
    perm = torch.tensor([2, 0, 3, 1])

    def batch_shuffle(x, generator):
        seen["shuffle"] = (x.clone(), generator)
        return x[perm], lambda k: k[torch.argsort(perm)]

    def all_gather(k):
        seen["gather"] = k.clone()
        return torch.cat([k, -k])  # "the other rank's" keys

    method.batch_shuffle, method.all_gather = batch_shuffle, all_gather
    g = torch.Generator().manual_seed(1)
    x_q, x_k = torch.rand(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
    generator = torch.Generator().manual_seed(5)
    method.loss((x_q, x_k), generator)
    assert torch.equal(seen["shuffle"][0], x_k) and seen["shuffle"][1] is generator
    with torch.no_grad():
        keys = torch.nn.functional.normalize(method.projector_k(method.encoder_k(x_k)), dim=1)
    assert torch.allclose(seen["gather"], keys, atol=1e-5)
    assert torch.allclose(method.queue[:8], torch.cat([keys, -keys]), atol=1e-5) and int(method.queue_ptr) == 8
