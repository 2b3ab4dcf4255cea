"""What each problem set grades: per function, how to draw fresh random inputs, the reference answer, the
known wrong variants used to name a student's mistake, and the points.

Everything here runs in the grader's (trusted) process: it imports the library's reference kernels. Nothing of it
is ever written into a student's working directory; the child process only receives the inputs as raw arrays.

A ``Call`` is one invocation of a student function. Its ``args`` are numpy arrays (tensors for the student),
Python scalars, ``None`` or ``Generator(seed)``; ``grad_args`` are the indices of array arguments that get
``requires_grad``; ``grad_outputs`` weight each differentiable output for the backward pass (so that a matrix
output is checked through a random vector-Jacobian product, not only through its sum).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ssl_course import augment as ref_augment
from ssl_course import evaluate as ref_evaluate
from ssl_course import losses as ref


@dataclass(frozen=True)
class Generator:
    """A ``torch.Generator`` seeded with ``seed`` that has then drawn ``skip`` floats (``torch.rand(skip,
    generator=g)``), built in the process that calls the student function: a generator with a state, not only a
    seed, as in a training loop's later steps. ``build`` here and ``_runner.execute_call`` build it the same way."""
    seed: int
    skip: int = 0

    def build(self) -> torch.Generator:
        g = torch.Generator().manual_seed(self.seed)
        if self.skip:
            torch.rand(self.skip, generator=g)
        return g


@dataclass(frozen=True)
class Module:
    """Construct ``cls(*init_args)`` after ``torch.manual_seed(seed)`` and call it on the remaining args."""
    seed: int
    init_args: tuple


@dataclass
class Call:
    function: str
    args: list
    label: str = "random"
    grad_args: tuple = ()
    grad_outputs: list | None = None  # one array (or None) per output
    module: Module | None = None


@dataclass
class Spec:
    """How one graded function is checked.

    cases(rng) -> [Call]; reference(*torch_args) -> tuple of outputs (float64); mistakes: {feedback: variant};
    outputs: kinds of the outputs ("float" tensor, "int" tensor, "scalar_int"); property_check: used instead of
    the reference comparison (for functions with random or architecture-dependent outputs).
    """
    name: str
    cases: Callable
    reference: Callable | None
    outputs: tuple
    points: float = 1.0
    mistakes: dict = field(default_factory=dict)
    property_check: Callable | None = None
    description: str = ""
    zero_grad_hint: str = ""  # why a gradient that must be zero must be (a stop-gradient, a target, a buffer)

    @property
    def arg_names(self) -> tuple:
        return ARG_NAMES.get(self.name, ())


def _tuple(x):
    return x if isinstance(x, tuple) else (x,)


# ---------------------------------------------------------------------------------------------------- helpers

def _rand(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _temperature(rng):
    return float(np.round(rng.uniform(0.05, 0.9), 4))


def _dtype_cases(rng, make, n_float64=3, n_float32=1):
    """make(rng, dtype, label) -> Call, for a few float64 cases and one float32 case."""
    return ([make(rng, np.float64, "random float64") for _ in range(n_float64)]
            + [make(rng, np.float32, "random float32") for _ in range(n_float32)])


# ------------------------------------------------------------------------------------------------ PS1 kernels

def rotate_batch_reference(images):
    return ref.rotate_batch(images)


def _rotate_cases(rng):
    calls = []
    for dtype, label in ((np.float64, "random float64"), (np.float32, "random float32"), (np.uint8, "uint8 images")):
        b, c, h = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(3, 7))
        x = rng.integers(0, 255, (b, c, h, h)).astype(dtype) if dtype == np.uint8 else _rand(rng, b, c, h, h, dtype=dtype)
        calls.append(Call("rotate_batch", [x], label))
    return calls


def _cos_cases(rng):
    def make(rng, dtype, label):
        n, m, d = (int(v) for v in rng.integers(2, 9, 3))
        a, b = _rand(rng, n, d, dtype=dtype), _rand(rng, m, d, dtype=dtype) * rng.uniform(0.5, 5)
        return Call("cosine_similarity_matrix", [a, b], label, grad_args=(0, 1), grad_outputs=[_rand(rng, n, m)])
    return _dtype_cases(rng, make)


def _info_nce_cases(rng):
    calls = []
    for i in range(4):
        dtype = np.float32 if i == 3 else np.float64
        n, d, m = int(rng.integers(3, 9)), int(rng.integers(2, 12)), int(rng.integers(2, 9))
        q, k = _rand(rng, n, d, dtype=dtype), _rand(rng, n, d, dtype=dtype) * 3
        neg = None if i % 2 == 0 else _rand(rng, m, d, dtype=dtype)
        label = ("in-batch negatives" if neg is None else "explicit negatives") + f" {np.dtype(dtype).name}"
        args = [q, k, neg, _temperature(rng)]
        calls.append(Call("info_nce", args, label, grad_args=(0, 1) if neg is None else (0, 1, 2)))
    return calls


def _nt_xent_cases(rng, name="nt_xent", max_n=9):
    calls = []
    for i in range(3):
        dtype = np.float32 if i == 2 else np.float64
        n, d = int(rng.integers(2, max_n)), int(rng.integers(2, 12))
        z1, z2, t = _rand(rng, n, d, dtype=dtype), _rand(rng, n, d, dtype=dtype) * 2, _temperature(rng)
        calls.append(Call(name, [z1, z2, t], f"random {np.dtype(dtype).name}", grad_args=(0, 1)))
        if i == 0:
            calls.append(Call(name, [z2.copy(), z1.copy(), t], "views swapped (must give the same loss)", (0, 1)))
            perm = rng.permutation(n)
            calls.append(Call(name, [z1[perm].copy(), z2[perm].copy(), t], "pairs permuted (must give the same loss)",
                              (0, 1)))
    n, d = int(rng.integers(2, max_n)), int(rng.integers(2, 8))
    same = np.tile(_rand(rng, 1, d), (n, 1))
    calls.append(Call(name, [same, same.copy() * 2.0, _temperature(rng)],
                      f"collapsed embeddings (loss must be log(2N-1) = {math.log(2 * n - 1):.4f})", (0, 1)))
    return calls


def _mistakes_cos():
    return {
        "the rows are not L2-normalised (this is a plain dot product)": lambda a, b: a @ b.T,
        "normalised along the wrong dimension (each column instead of each row)":
            lambda a, b: F.normalize(a, dim=0) @ F.normalize(b, dim=0).T,
        "only one of the two inputs is normalised": lambda a, b: F.normalize(a, dim=1) @ b.T,
    }


def _info_nce_logits(q, k, neg, normalize=True):
    if normalize:
        q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
        neg = None if neg is None else F.normalize(neg, dim=1)
    if neg is None:
        return q @ k.T, torch.arange(len(q))
    return torch.cat([(q * k).sum(1, keepdim=True), q @ neg.T], 1), torch.zeros(len(q), dtype=torch.long)


