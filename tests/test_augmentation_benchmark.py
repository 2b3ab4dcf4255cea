"""The augmentation-ablation benchmark runs end to end on a tiny budget and writes a complete table."""
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("augmentation_ablation", ROOT / "benchmarks" / "augmentation_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configs_switch_the_named_augmentation_off():
    from ssl_course.experiment import ExperimentConfig

    rows = _benchmark().configs(ExperimentConfig(), [0.2, 0.8])
    assert rows["colour only"].augment.crop_scale == (1.0, 1.0) and rows["colour only"].augment.jitter_p > 0
    assert rows["crop only (>= 0.5)"].augment.jitter_p == 0 and rows["crop only (>= 0.5)"].augment.gray_p == 0
    assert rows["crop >= 0.2 + colour"].augment.crop_scale == (0.2, 1.0)
    assert rows["crop >= 0.8 + colour"].augment.jitter_p == rows["colour only"].augment.jitter_p


def test_tiny_run_writes_every_row(tmp_path):
    out = tmp_path / "table.md"
    assert _benchmark().main(["--seeds", "0", "--crop-mins", "0.5", "--epochs", "1", "--num-images", "256",
                              "--write", str(out)]) == 0
    rows = re.findall(r"^\| ([^|]+) \| ([\d.]+) \| ([\d.]+) \|", out.read_text(), flags=re.M)
    assert [r[0] for r in rows] == ["random encoder", "colour only", "crop only (>= 0.5)", "crop >= 0.5 + colour"]
    assert all(0.0 <= float(v) <= 1.0 for r in rows for v in r[1:])


def test_bad_crop_size_is_a_usage_error():
    with pytest.raises(SystemExit):
        _benchmark().main(["--crop-mins", "0"])
