"""Running one submission's functions in a separate, limited process.

The child is ``python -I runner.py WORKDIR``: isolated mode (no PYTHON* variables, no user site, the script's
folder not on sys.path), a scrubbed environment, its own session / process group, cwd = a fresh temporary folder
that holds only the runner, the extracted submission, and the inputs as raw ``.npy`` files.

Limits, enforced from outside the child:
- wall time: a watchdog thread kills the whole process group (and every process it can attribute to the child);
- memory: the watchdog sums the anonymous + shmem PSS (what they allocated, shared pages split) over the child's
  processes (RLIMIT_AS cannot be tight: ``import torch`` maps ~3.2 GB of address space, so RLIMIT_AS is only a
  backstop at 8 GB);
- processes: RLIMIT_NPROC for a non-root grader; as root RLIMIT_NPROC is not enforced, so a pids cgroup (v1 or v2)
  when one is writable, and the watchdog's process count in any case;
- CPU seconds (RLIMIT_CPU), file size (RLIMIT_FSIZE, which also caps the captured stdout/stderr), no core files.
"""
from __future__ import annotations

import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RUNNER = Path(__file__).with_name("_runner.py")


@dataclass
class Limits:
    wall_seconds: float = 90.0  # from the moment the child is ready to load the student's code
    startup_seconds: float = 240.0  # starting Python + torch before that (slow only on an overloaded machine)
    call_seconds: float = 10.0
    cpu_seconds: int = 120
    memory_mb: int = 2048  # anonymous + shmem PSS, summed over the child's processes
    address_space_mb: int = 8192
    max_processes: int = 16
    file_size_mb: int = 32  # any one file the child writes
    log_bytes: int = 4000  # how much of stdout/stderr is kept for the report
    tmp_mb: int = 64  # the child's private /tmp (its working folder)
    max_result_mb: int = 256  # all the arrays the child sends back


@dataclass
class RunResult:
    outcomes: dict  # call id -> outcome dict (arrays loaded)
    load_error: str | None
    reason: str | None  # "timeout", "out_of_memory", "too_many_processes", "died: ..." or None
    seconds: float
    peak_memory_mb: float  # anonymous + shmem PSS, summed over the processes
    log: str
    isolation: dict = None  # which layers were active (Isolation.to_dict())


class _PidsCgroup:
    """A pids cgroup for one child (root only: RLIMIT_NPROC does not bind root). None when unavailable."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, max_pids: int):
        if os.geteuid() != 0:
            return None
        for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
            if not (base / "cgroup.procs").exists():
                continue
            if base == Path("/sys/fs/cgroup") and not (base / "cgroup.controllers").exists():
                continue
            path = base / f"autograder-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(str(max_pids))
                return cls(path)
            except OSError:
                try:
                    path.rmdir()
                except OSError:
                    pass
        return None

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def remove(self):
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        try:
            self.path.rmdir()
        except OSError:
            pass


def _stat_fields(pid) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses): index 0 is field 3 (state),
    1 the parent pid, 3 the session id, 19 the start time. Raises OSError when the process is gone."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read().decode(errors="replace")
    return stat[stat.rfind(")") + 2:].split()


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone."""
    try:
        return int(_stat_fields(pid)[19])
    except (OSError, ValueError, IndexError):
        return None


def _descendants(root: int, root_start: int | None = None) -> list[int]:
    """root and every process whose parent chain reaches it, or that shares its session.

    Only processes started no earlier than root count (root_start, clock ticks): a session id or parent pid can
    name a recycled pid, and a stray process left by an earlier submission whose session leader had this pid
    must never be billed to (or killed with) this one.
    """
    children, sessions = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(entry)
            ppid, sid, start = int(fields[1]), int(fields[3]), int(fields[19])
        except (OSError, ValueError, IndexError):
            continue
        if root_start is not None and start < root_start:
            continue
        children.setdefault(ppid, []).append(int(entry))
        sessions[int(entry)] = sid
    found, stack = set(), [root]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, []))
    found.update(pid for pid, sid in sessions.items() if sid == root)
    return sorted(found)


