"""Benchmark of the pretext-task methods on offline data, on the CPU.

Each method trains with the shared ``ssl_course.train.train`` loop on a small budget; its encoder is then frozen and
judged by a linear probe and a weighted kNN (``ssl_course.evaluate``) on labelled train/test splits, next to a
randomly initialised encoder of the same architecture (the method's own encoder before training: same seed, same
weights at step 0). CPC on sequences is judged by a speaker probe on its time-averaged context and reports its
per-step prediction accuracy on held-out utterances. The colour-tracking demo reports the IoU of an object mask
propagated from the first to the last frame of held-out clips, by the learned attention, by the same network
untrained, by raw-pixel (lightness patch) attention, and by not moving the mask at all.

    PYTHONPATH=. python benchmarks/pretext_methods.py                 # everything (~10-15 min, 1 thread)
    PYTHONPATH=. python benchmarks/pretext_methods.py --only rotation jigsaw --seeds 0
    PYTHONPATH=. python benchmarks/pretext_methods.py --only jigsaw@digits   # a variant (not in the default run)
    PYTHONPATH=. python benchmarks/pretext_methods.py --write benchmarks/RESULTS_pretext.md

Every image method runs once per seed (``--seeds``, default 0 1 2: each seed draws its own initial weights, so its own
random baseline, and its own training randomness) and the table reports the means with every seed's margin; the
margins on the 359 digit test images are a few images, so a single seed is within noise. ``--threads`` (default 1)
sets torch's CPU threads.

Datasets and budgets, and why (the random baseline is always the same network at step 0, evaluated identically):

- rotation: scikit-learn's digits (shapes are drawn at uniformly random orientations, so their rotation is
  unpredictable). Digits are all centred, and without augmentation the four rotations are told apart from
  low-level cues in a few epochs (pretext accuracy 1.0), leaving features no better for kNN than random ones
  (kNN margins +1.4, +1.9, -0.6 over three seeds at 10 epochs). Random resized crops (scale 0.6-1, aspect 3/4-4/3,
  no flips, applied before the four rotations; RotNet's training also used crops) make the orientation cue depend
  on the digit's shape. 10 epochs.
- relative patch and jigsaw: the procedural shapes (10,000 train / 2,000 test). On digits (8 x 8 pixels upsampled
  to 32) a tile of a 3 x 3 grid holds about 2 x 2 of the original pixels, and a random SmallCNN is already strong
  there (linear probe 0.958, kNN 0.905): the old digit runs beat random on the linear probe but not on kNN (relative
  patch -8.1, jigsaw -0.8; kept as the ``@digits`` variants). Shapes are textured, randomly coloured scenes where
  random features are weak (0.35 / 0.22) and recognising the shape is what tells tiles apart. Relative patch keeps
  its 8 px tiles upsampled to 16 px; jigsaw the 2 x 2 grid (14 px tiles, gap 2, all 24 permutations).
- inpainting, colorization and CPC on images: crops of the bundled colour photographs (``make_photo_crops``; the
  probe predicts which photograph a crop of an unseen region comes from): digits are grey and the shapes' colours are
  random, so neither has colour to predict; on digits inpainting did not beat random features (8 epochs, block
  masks: linear probe 0.950 vs 0.958, kNN 0.889 vs 0.905; centre masks 0.961 vs 0.958, 0.903 vs 0.905) and CPC on
  digits was within noise (3 epochs: kNN -1.7; 10 epochs +1.4 / +3.6, the ``cpc_image@digits`` variant). On photo
  crops CPC's patch grid has real texture to predict; 6 epochs.
"""
from __future__ import annotations

import argparse
import copy
import functools
import os
import sys
import time

import torch

from ssl_course.augment import AugmentConfig, BatchAugment
from ssl_course.data import load_speakers, load_splits, make_clips
from ssl_course.evaluate import evaluate_features, extract_sequence_features
from ssl_course.experiment import features_of
from ssl_course.methods import CPCSequence, build_method
from ssl_course.methods.cpc import prediction_accuracy
from ssl_course.models import SmallCNN
from ssl_course.tracking import mask_iou, pixel_attention, propagation_iou
from ssl_course.train import TrainConfig, train

