"""Finding a student's graded functions: by name, with ``ast``, in a notebook (.ipynb) or a .py file.

Cell metadata is never trusted (editors strip it). Only top-level imports, function and class definitions and
constant assignments are kept, so the rest of a notebook (training runs, plots, the test cells) never executes
while grading. Imports of the course library or of the grader are dropped and reported: a graded function that
relies on them scores zero.
"""
from __future__ import annotations

import ast
import copy
import difflib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

FORBIDDEN_MODULES = ("ssl_course", "autograder")
MAX_SOURCE_BYTES = 2_000_000
MIN_COPY_NODES = 80  # smaller functions are never flagged as copies


class SubmissionError(Exception):
    """The submission cannot be read at all (corrupt notebook, not UTF-8, too large...)."""


@dataclass
class Extracted:
    source: str  # the code the child process runs
    found: set  # graded names defined at top level
    forbidden: dict  # graded name -> why it counts as calling the reference
    notes: list = field(default_factory=list)
    tree: ast.Module | None = None


def read_cells(path: str | Path) -> list[str]:
    """The code cells of a notebook (or the one "cell" of a .py file), as text. Raises SubmissionError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SubmissionError(f"cannot read {path.name}: {err.strerror}") from err
    if len(raw) > 50 * MAX_SOURCE_BYTES:
        raise SubmissionError(f"{path.name} is too large ({len(raw)} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"{path.name} is not UTF-8 text") from err
    if path.suffix == ".py":
        return [text]
    try:
        nb = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise SubmissionError(f"{path.name} is not a valid notebook (JSON error: {err})") from err
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError(f"{path.name} is not a valid notebook (no list of cells)")
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if isinstance(src, str):
            cells.append(src)
    return cells


def _strip_magics(text: str) -> str:
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        lines.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def _is_forbidden_module(name: str | None) -> bool:
    return bool(name) and name.split(".")[0] in FORBIDDEN_MODULES


def _bound_names(node) -> list[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def _keep(node) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        try:
            ast.literal_eval(node.value)
            return True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
    return False


def _forbidden_inside(node) -> str | None:
    """Why the body of ``node`` itself reaches the reference (an import or a string naming the library)."""
    docstrings = set()
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value,
                                                                                             ast.Constant):
            docstrings.add(id(body[0].value))
    for sub in ast.walk(node):
        if id(sub) in docstrings:
            continue
        if isinstance(sub, ast.Import) and any(_is_forbidden_module(a.name) for a in sub.names):
            return "imports the course library"
        if isinstance(sub, ast.ImportFrom) and _is_forbidden_module(sub.module):
            return "imports the course library"
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and any(
                m in sub.value for m in FORBIDDEN_MODULES):
            return "names the course library in a string (dynamic import)"
    return None


def _names_used(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def extract(cells: list[str], graded: list[str]) -> Extracted:
    """Keep the top-level definitions of all cells (later definitions win) and check the graded ones."""
    notes, definitions, imports, forbidden_names = [], {}, [], set()
    order = []
    total = 0
    for i, cell in enumerate(cells):
        total += len(cell)
        if total > MAX_SOURCE_BYTES:
            notes.append("the notebook's code is too long; the rest was ignored")
            break
        try:
            tree = ast.parse(_strip_magics(cell))
        except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
            notes.append(f"code cell {i + 1} has a syntax error and was skipped ({type(err).__name__})")
            continue
        for node in tree.body:
            if not _keep(node):
                continue
            if isinstance(node, ast.Import) and any(_is_forbidden_module(a.name) for a in node.names) or \
                    isinstance(node, ast.ImportFrom) and _is_forbidden_module(node.module):
                forbidden_names.update(_bound_names(node))
                notes.append("an import of the course library was removed")
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                key = ast.dump(node)
                if key not in {ast.dump(n) for n in imports}:
                    imports.append(node)
                for name in _bound_names(node):
                    forbidden_names.discard(name)
                continue
            for name in _bound_names(node):
                definitions[name] = node
                forbidden_names.discard(name)
                if name in order:
                    order.remove(name)
                order.append(name)
    found = {g for g in graded if g in definitions and isinstance(
        definitions[g], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    # only what the graded functions need: their transitive closure over top-level names
    needed, stack = set(), list(found)
    while stack:
        name = stack.pop()
        if name in needed or name not in definitions:
            continue
        needed.add(name)
        stack.extend(_names_used(definitions[name]))
    used_everywhere = set().union(*(_names_used(definitions[n]) for n in needed)) if needed else set()
    kept_defs = []
    for name in order:
        node = definitions[name]
        if name in needed and node not in kept_defs:
            kept_defs.append(node)
    # an import the child cannot satisfy (a plotting library...) must not stop the functions from loading
    kept_imports = [ast.Try(body=[node], handlers=[ast.ExceptHandler(type=ast.Name("ImportError", ast.Load()),
                                                                     name=None, body=[ast.Pass()])],
                            orelse=[], finalbody=[])
                    for node in imports if set(_bound_names(node)) & used_everywhere]
    module = ast.Module(body=kept_imports + kept_defs, type_ignores=[])
    ast.fix_missing_locations(module)

    forbidden = {}
    for g in found:
        seen, stack = set(), [g]
        while stack:
            name = stack.pop()
            if name in seen or name not in definitions:
                continue
            seen.add(name)
            node = definitions[name]
            why = _forbidden_inside(node)
            used = _names_used(node)
            if why is None and used & forbidden_names:
                why = f"uses {', '.join(sorted(used & forbidden_names))} imported from the course library"
            if why:
                forbidden[g] = why if name == g else f"calls `{name}`, which {why}"
                break
            stack.extend(used & set(definitions))
    return Extracted(ast.unparse(module), found, forbidden, notes, module)


# ------------------------------------------------------------------------------------ copies of the library

class _Normalise(ast.NodeTransformer):
    """Rename every identifier to a placeholder and drop docstrings, so only the structure remains."""

    def __init__(self):
        self.names = {}

    def _n(self, name):
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node):
        return ast.copy_location(ast.Name(id=self._n(node.id), ctx=node.ctx), node)

    def visit_arg(self, node):
        return ast.copy_location(ast.arg(arg=self._n(node.arg), annotation=None), node)

    def visit_FunctionDef(self, node):
        node = copy.copy(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
            body = body[1:]
        node.body, node.name, node.returns, node.decorator_list = body or [ast.Pass()], "f", None, []
        self.generic_visit(node)
        return node

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            return ast.copy_location(ast.Constant(value="s"), node)
        return node


def normalised_dump(node) -> str:
    return ast.dump(_Normalise().visit(copy.deepcopy(node)), annotate_fields=False)


def copy_similarity(student_node, reference_function) -> float:
    """Similarity in [0, 1] of the normalised ASTs of a student's function and a library function."""
    try:
        ref_tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(reference_function)))
    except (OSError, TypeError, SyntaxError):
        return 0.0
    ref_node = next((n for n in ref_tree.body if isinstance(n, ast.FunctionDef)), None)
    if ref_node is None:
        return 0.0
    if sum(1 for _ in ast.walk(student_node)) < MIN_COPY_NODES:
        return 0.0  # a two-line function is written the same way by everyone: no evidence of copying
    a, b = normalised_dump(student_node), normalised_dump(ref_node)
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
