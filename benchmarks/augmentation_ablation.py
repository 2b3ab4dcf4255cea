"""SimCLR's augmentation ablation on the shapes, over seeds and crop sizes: does crop + colour beat either alone?

Lecture 03 runs this comparison once (one seed, crops of 50-100 %). This benchmark repeats it over seeds and over
the smallest crop area, with the lecture's budget (2,000 training images, 1,000 test, 8 epochs, SmallCNN width 32,
batch 128, tau 0.2), and prints the linear-probe / kNN accuracy of the frozen encoder next to the random encoder
of each seed (the same network at step 0).

    PYTHONPATH=. python benchmarks/augmentation_ablation.py                     # ~8 min on 1 thread
    PYTHONPATH=. python benchmarks/augmentation_ablation.py --seeds 0 --crop-mins 0.5
    PYTHONPATH=. python benchmarks/augmentation_ablation.py --write benchmarks/RESULTS_augmentation.md

"colour only" turns crops off (the whole image, flips kept); "crop only" turns colour jitter and grayscale off
(crops of 50-100 %); "crop >= s + colour" is the full SimCLR recipe with crops of s-100 % of the image.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from ssl_course.evaluate import evaluate_features
from ssl_course.experiment import ExperimentConfig, baseline_features, load_splits, run_experiment


def configs(base: ExperimentConfig, crop_mins) -> dict[str, ExperimentConfig]:
    """{row name: config}: the two single augmentations, then the pair at each smallest crop area."""
    recipe = base.augment
    rows = {
        "colour only": base.with_(augment=recipe.colour_only()),
        "crop only (>= 0.5)": base.with_(augment=recipe.crop_only().with_(crop_scale=(0.5, 1.0))),
    }
    for s in crop_mins:
        rows[f"crop >= {s:g} + colour"] = base.with_(augment=recipe.with_(crop_scale=(s, 1.0)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--crop-mins", type=float, nargs="+", default=[0.2, 0.5, 0.8])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--num-images", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--write", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    if any(not 0 < s <= 1 for s in args.crop_mins):
        parser.error("--crop-mins must be in (0, 1]")
    torch.set_num_threads(args.threads)

    results: dict[str, list[tuple[float, float]]] = {}
    start = time.perf_counter()
    for seed in args.seeds:
        base = ExperimentConfig(num_images=args.num_images, num_test=1000, epochs=args.epochs, seed=seed,
                                progress=False)
        data = load_splits(base)
        random = evaluate_features(*baseline_features(base, data)["random encoder"])
        results.setdefault("random encoder", []).append((random["linear_probe"], random["knn"]))
        for name, config in configs(base, args.crop_mins).items():
            acc = run_experiment(config, data).accuracy
            results.setdefault(name, []).append((acc["linear_probe"], acc["knn"]))
            print(f"seed {seed}  {name:22s} linear probe {acc['linear_probe']:.3f}  kNN {acc['knn']:.3f}  "
                  f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    seeds = ", ".join(map(str, args.seeds))
    lines = [f"SimCLR on shapes, {args.num_images} training images, {args.epochs} epochs, seeds {seeds}; "
             f"{time.perf_counter() - start:.0f} s on {args.threads} thread(s).", "",
             "| augmentation | linear probe (mean) | kNN (mean) | per seed (probe / kNN) |", "|---|---|---|---|"]
    for name, values in results.items():
        probe, knn = statistics.mean(v[0] for v in values), statistics.mean(v[1] for v in values)
        per_seed = "; ".join(f"{p:.3f} / {k:.3f}" for p, k in values)
        lines.append(f"| {name} | {probe:.3f} | {knn:.3f} | {per_seed} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        with open(args.write, "w") as f:
            f.write("# Augmentation ablation (`benchmarks/augmentation_ablation.py`)\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
