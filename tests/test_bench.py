"""The throughput benchmark's pieces: FLOP counting (the known ResNet-18 figure), memory, augmentation timing."""
import subprocess
import sys

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


class _Clock:
    """A fake ``time`` module whose clock advances by ``tick`` seconds at every reading."""

    def __init__(self, tick):
        self.now, self.tick = 0.0, tick

    def perf_counter(self):
        self.now += self.tick
        return self.now


def test_peak_memory_sees_a_large_allocation():
    """In a fresh process: pytest's own process may hold freed-but-resident memory from earlier tests, which a new
    64 MB tensor can reuse without raising the resident set at all (that made this test depend on test order)."""
    code = """
import torch
from ssl_course import bench
device = torch.device("cpu")
spike = torch.ones(256 * 2**20 // 4)  # a peak that the reset must forget
del spike
bench.reset_peak_memory(device)
before = bench.peak_memory_mb(device)
big = torch.ones(64 * 2**20 // 4)  # 64 MB, written (so resident)
after = bench.peak_memory_mb(device)
print(before, after)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    before, after = map(float, out.stdout.split())
    assert 60 < after - before < 200


def test_measurements_divide_the_work_by_the_measured_time(monkeypatch):
    """With a clock that advances 0.5 s per reading, each measurement is its work divided by 0.5 s: the matmul
    counts 2 n^3 FLOP per repeat, the augmentation benchmarks count source images."""
    device = torch.device("cpu")
    monkeypatch.setattr(bench, "time", _Clock(0.5))
    flops, what = bench.matmul_peak_flops(device, size=64, repeats=4)
    assert flops == 2 * 64**3 / (0.5 / 4) and what == "float32 matmul 64x64"
    assert bench.batched_augment_throughput("simclr", 8, 3, device) == 3 * 8 / 0.5
    assert bench.per_image_augment_throughput("simclr", 8, 2, workers=0) == 2 * 8 / 0.5


def test_the_training_benchmark_times_the_training_loops_own_step(monkeypatch):
    """bench measures ``ssl_course.train.train_step`` (not a copy of it): warm-up + timed steps all go through it."""
    import ssl_course.train as train_module

    calls = []
    real = train_module.train_step
    monkeypatch.setattr(train_module, "train_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    row = bench.train_step_throughput("simclr", "small_cnn", 8, steps=2, device=torch.device("cpu"), warmup=1)
    assert len(calls) == 3 and row["images_per_s"] > 0


def test_write_results_keeps_the_notes_under_the_table(tmp_path, capsys):
    from ssl_course.bench import write_results

    path = tmp_path / "RESULTS.md"
    path.write_text("# old table\n| a |\n\n## Notes\nwritten by hand\n")
    write_results(str(path), "# new table\n| b |", keep_from="## Notes")
    assert path.read_text() == "# new table\n| b |\n\n## Notes\nwritten by hand\n"
    assert "| b |" in capsys.readouterr().out
    write_results(str(path), "# newer", keep_from="## Missing")  # no such heading: the file is replaced
    assert path.read_text() == "# newer\n"


def test_noncontrastive_benchmark_smoke_run_writes_its_table(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "noncontrastive", Path(__file__).resolve().parents[1] / "benchmarks" / "noncontrastive.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "RESULTS_noncontrastive.md"
    out.write_text("old\n\n" + bench.NOTES_HEADING + " (one seed)\nkept\n")
    assert bench.main(["--seeds", "0", "--methods", "simsiam", "--epochs", "1", "--num-images", "256",
                       "--num-test", "128", "--batch-size", "64", "--write", str(out)]) == 0
    text = out.read_text()
    for row in ("| raw pixels |", "| supervised (all labels) |", "| simsiam: random init |", "| simsiam |",
                "| SimSiam, no stop-gradient |", "simsiam 0/1" if "simsiam 0/1" in text else "simsiam 1/1"):
        assert row in text, row
    assert text.endswith(bench.NOTES_HEADING + " (one seed)\nkept\n") and "old" not in text.split("##")[0]