def _private_bytes(pid: int) -> int:
    """Memory the process itself allocated: its proportional share (PSS) of anonymous and shmem pages.

    Not VmRSS: that also counts file-backed pages (~240 MB of mapped torch libraries, an amount that varies with
    the machine and the page cache) and counts copy-on-write pages once per forked process, so a fork or a brief
    helper process would look like a doubled footprint. PSS splits shared pages between the processes sharing them.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = [line.split(":", 1)[1] for line in f if line.startswith(("Pss_Anon:", "Pss_Shmem:"))]
        if fields:
            return sum(int(v.split()[0]) for v in fields) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # older kernels: no Pss_Anon in smaps_rollup; resident anonymous + shmem pages from status
        with open(f"/proc/{pid}/status") as f:
            fields = [line.split(":", 1)[1] for line in f if line.startswith(("RssAnon:", "RssShmem:"))]
        return sum(int(v.split()[0]) for v in fields) * 1024
    except (OSError, ValueError, IndexError):
        return 0


def _memory_bytes(pids) -> int:
    return sum(_private_bytes(pid) for pid in pids)


def _apply_limits(pid: int, limits: Limits, cgroup) -> bool:
    """Limit the (waiting) child from outside: cgroup membership, then rlimits with prlimit. False on failure."""
    mb = 1024 * 1024
    try:
        if cgroup is not None:
            (cgroup.path / "cgroup.procs").write_text(str(pid))
        resource.prlimit(pid, resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.prlimit(pid, resource.RLIMIT_AS, (limits.address_space_mb * mb,) * 2)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limits.file_size_mb * mb,) * 2)
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
        if os.geteuid() != 0:
            resource.prlimit(pid, resource.RLIMIT_NPROC, (limits.max_processes,) * 2)
        return True
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------------------------------ isolation layers

NO_BWRAP_ENV = "SSL_COURSE_GRADER_NO_BWRAP"  # "1": do not use bubblewrap (tests the fallback layer; CI runs both)
NO_SETUID_ENV = "SSL_COURSE_GRADER_NO_SETUID"  # "1": do not drop to an unprivileged uid either (tests "none")
SANDBOX_UID_BASE = 1_879_048_192  # 0x70000000: a range no account uses; one uid per child, so classmates differ
SANDBOX_UID_SPAN = 16_777_216
NOBODY = 65534
FORBIDDEN_TOP = ("ssl_course", "autograder")


@dataclass
class Isolation:
    """Which layers protect a child, detected once per grader process (``detect_isolation``)."""
    mode: str  # "namespaces" (bubblewrap), "unprivileged_user" (chroot + setuid, as root), "none"
    layers: dict  # layer -> bool
    warnings: list  # what is missing, in words
    bwrap: str | None = None
    unique_uids: bool = False  # one uid per child (else every child shares ``nobody``)
    sized_tmp: bool = True  # bubblewrap bounds the tmpfs's size

    def to_dict(self) -> dict:
        return {"mode": self.mode, "layers": dict(self.layers), "missing": list(self.warnings)}


_ISOLATION: Isolation | None = None
_ISOLATION_LOCK = threading.Lock()
_UID_LOCK = threading.Lock()
_UID_COUNTER = [0]


def _runtime_binds() -> list[str]:
    """The paths the child needs, read-only: the interpreter's prefixes and the site-packages folders (never the
    folder a virtual environment lives in, which may be the repository)."""
    import site
    import sysconfig
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    base = os.path.realpath(sys.base_prefix) + os.sep
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if not p or not os.path.isdir(p):
            continue
        if key in ("purelib", "platlib") or os.path.realpath(p).startswith(base):
            paths.add(p)
    for p in site.getsitepackages() if hasattr(site, "getsitepackages") else []:
        if os.path.isdir(p):
            paths.add(p)
    if sys.prefix != sys.base_prefix:  # a venv: its bin/ (the interpreter link) and pyvenv.cfg
        for p in (os.path.join(sys.prefix, "bin"), os.path.join(sys.prefix, "pyvenv.cfg")):
            if os.path.exists(p):
                paths.add(p)
    # nested paths are covered by their parent bind; keep the outermost ones (shorter first)
    out = []
    for p in sorted(paths, key=len):
        if not any(p == q or p.startswith(q.rstrip(os.sep) + os.sep) for q in out):
            out.append(p)
    return out


def _hidden_inside(binds: list[str]) -> list[str]:
    """Copies of the reference or the grader inside a bound folder (a non-editable install in site-packages):
    they get an empty tmpfs over them."""
    hidden = []
    for b in binds:
        if not os.path.isdir(b):
            continue
        try:
            entries = os.listdir(b)
        except OSError:
            continue
        for e in entries:
            if e.split(".")[0] in FORBIDDEN_TOP and os.path.isdir(os.path.join(b, e)) and \
                    not os.path.islink(os.path.join(b, e)):
                hidden.append(os.path.join(b, e))
    return hidden


def _bwrap_command(bwrap: str, limits: Limits, runner_inside: str, sized_tmp: bool = True) -> list[str]:
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    if sized_tmp:  # bubblewrap >= 0.7
        cmd += ["--size", str(limits.tmp_mb * 1024 * 1024)]
    # the tmpfs first: a runtime that lives under /tmp (a CI venv) is bound over it afterwards, not hidden
    cmd += ["--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
        target = os.path.join("/", link)
        if os.path.islink(target):
            cmd += ["--symlink", os.readlink(target), target]
        elif os.path.isdir(target):
            cmd += ["--ro-bind", target, target]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        if os.path.exists(f):
            cmd += ["--ro-bind", f, f]
    binds = [p for p in _runtime_binds() if not p.startswith("/usr/")]
    for p in binds:
        cmd += ["--ro-bind", p, p]
    for p in _hidden_inside(binds + [q for q in _runtime_binds() if q.startswith("/usr/")]):
        cmd += ["--tmpfs", p]
    cmd += ["--ro-bind", str(RUNNER), runner_inside, "--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp",
            "--clearenv"]
    return cmd


def _probe(cmd: list[str], timeout: float = 20) -> tuple[bool, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as err:
        return False, str(err)
    return proc.returncode == 0, proc.stderr.decode(errors="replace")[-300:]


def detect_isolation(refresh: bool = False) -> Isolation:
    """Find out once which layers this machine allows. Bubblewrap namespaces first; without them, as root, a
    chroot into the child's empty folder and an unprivileged uid; rlimits and the audit hook always."""
    global _ISOLATION
    with _ISOLATION_LOCK:
        if _ISOLATION is not None and not refresh:
            return _ISOLATION
        warnings = []
        layers = {"namespaces": False, "unprivileged_user": False, "private_filesystem": False,
                  "rlimits": True, "process_group_kill": True, "audit_hook": True,
                  "pids_cgroup": False}
        bwrap = shutil.which("bwrap") or (shutil.which("bwrap", path="/usr/bin:/bin"))
        mode, unique, sized_tmp = "none", False, True
        if os.environ.get(NO_BWRAP_ENV, "") not in ("", "0"):
            warnings.append(f"bubblewrap disabled by {NO_BWRAP_ENV}")
        elif not bwrap:
            warnings.append("bubblewrap (bwrap) is not installed: no namespaces (apt-get install bubblewrap)")
        else:
            for sized in (True, False):
                ok, err = _probe(_bwrap_command(bwrap, Limits(), "/sandbox/runner.py", sized)[:-1]
                                 + ["--", sys.executable, "-I", "-S", "-c", "import os; os.listdir('/tmp')"])
                if ok:
                    break
            if ok:
                mode = "namespaces"
                layers.update(namespaces=True, unprivileged_user=True, private_filesystem=True)
                if not sized:
                    sized_tmp = False
                    warnings.append("this bubblewrap cannot bound /tmp's size (--size needs bubblewrap 0.7): "
                                    "the child's /tmp is limited by memory only")
            else:
                warnings.append(f"bubblewrap cannot create namespaces here ({err.strip()[:200]})")
        if mode == "none" and os.geteuid() == 0 and os.environ.get(NO_SETUID_ENV, "") in ("", "0"):
            with tempfile.TemporaryDirectory(prefix="autograder-probe-") as d:
                for uid in (SANDBOX_UID_BASE, NOBODY):
                    code = (f"import os; os.chroot({d!r}); os.chdir('/'); os.setgroups([]); "
                            f"os.setresgid({uid}, {uid}, {uid}); os.setresuid({uid}, {uid}, {uid}); "
                            "assert os.getuid() != 0")
                    ok, _ = _probe([sys.executable, "-I", "-S", "-c", code])
                    if ok:
                        mode, unique = "unprivileged_user", uid == SANDBOX_UID_BASE
                        layers.update(unprivileged_user=True, private_filesystem=True)
                        if not unique:
                            warnings.append("only uid 65534 (nobody) is usable: parallel children share it")
                        break
        if mode == "none":
            if os.geteuid() == 0:
                warnings.append("the child runs as root with the grader's filesystem: it can read the reference, "
                                "the other submissions and the reports; only the audit hook stands in the way")
            else:
                warnings.append("the child runs as the grader's user and sees its files: it can read the "
                                "reference and the other submissions; only the audit hook stands in the way")
        probe = _PidsCgroup.create(4)
        if probe is not None:
            layers["pids_cgroup"] = True
            probe.remove()
        _ISOLATION = Isolation(mode, layers, warnings, bwrap if mode == "namespaces" else None, unique, sized_tmp)
        return _ISOLATION


