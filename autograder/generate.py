"""``python -m autograder generate [--check]``: regenerate assignments/ from solutions/ with nbgrader.

nbgrader runs in a throwaway course directory (a copy of solutions/ and an empty gradebook in a temporary
folder), so the repository's grading/ data is never touched. The generated notebooks are normalised (no
outputs, no execution counts, sorted keys, fixed JSON layout), which makes a second run byte-identical.
``--check`` compares with the committed assignments/ and exits 1 on any difference (CI runs it).
"""
from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VOLATILE_NOTEBOOK_KEYS = ("widgets", "toc", "varInspector", "celltoolbar")


def nbgrader_env(course: Path) -> dict:
    """The environment for nbgrader subprocesses: the course root, this Python's scripts on PATH (nbgrader runs
    ``alembic`` to create its gradebook), and the repository on PYTHONPATH (hidden tests import autograder)."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join(p for p in (str(HERE.parent), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "SSL_COURSE_GRADING_ROOT": str(course), "PATH": path, "PYTHONPATH": pythonpath}


def normalise(text: str) -> str:
    """A generated notebook in canonical form: outputs cleared, volatile metadata dropped, stable JSON."""
    nb = json.loads(text)
    for key in VOLATILE_NOTEBOOK_KEYS:
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("collapsed", None)
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def problem_sets(root: Path) -> list[str]:
    """The problem sets: the folders of root/solutions (ps1, ps2, ...)."""
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir() and not p.name.startswith("."))


def build(root: Path, db_url: str | None = None, assignments: list[str] | None = None) -> dict[str, str]:
    """{relative path under assignments/: normalised notebook text} generated from root/solutions.

    nbgrader writes its gradebook into the throwaway course unless ``db_url`` names another one
    (``python -m autograder gradebook`` passes the course's real gradebook)."""
    assignments = assignments or problem_sets(root)
    with tempfile.TemporaryDirectory(prefix="autograder-generate-") as tmp:
        course = Path(tmp)
        shutil.copytree(root / "solutions", course / "solutions",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        shutil.copyfile(HERE / "nbgrader_config.py", course / "nbgrader_config.py")  # nbgrader reads it from cwd
        env = nbgrader_env(course)
        for assignment in assignments:
            extra = [f"--CourseDirectory.db_url={db_url}"] if db_url else []
            proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                                   *extra], cwd=course, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{proc.stdout}{proc.stderr}")
        out = {}
        for nb in sorted((course / "assignments").rglob("*.ipynb")):
            if ".ipynb_checkpoints" not in nb.parts:
                out[nb.relative_to(course / "assignments").as_posix()] = normalise(nb.read_text(encoding="utf-8"))
        return out


def generate(check: bool = False, root: str | Path | None = None) -> int:
    root = Path(root) if root else HERE.parent
    generated = build(root)
    target = root / "assignments"
    existing = {p.relative_to(target).as_posix(): p.read_text(encoding="utf-8")
                for p in sorted(target.rglob("*.ipynb"))} if target.exists() else {}
    if check:
        problems = []
        for rel in sorted(set(generated) | set(existing)):
            if rel not in existing:
                problems.append(f"missing in assignments/: {rel}")
            elif rel not in generated:
                problems.append(f"not generated from solutions/: assignments/{rel}")
            elif existing[rel] != generated[rel]:
                diff = difflib.unified_diff(existing[rel].splitlines(), generated[rel].splitlines(),
                                            f"assignments/{rel}", "generated", lineterm="", n=1)
                problems.append("\n".join(list(diff)[:40]))
        for p in problems:
            print(p)
        print("assignments/ is up to date" if not problems else
              "assignments/ differs from what solutions/ generates: run `python -m autograder generate`")
        return 1 if problems else 0
    for rel in set(existing) - set(generated):
        (target / rel).unlink()
    for rel, text in generated.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(text, encoding="utf-8")
        print(f"wrote assignments/{rel}")
    return 0
