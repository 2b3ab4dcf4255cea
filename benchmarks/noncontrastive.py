"""Learning without negatives, over seeds: BYOL, SimSiam, SwAV and DINO on ``shapes``, each judged by a linear probe
and kNN against its own random-init encoder, raw pixels and the same encoder trained with all labels; then the
collapse ablations (SimSiam without stop-gradient, BYOL without predictor, DINO without centering / sharpening)
with the collapse monitor (output std of the l2-normalised output, effective rank) on the test images.

    PYTHONPATH=. python benchmarks/noncontrastive.py                                # 3 seeds, lecture 07's budget
    PYTHONPATH=. python benchmarks/noncontrastive.py --seeds 0 --epochs 2 --num-images 512   # a smoke run
    PYTHONPATH=. python benchmarks/noncontrastive.py --write benchmarks/RESULTS_noncontrastive.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from ssl_course import evaluate as ev
from ssl_course.bench import write_results
from ssl_course.common import as_float_images, eval_mode
from ssl_course.experiment import (ExperimentConfig, baseline_features, load_splits, run_experiment,
                                   run_supervised, small_run_recipe)

METHODS = ("byol", "simsiam", "swav", "dino")
NOTES_HEADING = "## How the small-run recipe was chosen"  # the notes under the table, kept by --write
# (row name, method, constructor keywords): the runs that must collapse, next to the full methods
ABLATIONS = (("SimSiam, no stop-gradient", "simsiam", {"stop_gradient": False}),  # each on its method's recipe
             ("BYOL, no predictor", "byol", {"predictor": False}),
             ("DINO, no centering", "dino", {"centering": False}),
             ("DINO, no sharpening", "dino", {"sharpening": False}))


@torch.no_grad()
def collapse_of(method, images: torch.Tensor, batch_size: int = 512) -> dict[str, float]:
    """The collapse monitor of the method's monitored output (``method.embed``) on un-augmented images."""
    with eval_mode(method):
        outputs = torch.cat([method.embed(as_float_images(images[i:i + batch_size])).float()
                             for i in range(0, len(images), batch_size)])
    return ev.collapse_monitor(outputs)


def bench_config(method: str, seed: int, args, **ablation) -> ExperimentConfig:
    """Lecture 07's setting: the course's small-run recipe of the method (``small_run_recipe``), one seed."""
    return small_run_recipe(ExperimentConfig(method=method, dataset="shapes", encoder=args.encoder,
                                             num_images=args.num_images, num_test=args.num_test, epochs=args.epochs,
                                             batch_size=args.batch_size, seed=seed, progress=False), **ablation)


def mean_cell(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ({' / '.join(f'{v:.3f}' for v in values)})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--num-images", type=int, default=2000)
    parser.add_argument("--num-test", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--encoder", default="small_cnn")
    parser.add_argument("--no-ablations", action="store_true", help="skip the collapse ablations")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--write", help="also write the tables to this markdown file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    probes: dict[str, dict[str, list[float]]] = {}  # row -> {"linear_probe": [per seed], "knn": [...]}
    beats: dict[str, list[bool]] = {}  # method -> per seed: beats its random encoder on both probes

    def record(row: str, accuracy: dict) -> None:
        for key in ("linear_probe", "knn"):
            probes.setdefault(row, {}).setdefault(key, []).append(accuracy[key])

    collapse_rows: dict[str, list[dict]] = {}
    for seed in args.seeds:
        data = load_splits(bench_config("simclr", seed, args))
        base = bench_config("simclr", seed, args)  # the supervised run: the config's default optimiser
        record("raw pixels", ev.evaluate_features(*baseline_features(base, data)["raw pixels"]))
        supervised = run_supervised(base, data, 1.0)
        record("supervised (all labels)", ev.evaluate_features(*supervised.features))
        for name in args.methods:
            config = bench_config(name, seed, args)
            random_init = ev.evaluate_features(*baseline_features(config, data)["random encoder"])
            result = run_experiment(config, data)
            record(f"{name}: random init", random_init)
            record(name, result.accuracy)
            beats.setdefault(name, []).append(all(result.accuracy[k] > random_init[k] for k in random_init))
            collapse_rows.setdefault(name, []).append({**collapse_of(result.method, data[2].images),
                                                       **result.accuracy})
            print(f"seed {seed} {name:8s} probe {result.accuracy['linear_probe']:.3f} (random "
                  f"{random_init['linear_probe']:.3f}) kNN {result.accuracy['knn']:.3f} (random "
                  f"{random_init['knn']:.3f}) {result.train_seconds:.0f} s", flush=True)
        if not args.no_ablations:
            for row, name, kwargs in ABLATIONS:
                if name not in args.methods:
                    continue
                result = run_experiment(bench_config(name, seed, args, **kwargs), data)
                collapse_rows.setdefault(row, []).append({**collapse_of(result.method, data[2].images),
                                                          **result.accuracy})
                print(f"seed {seed} {row}: {collapse_rows[row][-1]}", flush=True)
    seconds = time.perf_counter() - start

    lines = ["# Learning without negatives (`benchmarks/noncontrastive.py`)", "",
             f"shapes, {args.num_images} training images (also the probes' labelled set), {args.num_test} test images, "
             f"{args.encoder}, {args.epochs} epochs at batch {args.batch_size}, seeds "
             f"{', '.join(map(str, args.seeds))}; {seconds:.0f} s on {args.threads} thread(s). Test accuracy, mean "
             "over seeds (per seed in brackets). \"random init\" is the same encoder before training (same seed).", "",
             "| representation | linear probe | kNN (k=20) |", "|---|---|---|"]
    lines += [f"| {row} | {mean_cell(v['linear_probe'])} | {mean_cell(v['knn'])} |" for row, v in probes.items()]
    lines += ["", "Beats its random-init encoder on both probes, per seed: "
              + "; ".join(f"{name} {sum(b)}/{len(b)}" for name, b in beats.items()) + ".", "",
              "Collapse monitor on the test images (the method's monitored output: projector for BYOL / SimSiam, "
              "normalised embedding for SwAV, head output for DINO): output std of the l2-normalised output "
              "(0 = collapsed, about 1/sqrt(D) when spread) and effective rank (1 = one direction).", "",
              "| run | output std | effective rank | linear probe | kNN |", "|---|---|---|---|---|"]
    for row, runs in collapse_rows.items():
        lines.append(f"| {row} | " + " | ".join(mean_cell([r[k] for r in runs])
                                                for k in ("output_std", "effective_rank", "linear_probe", "knn"))
                     + " |")
    write_results(args.write, "\n".join(lines), keep_from=NOTES_HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