def _next_uid(iso: Isolation) -> int:
    if not iso.unique_uids:
        return NOBODY
    with _UID_LOCK:
        _UID_COUNTER[0] += 1
        return SANDBOX_UID_BASE + (os.getpid() * 4099 + _UID_COUNTER[0] * 7919) % SANDBOX_UID_SPAN


def _processes_of_uid(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return found


def _scrubbed_env(workdir: str) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "", "NBGRADER_EXECUTION": "autograde", "SSL_COURSE_FAST": "1"}


# ----------------------------------------------------------------------------------------------- the pipe

def write_frame(stream, name: str, data: bytes) -> None:
    """One frame: a JSON header line {"name", "size"} and ``size`` raw bytes."""
    stream.write(json.dumps({"name": name, "size": len(data)}).encode() + b"\n")
    stream.write(data)


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


class _FrameReader(threading.Thread):
    """Reads the child's result frames from a pipe. Bounded: a header line of at most 4 kB, a frame of at most
    ``max_frame`` bytes, ``max_total`` bytes in all; past that it stops keeping data (and keeps draining)."""

    def __init__(self, stream, max_frame: int, max_total: int):
        super().__init__(daemon=True)
        self.stream, self.max_frame, self.max_total = stream, max_frame, max_total
        self.frames: dict[str, bytes] = {}
        self.total = 0
        self.overflow = False
        self.ready_at: float | None = None  # when the child said it starts loading the student's code

    def run(self):
        read = self.stream.read
        try:
            while True:
                line = self.stream.readline(4096)
                if not line:
                    return
                try:
                    head = json.loads(line)
                    name, size = head["name"], int(head["size"])
                    if not isinstance(name, str) or size < 0 or len(name) > 200:
                        raise ValueError
                except (ValueError, KeyError, TypeError, RecursionError):
                    self.overflow = True
                    break
                if size > self.max_frame or self.total + size > self.max_total:
                    self.overflow = True
                    break
                data = read(size)
                if len(data) < size:
                    return
                self.total += size
                if name == "ready" and self.ready_at is None:
                    self.ready_at = time.monotonic()
                    continue
                self.frames[name] = data
            while read(1 << 16):  # drain: the child must never block on a full pipe
                pass
        except (OSError, ValueError):
            return


