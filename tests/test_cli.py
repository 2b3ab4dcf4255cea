"""The ssl-course command: clear errors for bad input, and a miniature demo end to end."""
import json
import subprocess
import sys

import pytest

from ssl_course.cli import main


@pytest.mark.parametrize("argv,message", [
    (["demo", "--epochs", "0"], "must be at least 1"),
    (["demo", "--batch-size", "many"], "expected a whole number"),
    (["demo", "--lr", "-1"], "must be > 0"),
    (["demo", "--crop-min", "1.5"], "must be in (0, 1]"),
    (["demo", "--dataset", "imagenet"], "invalid choice"),
    (["demo", "--method", "byol"], "invalid choice"),
])
def test_bad_arguments_are_refused_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_dataset_and_device_errors(tmp_path, capsys):
    assert main(["demo", "--dataset", "cifar10", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "CIFAR-10" in err and "ssl-course download cifar10" in err and "Traceback" not in err
    import torch

    if not torch.cuda.is_available():
        assert main(["demo", "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err


def test_tiny_demo_writes_its_table_and_figures(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "ssl_course.cli", "demo", "--epochs", "2", "--num-images", "256",
                           "--batch-size", "64", "--width", "8", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results["accuracy"]) == {"raw pixels", "random encoder", "simclr encoder", "supervised (all labels)"}
    for row in results["accuracy"].values():
        assert 0 <= row["linear_probe"] <= 1 and 0 <= row["knn"] <= 1
    assert results["train_images"] == 256 and results["epochs"] == 2
    assert "| simclr encoder |" in proc.stdout and "| supervised (all labels) |" in proc.stdout
    for name in ("tsne.png", "curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_supervised_reference_is_on_for_the_demo_and_off_for_full_training():
    from ssl_course.cli import parse_args

    assert parse_args(["demo"]).supervised and not parse_args(["demo", "--no-supervised"]).supervised
    assert not parse_args(["train"]).supervised and parse_args(["train", "--supervised"]).supervised


def test_gpu_presets_set_defaults_and_flags_override_them():
    from ssl_course.cli import PRESETS, parse_args

    args = parse_args(["train", "--preset", "moco-v2-cifar10"])
    assert (args.method, args.dataset, args.encoder, args.queue_size, args.temperature) == \
        ("moco_v2", "cifar10", "resnet18", 4096, 0.2)
    args = parse_args(["train", "--preset", "simclr-stl10", "--epochs", "3", "--batch-size", "64"])
    assert (args.dataset, args.encoder, args.epochs, args.batch_size) == ("stl10", "resnet18_imagenet", 3, 64)
    assert set(PRESETS) == {"simclr-cifar10", "moco-v2-cifar10", "simclr-stl10", "moco-v2-stl10"}
    assert parse_args(["bench", "--quick", "--device", "cpu"]).quick