def _mistakes_info_nce():
    def ce(logits, labels):
        return F.cross_entropy(logits, labels)

    def t_twice(q, k, neg, t):
        lg, lb = _info_nce_logits(q, k, neg)
        return ce(lg / t / t, lb)

    def no_t(q, k, neg, t):
        lg, lb = _info_nce_logits(q, k, neg)
        return ce(lg, lb)

    def times_t(q, k, neg, t):
        lg, lb = _info_nce_logits(q, k, neg)
        return ce(lg * t, lb)

    def no_norm(q, k, neg, t):
        lg, lb = _info_nce_logits(q, k, neg, normalize=False)
        return ce(lg / t, lb)

    def wrong_dim(q, k, neg, t):
        lg, lb = _info_nce_logits(q, k, neg)
        lg = lg / t
        return -(lg.log_softmax(0)[torch.arange(len(lb)), lb]).mean()

    def summed(q, k, neg, t):
        lg, lb = _info_nce_logits(q, k, neg)
        return F.cross_entropy(lg / t, lb, reduction="sum")

    return {
        "the temperature is applied twice (logits divided by t**2)": t_twice,
        "the temperature is missing (logits not divided by t)": no_t,
        "the logits are multiplied by the temperature instead of divided": times_t,
        "the embeddings are not L2-normalised (dot product instead of cosine similarity)": no_norm,
        "the softmax runs over the wrong dimension (over queries instead of over candidate keys)": wrong_dim,
        "the loss is summed over queries instead of averaged": summed,
    }


def _nt_xent_parts(z1, z2, t, normalize=True, mask=True, t_power=1):
    n = len(z1)
    z = torch.cat([z1, z2])
    if normalize:
        z = F.normalize(z, dim=1)
    logits = z @ z.T / t ** t_power
    if mask:
        logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    labels = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return logits, labels


def _mistakes_nt_xent():
    def variant(**kw):
        def f(z1, z2, t):
            lg, lb = _nt_xent_parts(z1, z2, t, **kw)
            return F.cross_entropy(lg, lb)
        return f

    def one_direction(z1, z2, t):
        lg, lb = _nt_xent_parts(z1, z2, t)
        n = len(z1)
        return F.cross_entropy(lg[:n], lb[:n])

    def summed(z1, z2, t):
        lg, lb = _nt_xent_parts(z1, z2, t)
        return F.cross_entropy(lg, lb, reduction="sum")

    return {
        "the diagonal (each embedding's similarity with itself) is not masked out of the denominator":
            variant(mask=False),
        "the temperature is applied twice (logits divided by t**2)": variant(t_power=2),
        "the temperature is missing (logits not divided by t)": variant(t_power=0),
        "the embeddings are not L2-normalised (dot product instead of cosine similarity)": variant(normalize=False),
        "only the N anchors of the first view are averaged (the loss must average all 2N anchors)": one_direction,
        "the loss is summed over the 2N anchors instead of averaged": summed,
    }


def _mistakes_rotate():
    def clockwise(x):
        rots = [torch.rot90(x, -k, dims=(2, 3)) for k in range(4)]
        return torch.cat(rots), torch.arange(4).repeat_interleave(len(x))

    def interleaved(x):
        rots = torch.stack([torch.rot90(x, k, dims=(2, 3)) for k in range(4)], 1).flatten(0, 1)
        return rots, torch.arange(4).repeat(len(x))

    return {"the images are rotated clockwise (use torch.rot90(x, k, dims=(2, 3)), counter-clockwise)": clockwise,
            "rotated copies are interleaved per image instead of grouped by rotation (all k=0, then all k=1, ...)":
                interleaved}


# the two-view augmentation: a random resized crop with its own box per image

def _crop_cases(rng):
    """Calls of random_resized_crop(images, generator, scale, ratio, out_size). Every range is chosen so that the
    first try of torchvision's algorithm always fits the image (the largest box, sqrt(scale[1] H W ratio[1]) wide
    and sqrt(scale[1] H W / ratio[0]) high, is inside it), so every correct box obeys scale and ratio exactly up
    to the rounding to whole pixels; only the wide-range case can fall back to a central box."""
    seeds = [int(v) for v in rng.choice(2**31, size=4, replace=False)]
    calls = []
    h, w = int(rng.integers(28, 37)), int(rng.integers(28, 37))
    while h == w:
        w = int(rng.integers(28, 37))
    images = _rand(rng, 24, 3, h, w)
    size = int(rng.integers(9, 15))
    narrow = [images, Generator(seeds[0]), (0.25, 0.5), (3 / 4, 4 / 3), size]
    calls.append(Call("random_resized_crop", narrow, f"a batch of 24 ({h}x{w}), scale (0.25, 0.5), out_size {size}"))
    calls.append(Call("random_resized_crop", [images.copy()] + narrow[1:], "the same batch and a fresh generator "
                      "with the same seed"))
    calls.append(Call("random_resized_crop", [images.copy(), Generator(seeds[1])] + narrow[2:],
                      "the same batch, a generator with another seed"))
    hw, ww = int(rng.integers(24, 33)), int(rng.integers(44, 53))
    wide = _rand(rng, 16, int(rng.integers(1, 4)), hw, ww, dtype=np.float32)
    calls.append(Call("random_resized_crop", [wide, Generator(seeds[2]), (0.1, 0.35), (2.0, 3.0), None],
                      f"wide boxes: ratio (2, 3) on {hw}x{ww} float32 images, out_size None"))
    side = int(rng.integers(28, 37))
    square = _rand(rng, 32, 2, side, side)
    up = int(rng.integers(40, 49))
    calls.append(Call("random_resized_crop", [square, Generator(seeds[3]), (0.08, 1.0), (3 / 4, 4 / 3), up],
                      f"SimCLR's ranges, scale (0.08, 1.0), out_size {up} (crops are enlarged)"))
    calls.append(Call("random_resized_crop", [images.copy(), Generator(seeds[0], skip=7)] + narrow[2:],
                      "the same batch, a generator with the first case's seed that has already drawn 7 numbers"))
    return calls


def _per_image_resize(images, boxes, size, **kw):
    out = [F.interpolate(images[i:i + 1, :, y0:y0 + h, x0:x0 + w], size, **kw)
           for i, (x0, y0, w, h) in enumerate(boxes.long().tolist())]
    return torch.cat(out)


def _mistakes_crop():
    """Wrong ways to turn (images, boxes, (out_h, out_w)) into crops; the student's boxes are given, so each names
    what went wrong between a box and its crop."""
    return {
        "x and y are swapped between the box and the crop: a box is (x0, y0, w, h) with x0 and w along the "
        "width (columns, the last dimension) and y0 and h along the height (rows), not torchvision's "
        "(top, left, height, width)": lambda x, b, size: ref_augment.resized_crop(x, b[:, [1, 0, 3, 2]], size),
        "the crop is resized with align_corners=True (use F.interpolate(..., mode='bilinear', "
        "align_corners=False))": lambda x, b, size: _per_image_resize(x, b, size, mode="bilinear",
                                                                       align_corners=True),
        "the crop is resized with nearest-neighbour interpolation instead of bilinear":
            lambda x, b, size: _per_image_resize(x, b, size, mode="nearest"),
        "the crop is resized with antialiasing (antialias=True); use plain bilinear interpolation":
            lambda x, b, size: _per_image_resize(x, b, size, mode="bilinear", align_corners=False, antialias=True),
    }


def _crop_size(call):
    images, size = call.args[0], call.args[4]
    h, w = images.shape[2:]
    return (h, w) if size is None else (size, size)


