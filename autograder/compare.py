"""Deciding a function's status from what the student's code returned: reference answers in float64,
dtype-aware tolerances, gradients, in-place modification, invariants, and naming the likely mistake.

Runs in the grader's process only. The feedback it writes names the case (``"views swapped"``) and the likely
mistake, never the source of a check.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .specs import Call, Generator, Spec

STATUSES = ("passed", "wrong", "timeout", "crashed", "out_of_memory", "missing_function", "bad_type",
            "forbidden_import")


@dataclass
class FunctionResult:
    name: str
    status: str
    score: float
    max_score: float
    feedback: str = ""
    flags: list = field(default_factory=list)

    def to_dict(self):
        return asdict(self)


@dataclass
class Expected:
    outputs: list  # numpy arrays (float64 for floating outputs)
    grads: list  # per grad arg: numpy float64 array
    grad_outputs: list  # what the backward pass was weighted with (sent to the student process as well)


# ------------------------------------------------------------------------------------------- reference side

def to_reference_args(call: Call):
    args = []
    for i, a in enumerate(call.args):
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(a.copy())
            if t.is_floating_point():
                t = t.double()
            if i in call.grad_args:
                t.requires_grad_(True)
            args.append(t)
        elif isinstance(a, Generator):
            args.append(a.build())
        else:
            args.append(a)
    return args


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def grad_outputs_for(spec: Spec, call: Call, outputs) -> list:
    if call.grad_outputs is not None:
        return list(call.grad_outputs)
    if not call.grad_args:
        return []
    # a scalar loss: d loss / d input
    return [np.ones(np.shape(outputs[0])) if np.ndim(outputs[0]) == 0 else None] + [None] * (len(outputs) - 1)


def expected(spec: Spec, call: Call) -> Expected:
    """The reference answer for one call, in float64, with gradients through the same weights as the student's."""
    args = to_reference_args(call)
    outs = _as_tuple(spec.reference(*args))
    np_outs = [o.detach().numpy().copy() if isinstance(o, torch.Tensor) else np.asarray(o) for o in outs]
    gos = grad_outputs_for(spec, call, np_outs)
    grads = []
    if call.grad_args:
        diff = [(o, go) for o, go in zip(outs, gos) if go is not None and isinstance(o, torch.Tensor)]
        inputs = [args[i] for i in call.grad_args]
        if diff and any(o.requires_grad for o, _ in diff):
            g = torch.autograd.grad([o for o, _ in diff if o.requires_grad], inputs,
                                    grad_outputs=[torch.from_numpy(go).double().reshape(o.shape)
                                                  for o, go in diff if o.requires_grad], allow_unused=True)
            grads = [np.zeros(a.shape) if x is None else x.numpy().copy() for x, a in zip(g, inputs)]
        else:
            grads = [np.zeros(a.shape) for a in inputs]
    return Expected(np_outs, grads, gos)


# -------------------------------------------------------------------------------------------- student side

def _low_precision(call: Call, arrays) -> bool:
    dts = [a.dtype for a in call.args if isinstance(a, np.ndarray)] + [a.dtype for a in arrays if a is not None]
    return any(np.issubdtype(d, np.floating) and np.finfo(d).bits < 64 for d in dts)


