"""Throughput benchmark: ``ssl-course bench`` (or ``python benchmarks/throughput.py``).

Prints, for SimCLR and MoCo v2 with the small CNN and the CIFAR ResNet-18 at 32x32:

- training-step throughput (source images/s through augmentation of two views, forward, backward, optimizer step),
  with the peak memory of that configuration (GPU: ``torch.cuda.max_memory_allocated``; CPU: the process's peak
  resident set size, reset before each row through /proc/self/clear_refs where Linux allows it);
- on a GPU, the achieved fraction of the device's peak: FLOPs per source image, counted with
  ``torch.utils.flop_counter.FlopCounterMode`` on the actual model (a forward of encoder + head), times 3 for the
  forward + backward of a trained branch; SimCLR trains both views (3 x 2 = 6 forwards), MoCo trains the query
  view and only runs the key view forward (3 + 1 = 4 forwards). The peak is measured: a large bf16 matmul on the
  GPU (a float32 matmul on the CPU, printed for context);
- augmentation throughput: ``BatchAugment`` on a uint8 batch on the device (two views) vs the per-image
  torchvision pipeline in DataLoader worker processes (two views per image, collated into batches).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import torch


# ---------------------------------------------------------------------------------------------------------------
# measurement helpers
# ---------------------------------------------------------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: writing 5 resets the peak RSS (VmHWM) of this process
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated by tensors, or the process's peak resident set size on the CPU, in MB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def matmul_peak_flops(device: torch.device, size: int | None = None, repeats: int = 10) -> tuple[float, str]:
    """Measured FLOP/s of a large square matmul: bf16 on a GPU (the tensor-core peak a training step can reach),
    float32 on the CPU. Returns (FLOP/s, description)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    size = size or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    seconds = (time.perf_counter() - start) / repeats
    return 2 * size**3 / seconds, f"{str(dtype).replace('torch.', '')} matmul {size}x{size}"


def forward_flops(module: torch.nn.Module, image_size: int = 32, device="cpu") -> float:
    """FLOPs of one forward of ``module`` per image (a multiply-add counts 2), counted on the actual model."""
    from torch.utils.flop_counter import FlopCounterMode

    from .common import eval_mode

    x = torch.zeros(2, 3, image_size, image_size, device=device)
    # eval mode: BatchNorm with running statistics, the same FLOPs without updating the statistics
    with eval_mode(module), torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() / 2


def training_flops_per_image(method_name: str, method) -> float:
    """FLOPs of one training step per source image (see the module docstring for the factors)."""
    if method_name == "simclr":
        branch = torch.nn.Sequential(method.encoder, method.projector)
        return 6 * forward_flops(branch)
    branch = torch.nn.Sequential(method.encoder_q, method.projector_q)
    return 4 * forward_flops(branch)


# ---------------------------------------------------------------------------------------------------------------
# the measurements
# ---------------------------------------------------------------------------------------------------------------

def _images(n: int, image_size: int = 32) -> torch.Tensor:
    from .data import load_dataset

    return load_dataset("shapes", num_images=n, image_size=image_size).images


def train_step_throughput(method_name: str, encoder_name: str, batch_size: int, steps: int, device: torch.device,
                          warmup: int = 2, amp: bool | None = None, channels_last: bool = False,
                          compile: bool = False) -> dict:
    """Images/s of full training steps: ``ssl_course.train.train_step``, the loop's own step (autocast,
    augmentation, loss, backward, the finite-loss check, optimizer), on the method's default augmentation."""
    from .methods import build_method
    from .models import build_encoder
    from .train import TrainConfig, build_optimizer, train_step

    torch.manual_seed(0)
    method = build_method(method_name, build_encoder(encoder_name)).to(device)
    flops = training_flops_per_image(method_name, method)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    if compile:
        for name, child in method.named_children():
            if name != "augment":
                child.compile()
    optimizer = build_optimizer(method, TrainConfig(), device)
    amp = device.type == "cuda" if amp is None else amp
    images = _images(batch_size).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    reset_peak_memory(device)
    start = None
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        train_step(method.loss, images, optimizer, generator, amp=amp)
    _sync(device)
    seconds = time.perf_counter() - start
    rate = steps * batch_size / seconds
    return {"method": method_name, "encoder": encoder_name, "batch": batch_size, "images_per_s": rate,
            "gflop_per_image": flops / 1e9, "achieved_tflops": rate * flops / 1e12,
            "peak_memory_mb": peak_memory_mb(device)}


def batched_augment_throughput(recipe: str, batch_size: int, steps: int, device: torch.device,
                               image_size: int = 32) -> float:
    """Source images/s of ``BatchAugment`` making two views of a uint8 batch already on the device."""
    from .augment import BatchAugment

    augment = BatchAugment.recipe(recipe, image_size)
    images = _images(batch_size, image_size).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    augment(images, generator)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        augment(images, generator), augment(images, generator)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def per_image_augment_throughput(recipe: str, batch_size: int, steps: int, workers: int,
                                 image_size: int = 32) -> float:
    """Source images/s of the per-image torchvision pipeline (two views per image) in ``workers`` DataLoader
    processes, collated into batches; the clock starts after the first batch (worker start-up not counted)."""
    from torch.utils.data import DataLoader

    from .augment import per_image_transform
    from .data import TwoViews, load_dataset

    data = load_dataset("shapes", num_images=batch_size * (steps + 1), image_size=image_size)
    loader = DataLoader(TwoViews(data, per_image_transform(recipe, image_size)), batch_size=batch_size,
                        num_workers=workers, persistent_workers=False, prefetch_factor=2 if workers else None)
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    count = 0
    for _ in range(steps):
        count += next(it)[0].shape[0]
    return count / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------------------------

