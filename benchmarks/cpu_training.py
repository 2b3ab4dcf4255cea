"""CPU benchmark for the core library (issue 2): training throughput of SimCLR and MoCo with the small CNN and the
CIFAR ResNet-18, then the demo's table (raw pixels vs random encoder vs SimCLR encoder).

    python benchmarks/cpu_training.py              # throughput table, then the full demo (about 4 minutes)
    python benchmarks/cpu_training.py --skip-demo  # throughput only

Throughput counts source images per second through a whole training step (batched augmentation of two views,
forward, backward, optimizer), so one image is two encoder passes. The full benchmark (augmentation pipelines,
FLOP fraction, GPU) is ``ssl-course bench``; this script uses the same measuring function.
"""
from __future__ import annotations

import argparse
import sys

import torch

from ssl_course.bench import train_step_throughput


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| method | encoder | batch | images/s |\n|---|---|---:|---:|")
    for method in ("simclr", "moco_v2"):
        for encoder, batch, steps in (("small_cnn", 128, 8), ("resnet18", 32, 3)):
            row = train_step_throughput(method, encoder, batch, steps, torch.device("cpu"), warmup=1)
            print(f"| {method} | {encoder} | {batch} | {row['images_per_s']:.0f} |", flush=True)
    if not args.skip_demo:
        from ssl_course.cli import main as cli_main

        print("\nthe demo (ssl-course demo):", flush=True)
        return cli_main(["demo", "--no-progress", "--out", "demo_output"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
