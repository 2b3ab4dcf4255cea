"""The pretext-task kernels of ssl_course.pretext: labels, tiles, permutations, masks, colour spaces."""
import itertools

import numpy as np
import pytest
import torch

from ssl_course import pretext as P


def test_rotate_batch_labels_and_content():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    rotated, labels = P.rotate_batch(x)
    assert rotated.shape == (8, 3, 4, 4)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[:2], x)
    # 90 degrees counter-clockwise: the top-right pixel moves to the top-left
    assert torch.equal(rotated[2, :, 0, 0], x[0, :, 0, 3])
    assert torch.equal(rotated[4 + 1], x[1].flip(-1).flip(-2))  # 180 degrees
    # four quarter turns of label-k images give back the original
    for k in range(4):
        back = torch.rot90(rotated[2 * k:2 * k + 2], -k, dims=(-2, -1))
        assert torch.equal(back, x)
    with pytest.raises(ValueError):
        P.rotate_batch(torch.zeros(1, 3, 4, 5))


def test_grid_tiles_without_jitter_cut_the_centred_cells():
    x = torch.arange(1 * 1 * 12 * 12, dtype=torch.float32).view(1, 1, 12, 12)
    tiles = P.grid_tiles(x, grid=3, gap=2, jitter=False)
    assert tiles.shape == (1, 9, 1, 2, 2)  # cell 4, tile 2, offset 1
    for p in range(9):
        r, c = divmod(p, 3)
        assert torch.equal(tiles[0, p, 0], x[0, 0, 4 * r + 1:4 * r + 3, 4 * c + 1:4 * c + 3])