class _LogReader(threading.Thread):
    """Keeps the first ``keep`` bytes of what the child prints; past ``limit`` bytes in all it closes the pipe, so
    the child's next write fails (BrokenPipeError: an output flood is a crash, as a full disk would be)."""

    def __init__(self, stream, keep: int, limit: int):
        super().__init__(daemon=True)
        self.stream, self.keep, self.limit, self.data, self.total = stream, keep, limit, b"", 0

    def run(self):
        try:
            while True:
                chunk = self.stream.read1(1 << 16) if hasattr(self.stream, "read1") else self.stream.read(1 << 16)
                if not chunk:
                    return
                self.total += len(chunk)
                if len(self.data) < self.keep:
                    self.data += chunk[: self.keep - len(self.data)]
                if self.total > self.limit:
                    self.stream.close()
                    return
        except (OSError, ValueError):
            return


def _tree_bytes(root: str, max_entries: int = 20000) -> tuple[int, int]:
    """(bytes allocated, entries) under ``root``, stopping after max_entries (a flood of tiny files)."""
    total, count, stack = 0, 0, [root]
    while stack and count <= max_entries:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    count += 1
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
        except OSError:
            continue
    return total, count


def run_submission(source: str, calls: list[dict], arrays: dict, limits: Limits | None = None,
                   python: str | None = None, isolation: Isolation | None = None) -> RunResult:
    """Run ``calls`` (dicts as the runner reads them) of the functions in ``source`` in a limited child process.

    arrays: file name -> numpy array, sent as raw .npy bytes (no pickle) over the child's stdin, with the plan and
    the source. The child answers over its stdout (frames, see ``write_frame``); it never names a path the grader
    reads, and the grader reads nothing from the child's filesystem.
    """
    limits = limits or Limits()
    iso = isolation or detect_isolation()
    python = python or sys.executable
    uid = _next_uid(iso) if iso.mode == "unprivileged_user" else None
    workdir = None if iso.mode == "namespaces" else tempfile.mkdtemp(prefix="autograder-")
    cgroup = None
    mb = 1024 * 1024
    try:
        plan = {"calls": calls, "call_seconds": limits.call_seconds, "load_seconds": limits.call_seconds,
                "rlimits": {"cpu": limits.cpu_seconds, "as": limits.address_space_mb * mb,
                            "fsize": limits.file_size_mb * mb,
                            "nproc": limits.max_processes if (uid is not None or os.geteuid() != 0) else None},
                "max_output_bytes": min(limits.max_result_mb * mb, 200 * mb)}
        if iso.mode == "namespaces":
            child_dir = "/tmp"
            cmd = _bwrap_command(iso.bwrap, limits, "/sandbox/runner.py", iso.sized_tmp)
            env = _scrubbed_env(child_dir)
            for k, v in env.items():
                cmd += ["--setenv", k, v]
            cmd += ["--", python, "-I", "-B", "/sandbox/runner.py", "namespaces"]
            popen_env, cwd = {"PATH": "/usr/bin:/bin"}, "/"
        else:
            shutil.copyfile(RUNNER, os.path.join(workdir, "runner.py"))
            if uid is not None:
                os.chown(workdir, uid, uid)
                plan["drop"] = {"uid": uid, "gid": uid, "root": workdir}
                child_dir = "/"
            else:
                child_dir = workdir
            cmd = [python, "-I", "-B", os.path.join(workdir, "runner.py"), iso.mode]
            popen_env, cwd = _scrubbed_env(child_dir), workdir
        cgroup = _PidsCgroup.create(limits.max_processes)
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, env=popen_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
        child_start = _start_time(proc.pid)
        results = _FrameReader(proc.stdout, limits.max_result_mb * mb, limits.max_result_mb * mb)
        logs = _LogReader(proc.stderr, limits.log_bytes, limits.file_size_mb * mb)
        results.start()
        logs.start()
        _apply_limits(proc.pid, limits, cgroup)
        if cgroup is not None:  # bubblewrap forks at once: its namespace's processes join the cgroup too
            for pid in _descendants(proc.pid, child_start):
                try:
                    (cgroup.path / "cgroup.procs").write_text(str(pid))
                except OSError:
                    pass
        state = {"reason": None, "peak": 0}
        tracked: set[int] = set()

        def kill_all():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            pids = set(cgroup.pids()) if cgroup else set()
            pids |= tracked | set(_descendants(proc.pid, child_start))
            if uid is not None and iso.unique_uids:
                pids |= set(_processes_of_uid(uid))
            for pid in pids:
                if pid in (os.getpid(), 1):
                    continue
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

        def watchdog():
            tick = 0
            while proc.poll() is None:
                pids = cgroup.pids() if cgroup else _descendants(proc.pid, child_start)
                if uid is not None and iso.unique_uids and tick % 10 == 0:
                    pids = sorted(set(pids) | set(_processes_of_uid(uid)))
                tracked.update(pids)
                rss = _memory_bytes(pids)
                state["peak"] = max(state["peak"], rss)
                # bubblewrap adds two small processes of its own (the namespace's init and the monitor)
                extra = 2 if iso.mode == "namespaces" else 0
                if rss > limits.memory_mb * mb:
                    state["reason"] = "out_of_memory"
                elif len(pids) > limits.max_processes + extra:
                    state["reason"] = "too_many_processes"
                elif (time.monotonic() - results.ready_at > limits.wall_seconds) if results.ready_at else \
                        (time.monotonic() - start > limits.startup_seconds):
                    state["reason"] = "timeout"
                elif workdir is not None and tick % 5 == 2:
                    used, entries = _tree_bytes(workdir)
                    if used > limits.tmp_mb * mb or entries > 20000:
                        state["reason"] = "disk_quota"
                if state["reason"]:
                    kill_all()
                    return
                tick += 1
                time.sleep(0.02 if tick < 50 else 0.05)

        thread = threading.Thread(target=watchdog, daemon=True)
        thread.start()
        try:
            write_frame(proc.stdin, "plan.json", json.dumps(plan).encode())
            write_frame(proc.stdin, "submission.py", source.encode("utf-8"))
            for name, arr in arrays.items():
                write_frame(proc.stdin, "inputs/" + name, _npy_bytes(arr))
            write_frame(proc.stdin, "end", b"")
            proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            proc.wait(timeout=limits.startup_seconds + limits.wall_seconds + 10)
        except subprocess.TimeoutExpired:
            state["reason"] = state["reason"] or "timeout"
            kill_all()
            proc.wait()
        thread.join(timeout=5)
        kill_all()  # whatever the submission left behind (an escaped grandchild, a daemon)
        results.join(timeout=5)
        logs.join(timeout=2)
        seconds = time.monotonic() - start
        frames = dict(results.frames)
        done = "done.json" in frames
        reason = state["reason"]
        if reason is None and proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and not done:
            reason = "timeout" if proc.returncode == -signal.SIGXCPU else "died: killed"
        if reason is None and not done:
            reason = f"died: exit status {proc.returncode}"
        log_text = logs.data.decode("utf-8", errors="replace")
        load = _parse_json(frames.get("load.json"))
        outcomes = {c["id"]: _read_outcome(frames, c) for c in calls}
        return RunResult(outcomes, load.get("error") if isinstance(load, dict) else None, reason, seconds,
                         state["peak"] / mb, log_text, iso.to_dict())
    finally:
        if cgroup is not None:
            cgroup.remove()
        if workdir is not None:
            _remove_tree(workdir)


