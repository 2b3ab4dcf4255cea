"""Re-execute the lecture notebooks in place (outputs saved), printing the wall time of each.

    python lectures/run_all.py                 # default mode: what is committed (each < 15 min on a 2-core CPU)
    SSL_COURSE_FAST=1 python lectures/run_all.py --no-save    # fast mode, outputs discarded (what CI checks)
    python lectures/run_all.py lectures/03_simclr.ipynb      # some of them

Before running, the first cell of each notebook is reset to the Colab install cell from ssl_course.colab.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from ssl_course.colab import CELL_SOURCE

LECTURES = Path(__file__).resolve().parent


def execute(path: Path, save: bool, timeout: int = 1800) -> float:
    nb = nbformat.read(path, as_version=4)
    nb.cells[0] = nbformat.v4.new_code_cell(CELL_SOURCE, id=nb.cells[0].get("id", "colab-install"))
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    if save:
        nbformat.write(nb, path)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--no-save", action="store_true", help="do not write the outputs back")
    args = parser.parse_args()
    paths = args.notebooks or sorted(LECTURES.glob("[0-9][0-9]_*.ipynb"))
    print("| lecture | seconds |\n|---|---:|")
    for path in paths:
        print(f"| {path.name} | {execute(path, save=not args.no_save):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
