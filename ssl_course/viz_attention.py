"""Kept for the committed lectures (01 and 06 import the attention plots from here); the plots live in
``ssl_course.viz`` with every other plot. Remove when the lectures are re-executed with ``viz.plot_*``."""
from .viz import plot_activation_attention, plot_cls_attention, plot_tracking  # noqa: F401
from .viz import to_display as _image  # noqa: F401
