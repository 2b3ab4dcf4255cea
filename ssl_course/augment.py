"""Augmentation recipes for SimCLR and MoCo, per image (torchvision.transforms.v2) and per batch (on the device).

Per-image pipelines (``simclr_transform`` ...) run in DataLoader workers, one image at a time, like the papers'
code. ``BatchAugment`` does the same operations on a whole (B, C, H, W) batch already on the GPU (or CPU), with
**each image drawing its own random parameters**: applying a v2 transform to a batched tensor would give every
image of the batch the same crop and the same jitter, which silently weakens contrastive learning.

Differences of the batched variant, kept on purpose: colour-jitter operations run in a fixed order (brightness,
contrast, saturation, hue) rather than a random order per image; the crop is resampled with bilinear
interpolation without antialiasing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

RECIPES = ("simclr", "moco_v1", "moco_v2", "none")


# --------------------------------------------------------------------------------------------------------------
# batched, on-device augmentation
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of ``BatchAugment``; the defaults are SimCLR's recipe at strength 1."""
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 0.2)  # brightness, contrast, saturation, hue
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    # not in the papers' recipes: with this probability an image is inverted (x -> 1 - x), which makes a bright
    # object on a dark background and a dark one on a bright background two views of the same thing
    invert_p: float = 0.0

    @classmethod
    def recipe(cls, name: str, image_size: int = 32, strength: float = 1.0) -> "AugmentConfig":
        blur_p = 0.5 if image_size >= 64 else 0.0
        if name == "simclr":
            s = strength
            return cls(jitter=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s), blur_p=blur_p)
        if name == "moco_v1":
            return cls(crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.4), jitter_p=1.0)
        if name == "moco_v2":
            return cls(crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1), blur_p=blur_p)
        if name == "none":
            return cls(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0)
        raise ValueError(f"unknown augmentation recipe {name!r}; choose from {', '.join(RECIPES)}")

    def with_(self, **changes) -> "AugmentConfig":
        return replace(self, **changes)

    # the two halves of SimCLR's composition study (Chen et al. 2020, figure 5), as lecture 03 and
    # benchmarks/augmentation_ablation.py ablate them
    def colour_only(self) -> "AugmentConfig":
        """This recipe's colour changes on the whole image: no crop (scale and aspect ratio 1)."""
        return self.with_(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))

    def crop_only(self) -> "AugmentConfig":
        """This recipe's crops (and flips) without colour jitter or grayscale."""
        return self.with_(jitter_p=0.0, gray_p=0.0)


# --------------------------------------------------------------------------------------------------------------
# per-image pipelines (torchvision.transforms.v2), input uint8 (3, H, W) tensors, output float32 in [0, 1], built
# from the same AugmentConfig as BatchAugment: a recipe's numbers are written once, in AugmentConfig.recipe
# --------------------------------------------------------------------------------------------------------------

