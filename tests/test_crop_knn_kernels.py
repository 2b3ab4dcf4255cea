"""The reference kernels of problem set 1's augmentation and evaluation tasks, ``augment.random_resized_crop``
(with ``crop_boxes`` and ``resized_crop``) and ``evaluate.knn_predict``, against float64 loops written here from
their definitions (nothing imported from the library for the expected values), and properties that fail for each
wrong-but-plausible implementation: one box for the whole batch, boxes that ignore the generator, areas outside
``scale``, aspect ratios outside ``ratio``, x and y swapped, a crop not resized to ``out_size``; an unweighted vote,
unnormalised features, a missing temperature, ties sent to the wrong class.

The grader's checks of the same tasks (autograder/specs.py) are exercised in autograder/tests (test_units.py and
the red-team corpus); here the kernels themselves, and the cases the grader draws, are checked.
"""
import math

import numpy as np
import pytest
import torch

from autograder import specs
from ssl_course.augment import crop_boxes, random_resized_crop, resized_crop
from ssl_course.evaluate import knn_predict


# --------------------------------------------------------------------------------------------- float64 loops

def bilinear_crop_loop(image, box, out_h, out_w):
    """Crop a (C, H, W) float64 array to box (x0, y0, w, h) and resize it to (out_h, out_w), pixel by pixel:
    output pixel (r, c) samples the crop at y = (r + 1/2) h / out_h - 1/2, x = (c + 1/2) w / out_w - 1/2 (pixel
    centres aligned, the convention of F.interpolate with align_corners=False), clamped to the crop, and mixes the
    four pixels around it with weights (1 - fy, fy) x (1 - fx, fx)."""
    x0, y0, w, h = (int(v) for v in box)
    crop = image[:, y0:y0 + h, x0:x0 + w]
    out = np.empty((image.shape[0], out_h, out_w))
    for r in range(out_h):
        y = min(max((r + 0.5) * h / out_h - 0.5, 0.0), h - 1.0)
        ya, fy = int(math.floor(y)), y - math.floor(y)
        yb = min(ya + 1, h - 1)
        for c in range(out_w):
            x = min(max((c + 0.5) * w / out_w - 0.5, 0.0), w - 1.0)
            xa, fx = int(math.floor(x)), x - math.floor(x)
            xb = min(xa + 1, w - 1)
            out[:, r, c] = ((1 - fy) * ((1 - fx) * crop[:, ya, xa] + fx * crop[:, ya, xb])
                            + fy * ((1 - fx) * crop[:, yb, xa] + fx * crop[:, yb, xb]))
    return out


def knn_loop(train, labels, test, k, t, num_classes):
    """Weighted kNN, one test row at a time in float64: cosine similarities, the k largest (a stable sort: equal
    similarities keep the training order), votes exp(s / t) per class, the largest vote wins and a tie goes to the
    smallest class index."""
    preds = []
    for q in test:
        sims = [float(np.dot(q, x) / (np.linalg.norm(q) * np.linalg.norm(x))) for x in train]
        order = sorted(range(len(train)), key=lambda j: -sims[j])[:k]
        votes = [0.0] * num_classes
        for j in order:
            votes[int(labels[j])] += math.exp(sims[j] / t)
        best = max(votes)
        preds.append(min(c for c in range(num_classes) if votes[c] == best))
    return preds


# ------------------------------------------------------------------------------------------ random_resized_crop

@pytest.mark.parametrize("out_size", [None, 7, 40, (9, 23)])
def test_resized_crop_matches_a_float64_bilinear_loop(out_size):
    """Enlarging (40), shrinking (7), the input's size (None -> H x W) and a non-square output: every pixel equals
    the loop's, which reads only pixels inside the box."""
    g = torch.Generator().manual_seed(3)
    images = torch.rand(5, 2, 13, 17, generator=g, dtype=torch.float64)
    crops, boxes = random_resized_crop(images, torch.Generator().manual_seed(4), (0.1, 0.9), (0.5, 2.0), out_size)
    out_h, out_w = (13, 17) if out_size is None else (out_size, out_size) if isinstance(out_size, int) else out_size
    assert crops.shape == (5, 2, out_h, out_w) and crops.dtype == torch.float64
    for i in range(5):
        np.testing.assert_allclose(crops[i].numpy(), bilinear_crop_loop(images[i].numpy(), boxes[i].tolist(),
                                                                          out_h, out_w), rtol=0, atol=1e-12)


