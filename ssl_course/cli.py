"""The ``ssl-course`` command.

  ssl-course demo [--out DIR]        train SimCLR on the offline "shapes" data on the CPU (about 3 minutes), then
                                     compare raw pixels, a random encoder and the trained one; writes results.json,
                                     tsne.png and curves.png
  ssl-course train --dataset cifar10 --encoder resnet18 --epochs 200 ...   the same pipeline at full scale
  ssl-course train --preset simclr-cifar10          a GPU recipe (see PRESETS and docs/gpu.md); flags override it
  torchrun --nproc_per_node=N -m ssl_course.cli train --preset ...   the same on N GPUs (DDP)
  ssl-course bench [--device cuda]                  throughput, fraction of peak FLOP/s, memory, augmentation speed
  ssl-course download cifar10|stl10 [--root DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.error import URLError

from .augment import RECIPES, AugmentConfig
from .evaluate import format_table
from .experiment import WITH_TEMPERATURE, ExperimentConfig
from .methods import CONTRASTIVE, VIEW_METHODS

CONTRASTIVE_METHODS = CONTRASTIVE  # kept for old imports
# what demo / train run: the methods that learn from augmented views (pretext methods: see the lectures),
# and CLIP on a captioned dataset
RUN_METHODS = VIEW_METHODS + ("clip",)

# The demo runs ExperimentConfig's own settings: every default below is read from it, none is written twice.
# temperature None and --queue-size / --momentum None mean "the method's own default" (MoCo v1: t = 0.07).
_EXPERIMENT = ExperimentConfig()
DEMO_DEFAULTS = dict(method=_EXPERIMENT.method, dataset=_EXPERIMENT.dataset, encoder=_EXPERIMENT.encoder,
                     width=_EXPERIMENT.width, epochs=_EXPERIMENT.epochs, batch_size=_EXPERIMENT.batch_size,
                     lr=_EXPERIMENT.lr, optimizer=_EXPERIMENT.optimizer, weight_decay=_EXPERIMENT.weight_decay,
                     warmup_epochs=_EXPERIMENT.warmup_epochs, temperature=_EXPERIMENT.temperature,
                     num_images=_EXPERIMENT.num_images, crop_min=_EXPERIMENT.augment.crop_scale[0],
                     knn_every=_EXPERIMENT.knn_every, monitor_every=_EXPERIMENT.monitor_every,
                     seed=_EXPERIMENT.seed, device=_EXPERIMENT.device,
                     out="demo_output", supervised=True)
# full-scale training: the settings of a GPU run that differ from the demo's (see also PRESETS)
TRAIN_DEFAULTS = dict(DEMO_DEFAULTS, encoder="resnet18", epochs=200, batch_size=512, lr=0.5, optimizer="sgd",
                      num_images=None, crop_min=0.08, out="runs/latest", supervised=False)


# GPU recipes for instructors (ResNet-18, settings from the papers, adapted as noted in docs/gpu.md). batch_size is
# the global batch: under torchrun it is split over the GPUs. Accuracy and time: to be measured (docs/gpu.md).
PRESETS = {
    # SimCLR (Chen et al. 2020, appendix B.9 CIFAR-10): t = 0.5, crop 0.08-1, colour strength 1, no blur at 32 px;
    # SGD with the linear scaling lr = 0.3 x batch / 256 (the paper uses LARS) and 10 warm-up epochs
    "simclr-cifar10": dict(method="simclr", dataset="cifar10", encoder="resnet18", epochs=500, batch_size=512,
                           lr=0.6, optimizer="sgd", weight_decay=5e-4, warmup_epochs=10, temperature=0.5,
                           crop_min=0.08, knn_every=10),
    # MoCo v2 (Chen et al. 2020): t = 0.2, lr 0.03 per 256 images, cosine schedule, crop 0.2-1; on CIFAR's 50,000
    # images a queue of 4,096 and m = 0.99 (as facebookresearch/moco's CIFAR-10 demo)
    "moco-v2-cifar10": dict(method="moco_v2", dataset="cifar10", encoder="resnet18", epochs=500, batch_size=512,
                            lr=0.06, optimizer="sgd", weight_decay=5e-4, warmup_epochs=0, temperature=0.2,
                            crop_min=0.2, queue_size=4096, momentum=0.99, knn_every=10),
    # STL-10: 105,000 train+unlabeled images at 96 px, the standard ResNet-18 stem; blur is on at 96 px
    "simclr-stl10": dict(method="simclr", dataset="stl10", encoder="resnet18_imagenet", epochs=200,
                         batch_size=512, lr=0.6, optimizer="sgd", weight_decay=5e-4, warmup_epochs=10,
                         temperature=0.5, crop_min=0.08, knn_every=10),
    "moco-v2-stl10": dict(method="moco_v2", dataset="stl10", encoder="resnet18_imagenet", epochs=200,
                          batch_size=512, lr=0.06, optimizer="sgd", weight_decay=5e-4, warmup_epochs=0,
                          temperature=0.2, crop_min=0.2, queue_size=16384, momentum=0.99, knn_every=10),
}


def _number(text: str, kind: type):
    """``kind(text)`` (int or float), or argparse's one-line error."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