def _crop_property(calls, outputs, outcomes=None):
    """random_resized_crop judged by what must hold for any correct draw, and its crops against the library's
    resize of the student's own boxes."""
    boxes_of = []
    for call, out, outcome in zip(calls, outputs, outcomes or [None] * len(calls)):
        images, _, scale, ratio, size = call.args
        n, c, height, width = images.shape
        oh, ow = _crop_size(call)
        crops, boxes = np.asarray(out[0]), np.asarray(out[1])
        if crops.shape != (n, c, oh, ow):
            if crops.shape == images.shape and (oh, ow) != (height, width):
                return False, (f"on the case '{call.label}' the crops keep the input's size {(height, width)}: "
                               f"each crop must be resized to out_size = {size}")
            return False, (f"on the case '{call.label}' the crops have shape {crops.shape}, expected "
                           f"(N, C, out_size, out_size) = {(n, c, oh, ow)} (out_size None means the input's H x W)")
        if boxes.shape != (n, 4):
            return False, f"the boxes must have shape (N, 4) = {(n, 4)}, got {boxes.shape}"
        x0, y0, bw, bh = (boxes[:, i].astype(np.int64) for i in range(4))
        if (x0 < 0).any() or (y0 < 0).any() or (bw < 1).any() or (bh < 1).any() or (x0 + bw > width).any() \
                or (y0 + bh > height).any():
            swapped = (y0 >= 0).all() and (x0 >= 0).all() and (y0 + bh <= width).all() and (x0 + bw <= height).all()
            hint = (" Likely mistake: x and y are swapped, the boxes look like torchvision's (top, left, height, "
                    "width); return (x0, y0, w, h), x0 and w along the width") if swapped else ""
            return False, (f"on the case '{call.label}' a box (x0, y0, w, h) is empty or reaches outside the "
                           f"{height}x{width} image (x0 + w <= W, y0 + h <= H).{hint}")
        after = (outcome or {}).get("inputs_after") or []
        if after and after[0] is not None and not np.array_equal(after[0], images):
            return False, "`random_resized_crop` modifies its input `images` in place; work on a copy"
        want = ref_augment.resized_crop(torch.from_numpy(images).double(), torch.from_numpy(boxes.astype(np.int64)),
                                        (oh, ow)).numpy()
        from .compare import _close  # noqa: PLC0415 - compare imports this module
        if not _close(crops, want, images.dtype != np.float64):
            diagnosis = ""
            for message, variant in _mistakes_crop().items():
                try:
                    got = variant(torch.from_numpy(images).double(), torch.from_numpy(boxes.astype(np.int64)),
                                  (oh, ow)).numpy()
                except Exception:  # noqa: BLE001 - a variant that does not apply to these boxes
                    continue
                if _close(crops, got, True, 10):
                    diagnosis = f" Likely mistake: {message}."
                    break
            return False, (f"on the case '{call.label}' the crops are not the bilinear resize of the boxes the "
                           "function returns (crop images[i, :, y0:y0+h, x0:x0+w], then F.interpolate to out_size, "
                           f"mode='bilinear', align_corners=False).{diagnosis}")
        area = bw * bh / (height * width)
        # whole pixels: w and h are within a pixel of a real box whose area and aspect obey the ranges exactly
        low, high = (bw + 1) * (bh + 1) / (height * width), np.maximum(bw - 1, 0) * np.maximum(bh - 1, 0) / (height * width)
        if (low < scale[0] - 1e-9).any() or (high > scale[1] + 1e-9).any():
            side = np.sqrt(area)
            hint = " (it looks like scale was applied to the side, not the area)" \
                if ((side >= scale[0] - 0.05) & (side <= scale[1] + 0.05)).all() else ""
            return False, (f"on the case '{call.label}' crop areas w*h / (H*W) fall outside scale = {tuple(scale)}: "
                           f"scale bounds the area fraction of each box{hint}")
        r_high, r_low = (bw + 1) / np.maximum(bh - 1, 0.5), np.maximum(bw - 1, 0.5) / (bh + 1)
        if (r_high < ratio[0] - 1e-9).any() or (r_low > ratio[1] + 1e-9).any():
            swapped = ((bh / bw >= ratio[0] * 0.8) & (bh / bw <= ratio[1] * 1.25)).all()
            hint = " (w and h are swapped: w = sqrt(area * r), h = sqrt(area / r) with r = w / h)" if swapped else \
                " (draw log(w / h) uniformly between log ratio[0] and log ratio[1])"
            return False, (f"on the case '{call.label}' the boxes' aspect ratios w / h fall outside ratio = "
                           f"{tuple(round(r, 4) for r in ratio)}{hint}")
        distinct = {tuple(b) for b in boxes.astype(np.int64).tolist()}
        if len(distinct) == 1:
            return False, ("every image of the batch gets the same box: draw one box per image (a transform "
                           "applied to a whole batch at once draws a single crop)")
        if len(distinct) < n // 2:
            return False, f"only {len(distinct)} different boxes for {n} images: draw one box per image"
        if len(set(x0.tolist())) < 3 or len(set(y0.tolist())) < 3:
            return False, ("the boxes are (almost) always at the same position: draw the top-left corner of each "
                           "box uniformly over the positions where it fits")
        if (area.max() - area.min()) < 0.25 * (scale[1] - scale[0]):
            return False, (f"on the case '{call.label}' the crop areas barely vary: draw each image's area "
                           "fraction uniformly from scale")
        boxes_of.append(boxes.astype(np.int64))
    if len(boxes_of) >= 3:
        if not (np.array_equal(boxes_of[0], boxes_of[1]) and np.array_equal(np.asarray(outputs[0][0]),
                                                                            np.asarray(outputs[1][0]))):
            return False, ("two fresh generators with the same seed give different crops: draw every random "
                           "number from the `generator` argument (torch.rand(..., generator=generator))")
        if np.array_equal(boxes_of[0], boxes_of[2]):
            return False, ("the boxes do not depend on the generator (the same for two seeds): draw them from "
                           "the `generator` argument")
    wide = [b for call, b in zip(calls, boxes_of) if call.args[3][0] >= 1]
    if wide and np.ptp(np.log(wide[0][:, 2] / wide[0][:, 3])) < 0.2 * math.log(3 / 2):
        return False, "the aspect ratios barely vary: draw log(w / h) uniformly over log(ratio)"
    advanced = [i for i, call in enumerate(calls) if call.args[1].skip]
    if advanced and len(boxes_of) > advanced[0] and np.array_equal(boxes_of[advanced[0]], boxes_of[0]):
        return False, ("a generator with the same seed that has already drawn numbers gives the same boxes as a "
                       "fresh one: use the `generator` you are given as it is (its state, not only its seed); do "
                       "not build a new generator from generator.initial_seed()")
    return True, ""


# the evaluation: a weighted kNN classifier on frozen features

