"""The red-team corpus holds hostile files (a conftest.py, a torch.py): pytest must never collect or import them."""
collect_ignore = ["corpus", "corpus_ps2_ps3"]