WIDTH = 16  # SmallCNN width: features of 4 * 16 = 64 dimensions

# RotNet's pre-rotation augmentation: random resized crops only (no flips, no colour changes). BatchAugment holds
# only its settings, so one instance serves every seed.
ROTATION_CROPS = BatchAugment(32, AugmentConfig.recipe("none").with_(crop_scale=(0.6, 1.0),
                                                                  crop_ratio=(3 / 4, 4 / 3)))

# name[@variant] -> (dataset, input channels, method kwargs, training config). Variants (a name with "@") only run
# when asked for with --only.
IMAGE_SETUPS = {
    "rotation": ("digits", 3, dict(hidden_dim=256, augment=ROTATION_CROPS), dict(epochs=10, batch_size=64, lr=0.05)),
    "rotation@photo_crops": ("photo_crops", 3, dict(hidden_dim=256), dict(epochs=5, batch_size=64, lr=0.05)),
    "relative_patch": ("shapes", 3, dict(tile_resize=16), dict(epochs=4, batch_size=64, lr=0.05)),
    "relative_patch@digits": ("digits", 3, dict(tile_resize=16), dict(epochs=12, batch_size=64, lr=0.05)),
    "jigsaw": ("shapes", 3, dict(grid=2, num_permutations=24, gap=2), dict(epochs=5, batch_size=64, lr=0.05)),
    "jigsaw@digits": ("digits", 3, dict(grid=2, num_permutations=24, gap=2), dict(epochs=12, batch_size=64, lr=0.05)),
    "inpainting": ("photo_crops", 3, dict(mask="center", decoder_width=32), dict(epochs=4, batch_size=64, lr=0.05)),
    "colorization": ("photo_crops", 1, dict(downsample=0), dict(epochs=8, batch_size=64, lr=0.05)),
    "cpc_image": ("photo_crops", 3, dict(), dict(epochs=6, batch_size=64, lr=0.05)),
    "cpc_image@digits": ("digits", 3, dict(), dict(epochs=10, batch_size=64, lr=0.05)),
}
DEFAULT_IMAGE_METHODS = [name for name in IMAGE_SETUPS if "@" not in name]

@functools.lru_cache(maxsize=None)
def image_data(name: str):
    """(train, test) of a dataset by name, from the registry's defaults: digits 1,438 / 359; shapes 10,000 / 2,000;
    photo_crops 3,000 / 700."""
    train, _, test = load_splits(name)
    return train, test


def run_image_method(name: str, seed: int = 0) -> dict:
    data_name, channels, kwargs, cfg = IMAGE_SETUPS[name]
    train_set, test_set = image_data(data_name)
    torch.manual_seed(seed)
    method = build_method(name.split("@")[0], SmallCNN(WIDTH, in_channels=channels), **kwargs)
    random_encoder = copy.deepcopy(method.encoder)  # same architecture and initial weights, never trained
    start = time.perf_counter()
    history = train(method, train_set, TrainConfig(device="cpu", seed=seed, progress=False, **cfg))
    seconds = time.perf_counter() - start
    pretext = f"loss {history.epochs[0]['loss']:.3f}->{history.epochs[-1]['loss']:.3f}"
    accuracy = getattr(method, "last_accuracy", None)
    if isinstance(accuracy, float) and accuracy == accuracy:
        pretext += f", acc {accuracy:.2f}"
    elif isinstance(accuracy, list) and accuracy:
        pretext += ", acc/k " + "/".join(f"{a:.2f}" for a in accuracy)
    return dict(method=name, data=data_name, pretext=pretext, seconds=seconds,
                learned=evaluate_features(*features_of(method.encoder, train_set, test_set, "cpu")),
                random=evaluate_features(*features_of(random_encoder, train_set, test_set, "cpu")))


