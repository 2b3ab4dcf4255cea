"""Self-supervised methods, one file each. A method is an nn.Module with an ``encoder`` and ``loss(batch)``;
``ssl_course.train`` trains any of them."""
from .base import Method
from .byol import BYOL
from .clip import CLIP
from .color_tracking import ColorTracker
from .colorization import Colorization
from .cpc import CPCImage, CPCSequence
from .dino import DINO
from .inpainting import ContextEncoder
from .jigsaw import Jigsaw
from .moco import MoCo
from .relative_patch import RelativePatch
from .rotation import RotNet
from .simclr import SimCLR
from .simsiam import SimSiam
from .supervised import Supervised
from .swav import SwAV

METHODS = ("simclr", "moco_v1", "moco_v2", "byol", "simsiam", "swav", "dino", "rotation", "relative_patch", "jigsaw", "inpainting", "colorization",
           "cpc_image", "cpc_sequence", "color_tracking", "clip")
# the methods that compare two augmented views of an image (they take an augmentation and a temperature); the
# others make their own inputs (rotations, tiles, masks, lightness, sequences)
CONTRASTIVE = ("simclr", "moco_v1", "moco_v2")
# the methods that learn from augmented views without negatives: BYOL and SimSiam take two views (an
# augmentation), SwAV and DINO their multi-crop
NON_CONTRASTIVE = ("byol", "simsiam", "swav", "dino")
# every method that learns from augmented views of images: what ``ssl-course demo / train`` and the experiments run
VIEW_METHODS = CONTRASTIVE + NON_CONTRASTIVE


def build_method(name: str, encoder, image_size: int = 32, **kwargs) -> Method:
    """A method by name (see ``METHODS``) around ``encoder``; kwargs go to the method's constructor.
    image_size: the size of the default augmentation of the methods that have one (``VIEW_METHODS``; for swav
    and dino, the global crops' size).

    colorization and color_tracking need a one-channel encoder (e.g. ``SmallCNN(in_channels=1)``); cpc_image's
    encoder is the patch encoder; cpc_sequence builds its own 1-D encoder (pass ``encoder=None``)."""
    if name == "simclr":
        return SimCLR(encoder, image_size=image_size, **kwargs)
    if name == "moco_v1":
        return MoCo.v1(encoder, image_size=image_size, **kwargs)
    if name == "moco_v2":
        return MoCo.v2(encoder, image_size=image_size, **kwargs)
    view_methods = {"byol": BYOL, "simsiam": SimSiam, "swav": SwAV, "dino": DINO}
    if name in view_methods:
        return view_methods[name](encoder, image_size=image_size, **kwargs)
    # the pretext methods make their inputs at whatever size the images have: they take no image_size
    image_methods = {"rotation": RotNet, "relative_patch": RelativePatch, "jigsaw": Jigsaw,
                     "inpainting": ContextEncoder, "colorization": Colorization, "cpc_image": CPCImage,
                     "color_tracking": ColorTracker}
    if name in image_methods:
        return image_methods[name](encoder, **kwargs)
    if name == "clip":  # images and captions: train it on a captioned dataset (captioned_shapes)
        return CLIP(encoder, image_size=image_size, **kwargs)
    if name == "cpc_sequence":
        if encoder is not None:
            raise ValueError("cpc_sequence builds its own 1-D encoder; pass encoder=None")
        return CPCSequence(**kwargs)
    raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")


__all__ = ["CONTRASTIVE", "NON_CONTRASTIVE", "VIEW_METHODS", "METHODS", "Method", "CLIP", "MoCo", "SimCLR", "BYOL",
           "SimSiam", "SwAV", "DINO", "RotNet", "RelativePatch", "Jigsaw", "ContextEncoder",
           "Colorization", "ColorTracker", "CPCImage", "CPCSequence", "Supervised", "build_method"]