def _remove_tree(path: str) -> None:
    """Remove the child's folder without following anything it planted (shutil.rmtree does not follow links)."""
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)


def _parse_json(data: bytes | None):
    if data is None or len(data) > 1_000_000:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


MAX_ARRAY_ELEMENTS = 10_000_000


def _load_array(data: bytes | None):
    """A raw numeric array, or None. Never unpickles; rejects object / string / structured dtypes."""
    if data is None or len(data) > 200 * 1024 * 1024:
        return None
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(arr, np.ndarray) or arr.dtype.fields is not None or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(arr) \
            or arr.size > MAX_ARRAY_ELEMENTS:
        return None
    return np.array(arr, copy=True)


def _read_outcome(frames: dict, call: dict) -> dict | None:
    """The outcome of one call as the grader trusts it: frame names are rebuilt here, never taken from the JSON."""
    cid = call["id"]
    record = _parse_json(frames.get(f"{cid}.json"))
    if not isinstance(record, dict):
        return None
    outcome = {"error": record.get("error") if isinstance(record.get("error"), str) else None,
               "grad_error": record.get("grad_error") if isinstance(record.get("grad_error"), str) else None,
               "missing": record.get("missing") is True, "timeout": record.get("timeout") is True,
               "outputs": [], "grads": [], "inputs_after": []}
    if outcome["error"] is not None:
        outcome["error"] = outcome["error"][:2000]
    info = record.get("module_info")
    if isinstance(info, dict) and isinstance(info.get("trainable_parameters"), int) and \
            isinstance(info.get("recurrent"), list) and all(isinstance(r, str) for r in info["recurrent"]):
        outcome["module_info"] = {"trainable_parameters": info["trainable_parameters"],
                                  "recurrent": [r[:20] for r in info["recurrent"][:10]]}
    for key in ("outputs", "grads", "inputs_after"):
        entries = record.get(key)
        if not isinstance(entries, list):
            continue
        for j, entry in enumerate(entries[:16]):
            tag = entry.get("tag") if isinstance(entry, dict) and isinstance(entry.get("tag"), str) else "other:?"
            arr = _load_array(frames.get(f"{cid}_{key}{j}.npy")) if isinstance(entry, dict) and entry.get("file") \
                else None
            if key == "outputs":
                if arr is None and tag in ("tensor", "int", "float", "bool"):
                    tag = "other:unreadable output"
                outcome[key].append((tag[:200], arr))
            else:
                outcome[key].append(arr)
    return outcome