def test_grid_tiles_jitter_stays_inside_cell_and_varies_per_image():
    g = torch.Generator().manual_seed(0)
    b, size, grid, gap = 16, 30, 3, 4
    # image whose pixel value encodes its own (row, column)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    x = torch.stack([ys, xs, ys * 0]).float()[None].expand(b, -1, -1, -1).contiguous()
    tiles = P.grid_tiles(x, grid, gap, jitter=True, generator=g)
    t = size // grid - gap
    assert tiles.shape == (b, 9, 3, t, t)
    tops, lefts = tiles[:, :, 0, 0, 0], tiles[:, :, 1, 0, 0]  # (B, 9) the top-left pixel coordinates
    cell = size // grid
    cells = torch.arange(9)
    off_y, off_x = tops - (cells // 3) * cell, lefts - (cells % 3) * cell
    assert off_y.min() >= 0 and off_y.max() <= gap and off_x.min() >= 0 and off_x.max() <= gap
    assert len(torch.unique(off_y)) > 1 and not torch.equal(tops[0], tops[1])  # per image, per tile jitter
    # tiles are contiguous crops
    assert torch.equal(tiles[:, :, 0, :, 0] - tops[..., None], torch.arange(t).float().expand(b, 9, t))


def test_hamming_permutations_are_distinct_valid_and_maximally_far():
    perms = P.hamming_permutations(30, 9, seed=0)
    assert perms.shape == (30, 9) and perms.dtype == torch.int64
    assert all(sorted(p) == list(range(9)) for p in perms.tolist())
    assert len({tuple(p) for p in perms.tolist()}) == 30
    # greedy max-min selection on 9 tiles reaches pairwise distance >= 6 for 30 permutations; random sets don't
    assert P.min_hamming_distance(perms) >= 6
    rng = np.random.default_rng(0)
    random_sets = [np.stack([rng.permutation(9) for _ in range(30)]) for _ in range(5)]
    assert max(P.min_hamming_distance(s) for s in random_sets) < P.min_hamming_distance(perms)
    # on 4 tiles, 4 permutations can be pairwise disjoint (distance 4: a Latin square); greedy finds it
    assert P.min_hamming_distance(P.hamming_permutations(4, 4)) == 4
    assert P.hamming_permutations(24, 4).unique(dim=0).shape[0] == 24
    assert P.min_hamming_distance(np.array(list(itertools.permutations(range(3))))) == 2


def test_relative_patch_pairs_match_their_labels():
    g = torch.Generator().manual_seed(1)
    ys, xs = torch.meshgrid(torch.arange(30), torch.arange(30), indexing="ij")
    x = torch.stack([ys, xs, ys * 0]).float()[None].expand(64, -1, -1, -1).contiguous()
    centre, neighbour, labels = P.relative_patch_pairs(x, gap=2, jitter=False, generator=g)
    assert centre.shape == neighbour.shape == (64, 3, 8, 8) and labels.shape == (64,)
    assert set(labels.tolist()) == set(range(8))
    for i in range(64):
        dy, dx = P.RELATIVE_OFFSETS[int(labels[i])]
        assert float(neighbour[i, 0, 0, 0] - centre[i, 0, 0, 0]) == 10 * dy
        assert float(neighbour[i, 1, 0, 0] - centre[i, 1, 0, 0]) == 10 * dx
    assert float(centre[0, 0, 0, 0]) == 11  # the centre cell (10..19) with offset 1


def test_masks():
    m = P.center_mask(2, 32, 32, 0.5)
    assert m.shape == (2, 1, 32, 32) and m.sum() == 2 * 16 * 16
    assert m[0, 0, 8:24, 8:24].min() == 1 and m[0, 0, :8].max() == 0
    g = torch.Generator().manual_seed(0)
    blocks = P.random_block_mask(8, 32, 32, num_blocks=3, block_fraction=0.25, generator=g)
    assert blocks.shape == (8, 1, 32, 32) and set(blocks.unique().tolist()) <= {0.0, 1.0}
    per_image = blocks.sum((1, 2, 3))
    assert (per_image >= 64).all() and (per_image <= 3 * 64).all()
    assert not torch.equal(blocks[0], blocks[1])
    region = P.random_region_mask(8, 32, 32, coverage=0.25, generator=g)
    assert region.shape == (8, 1, 32, 32)
    assert torch.allclose(region.sum((1, 2, 3)), torch.full((8,), 256.0), atol=3)
    assert not torch.equal(region[0], region[1])
    # a blob, not salt-and-pepper: most hole pixels have a hole pixel to their right
    r = region[:, 0]
    assert ((r[:, :, :-1] * r[:, :, 1:]).sum() / r[:, :, :-1].sum()) > 0.8


def test_lab_round_trip_and_known_values():
    x = torch.rand(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    lab = P.rgb_to_lab(x)
    assert torch.allclose(P.lab_to_rgb(lab), x, atol=1e-4)
    white, black = P.rgb_to_lab(torch.ones(1, 3, 1, 1)), P.rgb_to_lab(torch.zeros(1, 3, 1, 1))
    assert torch.allclose(white.flatten(), torch.tensor([100.0, 0, 0]), atol=0.05)
    assert torch.allclose(black.flatten(), torch.zeros(3), atol=0.05)
    red = P.rgb_to_lab(torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.1)  # the textbook value
    grey = P.rgb_to_lab(torch.full((1, 3, 2, 2), 0.3))
    assert grey[:, 1:].abs().max() < 1e-3


def test_ab_quantization():
    centres = P.ab_bin_centers(20.0)
    assert centres.shape == (121, 2)
    ab = centres.T[None, :, :, None]  # (1, 2, Q, 1): each centre is in its own bin
    assert torch.equal(P.quantize_ab(ab, 20.0)[0, :, 0], torch.arange(121))
    jitter = ab + 9.0  # still inside the bin (half-width 10)
    assert torch.equal(P.quantize_ab(jitter, 20.0)[0, :, 0], torch.arange(121))
    assert P.quantize_ab(torch.full((1, 2, 1, 1), 500.0)).item() == 120  # clipped to the last bin