def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", load average {:.1f}".format(os.getloadavg()[0]) if hasattr(os, "getloadavg") else ""
    return (f"CPU: {cpu}, {os.cpu_count()} logical cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads{load}")


def run(device: str = "auto", quick: bool = False, batch_size: int | None = None, workers: int | None = None,
        channels_last: bool = False, compile: bool = False, out=print) -> dict:
    from .common import resolve_device

    device = resolve_device(device)
    gpu = device.type == "cuda"
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    out(f"device: {machine_description(device)}")
    peak, peak_what = matmul_peak_flops(device)
    out(f"measured peak: {peak / 1e12:.2f} TFLOP/s ({peak_what})\n")

    # training steps: (encoder, batch, steps) sized so the CPU run takes minutes, the GPU run seconds
    if gpu:
        sizes = [("small_cnn", batch_size or 512, 20), ("resnet18", batch_size or 512, 20)]
    else:
        sizes = [("small_cnn", batch_size or 128, 2 if quick else 5), ("resnet18", 16 if quick else 32,
                                                                        1 if quick else 2)]
    out("training step (augmentation + forward + backward + optimizer), 32x32 images"
        + (", bf16 autocast" if gpu else ", float32")
        + (", channels_last" if channels_last else "") + (", torch.compile" if compile else ""))
    out("| method | encoder | batch | images/s | GFLOP/image | achieved TFLOP/s | fraction of peak | peak memory MB |")
    out("|---|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for method in ("simclr", "moco_v2"):
        for encoder, batch, steps in sizes:
            r = train_step_throughput(method, encoder, batch, steps, device, warmup=1 if not gpu else 5,
                                      channels_last=channels_last, compile=compile)
            r["fraction_of_peak"] = r["achieved_tflops"] * 1e12 / peak
            rows.append(r)
            out(f"| {method} | {encoder} | {batch} | {r['images_per_s']:.0f} | {r['gflop_per_image']:.3f} | "
                f"{r['achieved_tflops']:.3f} | {r['fraction_of_peak']:.1%} | {r['peak_memory_mb']:.0f} |")

    aug_batch = batch_size or 256
    aug_steps = 3 if quick else 10
    threads = torch.get_num_threads()
    # on the CPU the batched path is also measured on ONE thread: the per-image pipeline gets one single-threaded
    # worker process per core, so "1 thread" gives the batched path fewer cores than its competitor
    settings = [threads] if gpu else sorted({1, threads})
    out(f"\naugmentation, two views of {aug_batch} images of 32x32 (source images/s)")
    out(f"| recipe | per-image torchvision, {workers} DataLoader workers | batched BatchAugment on {device.type} | "
        "torch threads (batched) | speed-up |")
    out("|---|---:|---:|---:|---:|")
    aug = []
    for recipe in ("simclr", "moco_v2"):
        per_image = per_image_augment_throughput(recipe, aug_batch, aug_steps, workers)
        for n in settings:
            torch.set_num_threads(n)
            try:
                batched = batched_augment_throughput(recipe, aug_batch, aug_steps, device)
            finally:
                torch.set_num_threads(threads)
            aug.append({"recipe": recipe, "batched": batched, "per_image": per_image, "threads": n})
            out(f"| {recipe} | {per_image:.0f} | {batched:.0f} | {n} | {batched / per_image:.1f}x |")
    return {"device": machine_description(device), "peak_flops": peak, "train": rows, "augment": aug}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ssl-course bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .cli import _device, _non_negative_int, _positive_int

    parser.add_argument("--device", type=_device, default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test)")
    parser.add_argument("--batch-size", type=_positive_int, default=None,
                        help="batch for the small CNN and the augmentation (None: 128 / 256 on CPU, 512 on GPU)")
    parser.add_argument("--workers", type=_non_negative_int, default=None,
                        help="DataLoader workers (None: the CPU count)")
    parser.add_argument("--threads", type=_positive_int, default=None, help="torch intra-op threads in this process")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoders")


def run_from_args(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    run(args.device, quick=args.quick, batch_size=args.batch_size, workers=args.workers,
        channels_last=args.channels_last, compile=args.compile)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())


def write_results(path: str | None, text: str, keep_from: str | None = None) -> None:
    """Print a benchmark's markdown ``text`` and, when ``path`` is given, write it there. ``keep_from``: a heading
    line; when the file already holds it, everything from that heading on (hand-written notes under the table) is
    kept after the new text instead of being overwritten."""
    print(text)
    if not path:
        return
    notes = ""
    if keep_from and os.path.exists(path):
        with open(path) as f:
            previous = f.read()
        if keep_from in previous:
            notes = "\n" + previous[previous.index(keep_from):]
    with open(path, "w") as f:
        f.write(text + "\n" + notes)
