"""Datasets: the procedural shapes, the bundled sets, and the real on-disk formats of CIFAR-10, STL-10 and image
folders, written small by the tests themselves (nothing is downloaded)."""
import pickle

import numpy as np
import pytest
import torch

from ssl_course.data import (SHAPE_CLASSES, DatasetNotFoundError, TwoViews, label_subset, load_dataset, make_shapes,
                             stratified_split)
from ssl_course.data.files import read_image_folder


def test_shapes_are_deterministic_balanced_and_varied():
    a_img, a_lab = make_shapes(600, seed=3)
    b_img, b_lab = make_shapes(600, seed=3)
    c_img, _ = make_shapes(600, seed=4)
    assert a_img.dtype == np.uint8 and a_img.shape == (600, 3, 32, 32)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    assert not np.array_equal(a_img, c_img)
    counts = np.bincount(a_lab, minlength=len(SHAPE_CLASSES))
    assert counts.min() > 30  # every class present, roughly balanced
    # colours vary: mean colour per image spreads widely, so colour is not the class
    assert a_img.reshape(600, 3, -1).mean(-1).std(0).min() > 10


def test_shapes_train_and_test_splits_differ_and_sizes_follow_arguments():
    train = load_dataset("shapes", "train", num_images=64)
    test = load_dataset("shapes", "test", num_images=64)
    assert len(train) == 64 and train.images.shape[1:] == (3, 32, 32)
    assert not torch.equal(train.images, test.images)
    big = load_dataset("shapes", "train", num_images=8, image_size=48)
    assert big.images.shape == (8, 3, 48, 48)
    with pytest.raises(ValueError, match="split"):
        load_dataset("shapes", "validation")


def test_raw_pixels_of_shapes_classify_poorly():
    """The point of the dataset: a linear classifier on pixels is near chance (the SimCLR demo beats it)."""
    from ssl_course.evaluate import linear_probe, pixels

    train = load_dataset("shapes", "train", num_images=1500)
    test = load_dataset("shapes", "test", num_images=500)
    assert linear_probe(*pixels(train), *pixels(test), max_iter=50) < 0.3


def test_digits_split_is_stratified_and_disjoint():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert len(train) + len(test) == 1797
    assert train.images.shape[1:] == (3, 32, 32)
    assert torch.equal(train.images[:, 0], train.images[:, 1])  # grey replicated to RGB
    train_rows = {bytes(x.numpy()) for x in train.images}
    assert sum(bytes(x.numpy()) in train_rows for x in test.images) < 5  # (a few digits are pixel-identical)
    share_train = torch.bincount(train.labels) / len(train)
    share_test = torch.bincount(test.labels) / len(test)
    assert torch.allclose(share_train, share_test, atol=0.01)


def test_photos_are_bundled_rgb_squares():
    photos = load_dataset("photos", image_size=64)
    assert photos.images.shape == (11, 3, 64, 64) and photos.classes[0] == "astronaut"
    assert photos.images.float().std() > 20


def test_splits_and_label_subsets_are_deterministic():
    labels = np.repeat(np.arange(5), 40)
    tr, te = stratified_split(labels, 0.25, seed=1)
    tr2, te2 = stratified_split(labels, 0.25, seed=1)
    assert np.array_equal(tr, tr2) and np.array_equal(te, te2)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 200
    assert np.all(np.bincount(labels[te]) == 10)
    few = label_subset(labels, 0.01)
    assert len(few) == 5 and set(labels[few]) == set(range(5))  # at least one per class
    assert len(label_subset(labels, 0.1)) == 20


# ---- real on-disk formats --------------------------------------------------------------------------------------

def write_cifar10(root, n_per_batch=4, seed=0):
    """Write a miniature CIFAR-10 in the python-pickle format torchvision downloads."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, f)
        batches[name] = (data, labels)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names}, f)
    return batches


def test_cifar10_reader_reads_the_real_format(tmp_path):
    batches = write_cifar10(tmp_path)
    train = load_dataset("cifar10", "train", root=tmp_path)
    test = load_dataset("cifar10", "test", root=tmp_path)
    assert len(train) == 20 and len(test) == 4 and train.classes[9] == "truck"
    data, labels = batches["data_batch_2"]
    # row layout: 1024 red, then 1024 green, then 1024 blue, each row-major 32x32
    assert torch.equal(train.images[4], torch.from_numpy(data[0].reshape(3, 32, 32)))
    assert train.images[4, 1, 0, 5].item() == data[0][1024 + 5]
    assert train.labels[4:8].tolist() == labels


def test_missing_and_corrupt_cifar10_give_clear_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="ssl-course download cifar10"):
        load_dataset("cifar10", root=tmp_path)
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_dataset("cifar10", "test", root=tmp_path)


def write_stl10(root, n_train=3, n_test=2, n_unlabeled=4, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        images = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W) as we want to read it
        images.transpose(0, 1, 3, 2).tofile(folder / f"{split}_X.bin")  # stored column-major (N, C, W, H)
        arrays[split] = images
        if split != "unlabeled":
            labels = rng.integers(1, 11, n).astype(np.uint8)
            labels.tofile(folder / f"{split}_y.bin")
            arrays[split + "_y"] = labels
    (folder / "class_names.txt").write_text("\n".join(
        ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]) + "\n")
    return arrays


def test_stl10_reader_reads_binary_format_and_unlabeled_split(tmp_path):
    arrays = write_stl10(tmp_path)
    train = load_dataset("stl10", "train", root=tmp_path)
    assert train.images.shape == (3, 3, 96, 96)
    assert torch.equal(train.images, torch.from_numpy(arrays["train"]))  # H/W transposition undone
    assert train.labels.tolist() == (arrays["train_y"].astype(int) - 1).tolist()
    unlabeled = load_dataset("stl10", "unlabeled", root=tmp_path)
    assert len(unlabeled) == 4 and (unlabeled.labels == -1).all()
    both = load_dataset("stl10", "train+unlabeled", root=tmp_path)
    assert len(both) == 7 and torch.equal(both.images[3:], unlabeled.images)
    assert train.classes[-1] == "truck"


def test_stl10_missing_and_truncated_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="stl10"):
        load_dataset("stl10", "train", root=tmp_path)
    write_stl10(tmp_path)
    path = tmp_path / "stl10_binary" / "test_X.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="corrupt"):
        load_dataset("stl10", "test", root=tmp_path)


def write_image_folder(root, per_class: int, shape=(40, 50, 3), classes=("cats", "dogs")):
    """A folder of class sub-folders of random PNG images, as ``load_dataset("folder")`` reads it."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in classes:
        (root / cls).mkdir()
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / cls / f"{i}.png")