def _close(actual, target, low_precision: bool, scale_tol: float = 1.0) -> bool:
    actual, target = np.asarray(actual, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if actual.shape != target.shape:
        if actual.size == target.size == 1:
            actual, target = actual.reshape(()), target.reshape(())
        else:
            return False
    if not np.all(np.isfinite(actual) == np.isfinite(target)):
        return False
    rtol, atol = (2e-4, 2e-5) if low_precision else (1e-6, 1e-9)
    scale = max(1.0, float(np.max(np.abs(target[np.isfinite(target)]), initial=0.0)))
    ok = np.isfinite(target)
    return bool(np.allclose(actual[ok], target[ok], rtol=rtol * scale_tol, atol=atol * scale * scale_tol))


def _check_output_types(spec: Spec, call: Call, outputs) -> str | None:
    """None, or why the returned value has the wrong type (-> bad_type)."""
    want = spec.outputs
    if len(outputs) != len(want):
        return (f"`{spec.name}` must return {len(want)} value{'s' if len(want) > 1 else ''}"
                f"{' (a tuple)' if len(want) > 1 else ''}, got {len(outputs)}")
    for j, ((tag, arr), kind) in enumerate(zip(outputs, want)):
        what = f"output {j + 1} of `{spec.name}`" if len(want) > 1 else f"the value `{spec.name}` returns"
        if kind == "scalar_int":
            if tag == "int" or (tag == "tensor" and arr is not None and arr.size == 1
                                and np.issubdtype(arr.dtype, np.integer)):
                continue
            return f"{what} must be a Python int, got {tag}"
        if tag.startswith("other:output not writable"):
            return f"{what} is far too large (it exceeds the grader's file-size limit)"
        if tag != "tensor" or arr is None:
            return f"{what} must be a torch.Tensor, got {tag.removeprefix('other:')}"
        if kind == "float" and not np.issubdtype(arr.dtype, np.floating):
            return f"{what} must be a floating-point tensor, got dtype {arr.dtype}"
        if kind == "int" and not np.issubdtype(arr.dtype, np.integer):
            return f"{what} must be an integer tensor (labels / indices), got dtype {arr.dtype}"
        if kind == "same":
            src = next(a for a in call.args if isinstance(a, np.ndarray))
            if arr.dtype.kind != src.dtype.kind:
                return f"{what} must keep the input's dtype ({src.dtype}), got {arr.dtype}"
    return None


def _variant_outputs(variant, call: Call):
    try:
        with torch.enable_grad():
            return [o.detach().numpy() if isinstance(o, torch.Tensor) else np.asarray(o)
                    for o in _as_tuple(variant(*to_reference_args(call)))]
    except Exception:  # noqa: BLE001 - a variant that does not apply to this case
        return None


def diagnose(spec: Spec, calls: list, outcomes: list, failing: list) -> str | None:
    """The known mistake whose output matches the student's on every failing call (None if none does)."""
    for message, variant in spec.mistakes.items():
        if all(_matches(variant, calls[i], outcomes[i]) for i in failing):
            return message
    return None


def _matches(variant, call, outcome) -> bool:
    outs = _variant_outputs(variant, call)
    if outs is None or len(outs) != len(outcome["outputs"]):
        return False
    return all(arr is not None and _close(arr, o, True, 10) for (_, arr), o in zip(outcome["outputs"], outs))


def judge(spec: Spec, calls: list, outcomes: list, exps: list | None) -> FunctionResult:
    """Status, score and feedback of one function from its calls' outcomes (dicts as ``execute_call`` returns,
    with arrays). ``outcomes[i]`` may carry "missing", "timeout", "out_of_memory", "forbidden" markers."""
    def result(status, feedback):
        return FunctionResult(spec.name, status, spec.points if status == "passed" else 0.0, spec.points, feedback)

    for call, out in zip(calls, outcomes):
        if out.get("forbidden"):
            return result("forbidden_import", f"`{spec.name}` imports or calls the course library's reference "
                                              "implementation; graded functions must be your own code.")
        if out.get("missing"):
            return result("missing_function", f"no function or class named `{spec.name}` was found.")
        if out.get("out_of_memory"):
            return result("out_of_memory", f"`{spec.name}` was stopped: the submission used more memory than "
                                           "allowed.")
        if out.get("timeout"):
            return result("timeout", f"`{spec.name}` did not finish in time (an infinite loop, or far too slow "
                                     "for tiny inputs).")
        if out.get("error"):
            hint = " (an input is modified in place)" if "in-place operation" in out["error"] else ""
            return result("crashed", f"`{spec.name}` raised an error on the case '{call.label}': "
                                     f"{out['error']}{hint}")
    for call, out in zip(calls, outcomes):
        why = _check_output_types(spec, call, out["outputs"])
        if why:
            return result("bad_type", why)

    if spec.property_check is not None:
        ok, message = spec.property_check(calls, [[arr for _, arr in o["outputs"]] for o in outcomes], outcomes)
        return result("passed", "all checks passed.") if ok else result("wrong", message)

    names = spec.arg_names
    value_failing, shape_msgs = [], []
    for i, (call, out, exp) in enumerate(zip(calls, outcomes, exps)):
        arrays = [arr for _, arr in out["outputs"]]
        low = _low_precision(call, arrays)
        for arr, target in zip(arrays, exp.outputs):
            arr = np.asarray(arr)
            if arr.shape != target.shape and not (arr.size == target.size == 1):
                shape_msgs.append(f"on the case '{call.label}' the output has shape {tuple(arr.shape)}, "
                                  f"expected {tuple(target.shape)}")
                value_failing.append(i)
                break
            if not _close(arr, target, low):
                value_failing.append(i)
                break
    if value_failing:
        labels = sorted({calls[i].label for i in value_failing})
        mistake = diagnose(spec, calls, outcomes, value_failing)
        text = f"`{spec.name}` returns wrong values on {len(value_failing)} of {len(calls)} checks " \
               f"({'; '.join(labels)})."
        if shape_msgs:
            text += " " + shape_msgs[0] + "."
        if mistake:
            text += f" Likely mistake: {mistake}."
        return result("wrong", text)

    for call, out in zip(calls, outcomes):
        for j, (before, after) in enumerate(zip(call.args, out.get("inputs_after") or [])):
            if isinstance(before, np.ndarray) and after is not None and (
                    after.shape != before.shape or not np.array_equal(after.astype(np.float64),
                                                                      before.astype(np.float64))):
                arg = names[j] if j < len(names) else f"argument {j + 1}"
                return result("wrong", f"`{spec.name}` modifies its input `{arg}` in place; work on a copy "
                                       "(e.g. x.clone()) or use out-of-place operations.")

    for call, out, exp in zip(calls, outcomes, exps):
        if not call.grad_args:
            continue
        if out.get("grad_error") and "does not require grad" not in out["grad_error"]:
            return result("wrong", f"`{spec.name}` gives the right values but its backward pass fails on the case "
                                   f"'{call.label}': {out['grad_error']}")
        grads = out.get("grads") or [None] * len(call.grad_args)
        low = _low_precision(call, [])
        for pos, (g, target) in enumerate(zip(grads, exp.grads)):
            arg_index = call.grad_args[pos]
            arg = names[arg_index] if arg_index < len(names) else f"argument {arg_index + 1}"
            target_zero = _close(np.zeros_like(target), target, low, 10)
            if g is None or not np.any(g):
                if target_zero:
                    continue
                return result("wrong", f"`{spec.name}` gives the right value but no gradient reaches `{arg}`: the "
                                       "computation graph is cut (.detach(), .item(), .numpy(), torch.no_grad() or "
                                       "building a new tensor from the values).")
            if target_zero and not _close(g, target, low, 10):
                return result("wrong", f"the gradient with respect to `{arg}` must be zero: `{arg}` has to be "
                                       "detached (only the queries are trained)." if spec.name == "moco_loss" else
                              f"the gradient with respect to `{arg}` must be zero: {spec.zero_grad_hint}."
                              if spec.zero_grad_hint else f"the gradient with respect to `{arg}` must be zero.")
            if not target_zero and not _close(g, target, low, 10):
                return result("wrong", f"`{spec.name}` gives the right values but wrong gradients with respect to "
                                       f"`{arg}` on the case '{call.label}' (a non-differentiable step, or an "
                                       "in-place operation on a tensor autograd needs?).")
    return result("passed", "all checks passed.")
