"""ssl_course: the small PyTorch library behind the self-supervised learning course.

Modules: ``data`` (datasets by name, offline by default), ``augment`` (SimCLR / MoCo recipes, per image and
batched on the device), ``losses`` (the reference kernels), ``models`` (encoders and heads), ``methods`` (one file
per method), ``train`` (one training loop), ``evaluate`` (kNN, linear probe, t-SNE), ``viz`` (plots), ``cli``.
"""
__version__ = "0.1.0"
