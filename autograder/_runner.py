"""The child side of the isolated grader. Copied, alone, into a fresh temporary directory and run as

    python -I runner.py WORKDIR

It imports only the standard library, numpy and torch (never ssl_course or autograder: both are blocked), loads
``WORKDIR/submission.py`` (the student's extracted functions), reads the inputs the grader wrote as raw ``.npy``
files, calls the functions and writes outputs, gradients and the inputs after the call back as raw ``.npy`` files
plus one small JSON per call. Nothing this process writes is trusted: the grader re-validates every file and
compares values with answers it computed itself. The audit hook below only makes the common attacks fail fast
(forking, subprocesses, reading files outside the interpreter, ctypes); the limits that matter (time, memory,
processes, file size) are enforced from outside by the grader.

``execute_call`` is also imported by ``autograder.checks`` to run the same calls in-process (nbgrader's hidden
tests), so both paths serialise a student's return value identically.
"""
from __future__ import annotations

import io
import json
import os
import sys
import time

import numpy as np
import torch

FORBIDDEN_MODULES = ("ssl_course", "autograder")
FORBIDDEN_MARK = "forbidden import"
MAX_ARRAY_ELEMENTS = 10_000_000

# references taken before any student code runs (student code may monkeypatch torch / numpy afterwards)
_Tensor = torch.Tensor
_detach, _numpy, _clone = torch.Tensor.detach, torch.Tensor.numpy, torch.Tensor.clone
_from_numpy, _autograd_grad = torch.from_numpy, torch.autograd.grad
_np_save, _np_asarray, _np_array = np.save, np.asarray, np.array
_isinstance, _type = isinstance, type
_Module_modules, _Module_parameters = torch.nn.Module.modules, torch.nn.Module.parameters
_RECURRENT = {"GRU": torch.nn.GRU, "GRUCell": torch.nn.GRUCell, "LSTM": torch.nn.LSTM, "LSTMCell": torch.nn.LSTMCell,
              "RNN": torch.nn.RNN, "RNNCell": torch.nn.RNNCell}


def _module_info(net) -> dict | None:
    """What a graded nn.Module is made of (for the checks that need it: "built on a GRU, with trainable
    parameters"), read with the functions taken before any student code ran."""
    if not _isinstance(net, torch.nn.Module):
        return None
    try:
        params = sum(int(p.numel()) for p in _Module_parameters(net) if p.requires_grad)
        recurrent = sorted({name for m in _Module_modules(net) for name, cls in _RECURRENT.items()
                            if _isinstance(m, cls)})
    except Exception:  # noqa: BLE001
        return None
    return {"trainable_parameters": params, "recurrent": recurrent}


def _to_numpy(t):
    t = _detach(t)
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.to(torch.float32)
    if t.is_complex():
        raise TypeError("complex tensor")
    return _np_array(_numpy(t.cpu()), copy=True)


def _describe(obj) -> tuple[str, object]:
    """(tag, numpy array or None) for one returned value. Only exact types count: subclasses are 'other'."""
    tp = _type(obj)
    if tp is _Tensor:
        try:
            return "tensor", _to_numpy(obj)
        except Exception as err:  # noqa: BLE001
            return f"other:tensor ({err})", None
    if tp in (int, float, bool):
        return tp.__name__, _np_asarray(obj)
    return f"other:{tp.__module__}.{tp.__qualname__}"[:200], None


def _error(err: BaseException) -> str:
    text = f"{_type(err).__name__}: {err}"
    return text[:2000]


