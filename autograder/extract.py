"""Finding a student's graded functions: by name, with ``ast``, in a notebook (.ipynb) or a .py file.

Cell metadata is never trusted (editors strip it). Only top-level imports, function and class definitions and
assignments to names (constants, annotated and tuple assignments, aliases) are kept, and an assignment only when
a graded function needs one of its names, so the rest of a notebook (training runs, plots, the test cells) never executes
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
MAX_COPY_NODES = 3000  # far larger than any reference kernel: not compared (difflib is quadratic)


class SubmissionError(Exception):
    """The submission cannot be read at all (corrupt notebook, not UTF-8, too large...)."""


@dataclass
class Extracted:
    source: str  # the code the child process runs
    found: set  # graded names defined at top level
    forbidden: dict  # graded name -> why it counts as calling the reference
    notes: list = field(default_factory=list)
    tree: ast.Module | None = None
    definitions: dict = field(default_factory=dict)  # top-level name -> the node that defines it last


MAX_FILE_BYTES = 50 * MAX_SOURCE_BYTES


def read_submission_bytes(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a submission file, read only if it is a regular file (not a symlink, FIFO, device, socket)
    no larger than ``max_bytes``: checked with lstat/fstat before a single byte is read. Raises SubmissionError."""
    import os
    import stat as stat_mod
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError as err:
        raise SubmissionError(f"cannot read {path.name}: {err.strerror}") from err
    if stat_mod.S_ISLNK(st.st_mode):
        raise SubmissionError(f"{path.name} is a symbolic link, not a file: refused")
    if not stat_mod.S_ISREG(st.st_mode):
        raise SubmissionError(f"{path.name} is not a regular file (a FIFO, device or socket): refused")
    if st.st_size > max_bytes:
        raise SubmissionError(f"{path.name} is too large ({st.st_size} bytes)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise SubmissionError(f"cannot read {path.name}: {err.strerror}") from err
    try:
        st = os.fstat(fd)  # the file opened is the one checked (no swap in between)
        if not stat_mod.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            raise SubmissionError(f"{path.name} is not a regular file of a sane size: refused")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise SubmissionError(f"{path.name} is too large (it grew while being read)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_cells(path: str | Path) -> list[str]:
    """The code cells of a notebook (or the one "cell" of a .py file), as text. Raises SubmissionError."""
    return read_cells_from_bytes(read_submission_bytes(path), Path(path))


def read_cells_from_bytes(raw: bytes, path: str | Path) -> list[str]:
    """The code cells of a notebook's bytes (or of a .py file's); ``path`` only names it. Raises SubmissionError."""
    path = Path(path)
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


def _target_names(target) -> list[str] | None:
    """The names a simple assignment target binds (x, or a tuple / list of names), None for anything else."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        names = []
        for elt in target.elts:
            sub = _target_names(elt.value if isinstance(elt, ast.Starred) else elt)
            if sub is None:
                return None
            names.extend(sub)
        return names
    return None


def _bound_names(node) -> list[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        names = []
        for t in node.targets:
            names.extend(_target_names(t) or [])
        return names
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return _target_names(node.target) or []
    return []


def _keep(node) -> bool:
    """Imports, definitions, and assignments to plain names (constants, aliases, tuples): an assignment only runs
    in the child when a graded function needs one of its names."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Assign):
        return all(_target_names(t) is not None for t in node.targets)
    if isinstance(node, ast.AnnAssign):
        return node.value is not None and isinstance(node.target, ast.Name)
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
    """The names ``node`` reads from the module's namespace. For a function: minus its parameters and the names
    it assigns itself (a parameter called ``queue`` does not need a top-level ``queue = ...``)."""
    if isinstance(node, ast.ClassDef):
        names = set()
        for part in [*node.bases, *node.keywords, *node.decorator_list]:
            names |= {n.id for n in ast.walk(part) if isinstance(n, ast.Name)}
        for stmt in node.body:
            names |= _names_used(stmt) if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) else \
                {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        return names
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        local = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        declared_global = set()
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Global, ast.Nonlocal)):
                declared_global.update(sub.names)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                local.add(sub.id)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub is not node:
                local.add(sub.name)
            elif isinstance(sub, ast.arg):
                local.add(sub.arg)
        names -= local - declared_global
        # defaults and decorators are evaluated in the module's namespace
        for expr in [*node.args.defaults, *node.args.kw_defaults, *getattr(node, "decorator_list", [])]:
            if expr is not None:
                names |= {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
    return names


EXTRACT_SECONDS = 10.0  # the parent's own time budget for one submission's code


def extract(cells: list[str], graded: list[str], seconds: float = EXTRACT_SECONDS) -> Extracted:
    """Keep the top-level definitions of all cells (later definitions win) and check the graded ones.

    Linear in the size of the code (imports de-duplicated through a set, definitions kept in an ordered dict), and
    bounded in time: past ``seconds`` the rest of the notebook is ignored, with a note.
    """
    import time
    deadline = time.monotonic() + seconds
    notes, definitions, forbidden_names = [], {}, set()
    imports: dict[str, ast.AST] = {}  # ast.dump -> node, first occurrence order
    total = 0
    for i, cell in enumerate(cells):
        total += len(cell)
        if total > MAX_SOURCE_BYTES:
            notes.append("the notebook's code is too long; the rest was ignored")
            break
        if time.monotonic() > deadline:
            notes.append("the notebook took too long to analyse; the rest was ignored")
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
                try:
                    key = ast.dump(node)
                except RecursionError:
                    continue
                imports.setdefault(key, node)
                for name in _bound_names(node):
                    forbidden_names.discard(name)
                continue
            for name in _bound_names(node):
                definitions.pop(name, None)  # re-inserted last: the order of the latest definitions
                definitions[name] = node
                forbidden_names.discard(name)
    found = {g for g in graded if g in definitions}
    # only what the graded functions need: their transitive closure over top-level names
    uses: dict[int, set] = {}

    def used(node) -> set:
        if id(node) not in uses:
            try:
                uses[id(node)] = _names_used(node)
            except RecursionError:
                uses[id(node)] = set()
        return uses[id(node)]

    needed, stack = set(), list(found)
    while stack:
        name = stack.pop()
        if name in needed or name not in definitions:
            continue
        needed.add(name)
        stack.extend(used(definitions[name]))
    used_everywhere = set().union(*(used(definitions[n]) for n in needed)) if needed else set()
    kept_defs, kept_ids = [], set()
    for name, node in definitions.items():
        if name in needed and id(node) not in kept_ids:
            kept_defs.append(node)
            kept_ids.add(id(node))
    # an import the child cannot satisfy (a plotting library...) must not stop the functions from loading
    kept_imports = [ast.Try(body=[node], handlers=[ast.ExceptHandler(type=ast.Name("ImportError", ast.Load()),
                                                                     name=None, body=[ast.Pass()])],
                            orelse=[], finalbody=[])
                    for node in imports.values() if set(_bound_names(node)) & used_everywhere]
    # an assignment that fails (it needs something the rest of the notebook computed) must not stop the functions
    # from loading: only a function that really needs the name fails, when it runs
    guarded = [ast.Try(body=[node], handlers=[ast.ExceptHandler(type=ast.Name("Exception", ast.Load()), name=None,
                                                               body=[ast.Pass()])], orelse=[], finalbody=[])
               if isinstance(node, (ast.Assign, ast.AnnAssign)) else node for node in kept_defs]
    module = ast.Module(body=kept_imports + guarded, type_ignores=[])
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
            names = used(node)
            if why is None and names & forbidden_names:
                why = f"uses {', '.join(sorted(names & forbidden_names))} imported from the course library"
            if why:
                forbidden[g] = why if name == g else f"calls `{name}`, which {why}"
                break
            stack.extend(names & set(definitions))
    try:
        source = ast.unparse(module)
    except RecursionError:
        source, notes = "", notes + ["the code is nested too deeply to be graded"]
    return Extracted(source, found, forbidden, notes, module, definitions)


def graded_node(extracted: Extracted, name: str):
    """The function or class that ``name`` is (following aliases such as ``nt_xent = simclr_loss``), or None."""
    seen = set()
    node = extracted.definitions.get(name)
    while isinstance(node, (ast.Assign, ast.AnnAssign)) and name not in seen:
        seen.add(name)
        value = node.value
        if not isinstance(value, ast.Name):
            return None
        name = value.id
        node = extracted.definitions.get(name)
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else None


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
    nodes = sum(1 for _ in ast.walk(student_node))
    if nodes < MIN_COPY_NODES:
        return 0.0
    if nodes > MAX_COPY_NODES:  # difflib is quadratic: the reference is ~100-300 nodes, so this is no copy
        return 0.0  # a two-line function is written the same way by everyone: no evidence of copying
    a, b = normalised_dump(student_node), normalised_dump(ref_node)
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