def _knn_pick_tests(rng, train, labels, candidates, k, t, c, margin=1e-4):
    """The candidate test rows whose prediction is unambiguous: the k-th and (k+1)-th similarities and the two
    largest class votes are at least ``margin`` apart, so float32, float64 and any summation order agree."""
    tn = train / np.linalg.norm(train, axis=1, keepdims=True)
    keep = []
    for row in candidates:
        s = np.sort(tn @ (row / np.linalg.norm(row)))[::-1]
        order = np.argsort(-(tn @ (row / np.linalg.norm(row))), kind="stable")
        if k < len(s) and s[k - 1] - s[k] < margin:
            continue
        votes = np.bincount(labels[order[:k]], weights=np.exp(s[:k] / t), minlength=c)
        top2 = np.sort(votes)[::-1][:2]
        if top2[0] - top2[1] < margin * top2[0]:
            continue
        keep.append(row)
    return np.array(keep)


def _scaled_unit_rows(rng, x):
    return x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(0.5, 2.0, (len(x), 1))


def _knn_cases(rng):
    """knn_predict(train_features, train_labels, test_features, k, temperature, num_classes) on clustered random
    features with varied norms (so cosine and dot product disagree), plus two hand-made cases: neighbours whose
    weighted vote, cosine-weighted vote and majority all differ, and an exact vote tie (it goes to the smallest
    class index)."""
    calls = []
    for i in range(4):
        dtype = np.float32 if i == 3 else np.float64
        n, d, c = int(rng.integers(30, 61)), int(rng.integers(4, 17)), int(rng.integers(3, 7))
        centers = _rand(rng, c, d)
        labels = rng.integers(0, c, n)
        # unit vectors scaled by 0.5-2: cosine and dot product disagree, and |sim| / t <= 4 / 0.05 = 80 keeps a
        # dot-product mistake's exp() finite in float32 too (so that mistake is still recognised)
        train = _scaled_unit_rows(rng, centers[labels] + 0.9 * _rand(rng, n, d))
        k = n if i == 2 else int(rng.integers(3, 16)) if i != 1 else 1
        t = float(np.round(rng.uniform(0.05, 0.5), 4))
        test_labels = rng.integers(0, c, 40)
        candidates = _scaled_unit_rows(rng, centers[test_labels] + 0.9 * _rand(rng, 40, d))
        test = _knn_pick_tests(rng, train, labels, candidates, k, t, c)[:int(rng.integers(10, 21))]
        num_classes = c + 2 if i == 1 else c
        label = {1: "k = 1", 2: f"k = N = {n} (every training point votes)"}.get(i, f"k = {k}")
        calls.append(Call("knn_predict", [train.astype(dtype), labels.astype(np.int64), test.astype(dtype), k, t,
                                          num_classes], f"{label}, t = {t}, {np.dtype(dtype).name}"))
    # k = 6 of 7: one near neighbour of class 0 (cosine 0.99), two middling ones of class 1 (0.55), three far ones
    # of class 2 (0.1), one opposite (class 0, left out): the weighted vote picks 0 (t = 0.1: e^9.9 against
    # 2 e^5.5 and 3 e^1), a vote weighted by the cosine itself picks 1 (1.1 against 0.99 and 0.3), a majority 2
    d = int(rng.integers(3, 7))
    q = _unit(rng, 1, d)[0]
    other = _unit(rng, 1, d)[0]
    other = other - (other @ q) * q
    other /= np.linalg.norm(other)

    def at(cos, side=1.0):  # a vector at cosine `cos` from q
        return cos * q + side * math.sqrt(1 - cos ** 2) * other
    train = np.stack([at(0.99) * 2.0, at(0.55) * 0.5, at(0.55, -1) * 3.0, at(0.1), at(0.1, -1) * 0.3,
                      at(0.1 + 1e-3) * 4.0, at(-0.9)])
    calls.append(Call("knn_predict", [train, np.array([0, 1, 1, 2, 2, 2, 0]), q[None] * 1.5, 6, 0.1, 3],
                      "one near, two middling and three far neighbours of three classes (the weights decide)"))
    # an exact tie: two training points identical to the query direction, of classes 3 and 1, k = 2
    e = np.eye(4)
    train = np.stack([5 * e[0], 2 * e[0], e[1], e[2], -e[0]])
    calls.append(Call("knn_predict", [train, np.array([3, 1, 0, 2, 1]), 2 * e[0][None], 2, 0.2, 4],
                      "an exact tie between two classes (it must go to the smallest class index)"))
    return calls


def knn_predict_reference(train, labels, test, k, t, num_classes):
    return ref_evaluate.knn_predict(train, labels, test, k=k, temperature=t, num_classes=num_classes)


def _mistakes_knn():
    def vote(train, labels, test, k, t, c, normalize=True, weight="exp", largest=True, skip_first=False,
             tie_high=False):
        if normalize:
            train, test = F.normalize(train, dim=1), F.normalize(test, dim=1)
        sim = test @ train.T
        top, idx = sim.topk(min(k + int(skip_first), sim.shape[1]), dim=1, largest=largest)
        top, idx = top[:, int(skip_first):], idx[:, int(skip_first):]
        w = {"exp": torch.exp(top / t), "exp_no_t": torch.exp(top), "sim": top, "one": torch.ones_like(top)}[weight]
        votes = torch.zeros(len(test), c, dtype=w.dtype).scatter_add_(1, labels[idx], w)
        if tie_high:
            return c - 1 - votes.flip(1).argmax(1)
        return votes.argmax(1)

    return {  # the tie first: a student whose only failure is the tie case matches some other variants there too
        "a tie between classes goes to the largest class index; it must go to the smallest (torch.argmax "
        "returns the first maximum)": lambda *a: vote(*a, tie_high=True),
        "a plain majority vote: each of the k neighbours must vote with weight exp(similarity / temperature)":
            lambda *a: vote(*a, weight="one"),
        "the features are not L2-normalised (neighbours and weights from dot products, not cosine similarities)":
            lambda *a: vote(*a, normalize=False),
        "the votes are weighted by the similarity itself instead of exp(similarity / temperature)":
            lambda *a: vote(*a, weight="sim"),
        "the temperature is missing (weights exp(similarity) instead of exp(similarity / temperature))":
            lambda *a: vote(*a, weight="exp_no_t"),
        "the k least similar training points are used (topk must take the largest similarities)":
            lambda *a: vote(*a, largest=False),
        "the nearest neighbour is skipped (the test points are not in the training set: keep all k nearest)":
            lambda *a: vote(*a, skip_first=True),
    }


# ------------------------------------------------------------------------------------------------ PS2 kernels

def _unit(rng, *shape, dtype=np.float64):
    x = _rand(rng, *shape, dtype=dtype)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(dtype)


def _ema_cases(rng):
    calls = []
    for dtype in (np.float64, np.float64, np.float32):
        shape = tuple(int(s) for s in rng.integers(1, 6, int(rng.integers(1, 4))))
        m = float(np.round(rng.uniform(0.5, 0.999), 4))
        calls.append(Call("ema_update", [_rand(rng, *shape, dtype=dtype), _rand(rng, *shape, dtype=dtype), m],
                          f"random {np.dtype(dtype).name}", grad_args=(0, 1), grad_outputs=[_rand(rng, *shape)]))
    return calls