def test_resized_crop_of_a_coordinate_image_reads_rows_as_y_and_columns_as_x():
    """On an image whose channel 0 is the column index and channel 1 the row index, each crop holds exactly the
    columns x0..x0+w-1 and rows y0..y0+h-1 of its box (at out_size = the box's own size): swapping x and y, or
    reporting boxes as torchvision's (top, left, height, width), fails this."""
    h_img, w_img = 10, 16
    cols = torch.arange(w_img, dtype=torch.float64).expand(h_img, w_img)
    rows = torch.arange(h_img, dtype=torch.float64)[:, None].expand(h_img, w_img)
    image = torch.stack([cols, rows])[None]
    for box in ([3, 2, 5, 4], [0, 6, 16, 4], [11, 0, 5, 10]):
        x0, y0, w, h = box
        out = resized_crop(image, torch.tensor([box]), (h, w))[0]
        # grid_sample's coordinate arithmetic lands on the pixel centres up to ~1e-15
        assert torch.allclose(out[0], cols[y0:y0 + h, x0:x0 + w], rtol=0, atol=1e-9)
        assert torch.allclose(out[1], rows[y0:y0 + h, x0:x0 + w], rtol=0, atol=1e-9)
    flipped = resized_crop(image, torch.tensor([[3, 2, 5, 4]]), (4, 5), flip=torch.tensor([True]))[0]
    assert torch.allclose(flipped[0], cols[2:6, 3:8].flip(-1), rtol=0, atol=1e-9)


def test_every_image_gets_its_own_box_and_the_generator_decides_them():
    images = torch.rand(32, 3, 24, 30)
    crops, boxes = random_resized_crop(images, torch.Generator().manual_seed(0), (0.2, 0.6), out_size=12)
    again, boxes_again = random_resized_crop(images, torch.Generator().manual_seed(0), (0.2, 0.6), out_size=12)
    _, other = random_resized_crop(images, torch.Generator().manual_seed(1), (0.2, 0.6), out_size=12)
    assert crops.shape == (32, 3, 12, 12) and boxes.shape == (32, 4) and boxes.dtype == torch.int64
    assert len({tuple(b) for b in boxes.tolist()}) >= 28  # one box per image, not one per batch
    assert torch.equal(crops, again) and torch.equal(boxes, boxes_again)  # same seed, same crops
    assert not torch.equal(boxes, other)  # the generator, not torch's global state, decides
    torch.manual_seed(123)
    _, b1 = random_resized_crop(images, torch.Generator().manual_seed(5))
    torch.manual_seed(456)
    _, b2 = random_resized_crop(images, torch.Generator().manual_seed(5))
    assert torch.equal(b1, b2)  # the global seed plays no part


@pytest.mark.parametrize("scale, ratio, height, width", [((0.25, 0.5), (3 / 4, 4 / 3), 32, 32),
                                                         ((0.1, 0.35), (2.0, 3.0), 28, 48),
                                                         ((0.1, 0.35), (1 / 3, 1 / 2), 48, 28)])
def test_boxes_obey_scale_and_ratio_and_cover_them(scale, ratio, height, width):
    """Ranges where the first try always fits: every box's area fraction lies in scale and its w / h in ratio up to
    the rounding of w and h to whole pixels, both ranges are covered (not one value), the boxes stay inside the
    image and their corners are spread over it. Scale applied to the side, w and h swapped (asymmetric ratio
    ranges) or a fixed position fail here."""
    x0, y0, w, h = crop_boxes(2000, height, width, scale, ratio, torch.Generator().manual_seed(0)).double().unbind(1)
    area = height * width
    assert ((x0 >= 0) & (y0 >= 0) & (x0 + w <= width) & (y0 + h <= height)).all()
    assert ((w + 0.5) * (h + 0.5) >= scale[0] * area).all() and ((w - 0.5) * (h - 0.5) <= scale[1] * area).all()
    assert ((w + 0.5) / (h - 0.5) >= ratio[0]).all() and ((w - 0.5) / (h + 0.5) <= ratio[1]).all()
    frac = w * h / area
    assert frac.min() < scale[0] + 0.1 * (scale[1] - scale[0]) and frac.max() > scale[1] - 0.1 * (scale[1] - scale[0])
    log_r = torch.log(w / h)
    span = math.log(ratio[1]) - math.log(ratio[0])
    assert log_r.max() - log_r.min() > 0.7 * span
    assert len(set(x0.tolist())) > 5 and len(set(y0.tolist())) > 5


