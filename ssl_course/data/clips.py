"""``clips``: short synthetic videos made by moving real photographs, for "tracking emerges from colorization".

Each clip: a background window sliding over one scikit-image photograph (camera pan, integer pixels per frame), and
an elliptical piece of another photograph (the "object") moving across it with its own velocity. The object's
mask in every frame is known exactly, so a mask propagated from frame 0 can be scored by IoU.
Only the colour photographs are used (the grey ones carry no colour to copy).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .bundled import COLOR_PHOTOS, resized_photos


class ClipDataset(Dataset):
    """clips uint8 (N, T, 3, S, S) and object masks bool (N, T, 1, S, S); ``dataset[i]`` -> (clip, mask)."""

    def __init__(self, clips, masks, name: str = "clips"):
        self.clips, self.masks, self.name = torch.as_tensor(clips), torch.as_tensor(masks), name
        if self.clips.dtype != torch.uint8 or self.clips.dim() != 5 or self.masks.shape[:2] != self.clips.shape[:2]:
            raise ValueError("clips must be uint8 (N, T, 3, S, S) and masks (N, T, 1, S, S)")

    def __len__(self) -> int:
        return self.clips.shape[0]

    def __getitem__(self, index):
        return self.clips[index], self.masks[index]

    def __repr__(self) -> str:
        return f"ClipDataset({self.name!r}, {len(self)} clips of {tuple(self.clips.shape[1:])})"


def make_clips(num_clips: int = 200, num_frames: int = 4, size: int = 64, max_speed: int = 3,
               object_size: tuple[int, int] | None = None, photo_side: int = 160, seed: int = 0,
               photos: tuple[str, ...] = COLOR_PHOTOS) -> ClipDataset:
    """Render ``num_clips`` clips of ``num_frames`` frames of ``size`` px. The camera pans by up to ``max_speed``
    px per frame on each axis, the object moves by up to 2 * max_speed, independently. object_size: (min, max)
    diameter of the elliptical object (default 5/16 to 1/2 of the frame); photos: which photographs to use."""
    object_size = object_size or (size * 5 // 16, size // 2)
    rng = np.random.default_rng(seed)
    photos = resized_photos(photo_side, tuple(photos))
    t_len, s = num_frames, size
    clips = np.empty((num_clips, t_len, 3, s, s), dtype=np.uint8)
    masks = np.empty((num_clips, t_len, 1, s, s), dtype=bool)
    yy, xx = np.mgrid[0:s, 0:s]
    for n in range(num_clips):
        bg_i, fg_i = rng.choice(len(photos), 2, replace=False)
        bg, fg = photos[bg_i], photos[fg_i]
        v_bg = rng.integers(-max_speed, max_speed + 1, 2)
        v_fg = rng.integers(-2 * max_speed, 2 * max_speed + 1, 2)
        margin = max_speed * t_len
        y0 = rng.integers(margin, bg.shape[1] - s - margin)
        x0 = rng.integers(margin, bg.shape[2] - s - margin)
        ry, rx = rng.integers(object_size[0] // 2, object_size[1] // 2 + 1, 2)
        # the object stays inside the frame for the whole clip; an axis with no room for its speed stands still
        centre = []
        for axis, radius in ((0, ry), (1, rx)):
            travel = v_fg[axis] * (t_len - 1)
            lo, hi = radius - min(0, travel), s - radius - max(0, travel)
            if lo > hi:
                v_fg[axis], lo, hi = 0, radius, s - radius
            centre.append(rng.integers(lo, hi + 1))
        cy, cx = centre
        # the object's texture: a window of the other photo, carried along rigidly
        fy = rng.integers(0, fg.shape[1] - 2 * ry)
        fx = rng.integers(0, fg.shape[2] - 2 * rx)
        texture = fg[:, fy:fy + 2 * ry, fx:fx + 2 * rx]
        for t in range(t_len):
            by, bx = y0 + t * v_bg[0], x0 + t * v_bg[1]
            frame = bg[:, by:by + s, bx:bx + s].copy()
            oy, ox = cy + t * v_fg[0], cx + t * v_fg[1]
            inside = ((yy - oy) / ry) ** 2 + ((xx - ox) / rx) ** 2 <= 1.0
            ty = np.clip(yy - (oy - ry), 0, 2 * ry - 1)
            tx = np.clip(xx - (ox - rx), 0, 2 * rx - 1)
            frame[:, inside] = texture[:, ty[inside], tx[inside]]
            clips[n, t] = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
            masks[n, t, 0] = inside
    return ClipDataset(clips, masks, f"clips-{seed}")
