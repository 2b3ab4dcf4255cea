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
    wall_seconds: float = 90.0
    call_seconds: float = 10.0
    cpu_seconds: int = 120
    memory_mb: int = 2048  # anonymous + shmem PSS, summed over the child's processes
    address_space_mb: int = 8192
    max_processes: int = 16
    file_size_mb: int = 32  # any one file the child writes, stdout / stderr included
    log_bytes: int = 4000  # how much of stdout/stderr is kept for the report


@dataclass
class RunResult:
    outcomes: dict  # call id -> outcome dict (arrays loaded)
    load_error: str | None
    reason: str | None  # "timeout", "out_of_memory", "too_many_processes", "died: ..." or None
    seconds: float
    peak_memory_mb: float  # anonymous + shmem PSS, summed over the processes
    log: str


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


def _scrubbed_env(workdir: str) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "", "NBGRADER_EXECUTION": "autograde", "SSL_COURSE_FAST": "1"}


def run_submission(source: str, calls: list[dict], arrays: dict, limits: Limits | None = None,
                   python: str | None = None) -> RunResult:
    """Run ``calls`` (dicts as the runner reads them) of the functions in ``source`` in a limited child process.

    arrays: file name -> numpy array, written as raw .npy (no pickle) into the child's inputs/ folder.
    """
    limits = limits or Limits()
    workdir = tempfile.mkdtemp(prefix="autograder-")
    logdir = tempfile.mkdtemp(prefix="autograder-log-")
    cgroup = None
    try:
        os.mkdir(os.path.join(workdir, "inputs"))
        os.mkdir(os.path.join(workdir, "out"))
        shutil.copyfile(RUNNER, os.path.join(workdir, "runner.py"))
        Path(workdir, "submission.py").write_text(source, encoding="utf-8")
        Path(workdir, "plan.json").write_text(json.dumps({"calls": calls, "call_seconds": limits.call_seconds,
                                                          "load_seconds": limits.call_seconds}))
        for name, arr in arrays.items():
            np.save(os.path.join(workdir, "inputs", name), arr, allow_pickle=False)
        cgroup = _PidsCgroup.create(limits.max_processes)
        log_path = os.path.join(logdir, "log.txt")
        mb = 1024 * 1024
        start = time.monotonic()
        # No preexec_fn (unsafe with threads, and grade_path grades in threads): the child waits for "go" on stdin
        # before it loads any student code, and the limits are applied from here in the meantime.
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([python or sys.executable, "-I", "-B", "runner.py", workdir], cwd=workdir,
                                    env=_scrubbed_env(workdir), stdin=subprocess.PIPE, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        child_start = _start_time(proc.pid)
        limited = _apply_limits(proc.pid, limits, cgroup)
        try:
            if limited:
                proc.stdin.write(b"go\n")
            proc.stdin.close()
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
            for pid in pids | tracked | set(_descendants(proc.pid, child_start)):
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
                tracked.update(pids)
                rss = _memory_bytes(pids)
                state["peak"] = max(state["peak"], rss)
                if rss > limits.memory_mb * mb:
                    state["reason"] = "out_of_memory"
                elif len(pids) > limits.max_processes:
                    state["reason"] = "too_many_processes"
                elif time.monotonic() - start > limits.wall_seconds:
                    state["reason"] = "timeout"
                if state["reason"]:
                    kill_all()
                    return
                tick += 1
                time.sleep(0.02 if tick < 50 else 0.05)

        thread = threading.Thread(target=watchdog, daemon=True)
        thread.start()
        try:
            proc.wait(timeout=limits.wall_seconds + 10)
        except subprocess.TimeoutExpired:
            state["reason"] = state["reason"] or "timeout"
            kill_all()
            proc.wait()
        thread.join(timeout=5)
        kill_all()  # whatever the submission left behind (an escaped grandchild, a daemon)
        seconds = time.monotonic() - start
        reason = state["reason"]
        if reason is None and proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and \
                not Path(workdir, "out", "done.json").exists():
            reason = "timeout" if proc.returncode == -signal.SIGXCPU else "died: killed"
        with open(log_path, "rb") as f:
            log_text = f.read(limits.log_bytes).decode("utf-8", errors="replace")
        if reason is None and not Path(workdir, "out", "done.json").exists():
            reason = f"died: exit status {proc.returncode}"
        load = _read_json(Path(workdir, "out", "load.json"))
        outcomes = {c["id"]: _read_outcome(Path(workdir, "out"), c) for c in calls}
        return RunResult(outcomes, load.get("error") if isinstance(load, dict) else None, reason, seconds,
                         state["peak"] / mb, log_text)
    finally:
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(logdir, ignore_errors=True)


def _read_json(path: Path):
    try:
        if path.stat().st_size > 1_000_000:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None


MAX_ARRAY_ELEMENTS = 10_000_000


def _load_array(path: Path):
    """A raw numeric array, or None. Never unpickles; rejects object / string / structured dtypes."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 200 * 1024 * 1024:
            return None
        arr = np.load(path, allow_pickle=False, mmap_mode=None)
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(arr, np.ndarray) or arr.dtype.fields is not None or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(arr) \
            or arr.size > MAX_ARRAY_ELEMENTS:
        return None
    return np.array(arr, copy=True)


def _read_outcome(out_dir: Path, call: dict) -> dict | None:
    """The outcome of one call as the grader trusts it: file names are rebuilt here, never taken from the JSON."""
    cid = call["id"]
    record = _read_json(out_dir / f"{cid}.json")
    if not isinstance(record, dict):
        return None
    outcome = {"error": record.get("error") if isinstance(record.get("error"), str) else None,
               "grad_error": record.get("grad_error") if isinstance(record.get("grad_error"), str) else None,
               "missing": record.get("missing") is True, "timeout": record.get("timeout") is True,
               "outputs": [], "grads": [], "inputs_after": []}
    if outcome["error"] is not None:
        outcome["error"] = outcome["error"][:2000]
    for key in ("outputs", "grads", "inputs_after"):
        entries = record.get(key)
        if not isinstance(entries, list):
            continue
        for j, entry in enumerate(entries[:16]):
            tag = entry.get("tag") if isinstance(entry, dict) and isinstance(entry.get("tag"), str) else "other:?"
            arr = _load_array(out_dir / f"{cid}_{key}{j}.npy") if isinstance(entry, dict) and entry.get("file") \
                else None
            if key == "outputs":
                if arr is None and tag in ("tensor", "int", "float", "bool"):
                    tag = "other:unreadable output"
                outcome[key].append((tag[:200], arr))
            else:
                outcome[key].append(arr)
    return outcome
