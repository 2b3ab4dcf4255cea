"""``python -m autograder validate NOTEBOOK``: run a notebook top to bottom and report every failing cell.

Unlike ``nbgrader validate`` (which exits 0 even when tests fail), this exits non-zero when any cell raises.
The kernel gets NBGRADER_EXECUTION=validate (notebooks shrink their training runs) and the repository root on
PYTHONPATH, so hidden tests in solution notebooks can import ``autograder.checks``.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent


def validate(path: str | Path, timeout: int = 120) -> list[str]:
    """Execute the notebook; return one line per failing cell (empty when everything passed)."""
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - a corrupt notebook is a failure to report, not a crash
        return [f"cannot read {path}: {err}"]
    env_backup = {k: os.environ.get(k) for k in ("PYTHONPATH", "NBGRADER_EXECUTION")}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env_backup["PYTHONPATH"]) if p)
    os.environ["NBGRADER_EXECUTION"] = "validate"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    problems = []
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError, CellExecutionError, RuntimeError) as err:
        problems.append(f"execution stopped: {type(err).__name__}: {str(err)[:500]}")
    finally:
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {i + 1}")
                problems.append(f"{gid}: {out.get('ename')}: {str(out.get('evalue'))[:300]}")
    return problems
