"""The first cell of every notebook: on Colab it installs this library from the course repository; anywhere else
it does nothing. ``REPO_URL`` is the one place the repository address is written (the README's Colab links and
the notebooks' first cells are checked against it by tests/test_lectures.py)."""
from __future__ import annotations

REPO_URL = "https://github.com/ssl-course/ssl-course"
BRANCH = "main"

CELL_SOURCE = f'''# Colab only: install the course library (on your own machine this cell does nothing).
import importlib.util, subprocess, sys
if "google.colab" in sys.modules and importlib.util.find_spec("ssl_course") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+{REPO_URL}@{BRANCH}"], check=True)'''


def colab_url(notebook_path: str) -> str:
    """'Open in Colab' address of a notebook in the repository, e.g. colab_url("lectures/03_simclr.ipynb")."""
    return f"https://colab.research.google.com/github/{REPO_URL.split('github.com/')[1]}/blob/{BRANCH}/{notebook_path}"