def run_cpc_sequences(seed: int = 0, epochs: int = 5) -> dict:
    train_set, test_set = load_speakers("train", length=1024), load_speakers("test", length=1024)
    torch.manual_seed(seed)
    method = CPCSequence(num_steps=4, num_positions=8)
    untrained = copy.deepcopy(method)
    start = time.perf_counter()
    train(method, train_set, TrainConfig(device="cpu", seed=seed, epochs=epochs, batch_size=32, lr=2e-3,
                                         optimizer="adamw", progress=False))
    seconds = time.perf_counter() - start
    result = dict(seconds=seconds)
    for tag, model in (("learned", method), ("random", untrained)):
        result[tag] = evaluate_features(*extract_sequence_features(model.encoder, train_set, device="cpu"),
                                        *extract_sequence_features(model.encoder, test_set, device="cpu"))
        # prediction accuracy among 256 held-out utterances x 8 positions, positions drawn from seed 0
        result[tag + "_step_acc"] = prediction_accuracy(model, test_set.signals[:256], seed=0)
    return result


def run_tracking(seed: int = 0, epochs: int = 4) -> dict:
    train_clips, test_clips = make_clips(320, seed=seed), make_clips(100, seed=seed + 1)
    torch.manual_seed(seed)
    method = build_method("color_tracking", SmallCNN(WIDTH, in_channels=1), image_size=64)
    untrained = copy.deepcopy(method).eval()
    start = time.perf_counter()
    history = train(method, train_clips, TrainConfig(device="cpu", seed=seed, epochs=epochs, batch_size=32, lr=0.05,
                                                     progress=False))
    seconds = time.perf_counter() - start
    method.eval()

    def iou(attention_fn) -> float:  # mask carried from frame 0 to the last frame, mean over the held-out clips
        return float(propagation_iou(attention_fn, test_clips.clips, test_clips.masks).mean())

    return dict(seconds=seconds, loss=(history.epochs[0]["loss"], history.epochs[-1]["loss"]),
                colour_acc=method.last_accuracy, learned=iou(method.attention), random=iou(untrained.attention),
                pixels=iou(pixel_attention),
                still=float(mask_iou(test_clips.masks[:, 0].float(), test_clips.masks[:, -1]).mean()))


def format_tables(image_rows, cpc, tracking) -> str:
    lines = []
    if image_rows:
        lines += ["| method | data | pretext (train) | linear probe: learned / random (margin) | "
                  "kNN: learned / random (margin) | train s |",
                  "|---|---|---|---|---|---|"]
        for r in image_rows:
            lp, lpr = r["learned"]["linear_probe"], r["random"]["linear_probe"]
            kn, knr = r["learned"]["knn"], r["random"]["knn"]
            per_seed = {m: ("" if r.get("seeds", 1) < 2 else " [" + ", ".join(f"{100 * d:+.1f}" for d in
                                                                        r["margins"][m]) + "]")
                        for m in ("linear_probe", "knn")}
            lines.append(f"| {r['method']} | {r['data']} | {r['pretext']} | {lp:.3f} / {lpr:.3f} ({100 * (lp - lpr):+.1f})"
                         f"{per_seed['linear_probe']} | {kn:.3f} / {knr:.3f} ({100 * (kn - knr):+.1f})"
                         f"{per_seed['knn']} | {r['seconds']:.0f} |")
    if cpc:
        lp, lpr = cpc["learned"]["linear_probe"], cpc["random"]["linear_probe"]
        kn, knr = cpc["learned"]["knn"], cpc["random"]["knn"]
        acc = "/".join(f"{a:.2f}" for a in cpc["learned_step_acc"])
        acc_r = "/".join(f"{a:.2f}" for a in cpc["random_step_acc"])
        lines += ["", "CPC on speakers (10 speakers; context = GRU state averaged over time; prediction accuracy per "
                  "k = 1..4 among 2,048 candidates = 256 held-out utterances x 8 positions):", "",
                  "| | speaker linear probe | speaker kNN | prediction accuracy k=1/2/3/4 | train s |", "|---|---|---|---|---|",
                  f"| CPC | {lp:.3f} | {kn:.3f} | {acc} | {cpc['seconds']:.0f} |",
                  f"| random init | {lpr:.3f} | {knr:.3f} | {acc_r} | |",
                  f"| margin | {100 * (lp - lpr):+.1f} | {100 * (kn - knr):+.1f} | | |"]
    if tracking:
        t = tracking
        lines += ["", "Tracking emerges from colorization (100 held-out clips, mask propagated from frame 0 to frame 3):",
                  "", "| attention features | mask IoU |", "|---|---|",
                  f"| learned by colorization ({t['seconds']:.0f} s; loss {t['loss'][0]:.3f}->{t['loss'][1]:.3f}, "
                  f"colour-bin acc {t['colour_acc']:.2f}) | {t['learned']:.3f} |",
                  f"| same network, random init | {t['random']:.3f} |",
                  f"| raw pixels (8x8 lightness patches, NCC) | {t['pixels']:.3f} |",
                  f"| no propagation (frame-0 mask as is) | {t['still']:.3f} |"]
    return "\n".join(lines)


