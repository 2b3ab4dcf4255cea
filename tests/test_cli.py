"""The ssl-course command: clear errors for bad input, and a miniature demo end to end."""
import json
import subprocess
import sys

import pytest
import torch

from ssl_course.cli import main


@pytest.mark.parametrize("argv,message", [
    (["demo", "--epochs", "0"], "must be at least 1"),
    (["demo", "--batch-size", "many"], "expected a whole number"),
    (["demo", "--lr", "-1"], "must be > 0"),
    (["demo", "--crop-min", "1.5"], "must be in (0, 1]"),
    (["demo", "--dataset", "imagenet"], "invalid choice"),
    (["demo", "--method", "rotation"], "invalid choice"),
    (["demo", "--method", "byol", "--temperature", "0.5"], "--method byol has no temperature"),
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


# --- each bad input: one line on stderr, exit 2, no traceback, no --out folder left behind -----------------------

@pytest.mark.parametrize("argv,message", [
    (["demo", "--device", "tpu"], "expected auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
    (["demo", "--knn-every", "-3"], "must be 0 or more, got -3"),
    (["demo", "--warmup-epochs", "-2"], "must be 0 or more, got -2.0"),
    (["demo", "--weight-decay", "-1"], "must be 0 or more, got -1.0"),
    (["demo", "--momentum", "1.5", "--method", "moco_v2"], "must be in [0, 1], got 1.5"),
    (["demo", "--method", "simclr", "--queue-size", "64"], "--queue-size is a MoCo option"),
    (["train", "--momentum", "0.9", "--queue-size", "64"], "--momentum and --queue-size are MoCo options"),
    (["bench", "--batch-size", "0"], "must be at least 1, got 0"),
    (["bench", "--device", "tpu"], "got 'tpu'"),
])
def test_more_bad_arguments_get_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(argv + (["--out", str(tmp_path / "o")] if argv[0] != "bench" else []))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_moco_flags_are_fine_with_moco_and_presets():
    from ssl_course.cli import parse_args

    assert parse_args(["demo", "--method", "moco_v2", "--queue-size", "64", "--momentum", "0.9"]).queue_size == 64
    assert parse_args(["train", "--preset", "moco-v2-cifar10"]).momentum == 0.99  # the preset's, not the user's


def test_out_pointing_at_a_file(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    for out in (target, target / "sub"):
        with pytest.raises(SystemExit) as exit_info:
            main(["demo", "--out", str(out)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]  # argparse: the usage, then one error line
        assert last.startswith("ssl-course demo: error: --out") and "is a file" in last and "Traceback" not in err
    assert target.read_text() == "not a folder"


def test_a_failed_run_leaves_no_empty_out_folder(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["demo", "--dataset", "cifar10", "--data-root", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert not out.exists()


def test_download_offline_is_one_line(tmp_path, capsys, monkeypatch):
    import urllib.request
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["download", "cifar10", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ssl-course: error: could not download cifar10") and "internet" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_resuming_a_checkpoint_of_another_model_is_one_line(tmp_path, capsys):
    import torch

    checkpoint = tmp_path / "other.pt"
    torch.save({"method": {"encoder.not_this_model.weight": torch.zeros(1)}, "optimizer": {}}, checkpoint)
    out = tmp_path / "o"
    code = main(["demo", "--epochs", "1", "--num-images", "64", "--batch-size", "32", "--width", "4",
                 "--checkpoint", str(checkpoint), "--out", str(out), "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "was saved by another model" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("command", ["demo", "train", "bench", "download"])
def test_help_shows_defaults(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "(default:" in text
    if command == "demo":
        assert "(default: 15)" in text and "(default: demo_output)" in text


# --- one source of defaults: the method's own ----------------------------------------------------------------------

@pytest.mark.parametrize("command", ["demo", "train"])
@pytest.mark.parametrize("method,temperature,momentum,head_layers",
                         [("moco_v1", 0.07, 0.999, 1), ("moco_v2", 0.2, 0.99, 2), ("simclr", 0.2, None, 2)])
def test_a_command_without_flags_builds_the_methods_own_defaults(command, method, temperature, momentum,
                                                                 head_layers):
    """The old bug: experiment.build injected the CLI's temperature (0.5 for `train`, 0.2 for `demo`) into
    MoCo.v1, whose keywords override its own 0.07. Unset flags must leave the method's defaults alone."""
    from ssl_course.cli import experiment_config, parse_args
    from ssl_course.experiment import build

    config = experiment_config(parse_args([command, "--method", method, "--encoder", "small_cnn", "--width", "4"]),
                               32)
    assert config.temperature is None and config.method_kwargs == {}
    built = build(config, 32)
    assert built.temperature == temperature
    if momentum is not None:
        assert built.momentum == momentum
        assert len([m for m in built.projector_q.modules() if isinstance(m, torch.nn.Linear)]) == head_layers
    # an explicit flag still wins
    flagged = experiment_config(parse_args([command, "--method", method, "--encoder", "small_cnn", "--width", "4",
                                            "--temperature", "0.3"]), 32)
    assert build(flagged, 32).temperature == 0.3


def test_every_demo_default_is_the_library_default_it_claims():
    """`ssl-course demo` with no flags runs ExperimentConfig() exactly: no default is written twice."""
    from ssl_course.cli import DEMO_DEFAULTS, TRAIN_DEFAULTS, experiment_config, parse_args
    from ssl_course.experiment import ExperimentConfig

    assert experiment_config(parse_args(["demo"]), 32) == ExperimentConfig()
    # the full-scale profile changes only what a GPU run needs; the rest is the demo's (so the library's)
    shared = {k for k in DEMO_DEFAULTS if TRAIN_DEFAULTS[k] == DEMO_DEFAULTS[k]}
    assert {"temperature", "weight_decay", "warmup_epochs", "seed", "knn_every", "device", "method"} <= shared
    train = experiment_config(parse_args(["train"]), 32)
    assert (train.temperature, train.weight_decay, train.seed) == (None, ExperimentConfig.weight_decay, 0)


def test_moco_variants_treat_none_as_their_default():
    from ssl_course.methods import MoCo
    from ssl_course.models import SmallCNN

    v1 = MoCo.v1(SmallCNN(4), temperature=None, momentum=None, augment=None)
    assert (v1.temperature, v1.momentum) == (0.07, 0.999)
    assert v1.augment.config == MoCo.v1(SmallCNN(4)).augment.config  # v1's recipe, not the constructor's v2 one


def test_simclr_treats_a_none_temperature_as_its_default():
    """ExperimentConfig(temperature=None) reaches SimCLR as None (lecture 06 passes base.temperature on): it must
    mean the method's own default, and an explicit value must win."""
    from ssl_course.methods import SimCLR, build_method
    from ssl_course.models import SmallCNN

    assert SimCLR(SmallCNN(4), temperature=None).temperature == SimCLR.default_temperature == 0.2
    assert build_method("simclr", SmallCNN(4), temperature=None).temperature == 0.2
    assert build_method("simclr", SmallCNN(4), temperature=0.5).temperature == 0.5