def _check(value, ok: bool, rule: str):
    """``value`` when ``ok``, else argparse's one-line error: "<rule>, got <value>"."""
    if not ok:
        raise argparse.ArgumentTypeError(f"{rule}, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _number(text, int)
    return _check(value, value >= 1, "must be at least 1")


def _positive_float(text: str) -> float:
    value = _number(text, float)
    return _check(value, value > 0, "must be > 0")


def _non_negative_int(text: str) -> int:
    value = _number(text, int)
    return _check(value, value >= 0, "must be 0 or more")


def _non_negative_float(text: str) -> float:
    value = _number(text, float)
    return _check(value, value >= 0, "must be 0 or more")


def _unit_interval(text: str) -> float:
    value = _non_negative_float(text)
    return _check(value, value <= 1, "must be in [0, 1]")


DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"


def _device(text: str) -> str:
    import re

    if not re.fullmatch(DEVICE_PATTERN, text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return text


def _fraction(text: str) -> float:
    value = _positive_float(text)
    return _check(value, value <= 1, "must be in (0, 1]")


def _add_run_arguments(p: argparse.ArgumentParser, defaults: dict) -> None:
    from .data import DATASETS, experiment_datasets
    from .models import ENCODERS

    p.add_argument("--method", choices=RUN_METHODS, default=defaults["method"],
                   help="what to train (clip: images and captions, --dataset captioned_shapes)")
    p.add_argument("--dataset", choices=experiment_datasets(), default=defaults["dataset"],
                   help="; ".join(f"{name}: {DATASETS[name].about}" for name in experiment_datasets()))
    p.add_argument("--data-root", default=None,
                   help="where cifar10/stl10 live (default $SSL_COURSE_DATA or ~/.cache/ssl_course); "
                        "for --dataset folder: the folder of class sub-folders")
    p.add_argument("--download", action="store_true", help="download cifar10/stl10 if missing (needs internet)")
    p.add_argument("--encoder", choices=ENCODERS, default=defaults["encoder"], help="the backbone f")
    p.add_argument("--width", type=_positive_int, default=defaults["width"], help="small_cnn width")
    p.add_argument("--epochs", type=_positive_int, default=defaults["epochs"], help="passes over the training set")
    p.add_argument("--batch-size", type=_positive_int, default=defaults["batch_size"],
                   help="images per step (the global batch under torchrun)")
    p.add_argument("--lr", type=_positive_float, default=defaults["lr"], help="peak learning rate")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default=defaults["optimizer"], help="optimizer")
    p.add_argument("--temperature", type=_positive_float, default=defaults["temperature"],
                   help="softmax temperature t of the loss (None: the method's default, simclr 0.2, moco_v1 0.07, "
                        f"moco_v2 0.2, swav 0.1; only for {', '.join(WITH_TEMPERATURE)})")
    p.add_argument("--crop-min", type=_fraction, default=defaults["crop_min"],
                   help="smallest crop area (fraction of the image) of the random resized crop")
    p.add_argument("--num-images", type=_positive_int, default=defaults["num_images"],
                   help="shapes: images to generate; other datasets: use the first N training images")
    p.add_argument("--device", type=_device, default=defaults["device"], help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--seed", type=int, default=defaults["seed"], help="random seed (data, initialisation, augmentation)")
    p.add_argument("--out", default=defaults["out"], help="output folder (results.json, tsne.png, curves.png)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file: saved every epoch, resumed if present (None: no checkpoint)")
    p.add_argument("--knn-every", type=_non_negative_int, default=defaults["knn_every"],
                   help="kNN monitor every N epochs (0: off)")
    p.add_argument("--monitor-every", type=_non_negative_int, default=defaults["monitor_every"],
                   help="collapse monitor (output std and effective rank of method.embed) every N steps (0: off)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--weight-decay", type=_non_negative_float, default=defaults["weight_decay"],
                   help="L2 weight decay")
    p.add_argument("--warmup-epochs", type=_non_negative_float, default=defaults["warmup_epochs"],
                   help="linear warm-up (None: min(1, epochs/10))")
    p.add_argument("--queue-size", type=_positive_int, default=None,
                   help="MoCo only: the queue length K (None: the method's default)")
    p.add_argument("--momentum", type=_unit_interval, default=None,
                   help="MoCo only: the key encoder's EMA momentum m (None: the method's default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the encoder (GPU runs)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (GPU runs)")
    p.add_argument("--sync-bn", action="store_true", help="under torchrun: SyncBatchNorm over all GPUs")
    p.add_argument("--supervised", action=argparse.BooleanOptionalAction, default=defaults["supervised"],
                   help="also train the same encoder with all the labels (the same number of steps), the reference "
                        "row above the self-supervised one")


def _load_data(args):
    """(train, labelled, test) of the command line's dataset, from the registry (``ssl_course.data.load_splits``).
    A generated dataset's test split is 2,000 images, or as many as the training split when that is smaller."""
    from .data import dataset_spec, load_splits

    num_test = None
    if dataset_spec(args.dataset).generated and args.num_images is not None:
        num_test = min(2000, args.num_images)
    return load_splits(args.dataset, args.num_images, num_test, seed=args.seed, root=args.data_root,
                       download=args.download)


def experiment_config(args, image_size: int, device=None) -> ExperimentConfig:
    """The ExperimentConfig a parsed ``demo`` / ``train`` command line runs (``device``: the resolved device,
    default the flag as given). Unset knobs stay None, so the method's own defaults apply."""
    method_kwargs = {}
    if args.method.startswith("moco"):
        method_kwargs = {k: v for k, v in (("queue_size", args.queue_size), ("momentum", args.momentum))
                         if v is not None}
    return ExperimentConfig(
        method=args.method, encoder=args.encoder, width=args.width, dataset=args.dataset, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs, temperature=args.temperature,
        # the methods without a recipe of their own (BYOL, SimSiam, SwAV, DINO) use SimCLR's composition, as
        # their papers do (SwAV / DINO: as the base of their multi-crop, whose crop scales are their own)
        augment=AugmentConfig.recipe(args.method if args.method in RECIPES else "simclr", image_size).with_(
            crop_scale=(args.crop_min, 1.0)),
        method_kwargs=method_kwargs, knn_every=args.knn_every, monitor_every=args.monitor_every, seed=args.seed,
        device=str(device if device is not None else args.device), progress=not args.no_progress,
        compile=args.compile, channels_last=args.channels_last, sync_bn=args.sync_bn)


def run(args) -> dict:
    """Train, evaluate against the baselines, and write the results; returns the results dict (empty on ranks
    other than 0 under torchrun: rank 0 evaluates and writes)."""
    from . import distributed
    from . import evaluate as ev
    from .experiment import baseline_features, run_experiment, run_supervised

    context = distributed.setup(ev.resolve_device(args.device))  # under torchrun: this process's GPU and rank
    device, main = context.device, context.is_main
    out = Path(args.out)  # created only once there is something to write in it
    data = _load_data(args)
    ssl_train, labelled, test = data
    image_size = ssl_train.image_size
    if main:
        print(f"data: {ssl_train} for training, {len(labelled)} labelled / {len(test)} test images for evaluation; "
              f"device: {device}" + (f" x {context.world_size} processes" if context.distributed else ""))
    config = experiment_config(args, image_size, device)
    result = run_experiment(config, data, checkpoint=args.checkpoint)
    if not main:  # rank 0 evaluates and writes the results
        return {}

    out.mkdir(parents=True, exist_ok=True)
    print("evaluating (linear probe and kNN on frozen features) ...")
    features = {**baseline_features(config, data), f"{args.method} encoder": result.features}
    # the trained encoder's row is the accuracy run_experiment already measured on the same features
    table = ev.representation_table({**features, f"{args.method} encoder": result.accuracy}, show=False)
    if args.supervised:
        print("training the same encoder with labels (the supervised reference) ...")
        supervised = run_supervised(config, data, steps=len(result.history.step_losses))
        features["supervised (all labels)"] = supervised.features
        table.update(ev.representation_table({"supervised (all labels)": supervised.features}, show=False))
    history = result.history
    extra = _clip_results(result.method, test) if args.method == "clip" else {}
    results = {"method": args.method, "dataset": args.dataset, "encoder": args.encoder, "epochs": args.epochs,
               "batch_size": args.batch_size, "device": str(device), "processes": context.world_size,
               "train_seconds": round(result.train_seconds, 1),
               "train_images": len(ssl_train), "final_loss": history.epochs[-1]["loss"] if history.epochs else None,
               "accuracy": table, **extra}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(format_table(table))
    _write_figures(out, features, test, history)
    print(f"training took {result.train_seconds:.0f} s; wrote {out / 'results.json'}, {out / 'tsne.png'}, "
          f"{out / 'curves.png'}")
    return results


def _clip_results(clip, test) -> dict:
    """CLIP's own measures on the test split: zero-shot shape accuracy from shape prompts (no labels used in
    training; chance 1 / classes) and image <-> caption retrieval recall@k."""
    import torch

    from . import evaluate as ev
    from .data import shape_prompts

    zero_shot = ev.zero_shot(clip, test.images, shape_prompts(), labels=test.labels)
    with ev.eval_mode(clip), torch.no_grad():
        device = clip.logit_scale.device
        texts = torch.cat([clip.encode_text(test.tokens[i:i + 512].to(device)).float().cpu()
                           for i in range(0, len(test), 512)])
    recall = ev.retrieval(ev.encode_images(clip, test.images), texts)
    print(f"CLIP zero-shot shape accuracy {zero_shot['accuracy']:.3f} (chance {1 / len(test.classes):.2f}); "
          f"image->text recall@1 {recall['image_to_text'][1]:.3f}, text->image recall@1 {recall['text_to_image'][1]:.3f}")
    return {"zero_shot_accuracy": zero_shot["accuracy"], "retrieval": recall, "temperature": clip.temperature}


def _write_figures(out: Path, features, test, history) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import viz
    from .evaluate import tsne

    panels = {}
    for name, (_, _, test_features, test_labels) in features.items():
        emb, idx = tsne(test_features.numpy(), max_points=800)
        panels[name] = (emb, test_labels.numpy()[idx])
    fig = viz.tsne_panels(panels, class_names=test.classes)
    fig.savefig(out / "tsne.png", dpi=110)
    plt.close(fig)
    ax = viz.training_curves(history)
    ax.figure.tight_layout()
    ax.figure.savefig(out / "curves.png", dpi=110)
    plt.close(ax.figure)


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, with a train ``--preset`` applied as defaults (flags given explicitly override it)."""
    parser = argparse.ArgumentParser(prog="ssl-course", description="Self-supervised learning course tools")
    sub = parser.add_subparsers(dest="command", required=True)
    with_defaults = dict(formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # --help shows every default
    demo = sub.add_parser("demo", help="2-5 minute CPU demo: SimCLR on the offline shapes data", **with_defaults)
    _add_run_arguments(demo, DEMO_DEFAULTS)
    train = sub.add_parser("train", help="train and evaluate at full scale (GPU)", **with_defaults)
    _add_run_arguments(train, TRAIN_DEFAULTS)
    train.add_argument("--preset", choices=sorted(PRESETS),
                       help="a GPU recipe (docs/gpu.md); other flags given on the command line override it")
    bench = sub.add_parser("bench", help="throughput benchmark (training step, augmentation, memory, FLOP/s)",
                           **with_defaults)
    from .bench import add_arguments as add_bench_arguments

    add_bench_arguments(bench)
    download = sub.add_parser("download", help="download CIFAR-10 or STL-10 (needs internet)", **with_defaults)
    download.add_argument("dataset", choices=("cifar10", "stl10"))
    download.add_argument("--root", default=None, help="None: $SSL_COURSE_DATA or ~/.cache/ssl_course")
    args = parser.parse_args(argv)
    if args.command == "train" and args.preset:  # the preset becomes the defaults; explicit flags still win
        train.set_defaults(**PRESETS[args.preset])
        args = parser.parse_args(argv)
    if args.command in ("demo", "train"):
        _check_run_arguments(args, argv if argv is not None else sys.argv[1:],
                             demo if args.command == "demo" else train)
    return args


def _check_run_arguments(args, argv, subparser) -> None:
    """Combinations argparse cannot check: one line and exit 2, before anything runs."""
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    moco_only = sorted(given & {"--queue-size", "--momentum"})
    if moco_only and not args.method.startswith("moco"):
        subparser.error(f"{' and '.join(moco_only)} {'is a MoCo option' if len(moco_only) == 1 else 'are MoCo options'}"
                        f" (--method moco_v1 or moco_v2), not for --method {args.method}")
    if "--temperature" in given and args.method not in WITH_TEMPERATURE:
        subparser.error(f"--method {args.method} has no temperature (--temperature is for "
                        f"{', '.join(WITH_TEMPERATURE)})")
    from .data import dataset_spec

    captioned = dataset_spec(args.dataset).captioned
    if args.method == "clip" and not captioned:
        subparser.error(f"--method clip trains on images with captions; --dataset {args.dataset} has none "
                        f"(use --dataset captioned_shapes)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        subparser.error(f"--out {args.out} is a file; give a folder (it is created if missing)")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        subparser.error(f"--out {args.out}: {blocking} is a file, not a folder")


def main(argv=None) -> int:
    args = parse_args(argv)

    from . import distributed
    from .data import DatasetNotFoundError, default_root, load_dataset

    try:
        if args.command == "bench":
            from .bench import run_from_args

            return run_from_args(args)
        if args.command == "download":
            root = args.root or default_root()
            try:
                load_dataset(args.dataset, "train", root=root, download=True)
            except (URLError, OSError) as err:  # offline, DNS, refused, disk full
                reason = getattr(err, "reason", None) or err
                print(f"ssl-course: error: could not download {args.dataset} into {root} (is there internet "
                      f"access?): {reason}", file=sys.stderr)
                return 2
            print(f"{args.dataset} is ready under {root}")
            return 0
        run(args)
        return 0
    except (DatasetNotFoundError, ValueError, FileNotFoundError, PermissionError) as err:
        print(f"ssl-course: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        if "state_dict" not in str(err) or not getattr(args, "checkpoint", None):
            raise
        first = str(err).strip().splitlines()[0]
        print(f"ssl-course: error: the checkpoint {args.checkpoint} was saved by another model (method, encoder or "
              f"width differ from this command's); use another --checkpoint or the same settings ({first})",
              file=sys.stderr)
        return 2
    finally:
        distributed.cleanup()


if __name__ == "__main__":
    sys.exit(main())