def _mean_rows(runs: list[dict]) -> dict:
    """Seed runs of one method -> one row: mean accuracies and seconds, the per-seed margins kept for the table;
    the pretext column is the first seed's."""
    row = dict(runs[0], seconds=sum(r["seconds"] for r in runs) / len(runs), seeds=len(runs))
    for tag in ("learned", "random"):
        row[tag] = {m: sum(r[tag][m] for r in runs) / len(runs) for m in ("linear_probe", "knn")}
    row["margins"] = {m: [r["learned"][m] - r["random"][m] for r in runs] for m in ("linear_probe", "knn")}
    return row


NOTES_HEADING = "## Reading the numbers"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="subset of: " + " ".join([*IMAGE_SETUPS, "cpc_sequence",
                                                                             "color_tracking"]))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2],
                        help="seeds of the image methods (each trains and evaluates once per seed; the table shows "
                             "the means and every seed's margin); CPC on sequences and tracking use the first")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--write", help="also write the tables to this markdown file (a '" + NOTES_HEADING +
                                        "' section already in it is kept)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = args.seeds or [0]
    wanted = set(args.only) if args.only else None
    total = time.perf_counter()
    image_rows = []
    for name in IMAGE_SETUPS:
        if (wanted is None and name in DEFAULT_IMAGE_METHODS) or (wanted is not None and name in wanted):
            runs = []
            for seed in seeds:
                runs.append(run_image_method(name, seed))
                print(f"seed {seed}: " + format_tables(runs[-1:], None, None).splitlines()[-1], flush=True)
            image_rows.append(_mean_rows(runs))
    cpc = run_cpc_sequences(seeds[0]) if wanted is None or "cpc_sequence" in wanted else None
    tracking = run_tracking(seeds[0]) if wanted is None or "color_tracking" in wanted else None
    table = format_tables(image_rows, cpc, tracking)
    minutes = (time.perf_counter() - total) / 60
    print("\n" + table + f"\n\ntotal {minutes:.1f} min")
    if args.write:
        command = "PYTHONPATH=. python benchmarks/pretext_methods.py " + " ".join(argv if argv is not None
                                                                                  else sys.argv[1:])
        notes = ""
        if os.path.exists(args.write):
            with open(args.write) as f:
                previous = f.read()
            if NOTES_HEADING in previous:
                notes = "\n" + previous[previous.index(NOTES_HEADING):]
        with open(args.write, "w") as f:
            f.write(f"# Pretext methods: learned vs random-init encoders\n\nProduced by `{command.strip()}` "
                    f"({minutes:.1f} min on {torch.get_num_threads()} CPU thread(s), shared machine; times are "
                    f"wall-clock). Image methods: mean over seeds {', '.join(map(str, seeds))}; margins in "
                    f"percentage points, learned minus random, per seed in brackets; the pretext column is the first "
                    f"seed's and train s the mean per seed.\n\n{table}\n{notes}")


if __name__ == "__main__":
    main()