def _blur_kernel(image_size: int) -> int:
    """SimCLR's blur kernel: 10% of the image side, odd."""
    return max(3, int(0.1 * image_size) // 2 * 2 + 1)


# The order in which each paper's code applies the operations (SimCLR's appendix A; facebookresearch/moco's
# main_moco.py for v1 and v2). Per image the order matters only through which random numbers each draw takes,
# but keeping it means a seed gives the views it always gave.
PER_IMAGE_ORDER = {
    "simclr": ("crop", "flip", "jitter", "gray", "blur", "invert"),
    "moco_v1": ("crop", "gray", "jitter", "flip", "invert"),
    "moco_v2": ("crop", "jitter", "gray", "blur", "flip", "invert"),
}


def per_image_pipeline(config: AugmentConfig, image_size: int,
                       order: tuple[str, ...] = PER_IMAGE_ORDER["simclr"]) -> v2.Compose:
    """The per-image torchvision pipeline of ``config`` (the operations ``BatchAugment`` applies per batch), in
    ``order``. An operation whose probability is 0 is left out; a jitter with probability 1 is applied without a
    coin flip (as MoCo v1's code does); a crop of the whole image (scale and ratio 1) is a plain resize."""
    c = config
    ops = {}
    if c.crop_scale == (1.0, 1.0) and c.crop_ratio == (1.0, 1.0):
        ops["crop"] = v2.Resize(image_size, antialias=True)
    else:
        ops["crop"] = v2.RandomResizedCrop(image_size, scale=c.crop_scale, ratio=c.crop_ratio, antialias=True)
    if c.flip_p > 0:
        ops["flip"] = v2.RandomHorizontalFlip(p=c.flip_p)
    if c.jitter_p > 0:
        jitter = v2.ColorJitter(*c.jitter)
        ops["jitter"] = jitter if c.jitter_p >= 1 else v2.RandomApply([jitter], p=c.jitter_p)
    if c.gray_p > 0:
        ops["gray"] = v2.RandomGrayscale(p=c.gray_p)
    if c.blur_p > 0:
        ops["blur"] = v2.RandomApply([v2.GaussianBlur(_blur_kernel(image_size), sigma=c.blur_sigma)], p=c.blur_p)
    if c.invert_p > 0:
        ops["invert"] = v2.RandomInvert(p=c.invert_p)
    return v2.Compose([ops[name] for name in order if name in ops] + [v2.ToDtype(torch.float32, scale=True)])


def _blur_p(blur: bool | None, config: AugmentConfig) -> float:
    return config.blur_p if blur is None else (0.5 if blur else 0.0)


def simclr_transform(image_size: int, strength: float = 1.0, blur: bool | None = None,
                     crop_scale=(0.08, 1.0)) -> v2.Compose:
    """SimCLR's augmentation (Chen et al. 2020, appendix A): random resized crop, horizontal flip, colour jitter
    (0.8s, 0.8s, 0.8s, 0.2s) with p=0.8, grayscale with p=0.2, Gaussian blur with p=0.5.
    ``strength`` is the paper's colour strength s; blur defaults to on for images >= 64 px (the paper's CIFAR
    runs omit it)."""
    config = AugmentConfig.recipe("simclr", image_size, strength)
    config = config.with_(crop_scale=tuple(crop_scale), blur_p=_blur_p(blur, config))
    return per_image_pipeline(config, image_size, PER_IMAGE_ORDER["simclr"])


def moco_v1_transform(image_size: int) -> v2.Compose:
    """MoCo v1 (He et al. 2019): crop (scale 0.2-1), grayscale p=0.2, colour jitter 0.4 always, flip."""
    return per_image_pipeline(AugmentConfig.recipe("moco_v1", image_size), image_size, PER_IMAGE_ORDER["moco_v1"])


def moco_v2_transform(image_size: int, blur: bool | None = None) -> v2.Compose:
    """MoCo v2 (Chen et al. 2020): crop (scale 0.2-1), jitter (0.4, 0.4, 0.4, 0.1) p=0.8, grayscale p=0.2,
    blur p=0.5 (sigma 0.1-2), flip."""
    config = AugmentConfig.recipe("moco_v2", image_size)
    return per_image_pipeline(config.with_(blur_p=_blur_p(blur, config)), image_size, PER_IMAGE_ORDER["moco_v2"])


def per_image_transform(recipe: str, image_size: int, strength: float = 1.0) -> v2.Compose:
    """The per-image pipeline for a recipe name (see ``RECIPES``); ``strength``: SimCLR's colour strength."""
    if recipe == "simclr":
        return simclr_transform(image_size, strength)
    config = AugmentConfig.recipe(recipe, image_size)  # an unknown name raises here, listing the recipes
    return per_image_pipeline(config, image_size, PER_IMAGE_ORDER.get(recipe, PER_IMAGE_ORDER["simclr"]))


def _uniform(lo, hi, n, generator, device):
    return lo + (hi - lo) * torch.rand(n, generator=generator, device=device)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float RGB -> (B, 1, H, W) luma (ITU-R 601, as torchvision)."""
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> HSV with every channel in [0, 1]."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(maxc == r, (g - b) / safe, torch.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_hsv``."""
    h, s, v = x.unbind(1)
    # f(n) = v - v s max(0, min(k, 4 - k, 1)) with k = (n + 6h) mod 6 for n = 5, 3, 1 (R, G, B)
    k = (torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1) + 6 * h[:, None]) % 6
    return v[:, None] - v[:, None] * s[:, None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each image by ``shift`` (B,) (a fraction of a turn, as torchvision's ``adjust_hue``),
    keeping saturation and value: the same as ``hsv_to_rgb`` of the shifted ``rgb_to_hsv``, in fewer passes over
    the batch. With v = max(r, g, b) and v s = max - min, each channel is v - v s clamp(min(k, 4 - k), 0, 1) with
    k = (n + 6 h) mod 6 for n = 5, 3, 1, so the saturation itself is never needed."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    inv = 1.0 / delta.clamp_min(1e-12)  # where delta = 0 the numerators below are 0 too (a gray pixel)
    h6 = torch.where(maxc == r, (g - b) * inv, torch.where(maxc == g, 2.0 + (b - r) * inv, 4.0 + (r - g) * inv))
    h6 = h6 + 6.0 * shift.view(-1, 1, 1).to(x.dtype)  # hue in sixths of a turn, before "mod 6"
    k = torch.remainder(torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
                        + h6[:, None], 6.0)
    weight = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return maxc[:, None] - delta[:, None] * weight


def crop_boxes(batch: int, height: int, width: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), generator=None,
               device=None) -> torch.Tensor:
    """(B, 4) float boxes (x0, y0, w, h) in pixels, one drawn per image as torchvision's RandomResizedCrop draws
    it: up to 10 tries of (area fraction ~ U(scale), log aspect ratio w / h ~ U(log ratio)) per image, w and h
    rounded to whole pixels, the first try that fits the image is kept, its top-left corner uniform over the
    positions where it fits; when no try fits, the largest central square (torchvision instead clamps the image's
    aspect ratio into ``ratio`` and takes the largest central box of that ratio). Every random number comes from
    ``generator``, so the same seed gives the same boxes."""
    tries = 10
    area = height * width
    target = _uniform(scale[0], scale[1], (batch, tries), generator, device) * area
    log_r = _uniform(math.log(ratio[0]), math.log(ratio[1]), (batch, tries), generator, device)
    r = torch.exp(log_r)
    w = torch.sqrt(target * r).round()
    h = torch.sqrt(target / r).round()
    ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((batch,), -1, device=device))
    pick = first.clamp(min=0)[:, None]
    w, h = w.gather(1, pick)[:, 0], h.gather(1, pick)[:, 0]
    fallback = first < 0
    side = float(min(height, width))
    w = torch.where(fallback, torch.full_like(w, side), w)
    h = torch.where(fallback, torch.full_like(h, side), h)
    x0 = torch.floor(torch.rand(batch, generator=generator, device=device) * (width - w + 1))
    y0 = torch.floor(torch.rand(batch, generator=generator, device=device) * (height - h + 1))
    x0 = torch.where(fallback, torch.floor((width - w) / 2), x0)
    y0 = torch.where(fallback, torch.floor((height - h) / 2), y0)
    return torch.stack([x0, y0, w, h], 1)


