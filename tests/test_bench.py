"""The throughput benchmark's pieces: FLOP counting (the known ResNet-18 figure), memory, augmentation timing."""
import torch

from ssl_course import bench
from ssl_course.methods import build_method
from ssl_course.models import build_encoder


def test_flops_of_cifar_resnet18_match_the_known_figure():
    """1.11 GFLOP per 32x32 image forward (the quoted 0.56 G is multiply-adds); SimCLR: 3 x 2 views = 6.7 GFLOP."""
    method = build_method("simclr", build_encoder("resnet18"))
    encoder_only = bench.forward_flops(method.encoder)
    assert 1.09e9 < encoder_only < 1.13e9
    per_image = bench.training_flops_per_image("simclr", method)
    assert 6.6e9 < per_image < 6.8e9
    moco = build_method("moco_v2", build_encoder("small_cnn", width=8))
    fwd = bench.forward_flops(torch.nn.Sequential(moco.encoder_q, moco.projector_q))
    assert bench.training_flops_per_image("moco_v2", moco) == 4 * fwd  # query fwd+bwd, key fwd only


def test_memory_and_peak_measurements_are_positive():
    device = torch.device("cpu")
    bench.reset_peak_memory(device)
    assert bench.peak_memory_mb(device) > 10
    flops, what = bench.matmul_peak_flops(device, size=128, repeats=2)
    assert flops > 0 and "float32" in what


def test_augmentation_throughputs_run():
    assert bench.batched_augment_throughput("simclr", 8, 1, torch.device("cpu")) > 0
    assert bench.per_image_augment_throughput("simclr", 8, 1, workers=0) > 0