def execute_call(fn, args, grad_args=(), grad_outputs=None, module=None) -> dict:
    """Call ``fn`` on ``args`` (numpy arrays become tensors of the same dtype; Python scalars / None pass through;
    ("generator", seed[, skip]) becomes a torch.Generator seeded with seed that has drawn skip floats) and describe what happened.

    Returns {"error", "outputs": [(tag, array)], "grads": [array or None], "grad_error", "inputs_after": [array or
    None], "seconds"}. Never raises for anything the student function does (except BaseExceptions such as
    KeyboardInterrupt and the grader's own timeout alarm).
    """
    targs = []
    for i, a in enumerate(args):
        if _isinstance(a, np.ndarray):
            t = _from_numpy(_np_array(a, copy=True))
            if i in grad_args:
                t.requires_grad_(True)
            targs.append(t)
        elif _isinstance(a, tuple) and len(a) in (2, 3) and a[0] == "generator":
            g = torch.Generator().manual_seed(int(a[1]))
            if len(a) == 3 and int(a[2]):
                torch.rand(int(a[2]), generator=g)  # the state specs.Generator.build gives: seed, then skip draws
            targs.append(g)
        else:
            targs.append(a)
    result = {"error": None, "outputs": [], "grads": [], "grad_error": None, "inputs_after": [], "seconds": 0.0}
    start = time.perf_counter()
    try:
        if module is not None:
            torch.manual_seed(int(module["seed"]))
            net = fn(*module["init_args"])
            result["module_info"] = _module_info(net)
            with torch.no_grad():
                ret = net(*targs)
        else:
            ret = fn(*targs)
    except Exception as err:  # noqa: BLE001 - any exception of student code is a crash of that call
        result["error"] = _error(err)
        result["seconds"] = time.perf_counter() - start
        return result
    result["seconds"] = time.perf_counter() - start
    items = list(ret) if _type(ret) in (tuple, list) else [ret]
    result["outputs"] = [_describe(x) for x in items[:8]]
    if len(items) > 8:
        result["outputs"].append(("other:too many outputs", None))
    # inputs after the call (in-place modification check)
    for t in targs:
        result["inputs_after"].append(_to_numpy(t) if _type(t) is _Tensor else None)
    # gradients w.r.t. the inputs, through a vector-Jacobian product chosen by the grader
    if grad_args:
        inputs = [targs[i] for i in grad_args]
        outs, weights = [], []
        for j, go in enumerate(grad_outputs or []):
            if go is None or j >= len(items):
                continue
            out = items[j]
            if _type(out) is _Tensor and out.requires_grad and out.is_floating_point():
                outs.append(out)
                weights.append(_from_numpy(_np_array(go, copy=True)).to(out.dtype).reshape(out.shape)
                               if go.size == out.numel() else None)
        if outs and all(w is not None for w in weights):
            try:
                grads = _autograd_grad(outs, inputs, grad_outputs=weights, allow_unused=True)
                result["grads"] = [None if g is None else _to_numpy(g) for g in grads]
            except Exception as err:  # noqa: BLE001
                result["grad_error"] = _error(err)
                result["grads"] = [None] * len(inputs)
        else:
            result["grad_error"] = "the output does not require grad (the graph was cut)" if not outs else \
                "output shape does not match"
            result["grads"] = [None] * len(inputs)
    return result


# ----------------------------------------------------------------------------------------------- child only

class _GraderTimeout(BaseException):
    pass