def resized_crop(images: torch.Tensor, boxes: torch.Tensor, out_size, flip: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """Crop image i to its box ``boxes[i] = (x0, y0, w, h)`` (whole pixels: columns x0..x0+w-1, rows
    y0..y0+h-1), resize it bilinearly to ``out_size`` (an int S for S x S, or (out_h, out_w)) and mirror it
    left-right where ``flip`` (B,) bool.

    images (B, C, H, W) float, boxes (B, 4) -> (B, C, out_h, out_w), the images' dtype. The same numbers as
    ``F.interpolate(images[i:i+1, :, y0:y0+h, x0:x0+w], (out_h, out_w), mode="bilinear", align_corners=False)``
    for each image (no antialiasing; only pixels inside the box are read), done for the whole batch with one
    ``grid_sample``: output pixel j samples the crop at x0 + (j + 1/2) w / out_w - 1/2, clamped to the box."""
    b, _, height, width = images.shape
    out_h, out_w = (out_size, out_size) if isinstance(out_size, int) else (int(out_size[0]), int(out_size[1]))
    dt, dev = images.dtype, images.device
    x0, y0, w, h = (v.to(dt)[:, None] for v in boxes.to(dev).unbind(1))  # (B, 1) each

    def source(start, length, size):  # (B, size) pixel coordinates, clamped to the box like F.interpolate
        j = torch.arange(size, device=dev, dtype=dt)[None]
        pos = (j + 0.5) * length / size - 0.5
        return start + torch.minimum(pos.clamp_min(0), length - 1)

    xs, ys = source(x0, w, out_w), source(y0, h, out_h)
    if flip is not None:
        xs = torch.where(flip.to(dev)[:, None], xs.flip(1), xs)
    # grid_sample's align_corners=False coordinates: pixel p of a side of n pixels sits at (2p + 1) / n - 1
    gx = ((2 * xs + 1) / width - 1)[:, None, :].expand(b, out_h, out_w)
    gy = ((2 * ys + 1) / height - 1)[:, :, None].expand(b, out_h, out_w)
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_resized_crop(images: torch.Tensor, generator: torch.Generator | None = None, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3), out_size=None) -> tuple[torch.Tensor, torch.Tensor]:
    """A random resized crop with its own box for every image of a batch (``crop_boxes``, ``resized_crop``).

    images (B, C, H, W) float; out_size an int S (S x S) or None (H x W) -> (crops (B, C, out_h, out_w),
    boxes (B, 4) int64 (x0, y0, w, h)). The reference of problem set 1's ``random_resized_crop``."""
    b, _, height, width = images.shape
    out_size = (height, width) if out_size is None else out_size
    boxes = crop_boxes(b, height, width, scale, ratio, generator, images.device)
    return resized_crop(images, boxes, out_size), boxes.long()


