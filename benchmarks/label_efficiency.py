"""The payoff of self-supervision, over seeds: with 1 %, 10 % and 100 % of the labels, does SimCLR's encoder
(frozen + a linear probe, or fine-tuned end to end) beat the same network trained from scratch on those labels?

Lecture 06 runs this comparison once (seed 0, its default-mode budget). This benchmark repeats it with the same
budget over seeds: shapes, 2,000 training images (the labelled pool too) and 1,000 test images per seed, SmallCNN
width 32, SimCLR 15 epochs at batch 64 and tau 0.2; every supervised run (fine-tuning and scratch) takes as many
optimiser steps as SimCLR did, on exactly the same class-balanced labelled images.

    PYTHONPATH=. python benchmarks/label_efficiency.py                       # seeds 0 and 1, lecture 06's budget
    PYTHONPATH=. python benchmarks/label_efficiency.py --num-images 5000 --batch-size 128   # the demo's budget
    PYTHONPATH=. python benchmarks/label_efficiency.py --write benchmarks/RESULTS_label_efficiency.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from ssl_course.bench import write_results
from ssl_course.data import label_subset
from ssl_course.experiment import (LABEL_FRACTIONS, ExperimentConfig, label_efficiency_comparison, load_splits,
                                   run_experiment)


def lecture_config(seed: int, num_images: int = 2000, epochs: int = 15, batch_size: int = 64,
                   invert_p: float = 0.0) -> ExperimentConfig:
    """Lecture 06's default-mode setting for one seed (with 5,000 images and batch 128: the demo's and lecture 03's).
    ``invert_p``: SimCLR's extra polarity inversion (lecture 03, section 5); the supervised runs keep their own recipe."""
    config = ExperimentConfig(dataset="shapes", method="simclr", num_images=num_images,
                              num_test=1000 if num_images <= 2000 else 2000, batch_size=batch_size, epochs=epochs,
                              seed=seed, progress=False)
    return config.with_(augment=config.augment.with_(invert_p=invert_p))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--num-images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--invert-p", type=float, default=0.0,
                        help="probability of SimCLR's polarity inversion x -> 1 - x (lecture 03; default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--write", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    per_seed: dict[str, list[dict[float, float]]] = {}
    labels_used = {}
    start = time.perf_counter()
    for seed in args.seeds:
        config = lecture_config(seed, args.num_images, args.epochs, args.batch_size, args.invert_p)
        data = load_splits(config)
        simclr = run_experiment(config, data)
        steps = len(simclr.history.step_losses)
        rows = label_efficiency_comparison(config, data, simclr.method.encoder, steps=steps, ssl_name="SimCLR",
                                           finetune_lr=config.lr / 2)
        for name, curve in rows.items():
            per_seed.setdefault(name, []).append(curve)
            print(f"seed {seed} {name:24s} " + "  ".join(f"{f:.0%}: {a:.3f}" for f, a in curve.items()), flush=True)
        labels_used = {f: len(label_subset(data[1].labels.numpy(), f, seed=seed)) for f in LABEL_FRACTIONS}
    seconds = time.perf_counter() - start

    scratch = per_seed["supervised from scratch"]
    lines = [f"# Label efficiency (`benchmarks/label_efficiency.py`)", "",
             f"SimCLR vs training from scratch on shapes, {args.num_images} training images, {args.epochs} SimCLR "
             f"epochs at batch {args.batch_size}, inversion p {args.invert_p}, seeds {', '.join(map(str, args.seeds))}; {seconds:.0f} s on {args.threads} thread(s). "
             f"Labelled images used (seed {args.seeds[-1]}): "
             + ", ".join(f"{f:.0%}: {n}" for f, n in labels_used.items()) + ". Test accuracy, mean over seeds "
             "(per seed in brackets); the margin is over training from scratch on the same labels, in points.", "",
             "| representation | " + " | ".join(f"{f:.0%} labels" for f in LABEL_FRACTIONS) + " |",
             "|---|" + "---|" * len(LABEL_FRACTIONS)]
    for name, curves in per_seed.items():
        cells = []
        for f in LABEL_FRACTIONS:
            values = [c[f] for c in curves]
            cell = f"{statistics.mean(values):.3f} ({' / '.join(f'{v:.3f}' for v in values)})"
            if name != "supervised from scratch":
                margins = [100 * (c[f] - s[f]) for c, s in zip(curves, scratch)]
                cell += f" {statistics.mean(margins):+.1f}"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    write_results(args.write, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