def test_boxes_fall_back_to_the_largest_square_when_nothing_fits():
    x0, y0, w, h = crop_boxes(3, 16, 33, (1.0, 1.0), (4.0, 4.0), torch.Generator().manual_seed(0)).unbind(1)
    assert w.tolist() == [16] * 3 and h.tolist() == [16] * 3 and x0.tolist() == [8] * 3 and y0.tolist() == [0] * 3


def test_grader_crop_cases_are_always_fittable():
    """The grader's property check assumes every box obeys scale and ratio exactly (no fallback) in all but the
    SimCLR-range case: the largest box of each of its other cases fits inside the image."""
    for seed in range(5):
        for call in specs.find_spec("random_resized_crop").cases(np.random.default_rng(seed)):
            images, _, scale, ratio, _ = call.args
            height, width = images.shape[2:]
            if scale[1] < 1:
                assert math.sqrt(scale[1] * height * width * ratio[1]) + 0.5 <= width
                assert math.sqrt(scale[1] * height * width / ratio[0]) + 0.5 <= height


# ------------------------------------------------------------------------------------------------- knn_predict

def _clustered(rng, n, d, c):
    centers = rng.standard_normal((c, d))
    labels = rng.integers(0, c, n)
    x = centers[labels] + rng.standard_normal((n, d))
    return x * rng.uniform(0.3, 3.0, (n, 1)), labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knn_predict_matches_a_float64_loop(seed):
    rng = np.random.default_rng(seed)
    train, labels = _clustered(rng, 50, 8, 4)
    test, _ = _clustered(rng, 30, 8, 4)
    for k, t in ((1, 0.1), (7, 0.07), (50, 0.5)):
        got = knn_predict(torch.from_numpy(train), torch.from_numpy(labels), torch.from_numpy(test), k=k,
                          temperature=t, num_classes=4)
        assert got.dtype == torch.int64 and got.tolist() == knn_loop(train, labels, test, k, t, 4)


def test_knn_predict_matches_the_loop_on_the_graders_cases():
    """The grader compares students with the library on these very cases: the library must be right on them."""
    for seed in range(3):
        for call in specs.find_spec("knn_predict").cases(np.random.default_rng(seed)):
            train, labels, test, k, t, c = call.args
            got = specs.knn_predict_reference(*(torch.from_numpy(a) if isinstance(a, np.ndarray) else a
                                                for a in call.args))
            assert got.tolist() == knn_loop(train.astype(np.float64), labels, test.astype(np.float64), k, t, c), \
                call.label


def test_knn_vote_is_weighted_by_exp_of_cosine_over_temperature():
    """One near neighbour of class 0 (cosine 0.99) against two of class 1 (cosine 0.6), k = 3: at t = 0.1 the
    weights exp(9.9) > 2 exp(6) pick 0, where a majority vote picks 1; at t = 10 the weights are nearly equal and
    the two win. Feature norms differ wildly, so a dot product instead of the cosine picks the far, long ones."""
    q = torch.tensor([[1.0, 0.0]])
    train = torch.tensor([[0.99, math.sqrt(1 - 0.99 ** 2)], [6.0, 8.0], [6.0, -8.0]])
    labels = torch.tensor([0, 1, 1])
    assert knn_predict(train, labels, q, k=3, temperature=0.1, num_classes=2).tolist() == [0]
    assert knn_predict(train, labels, q, k=3, temperature=10.0, num_classes=2).tolist() == [1]
    assert knn_predict(train, labels, q, k=1, temperature=0.1, num_classes=2).tolist() == [0]  # cosine, not dot


def test_knn_tie_goes_to_the_smallest_class_and_num_classes_may_exceed_the_labels():
    train = torch.tensor([[5.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    for labels, want in (([3, 1, 0], 1), ([1, 3, 0], 1), ([0, 2, 1], 0)):
        pred = knn_predict(train, torch.tensor(labels), torch.tensor([[4.0, 0.0]]), k=2, temperature=0.2,
                           num_classes=6)
        assert pred.tolist() == [want]