class BatchAugment(torch.nn.Module):
    """Augment a whole batch on its device; every image gets its own random crop, flip, jitter, grayscale, blur.

    forward(images, generator=None): images uint8 (B, 3, H, W) or float in [0, 1]; returns float32
    (B, 3, S, S) in [0, 1] with S = ``image_size``. Pass a ``torch.Generator`` on the images' device for
    reproducible draws (the training loop does, which is what makes resume exact).
    """

    def __init__(self, image_size: int, config: AugmentConfig | None = None):
        super().__init__()
        self.image_size = image_size
        self.config = config or AugmentConfig()

    @classmethod
    def recipe(cls, name: str, image_size: int, strength: float = 1.0) -> "BatchAugment":
        return cls(image_size, AugmentConfig.recipe(name, image_size, strength))

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, {self.config}"

    # -- the individual steps; each takes per-image random parameters ------------------------------------------
    def crop_boxes(self, batch: int, height: int, width: int, generator=None, device=None) -> torch.Tensor:
        """(B, 4) float boxes (x0, y0, w, h) in pixels, one per image: ``crop_boxes`` with this config's ranges."""
        return crop_boxes(batch, height, width, self.config.crop_scale, self.config.crop_ratio, generator, device)

    def resized_crop(self, x: torch.Tensor, boxes: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        """Crop each image to its box, mirror it where ``flip`` (B,) bool, resize to S x S (one grid_sample).

        It samples the box as a continuous region of the image, so an enlarged crop's edge pixels blend in the
        pixels just outside the box; the module's ``resized_crop`` reads only inside it (exactly crop, then
        ``F.interpolate``). Every committed lecture output was trained with this sampler, so moving the training
        augmentation to ``resized_crop`` waits for the lectures' next default-mode re-execution."""
        b, _, height, width = x.shape
        x0, y0, w, h = boxes.unbind(1)
        theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
        sign = 1.0 - 2.0 * flip.to(x.dtype)
        theta[:, 0, 0] = sign * w / width
        theta[:, 0, 2] = (2 * x0 + w) / width - 1
        theta[:, 1, 1] = h / height
        theta[:, 1, 2] = (2 * y0 + h) / height - 1
        grid = F.affine_grid(theta, (b, 3, self.image_size, self.image_size), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def color_jitter(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        c = self.config
        b, dev = x.shape[0], x.device
        apply = torch.rand(b, generator=generator, device=dev) < c.jitter_p
        bri, con, sat, hue = c.jitter

        def factor(amount, lo=0.0):
            f = _uniform(max(lo, 1 - amount), 1 + amount, b, generator, dev)
            return torch.where(apply, f, torch.ones_like(f)).view(b, 1, 1, 1).to(x.dtype)

        # in place after the first op (x is then our own tensor): fewer passes over memory, which is what a CPU
        # spends its time on here
        x = (x * factor(bri)).clamp_(0, 1)
        mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
        x.sub_(mean).mul_(factor(con)).add_(mean).clamp_(0, 1)
        gray = grayscale(x)
        x.sub_(gray).mul_(factor(sat)).add_(gray).clamp_(0, 1)
        if hue > 0:
            shift = _uniform(-hue, hue, b, generator, dev)
            shift = torch.where(apply, shift, torch.zeros_like(shift))
            x = adjust_hue(x, shift).clamp_(0, 1)
        return x

    def random_grayscale(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        pick = (torch.rand(x.shape[0], generator=generator, device=x.device) < self.config.gray_p).view(-1, 1, 1, 1)
        return torch.where(pick, grayscale(x).expand_as(x), x)

    def random_invert(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        pick = (torch.rand(x.shape[0], generator=generator, device=x.device) < self.config.invert_p).view(-1, 1, 1, 1)
        return torch.where(pick, 1.0 - x, x)

    def gaussian_blur(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        """Separable Gaussian blur with a per-image sigma, as one grouped convolution; images not picked keep
        a delta kernel."""
        b, ch, hgt, wid = x.shape
        k = _blur_kernel(self.image_size)
        c = self.config
        sigma = _uniform(c.blur_sigma[0], c.blur_sigma[1], b, generator, x.device)
        pick = torch.rand(b, generator=generator, device=x.device) < c.blur_p
        offsets = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
        kernel = torch.exp(-0.5 * (offsets[None] / sigma[:, None].to(x.dtype)) ** 2)
        kernel = kernel / kernel.sum(1, keepdim=True)
        delta = (offsets == 0).to(x.dtype).expand(b, k)
        kernel = torch.where(pick[:, None], kernel, delta)  # (B, k)
        kernel = kernel.repeat_interleave(ch, 0)  # (B*C, k)
        y = F.pad(x.reshape(1, b * ch, hgt, wid), (k // 2, k // 2, k // 2, k // 2), mode="reflect")
        y = F.conv2d(y, kernel.view(b * ch, 1, 1, k), groups=b * ch)
        y = F.conv2d(y, kernel.view(b * ch, 1, k, 1), groups=b * ch)
        return y.view(b, ch, hgt, wid)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) batch, got {tuple(images.shape)}")
        x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
        b, _, height, width = x.shape
        c = self.config
        boxes = self.crop_boxes(b, height, width, generator, x.device)
        flip = torch.rand(b, generator=generator, device=x.device) < c.flip_p
        x = self.resized_crop(x, boxes, flip)
        if c.jitter_p > 0:
            x = self.color_jitter(x, generator)
        if c.gray_p > 0:
            x = self.random_grayscale(x, generator)
        if c.blur_p > 0:
            x = self.gaussian_blur(x, generator)
        if c.invert_p > 0:  # drawn only when used, so the other recipes' random streams are unchanged
            x = self.random_invert(x, generator)
        return x


class MultiCrop(torch.nn.Module):
    """Multi-crop (SwAV, Caron et al. 2020; DINO): ``num_global`` large crops at ``image_size`` and ``num_local``
    small crops at ``local_size`` of every image, each batched on the device with per-image parameters
    (``BatchAugment``). The small crops cover a small part of the image (``local_scale``), so predicting a large
    crop's code from a small one teaches local-to-global correspondence, at a fraction of the cost of a large crop.

    forward(images (B, 3, H, W) uint8 or float, generator) -> list of num_global tensors (B, 3, S, S) followed by
    num_local tensors (B, 3, s, s), float32 in [0, 1]. Defaults: the papers' 2 global crops with scale (0.14, 1)
    (DINO's; SwAV uses (0.14, 1) too) and local crops with scale (0.05, 0.14), at 32 -> 16 pixels for this
    course's 32 x 32 images (the papers: 224 -> 96).
    """

    def __init__(self, image_size: int = 32, local_size: int | None = None, num_global: int = 2, num_local: int = 4,
                 global_scale=(0.14, 1.0), local_scale=(0.05, 0.14), config: AugmentConfig | None = None):
        super().__init__()
        if num_global < 1 or num_local < 0:
            raise ValueError(f"need num_global >= 1 and num_local >= 0, got {num_global} and {num_local}")
        base = config or AugmentConfig.recipe("simclr", image_size)
        local_size = local_size or max(8, image_size // 2)
        self.global_view = BatchAugment(image_size, base.with_(crop_scale=tuple(global_scale)))
        self.local_view = BatchAugment(local_size, base.with_(crop_scale=tuple(local_scale)))
        self.num_global, self.num_local = num_global, num_local

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        return [self.global_view(images, generator) for _ in range(self.num_global)] + \
               [self.local_view(images, generator) for _ in range(self.num_local)]
