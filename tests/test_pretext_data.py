"""Offline data made for the pretext tasks: clips of moving photographs and labelled photo crops."""
import torch

from ssl_course.data import make_clips, make_photo_crops

SMALL = ("coffee", "chelsea", "astronaut")


def test_clip_objects_move_rigidly_with_their_masks():
    clips = make_clips(6, num_frames=3, size=32, seed=3, photos=SMALL)
    assert clips.clips.shape == (6, 3, 3, 32, 32) and clips.masks.shape == (6, 3, 1, 32, 32)
    for n in range(6):
        m0 = clips.masks[n, 0, 0]
        areas = clips.masks[n, :, 0].flatten(1).sum(1)
        assert (areas == areas[0]).all() and areas[0] > 20  # the same ellipse, always inside the frame
        y0, x0 = m0.nonzero().float().mean(0)
        for t in (1, 2):
            mt = clips.masks[n, t, 0]
            yt, xt = mt.nonzero().float().mean(0)
            dy, dx = int(round(float(yt - y0))), int(round(float(xt - x0)))
            assert torch.equal(torch.roll(m0, (dy, dx), (0, 1)), mt)
            # the object's pixels are carried along: frame t inside its mask = frame 0 shifted
            shifted = torch.roll(clips.clips[n, 0], (dy, dx), (1, 2))
            assert torch.equal(shifted[:, mt], clips.clips[n, t][:, mt])
    again = make_clips(6, num_frames=3, size=32, seed=3, photos=SMALL)
    assert torch.equal(again.clips, clips.clips)


def test_photo_crops_are_balanced_and_split_by_region():
    train = make_photo_crops(12, "train", seed=0, photos=SMALL)
    test = make_photo_crops(12, "test", seed=0, photos=SMALL)
    assert train.images.shape == (12, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.bincount(train.labels).tolist() == [4] * 3
    # train and test crops come from disjoint regions: no test crop equals any train crop
    assert not any(torch.equal(a, b) for a in train.images for b in test.images)