def _enqueue_cases(rng):
    calls = []
    for i in range(4):
        k, c = int(rng.integers(4, 12)), int(rng.integers(2, 6))
        n = int(rng.integers(1, k + 1))
        ptr = int(rng.integers(0, k)) if i != 1 else k - max(1, n // 2)  # case 1 wraps around the end
        if i == 1 and n < 2:
            n = 2
        label = "pointer wraps around the end" if ptr + n > k else "random"
        calls.append(Call("dequeue_and_enqueue", [_unit(rng, k, c), ptr, _unit(rng, n, c)], label))
    return calls


def _moco_cases(rng, name):
    calls = []
    for dtype in (np.float64, np.float64, np.float32):
        n, c, k = int(rng.integers(2, 8)), int(rng.integers(2, 10)), int(rng.integers(3, 16))
        args = [_unit(rng, n, c, dtype=dtype), _unit(rng, n, c, dtype=dtype), _unit(rng, k, c, dtype=dtype),
                _temperature(rng)]
        grad_outputs = [_rand(rng, n, 1 + k), None] if name == "moco_logits" else None
        calls.append(Call(name, args, f"random {np.dtype(dtype).name}", grad_args=(0, 1, 2),
                          grad_outputs=grad_outputs))
    return calls


def _mistakes_moco_logits():
    def cat(q, k, queue, t, pos_first=True, power=1):
        pos, neg = (q * k).sum(1, keepdim=True), q @ queue.T
        lg = torch.cat([pos, neg] if pos_first else [neg, pos], 1) / t ** power
        return lg, torch.zeros(len(q), dtype=torch.long)
    return {"the positive logit must be column 0 (it is placed after the negatives)":
                lambda q, k, queue, t: cat(q, k, queue, t, pos_first=False),
            "the temperature is missing": lambda q, k, queue, t: cat(q, k, queue, t, power=0),
            "the temperature is applied twice": lambda q, k, queue, t: cat(q, k, queue, t, power=2)}


def _mistakes_moco_loss():
    def loss(q, k, queue, t, power=1):
        lg = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / t ** power
        return F.cross_entropy(lg, torch.zeros(len(q), dtype=torch.long))
    return {"the temperature is missing": lambda q, k, queue, t: loss(q, k, queue, t, 0),
            "the temperature is applied twice": lambda q, k, queue, t: loss(q, k, queue, t, 2)}


def _mistakes_enqueue():
    def no_wrap(queue, ptr, keys):
        new = queue.clone()
        n = min(len(keys), len(queue) - ptr)
        new[ptr:ptr + n] = keys[:n]
        return new, ptr + len(keys)

    def at_start(queue, ptr, keys):
        new = queue.clone()
        new[:len(keys)] = keys
        return new, (ptr + len(keys)) % len(queue)

    def newest_end(queue, ptr, keys):  # FIFO at the wrong end: the rows before the pointer hold the newest keys
        new = queue.clone()
        new[(ptr - len(keys) + torch.arange(len(keys))) % len(queue)] = keys
        return new, (ptr + len(keys)) % len(queue)

    return {"the pointer does not wrap around the end of the queue (use modulo K)": no_wrap,
            "the keys are written at the start of the queue instead of at the pointer": at_start,
            "the keys overwrite the newest entries (the rows just before the pointer) instead of the oldest ones "
            "(the pointer is the oldest entry: write at rows ptr, ptr+1, ... modulo K)": newest_end}


def _shuffle_cases(rng):
    n1, n2 = int(rng.integers(8, 32)), int(rng.integers(8, 32))
    s1, s2, s3 = (int(v) for v in rng.choice(2**31, size=3, replace=False))
    return [Call("batch_shuffle_indices", [n1, Generator(s1)], f"n = {n1}"),
            Call("batch_shuffle_indices", [n2, Generator(s2)], f"n = {n2}"),
            Call("batch_shuffle_indices", [1, Generator(s3)], "n = 1"),
            Call("batch_shuffle_indices", [n1, Generator(s1)], f"n = {n1}, a fresh generator with the same seed"),
            Call("batch_shuffle_indices", [n1, Generator(s3)], f"n = {n1}, a generator with another seed")]


def _shuffle_property(calls, outputs, outcomes=None):
    for call, out in zip(calls, outputs):
        n = call.args[0]
        if len(out) != 2:
            return False, "must return two index tensors (idx_shuffle, idx_unshuffle)"
        shuffle, unshuffle = (np.asarray(o) for o in out)
        if shuffle.shape != (n,) or unshuffle.shape != (n,):
            return False, f"for n = {n} both index tensors must have shape ({n},)"
        if not np.array_equal(np.sort(shuffle), np.arange(n)):
            return False, "idx_shuffle is not a permutation of 0..n-1"
        if not np.array_equal(shuffle[unshuffle], np.arange(n)) or \
                not np.array_equal(unshuffle[shuffle], np.arange(n)):
            return False, "idx_unshuffle is not the inverse of idx_shuffle (x[idx_shuffle][idx_unshuffle] != x)"
    big = [o[0] for c, o in zip(calls, outputs) if c.args[0] >= 8]
    if big and all(np.array_equal(np.asarray(s), np.arange(len(s))) for s in big):
        return False, "idx_shuffle is the identity: the batch is never shuffled"
    if len(outputs) >= 5:
        first, again, other = (np.asarray(outputs[i][0]) for i in (0, 3, 4))
        if not np.array_equal(first, again):
            return False, ("two fresh generators with the same seed give different permutations: draw the "
                           "permutation from the `generator` argument (torch.randperm(n, generator=generator))")
        if np.array_equal(first, other):
            return False, ("the permutation does not depend on the generator (the same for different seeds): "
                           "draw it from the `generator` argument, e.g. torch.randperm(n, generator=generator)")
    return True, ""


# ------------------------------------------------------------------------------------------------ PS3 kernels

def _cpc_scores_cases(rng):
    calls = []
    for dtype in (np.float64, np.float64, np.float32):
        n, c, d = int(rng.integers(2, 9)), int(rng.integers(2, 7)), int(rng.integers(7, 12))  # d != c
        calls.append(Call("cpc_scores", [_rand(rng, n, c, dtype=dtype), _rand(rng, n, d, dtype=dtype),
                                         (_rand(rng, d, c) / np.sqrt(c)).astype(dtype)],
                          f"random {np.dtype(dtype).name}", grad_args=(0, 1, 2), grad_outputs=[_rand(rng, n, n)]))
    return calls


def _cpc_loss_cases(rng):
    calls = []
    for dtype in (np.float64, np.float64, np.float32):
        n, c, d, k = (int(rng.integers(2, 9)), int(rng.integers(2, 7)), int(rng.integers(7, 12)),
                      int(rng.integers(1, 5)))
        calls.append(Call("cpc_loss", [_rand(rng, n, c, dtype=dtype), _rand(rng, n, k, d, dtype=dtype),
                                       (_rand(rng, k, d, c) / np.sqrt(c)).astype(dtype)],
                          f"random {np.dtype(dtype).name}, K = {k} steps", grad_args=(0, 1, 2)))
    return calls


def _mistakes_cpc_scores():
    return {"the scores are transposed: row i must hold z_j^T W c_i for every j (queries in rows)":
                lambda c, z, w: ((c @ w.T) @ z.T).T}


def _mistakes_cpc_loss():
    def per_k(c, z, w, transpose=False):
        labels = torch.arange(len(c))
        out = []
        for k in range(z.shape[1]):
            s = (c @ w[k].T) @ z[:, k].T
            out.append(F.cross_entropy(s.T if transpose else s, labels))
        return torch.stack(out)
    return {"the per-step losses are summed over k instead of averaged": lambda c, z, w: per_k(c, z, w).sum(),
            "the softmax runs over the wrong dimension (over contexts instead of over candidate futures)":
                lambda c, z, w: per_k(c, z, w, transpose=True).mean(),
            "only the first prediction step is used": lambda c, z, w: per_k(c, z, w)[0]}


def _context_cases(rng):
    b, t, d, c = int(rng.integers(2, 4)), int(rng.integers(6, 10)), int(rng.integers(3, 6)), int(rng.integers(4, 9))
    x = _rand(rng, b, t, d, dtype=np.float32)
    t0 = int(rng.integers(2, t - 1))
    x_future = x.copy()
    x_future[:, t0:] = _rand(rng, b, t - t0, d, dtype=np.float32)
    seed, other = (int(v) for v in rng.choice(2**31, size=2, replace=False))
    return [Call("ContextNetwork", [x], "sequence", module=Module(seed, (d, c))),
            Call("ContextNetwork", [x_future], f"same sequence, steps >= {t0} changed", module=Module(seed, (d, c))),
            Call("ContextNetwork", [x], "same sequence, parameters initialised from another seed",
                 module=Module(other, (d, c)))]


RECURRENT_GRU = ("GRU", "GRUCell")


def _context_property(calls, outputs, outcomes=None):
    x, x_future = calls[0].args[0], calls[1].args[0]
    (b, t, _), c = x.shape, calls[0].module.init_args[1]
    for o in outputs:
        if len(o) < 1 or o[0] is None:
            return False, "the network must return one tensor of shape (B, T, context_dim)"
    out, out_future = (np.asarray(o[0], dtype=np.float64) for o in outputs[:2])
    if out.shape != (b, t, c) or out_future.shape != (b, t, c):
        return False, f"the output must have shape (B, T, context_dim) = {(b, t, c)}, got {out.shape}"
    if not np.all(np.isfinite(out)):
        return False, "the output holds NaN or infinite values"
    t0 = int(np.argmax(np.any(x != x_future, axis=(0, 2))))
    if not np.allclose(out[:, :t0], out_future[:, :t0], rtol=1e-5, atol=1e-6):
        return False, ("the context at time t depends on inputs after t: an autoregressive context network must "
                       "only look at the past (use a unidirectional GRU, no bidirectional layer, no look-ahead)")
    if np.allclose(out[:, t0:], out_future[:, t0:], rtol=1e-5, atol=1e-6):
        return False, "the context does not change when the inputs change: it must summarise z_1..z_t"
    if np.allclose(out[:, 1:], out[:, :1], atol=1e-6):
        return False, "the context is the same at every time step: it must accumulate the past"
    info = [o.get("module_info") if isinstance(o, dict) else None for o in outcomes or []]
    if info and all(isinstance(i, dict) for i in info):
        if any(int(i.get("trainable_parameters", 0)) <= 0 for i in info):
            return False, ("the network has no trainable parameters: the context network must be learned (an "
                           "nn.GRU(input_dim, context_dim, batch_first=True))")
        if not any(set(i.get("recurrent", [])) & set(RECURRENT_GRU) for i in info):
            return False, "the context network must be built on a GRU (nn.GRU or nn.GRUCell), as the notebook asks"
    if len(outputs) >= 3:
        out_other = np.asarray(outputs[2][0], dtype=np.float64)
        if out_other.shape == out.shape and np.allclose(out_other, out, rtol=1e-5, atol=1e-6):
            return False, ("the output does not depend on the network's parameters (the same for two random "
                           "initialisations): the context must come from the learned GRU, not a fixed formula")
    return True, ""


# ------------------------------------------------------------------------------------------------ PS4 kernels

def _pairs(rng, dtype, *shape):
    """Predictions and projections of random scale (so a missing normalisation shows)."""
    return tuple(_rand(rng, *shape, dtype=dtype) * rng.uniform(0.5, 3.0) for _ in range(2))


def _simsiam_cases(rng):
    def make(rng, dtype, label):
        n, d = int(rng.integers(2, 9)), int(rng.integers(3, 12))
        (p1, z1), (p2, z2) = _pairs(rng, dtype, n, d), _pairs(rng, dtype, n, d)
        return Call("simsiam_loss", [p1, p2, z1, z2], label, grad_args=(0, 1, 2, 3))
    return _dtype_cases(rng, make)


def simsiam_reference(p1, p2, z1, z2):
    return 0.5 * (ref.negative_cosine(p1, z2) + ref.negative_cosine(p2, z1))


def _mistakes_simsiam():
    def d(p, z, normalize=True):
        if normalize:
            p, z = F.normalize(p, dim=1), F.normalize(z, dim=1)
        return -(p * z.detach()).sum(1).mean()
    return {
        "the pairs are not crossed: each view's prediction must be compared with the OTHER view's projection, "
        "(D(p1, z2) + D(p2, z1)) / 2": lambda p1, p2, z1, z2: 0.5 * (d(p1, z1) + d(p2, z2)),
        "only one direction: the loss is symmetrised, (D(p1, z2) + D(p2, z1)) / 2":
            lambda p1, p2, z1, z2: d(p1, z2),
        "the two directions are summed instead of averaged (divide by 2)":
            lambda p1, p2, z1, z2: d(p1, z2) + d(p2, z1),
        "the vectors are not L2-normalised (a dot product instead of the cosine similarity)":
            lambda p1, p2, z1, z2: 0.5 * (d(p1, z2, False) + d(p2, z1, False)),
        "the sign is wrong: D is the NEGATIVE cosine similarity (minimising it aligns p with z)":
            lambda p1, p2, z1, z2: -0.5 * (d(p1, z2) + d(p2, z1)),
    }


def _byol_cases(rng):
    def make(rng, dtype, label):
        n, d = int(rng.integers(2, 9)), int(rng.integers(3, 12))
        return Call("byol_loss", list(_pairs(rng, dtype, n, d)), label, grad_args=(0, 1))
    return _dtype_cases(rng, make)


def _mistakes_byol():
    return {
        "the mean runs over every element (F.mse_loss of the normalised vectors divides by D as well): the loss is "
        "|| p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z) per sample, averaged over the batch only":
            lambda p, z: F.mse_loss(F.normalize(p, dim=1), F.normalize(z, dim=1)),
        "the vectors are not L2-normalised (a squared error of the raw vectors)":
            lambda p, z: ((p - z) ** 2).sum(1).mean(),
        "the squared distance is summed over the batch instead of averaged":
            lambda p, z: (2 - 2 * (F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(1)).sum(),
    }


def _sinkhorn_cases(rng):
    """sinkhorn(scores (N, K), epsilon, iterations): scores are cosines (unit embeddings against unit
    prototypes), N >= K as in SwAV's batches."""
    calls = []
    settings = [(np.float64, 0.05, 3, "the paper's epsilon 0.05 and 3 iterations"),
                (np.float64, 0.05, 3, "the paper's epsilon 0.05 and 3 iterations"),
                (np.float64, float(np.round(rng.uniform(0.1, 0.5), 4)), 1, "one iteration"),
                (np.float64, float(np.round(rng.uniform(0.1, 0.3), 4)), int(rng.integers(40, 61)),
                 "many iterations (every column sums to B/K)"),
                (np.float32, 0.05, 3, "float32, epsilon 0.05, 3 iterations")]
    for dtype, eps, iters, label in settings:
        k = int(rng.integers(3, 9))
        n = int(rng.integers(k + 1, 3 * k + 1))
        d = int(rng.integers(4, 9))
        scores = (_unit(rng, n, d) @ _unit(rng, k, d).T).astype(dtype)
        calls.append(Call("sinkhorn", [scores, eps, iters], f"{label}, N = {n}, K = {k}"))
    return calls


def _mistakes_sinkhorn():
    def loop(scores, eps, iters, order=("cols", "rows"), scale=True):
        q = torch.exp(scores / eps)
        q = q / q.sum()
        n, k = q.shape
        for _ in range(iters):
            for axis in order:
                q = q / q.sum(0, keepdim=True) / k if axis == "cols" else q / q.sum(1, keepdim=True) / n
        return q * n if scale else q
    return {
        "only the rows are normalised (a softmax over the prototypes): every prototype (column) must first get "
        "the same mass 1/K, then every sample (row) 1/B": lambda s, eps, it: F.softmax(s / eps, dim=1),
        "the number of iterations is ignored (always 3): use the `iterations` argument":
            lambda s, eps, it: loop(s, eps, 3),
        "a single iteration is run whatever `iterations` says": lambda s, eps, it: loop(s, eps, 1),
        "the two normalisations run along the wrong axes (each sample first, then each prototype), so the rows do "
        "not sum to 1: in this function's (N, K) layout the prototypes are the columns (dim=0), not the rows of "
        "the paper's K x B pseudo-code": lambda s, eps, it: loop(s, eps, it, ("rows", "cols")),
        "the codes are not scaled by B at the end: each row sums to 1/B instead of 1":
            lambda s, eps, it: loop(s, eps, it, scale=False),
        "epsilon is not used as a divisor: Q = exp(scores / epsilon)": lambda s, eps, it: loop(s * eps * eps, eps, it),
    }


def _dino_args(rng, dtype, v, t, n, k):
    student = _rand(rng, v, n, k, dtype=dtype) * 2
    teacher = _rand(rng, t, n, k, dtype=dtype)
    center = (_rand(rng, k) * 0.5).astype(dtype)
    st = float(np.round(rng.uniform(0.08, 0.2), 4))
    tt = float(np.round(rng.uniform(0.03, 0.07), 4))
    return [student, teacher, center, st, tt]


def _dino_cases(rng):
    calls = []
    for dtype, v, label in ((np.float64, 2, "two global crops"), (np.float64, 2, "two global crops"),
                            (np.float64, 4, "multi-crop: 2 global and 2 local crops"),
                            (np.float32, 3, "float32, 2 global crops and 1 local")):
        n, k = int(rng.integers(2, 8)), int(rng.integers(4, 12))
        calls.append(Call("dino_loss", _dino_args(rng, dtype, v, 2, n, k), f"{label}, N = {n}, K = {k}",
                          grad_args=(0, 1, 2)))
    return calls


def _dino_variant(student, teacher, center, st, tt, center_student=False, same_crop=False, reduce="mean"):
    targets = F.softmax((teacher - center) / tt, dim=-1)
    log_p = F.log_softmax((student - center if center_student else student) / st, dim=-1)
    terms = [-(targets[i] * log_p[v]).sum(-1) for i in range(len(teacher)) for v in range(len(student))
             if same_crop or v != i]
    per = torch.stack(terms)
    return per.mean() if reduce == "mean" else per.sum(1).mean()


def _mistakes_dino():
    return {
        "the temperatures are swapped: the teacher is sharpened with the LOWER temperature (teacher_temperature), "
        "the student uses student_temperature": lambda s, t, c, st, tt: ref.dino_loss(s, t, c, tt, st),
        "no sharpening: the teacher's softmax uses the student's temperature (it must use teacher_temperature)":
            lambda s, t, c, st, tt: ref.dino_loss(s, t, c, st, st),
        "no centering: the center must be subtracted from the teacher's outputs before its softmax":
            lambda s, t, c, st, tt: ref.dino_loss(s, t, torch.zeros_like(c), st, tt),
        "the center is added to the teacher's outputs instead of subtracted":
            lambda s, t, c, st, tt: ref.dino_loss(s, t, -c, st, tt),
        "the center is subtracted from the student's outputs too (it centers the teacher only)":
            lambda s, t, c, st, tt: _dino_variant(s, t, c, st, tt, center_student=True),
        "a teacher crop is also compared with the same crop of the student: only pairs of DIFFERENT crops count":
            lambda s, t, c, st, tt: _dino_variant(s, t, c, st, tt, same_crop=True),
        "the cross-entropies are summed over the batch instead of averaged":
            lambda s, t, c, st, tt: _dino_variant(s, t, c, st, tt, reduce="sum"),
    }


def _center_cases(rng):
    calls = []
    for dtype, v, label in ((np.float64, 2, "2 student crops"), (np.float64, 4, "4 student crops (multi-crop)"),
                            (np.float32, 3, "float32, 3 student crops")):
        n, k = int(rng.integers(2, 8)), int(rng.integers(4, 12))
        m = float(np.round(rng.uniform(0.5, 0.99), 4))
        student, teacher, center = _dino_args(rng, dtype, v, 2, n, k)[:3]
        calls.append(Call("update_center", [center, student, teacher, m], f"{label}, momentum {m}",
                          grad_args=(1, 2), grad_outputs=[_rand(rng, k)]))
    return calls


def _mistakes_center():
    def ema(c, outputs, m):
        return m * c + (1 - m) * outputs.reshape(-1, outputs.shape[-1]).mean(0)
    return {
        "the center is computed from the student's outputs: it is the running mean of the TEACHER's outputs":
            lambda c, s, t, m: ema(c, s, m),
        "momentum applied to the wrong side: (1 - m) * center + m * mean (the old center must keep the weight m)":
            lambda c, s, t, m: ema(c, t, 1 - m),
        "only the first teacher crop is averaged: the mean runs over every crop and every image":
            lambda c, s, t, m: ema(c, t[0], m),
        "the center is replaced by the batch mean (no moving average)": lambda c, s, t, m: ema(c, t, 0.0),
    }


# ----------------------------------------------------------------------------------------------- the table

def _specs():
    table = {
        "ps1": [
            Spec("rotate_batch", _rotate_cases, rotate_batch_reference, ("same", "int"), 1.0, _mistakes_rotate(),
                 description="rotate_batch(images (B, C, H, W)) -> (rotated (4B, C, H, W), labels (4B,))"),
            Spec("random_resized_crop", _crop_cases, None, ("same", "int"), 2.0, property_check=_crop_property,
                 description="random_resized_crop(images (N, C, H, W), generator, scale, ratio, out_size) -> "
                             "(crops (N, C, S, S), boxes (N, 4) int64 (x0, y0, w, h))"),
            Spec("cosine_similarity_matrix", _cos_cases, ref.cosine_similarity_matrix, ("float",), 1.0,
                 _mistakes_cos(), description="cosine_similarity_matrix(a (N, D), b (M, D)) -> (N, M)"),
            Spec("info_nce", _info_nce_cases,
                 lambda q, k, neg, t: ref.info_nce(q, k, neg, temperature=t), ("float",), 2.0,
                 _mistakes_info_nce(), description="info_nce(query, positive_key, negative_keys, temperature)"),
            # before the NT-Xent pair: the red-team corpus's attacks that end the child process (os._exit, a loop
            # that ignores its alarm, a memory hog) live there, and functions called after them would be lost too
            Spec("knn_predict", _knn_cases, knn_predict_reference, ("int",), 2.0, _mistakes_knn(),
                 description="knn_predict(train_features (N, D), train_labels (N,), test_features (M, D), k, "
                             "temperature, num_classes) -> (M,) int64"),
            Spec("nt_xent_loop", lambda rng: _nt_xent_cases(rng, "nt_xent_loop", 6),
                 lambda z1, z2, t: ref.nt_xent(z1, z2, t), ("float",), 2.0, _mistakes_nt_xent(),
                 description="nt_xent_loop(z1, z2, temperature), written with Python loops"),
            Spec("nt_xent", _nt_xent_cases, lambda z1, z2, t: ref.nt_xent(z1, z2, t), ("float",), 2.0,
                 _mistakes_nt_xent(), description="nt_xent(z1, z2, temperature), vectorised"),
        ],
        "ps2": [
            Spec("ema_update", _ema_cases, ref.ema_update, ("float",), 1.0,
                 {"momentum applied to the wrong side: m * query + (1 - m) * key":
                      lambda k, q, m: m * q + (1 - m) * k},
                 description="ema_update(key_param, query_param, momentum) -> m key + (1 - m) query"),
            Spec("dequeue_and_enqueue", _enqueue_cases, ref.dequeue_and_enqueue, ("float", "scalar_int"), 2.0,
                 _mistakes_enqueue(), description="dequeue_and_enqueue(queue, ptr, keys) -> (new_queue, new_ptr)"),
            Spec("moco_logits", lambda rng: _moco_cases(rng, "moco_logits"), ref.moco_logits, ("float", "int"), 2.0,
                 _mistakes_moco_logits(), description="moco_logits(q, k, queue, temperature) -> (logits, labels)"),
            Spec("moco_loss", lambda rng: _moco_cases(rng, "moco_loss"), ref.moco_loss, ("float",), 1.0,
                 _mistakes_moco_loss(), description="moco_loss(q, k, queue, temperature) -> scalar"),
            Spec("batch_shuffle_indices", _shuffle_cases, None, ("int", "int"), 1.0,
                 property_check=_shuffle_property,
                 description="batch_shuffle_indices(n, generator) -> (idx_shuffle, idx_unshuffle)"),
        ],
        "ps3": [
            Spec("cpc_scores", _cpc_scores_cases, ref.cpc_scores, ("float",), 2.0, _mistakes_cpc_scores(),
                 description="cpc_scores(context (N, C), future (N, D), weight (D, C)) -> (N, N)"),
            Spec("cpc_loss", _cpc_loss_cases, ref.cpc_loss, ("float",), 2.0, _mistakes_cpc_loss(),
                 description="cpc_loss(context (N, C), futures (N, K, D), weights (K, D, C)) -> scalar"),
            Spec("ContextNetwork", _context_cases, None, ("float",), 2.0, property_check=_context_property,
                 description="ContextNetwork(input_dim, context_dim): (B, T, input_dim) -> (B, T, context_dim), causal"),
        ],
        "ps4": [
            Spec("simsiam_loss", _simsiam_cases, simsiam_reference, ("float",), 2.0, _mistakes_simsiam(),
                 description="simsiam_loss(p1, p2, z1, z2) -> (D(p1, z2) + D(p2, z1)) / 2, stop-gradient on z",
                 zero_grad_hint="the stop-gradient is missing: z1 and z2 are targets, D(p, stopgrad(z)) (detach "
                                "them); with gradients through both branches SimSiam collapses"),
            Spec("byol_loss", _byol_cases, ref.normalized_mse, ("float",), 1.0, _mistakes_byol(),
                 description="byol_loss(p, z) -> mean of 2 - 2 cos(p, z), no gradient to z",
                 zero_grad_hint="z comes from the target network, which moves by EMA only, never by this gradient "
                                "(detach it)"),
            Spec("sinkhorn", _sinkhorn_cases, lambda s, eps, it: ref.sinkhorn_knopp(s, eps, it), ("float",), 2.0,
                 _mistakes_sinkhorn(),
                 description="sinkhorn(scores (N, K), epsilon, iterations) -> codes (N, K), rows sum to 1"),
            Spec("dino_loss", _dino_cases, ref.dino_loss, ("float",), 2.0, _mistakes_dino(),
                 description="dino_loss(student (V, N, K), teacher (T, N, K), center (K,), student_temperature, "
                             "teacher_temperature) -> scalar",
                 zero_grad_hint="the teacher's outputs and the center are targets (the teacher moves by EMA only): "
                                "detach them"),
            Spec("update_center", _center_cases, lambda c, s, t, m: ref.dino_center_update(c, t, m), ("float",),
                 1.0, _mistakes_center(),
                 description="update_center(center (K,), student (V, N, K), teacher (T, N, K), momentum) -> (K,)",
                 zero_grad_hint="the center is a running statistic, not a trained parameter: compute it without "
                                "gradient (torch.no_grad() or detach the outputs)"),
        ],
    }
    return table


ARG_NAMES = {
    "rotate_batch": ("images",), "cosine_similarity_matrix": ("a", "b"),
    "info_nce": ("query", "positive_key", "negative_keys", "temperature"),
    "nt_xent_loop": ("z1", "z2", "temperature"), "nt_xent": ("z1", "z2", "temperature"),
    "random_resized_crop": ("images", "generator", "scale", "ratio", "out_size"),
    "knn_predict": ("train_features", "train_labels", "test_features", "k", "temperature", "num_classes"),
    "ema_update": ("key_param", "query_param", "momentum"), "dequeue_and_enqueue": ("queue", "ptr", "keys"),
    "moco_logits": ("q", "k", "queue", "temperature"), "moco_loss": ("q", "k", "queue", "temperature"),
    "batch_shuffle_indices": ("n", "generator"), "cpc_scores": ("context", "future", "weight"),
    "cpc_loss": ("context", "futures", "weights"), "ContextNetwork": ("x",),
    "simsiam_loss": ("p1", "p2", "z1", "z2"), "byol_loss": ("p", "z"),
    "sinkhorn": ("scores", "epsilon", "iterations"),
    "dino_loss": ("student", "teacher", "center", "student_temperature", "teacher_temperature"),
    "update_center": ("center", "student", "teacher", "momentum"),
}

SPECS: dict[str, list[Spec]] = _specs()
ASSIGNMENTS = tuple(SPECS)


def spec_for(assignment: str, name: str) -> Spec:
    for spec in SPECS[assignment]:
        if spec.name == name:
            return spec
    raise KeyError(f"{assignment} grades no function {name!r}")


def find_spec(name: str) -> Spec:
    for specs in SPECS.values():
        for spec in specs:
            if spec.name == name:
                return spec
    raise KeyError(name)