def _install_guards(workdir: str) -> None:
    """Block the reference library and the common escape routes. Installed after numpy / torch are imported."""
    import importlib.abc

    class _Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname.split(".")[0] in FORBIDDEN_MODULES:
                raise ImportError(f"{FORBIDDEN_MARK}: {fullname} is not available while grading")
            return None

    sys.meta_path.insert(0, _Blocker())
    for name in list(sys.modules):
        if name.split(".")[0] in FORBIDDEN_MODULES:
            del sys.modules[name]

    workdir = os.path.realpath(workdir)
    wd_prefix = workdir if workdir.endswith(os.sep) else workdir + os.sep
    read_ok = tuple({os.path.realpath(p).rstrip(os.sep) + os.sep for p in
                     (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(np.__file__),
                      os.path.dirname(torch.__file__), workdir, "/usr/lib", "/usr/share/zoneinfo")})
    blocked_words = ("ssl_course", "autograder", "solutions", "gradebook", "hidden")
    forbidden_events = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                        "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg", "socket.connect", "socket.bind",
                        "socket.__new__", "sys.addaudithook", "gc.get_objects", "gc.get_referrers",
                        "gc.get_referents", "os.chdir", "os.chmod", "os.chown", "os.link", "os.symlink",
                        "os.rename", "os.remove", "os.rmdir", "shutil.rmtree", "os.truncate", "sys.settrace",
                        "sys.setprofile", "urllib.Request", "webbrowser.open", "os.putenv", "os.unsetenv"}

    def _path_ok(path, write):
        try:
            real = os.path.realpath(os.fsdecode(path) if not _isinstance(path, int) else "")
        except Exception:  # noqa: BLE001
            return False
        if _isinstance(path, int):
            return True  # an already open descriptor
        if any(w in real for w in blocked_words if w not in workdir):
            return False
        if write:
            return real.startswith(wd_prefix)
        return (real + os.sep).startswith(read_ok) or real in ("/dev/null", "/dev/urandom") or \
            real.startswith("/proc/self/")

    def hook(event, args):
        if event in forbidden_events or event.startswith("ctypes."):
            raise PermissionError(f"not allowed while grading: {event}")
        if event == "open":
            path, mode = args[0], args[1]
            write = bool(mode) and any(c in str(mode) for c in "wax+") if not _isinstance(mode, int) else \
                bool(mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
            if path is not None and not _path_ok(path, write):
                raise PermissionError(f"not allowed while grading: open {path!r}")
        elif event in ("os.listdir", "os.scandir") and args and args[0] is not None:
            if not _path_ok(args[0], False):
                raise PermissionError(f"not allowed while grading: listing {args[0]!r}")

    sys.addaudithook(hook)


PRELOADED = ("math", "cmath", "itertools", "functools", "collections", "typing", "random", "string", "re", "copy",
             "dataclasses", "abc", "warnings", "operator", "statistics", "numbers", "enum", "heapq", "bisect",
             "torch.nn.functional", "torch.nn.init", "torch.linalg", "torch.autograd", "torch.distributions",
             "numpy.linalg", "numpy.random")


def _read_frames(stream) -> dict:
    """The grader's frames (see autograder.sandbox.write_frame) up to the "end" frame."""
    frames = {}
    while True:
        line = stream.readline(4096)
        if not line:
            raise EOFError("the grader closed the pipe before the end frame")
        head = json.loads(line)
        if head["name"] == "end":
            return frames
        data = stream.read(int(head["size"]))
        frames[head["name"]] = data


def _set_limits(rlimits: dict) -> None:
    import resource
    for name, key in (("cpu", resource.RLIMIT_CPU), ("as", resource.RLIMIT_AS), ("fsize", resource.RLIMIT_FSIZE),
                      ("nproc", resource.RLIMIT_NPROC)):
        value = rlimits.get(name)
        if value is None:
            continue
        soft, hard = resource.getrlimit(key)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(key, (value, value + 5 if name == "cpu" and (hard == resource.RLIM_INFINITY or
                                                                         value + 5 <= hard) else value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _drop_privileges(drop: dict) -> None:
    """As root without namespaces: chroot into the (empty) working folder, then become an unprivileged uid.
    Everything the child needs (numpy, torch, the standard modules in PRELOADED) is imported before this."""
    uid, gid = int(drop["uid"]), int(drop["gid"])
    os.chroot(drop["root"])
    os.chdir("/")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise SystemExit(4)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise SystemExit(4)


def main(mode: str) -> None:
    # everything arrives over stdin; nothing of the student's is loaded before the "end" frame
    try:
        frames = _read_frames(sys.stdin.buffer)
    except (EOFError, ValueError, KeyError, OSError):
        sys.exit(3)
    plan = json.loads(frames["plan.json"])
    source = frames["submission.py"].decode("utf-8")
    import io
    inputs = {name[len("inputs/"):]: np.load(io.BytesIO(data), allow_pickle=False)
              for name, data in frames.items() if name.startswith("inputs/")}
    del frames
    import importlib
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    # torch imports sympy the first time autograd.grad runs (~0.5 s, far more on a loaded machine): do it now,
    # outside any student's time limit, and before a chroot would make the import impossible
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    _autograd_grad([(x * 2).sum()], [x], grad_outputs=[torch.ones((), dtype=torch.float64)], allow_unused=True)
    # the results go back over the original stdout; the student's prints go to stderr (the grader's log)
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _set_limits(plan.get("rlimits") or {})
    if plan.get("drop"):
        _drop_privileges(plan["drop"])
    workdir = os.getcwd()
    max_output = int(plan.get("max_output_bytes", 200 * 1024 * 1024))
    torch.set_num_threads(1)
    _install_guards(workdir)

    def send(name, data: bytes):
        results.write(json.dumps({"name": name, "size": len(data)}).encode() + b"\n")
        results.write(data)
        results.flush()

    def write_json(name, obj):
        send(name, json.dumps(obj).encode())

    def on_alarm(signum, frame):
        raise _GraderTimeout()

    import signal
    signal.signal(signal.SIGALRM, on_alarm)
    namespace = {"__name__": "submission", "__builtins__": __builtins__}
    load_error = None
    send("ready", b"")  # the grader's wall clock for this submission starts now (torch's import is not its time)
    try:
        signal.alarm(int(plan.get("load_seconds", 20)))
        exec(compile(source, "submission.py", "exec"), namespace)  # noqa: S102 - this is the student's code
    except _GraderTimeout:
        load_error = "timeout while loading the submission"
    except BaseException as err:  # noqa: BLE001 - SystemExit included: a submission that exits is a crash
        load_error = _error(err)
    finally:
        signal.alarm(0)
    write_json("load.json", {"error": load_error})

    timed_out = set()
    for call in plan["calls"]:
        cid = call["id"]
        fn = namespace.get(call["function"])
        if fn is None:
            write_json(f"{cid}.json", {"error": f"the submission failed to load: {load_error}"} if load_error
                       else {"error": "missing", "missing": True})
            continue
        if call["function"] in timed_out:  # one timeout per function is enough; keep time for the others
            write_json(f"{cid}.json", {"error": "timeout", "timeout": True})
            continue
        args = []
        for a in call["args"]:
            if "array" in a:
                args.append(inputs[a["array"]])
            elif "generator" in a:
                args.append(("generator", a["generator"], int(a.get("skip", 0))))
            else:
                args.append(a.get("value"))
        grad_outputs = [None if g is None else inputs[g] for g in call.get("grad_outputs") or []]
        try:
            signal.setitimer(signal.ITIMER_REAL, float(plan.get("call_seconds", 10)))
            res = execute_call(fn, args, tuple(call.get("grad_args", ())), grad_outputs, call.get("module"))
        except _GraderTimeout:
            res = {"error": "timeout", "timeout": True}
            timed_out.add(call["function"])
        except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt raised by student code
            res = {"error": _error(err)}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        record = {k: v for k, v in res.items() if k not in ("outputs", "grads", "inputs_after")}
        for key in ("outputs", "grads", "inputs_after"):
            entries = []
            for j, item in enumerate(res.get(key) or []):
                tag, arr = item if key == "outputs" else ("array", item)
                if arr is None:
                    entries.append({"tag": tag, "file": None})
                    continue
                fname = f"{cid}_{key}{j}.npy"
                if arr.nbytes > max_output or arr.size > MAX_ARRAY_ELEMENTS:
                    entries.append({"tag": "other:output not writable (too large)", "file": None})
                    continue
                buf = io.BytesIO()
                try:
                    _np_save(buf, arr, allow_pickle=False)
                except (OSError, ValueError) as err:
                    entries.append({"tag": f"other:output not writable ({type(err).__name__})", "file": None})
                    continue
                send(fname, buf.getvalue())
                max_output -= arr.nbytes
                entries.append({"tag": tag, "file": fname})
            record[key] = entries
        write_json(f"{cid}.json", record)
    write_json("done.json", {"done": True})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "none")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (and any atexit handler the submission registered)