def test_image_folder_reads_class_folders_and_reports_bad_files(tmp_path):
    write_image_folder(tmp_path, 3)
    ds = load_dataset("folder", root=tmp_path, image_size=24)
    assert ds.classes == ["cats", "dogs"] and ds.images.shape == (6, 3, 24, 24)
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        read_image_folder(tmp_path, 24, progress=False)
    with pytest.raises(DatasetNotFoundError):
        load_dataset("folder", root=tmp_path / "nope")


def test_two_views_draws_two_independent_augmentations():
    from ssl_course.augment import simclr_transform

    base = load_dataset("shapes", num_images=4)
    torch.manual_seed(0)
    v1, v2, label = TwoViews(base, simclr_transform(32))[0]
    assert v1.shape == v2.shape == (3, 32, 32) and v1.dtype == torch.float32
    assert not torch.equal(v1, v2) and label == int(base.labels[0])


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")


# --- the registry: one place that maps a name to its loader, splits and metadata ----------------------------------

def test_unknown_dataset_lists_every_known_name():
    from ssl_course.data import DATASETS, load_splits

    for call in (lambda: load_dataset("imagenet"), lambda: load_splits("imagenet")):
        with pytest.raises(ValueError) as err:
            call()
        assert all(name in str(err.value) for name in DATASETS)


def test_generated_splits_follow_sizes_and_seed_and_experiments_use_them():
    from ssl_course.data import load_splits
    from ssl_course.experiment import ExperimentConfig
    from ssl_course.experiment import load_splits as experiment_splits

    for name in ("shapes", "photo_crops"):
        train, labelled, test = load_splits(name, 30, 10, seed=1)
        assert labelled is train and (len(train), len(test)) == (30, 10)
        assert torch.equal(train.images, load_dataset(name, "train", num_images=30, seed=1).images)
        assert not torch.equal(train.images, load_splits(name, 30, 10, seed=2)[0].images)
        # the experiment's splits are the registry's, not a copy of its dispatch
        ex = experiment_splits(ExperimentConfig(dataset=name, num_images=30, num_test=10, seed=1))
        assert all(torch.equal(a.images, b.images) for a, b in zip(ex, (train, labelled, test)))


def test_fixed_datasets_train_on_their_first_images_and_keep_the_test_split():
    from ssl_course.data import load_splits

    full_train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    train, labelled, same_test = load_splits("digits", num_images=100)
    assert labelled is train and torch.equal(train.images, full_train.images[:100])
    assert torch.equal(same_test.images, test.images)
    assert len(load_splits("digits")[0]) == len(full_train)  # None: every training image


def test_stl10_trains_on_train_plus_unlabeled_and_probes_on_its_labelled_split(tmp_path):
    from ssl_course.data import load_splits

    write_stl10(tmp_path)
    train, labelled, test = load_splits("stl10", root=tmp_path)
    assert (len(train), len(labelled), len(test)) == (7, 3, 2) and (labelled.labels >= 0).all()
    train, labelled, _ = load_splits("stl10", num_images=5, root=tmp_path)
    assert (len(train), len(labelled)) == (5, 3)


def test_a_folder_is_split_into_train_and_test_by_class(tmp_path):
    from ssl_course.data import load_splits

    write_image_folder(tmp_path, 5, shape=(20, 20, 3))
    train, labelled, test = load_splits("folder", root=tmp_path)
    assert labelled is train and (len(train), len(test)) == (8, 2)
    assert sorted(test.labels.tolist()) == [0, 1]  # stratified: one of each class


def test_the_cli_offers_every_dataset_an_experiment_can_use():
    from ssl_course.cli import parse_args
    from ssl_course.data import experiment_datasets

    assert set(experiment_datasets()) == {"shapes", "captioned_shapes", "digits", "photo_crops", "cifar10", "stl10",
                                       "folder"}
    assert parse_args(["demo", "--dataset", "photo_crops"]).dataset == "photo_crops"
