"""Fast tests of the grader's parts: extraction, the in-process checks (hidden tests), mistake diagnosis,
the child's isolation, reproducible seeds, PS2 / PS3 submissions through the isolated grader, and the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import check, run_checks
from autograder.extract import SubmissionError, extract, read_cells
from autograder.grade import grade_file, grade_path, plan
from autograder.sandbox import Limits, run_submission
from autograder.specs import SPECS
from ssl_course import losses

REPO = Path(__file__).resolve().parents[2]
FAST = Limits(wall_seconds=30, call_seconds=5)


def _solution_namespace(ps: str) -> dict:
    """The graded functions of a solution notebook, executed here (what nbgrader's hidden tests see)."""
    nb = next((REPO / "solutions" / ps).glob("*.ipynb"))
    names = [s.name for s in SPECS[ps]]
    ns: dict = {}
    exec(extract(read_cells(nb), names).source, ns)  # noqa: S102 - our own solution
    return ns


@pytest.mark.parametrize("ps", sorted(SPECS))
def test_solutions_pass_every_hidden_check(ps):
    ns = _solution_namespace(ps)
    for spec in SPECS[ps]:
        for seed in (0, 1):
            result = run_checks(spec.name, ns[spec.name], seed)
            assert result.status == "passed", result


def test_reference_kernels_pass_their_own_checks():
    for name, fn in [("cosine_similarity_matrix", losses.cosine_similarity_matrix), ("nt_xent", losses.nt_xent),
                     ("moco_logits", losses.moco_logits), ("moco_loss", losses.moco_loss),
                     ("dequeue_and_enqueue", losses.dequeue_and_enqueue), ("cpc_loss", losses.cpc_loss),
                     ("rotate_batch", losses.rotate_batch), ("ema_update", losses.ema_update)]:
        assert run_checks(name, fn, seed=5).status == "passed", name


def test_crop_and_knn_references_pass_their_own_checks():
    """The library's kernels, called with the notebook's signatures, pass the checks students are held to."""
    from ssl_course import augment, evaluate

    def crop(images, generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), out_size=None):
        return augment.random_resized_crop(images, generator, scale, ratio, out_size)

    def knn(train, labels, test, k=20, temperature=0.07, num_classes=None):
        return evaluate.knn_predict(train, labels, test, k=k, temperature=temperature, num_classes=num_classes)

    for seed in (5, 6):
        assert run_checks("random_resized_crop", crop, seed=seed).status == "passed"
        assert run_checks("knn_predict", knn, seed=seed).status == "passed"


def _variant(source: str, old: str, new: str):
    """A function of the correct PS1 sources (reference_ps1) with one line changed: a student's mistake."""
    from autograder.tests import reference_ps1
    assert old in source
    ns: dict = {}
    exec(reference_ps1.HEAD + source.replace(old, new), ns)  # noqa: S102 - our own test code
    return next(v for k, v in ns.items() if k in ("random_resized_crop", "knn_predict"))


def _crop_resize(mode_args):
    from autograder.tests.reference_ps1 import CROP
    return _variant(CROP, 'F.interpolate(crop, size=size, mode="bilinear", align_corners=False)',
                    f"F.interpolate(crop, size=size, {mode_args})")


def _knn_weight(expression):
    from autograder.tests.reference_ps1 import KNN
    return _variant(KNN, "torch.exp(top_sim / temperature)", expression)


# wrong implementations beyond the red-team corpus's (which pins the others through the isolated grader): each must
# fail the in-process checks (nbgrader's path) with feedback that names its mistake
@pytest.mark.parametrize("name, make, words", [
    ("random_resized_crop", lambda: _crop_resize('mode="bilinear", align_corners=True'), "align_corners=True"),
    ("random_resized_crop", lambda: _crop_resize('mode="nearest"'), "nearest-neighbour"),
    ("random_resized_crop", lambda: _crop_resize('mode="bilinear", antialias=True'), "antialiasing"),
    ("knn_predict", lambda: _knn_weight("torch.exp(top_sim)"), "temperature is missing"),
    ("knn_predict", lambda: _knn_weight("top_sim"), "similarity itself"),
    ("knn_predict", lambda: _variant(__import__("autograder.tests.reference_ps1", fromlist=["KNN"]).KNN,
                                     "sim.topk(k, dim=1)", "sim.topk(k, dim=1, largest=False)"), "least similar"),
    ("knn_predict", lambda: _variant(__import__("autograder.tests.reference_ps1", fromlist=["KNN"]).KNN,
                                     "top_sim, top_idx = sim.topk(k, dim=1)",
                                     "top_sim, top_idx = sim.topk(min(k + 1, sim.shape[1]), dim=1)\n    "
                                     "top_sim, top_idx = top_sim[:, 1:], top_idx[:, 1:]"), "nearest neighbour is skipped"),
])
def test_crop_and_knn_mistakes_are_named(name, make, words):
    for seed in (0, 1):
        result = run_checks(name, make(), seed=seed)
        assert result.status == "wrong" and words in result.feedback, result


def test_rotate_batch_reference():
    x = torch.arange(8).reshape(2, 1, 2, 2)
    rotated, labels = losses.rotate_batch(x)
    assert rotated.shape == (8, 1, 2, 2) and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[2], torch.rot90(x[0], 1, dims=(1, 2)))
    with pytest.raises(ValueError):
        losses.rotate_batch(torch.zeros(1, 1, 2, 3))


@pytest.mark.parametrize("variant, expected_words", [
    (lambda z1, z2, t: losses.nt_xent(z1, z2, t * t), "applied twice"),
    (lambda z1, z2, t: losses.nt_xent(z1, z2, 1.0), "temperature is missing"),
    (lambda z1, z2, t: losses.nt_xent(z1, z2, t, reduction="sum"), "summed"),
])
def test_mistakes_are_named(variant, expected_words):
    result = run_checks("nt_xent", variant, seed=0)
    assert result.status == "wrong" and expected_words in result.feedback


def test_wrong_softmax_dim_and_inplace_queue():
    def info_nce_dim0(q, k, neg, t):
        q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
        logits = q @ k.T / t if neg is None else torch.cat([(q * k).sum(1, keepdim=True),
                                                             q @ F.normalize(neg, dim=1).T], 1) / t
        labels = torch.arange(len(q)) if neg is None else torch.zeros(len(q), dtype=torch.long)
        return -logits.log_softmax(0)[torch.arange(len(q)), labels].mean()
    assert "wrong dimension" in run_checks("info_nce", info_nce_dim0, 0).feedback

    def enqueue_in_place(queue, ptr, keys):
        rows = (ptr + torch.arange(len(keys))) % len(queue)
        queue[rows] = keys
        return queue, (ptr + len(keys)) % len(queue)
    result = run_checks("dequeue_and_enqueue", enqueue_in_place, 0)
    assert result.status == "wrong" and "in place" in result.feedback and "`queue`" in result.feedback


def test_check_raises_with_feedback_only():
    with pytest.raises(AssertionError) as err:
        check("cosine_similarity_matrix", lambda a, b: a @ b.T)
    assert "normalised" in str(err.value) and "def " not in str(err.value)


def test_extract_forbidden_and_helpers():
    src = textwrap.dedent('''
        import torch
        from ssl_course.losses import nt_xent as ref
        LIMIT = 3
        def helper(z):
            return ref(z, z)
        def nt_xent(z1, z2, temperature=0.5):
            """Mentions the autograder in a docstring: fine."""
            return helper(z1)
        def info_nce(q, k, n=None, t=0.1):
            return __import__("ssl_course").losses.info_nce(q, k)
        def cosine_similarity_matrix(a, b):
            return torch.mm(a, b.T) * LIMIT
        class Unused(SomethingFromTheLibrary):
            pass
        print("top-level code is dropped")
    ''')
    ex = extract([src], ["nt_xent", "info_nce", "cosine_similarity_matrix", "rotate_batch"])
    assert ex.found == {"nt_xent", "info_nce", "cosine_similarity_matrix"}
    assert set(ex.forbidden) == {"nt_xent", "info_nce"}
    assert "print(" not in ex.source and "ssl_course.losses import" not in ex.source and "LIMIT = 3" in ex.source
    assert "Unused" not in ex.source and "import torch" in ex.source


@pytest.mark.parametrize("text", ["{not json", "[]", '{"cells": 3}', "\udcff"])
def test_corrupt_notebooks_are_reported(tmp_path, text):
    p = tmp_path / "bad.ipynb"
    p.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(SubmissionError):
        read_cells(p)


def test_child_is_isolated():
    """In the child: ssl_course / autograder unimportable, environment scrubbed, cwd a fresh folder, no fork."""
    src = textwrap.dedent('''
        import os, sys, torch
        def probe(x):
            found = []
            for name in ("ssl_course", "autograder"):
                try:
                    __import__(name)
                    found.append(name)
                except ImportError:
                    pass
            leaked = [k for k in os.environ if k.startswith(("PYTHON", "VIRTUAL_ENV", "SSH", "AWS", "GITHUB"))]
            try:
                os.fork()
                forked = True
            except PermissionError:
                forked = False
            cwd_files = sorted(os.listdir("."))
            ok = not found and not leaked and not forked and "ssl_course" not in cwd_files and sys.flags.isolated
            return torch.tensor(1.0 if ok else 0.0)
    ''')
    run = run_submission(src, [{"id": "p", "function": "probe", "args": [{"value": 1}], "grad_args": [],
                                "grad_outputs": [], "module": None}], {}, FAST)
    tag, value = run.outcomes["p"]["outputs"][0]
    assert run.outcomes["p"]["error"] is None, run.outcomes["p"]
    assert tag == "tensor" and float(value) == 1.0


def test_seed_is_recorded_and_replays(tmp_path):
    p1, _, a1 = plan("ps1", 123)
    p2, _, a2 = plan("ps1", 123)
    assert a1.keys() == a2.keys() and all(np.array_equal(a1[k], a2[k]) for k in a1)
    assert plan("ps1", 124)[2].keys() != a1.keys() or any(
        not np.array_equal(plan("ps1", 124)[2][k], a1[k]) for k in a1)
    report = grade_file(REPO / "autograder" / "tests" / "corpus" / "mistake_missing_functions.py", "ps1",
                        seed=99, limits=FAST)
    assert report["seed"] == 99 and report["score"] == 6  # rotate_batch 1 + cosine 1 + the crop 2 + the kNN 2


def test_ps2_ps3_through_the_isolated_grader(tmp_path):
    """Solutions: full marks; released student notebooks: zero; a bidirectional GRU and an in-place queue: wrong."""
    subs = tmp_path / "subs"
    subs.mkdir()
    bidir = (REPO / "solutions" / "ps3" / "ps3_cpc.ipynb").read_text().replace(
        "nn.GRU(input_dim, context_dim, batch_first=True)",
        "nn.GRU(input_dim, context_dim, batch_first=True, bidirectional=True)").replace(
        "context, _ = self.gru(z)", "context, _ = self.gru(z)\\n        context = context[..., ::2]")
    (subs / "bidirectional.ipynb").write_text(bidir)
    reports = {}
    for ps, folder in (("ps2", "solutions"), ("ps2", "assignments"), ("ps3", "solutions"), ("ps3", "assignments")):
        nb = next((REPO / folder / ps).glob("*.ipynb"))
        r = grade_file(nb, ps, seed=11, limits=FAST)
        reports[(ps, folder)] = r
    assert reports[("ps2", "solutions")]["score"] == reports[("ps2", "solutions")]["max_score"] == 7
    assert reports[("ps3", "solutions")]["score"] == reports[("ps3", "solutions")]["max_score"] == 6
    assert reports[("ps2", "assignments")]["score"] == 0 and reports[("ps3", "assignments")]["score"] == 0
    r = grade_file(subs / "bidirectional.ipynb", "ps3", seed=11, limits=FAST)
    status = {f["name"]: f for f in r["functions"]}["ContextNetwork"]
    assert status["status"] == "wrong" and "only look at the past" in status["feedback"]


def test_cli_grade_writes_reports(tmp_path):
    sub = REPO / "autograder" / "tests" / "corpus" / "mistake_temperature_twice.py"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(sub), "--assignment", "ps1", "--out",
                           str(tmp_path), "--seed", "5"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "10/12" in proc.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == 10 and "seed 5" in results["output"]
    assert (tmp_path / "grades.csv").read_text().startswith("student,score")


def _tiny_notebook(path: Path, code: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)


@pytest.mark.notebooks
def test_validate_exit_code(tmp_path):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    _tiny_notebook(good, "assert 1 + 1 == 2")
    _tiny_notebook(bad, "assert 1 + 1 == 3, 'arithmetic'")
    run = lambda p: subprocess.run([sys.executable, "-m", "autograder", "validate", str(p), "--timeout", "60"],
                                   cwd=REPO, capture_output=True, text=True, timeout=180)
    assert run(good).returncode == 0
    failed = run(bad)
    assert failed.returncode == 1 and "arithmetic" in failed.stdout


def test_generated_assignments_are_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "autograder", "generate", "--check"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runner_blocks_the_library_even_when_it_is_on_sys_path(tmp_path):
    """An editable install would put ssl_course on the child's sys.path: the runner's meta-path blocker and audit
    hook must still refuse to import it or read its source."""
    code = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import ssl_course  # already imported before the guards: must be evicted and blocked afterwards
        from autograder import _runner
        _runner._install_guards({str(tmp_path)!r})
        for attempt in ("import ssl_course.losses", "import autograder.specs",
                        "open({str(REPO / 'ssl_course' / 'losses.py')!r}).read()"):
            try:
                exec(attempt)
            except (ImportError, PermissionError) as err:
                print("blocked", type(err).__name__)
            else:
                print("ALLOWED", attempt)
    ''')
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("blocked") == 3 and "ALLOWED" not in proc.stdout, proc.stdout


def test_memory_accounting_counts_allocations_not_libraries():
    """The limit is on what a process allocates (anonymous PSS), not on mapped library pages."""
    from autograder.sandbox import _private_bytes
    code = "import sys, time; block = bytearray(300 * 2**20); block[::4096] = b'x' * len(block[::4096]); " \
           "print('ready', flush=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        held = _private_bytes(proc.pid) / 2**20
        assert 300 <= held < 400, held
    finally:
        proc.kill()
        proc.wait()


def test_older_processes_are_never_attributed_to_a_recycled_pid():
    """A session member that started before the root (a stray from an earlier child whose pid was recycled) is
    neither billed to nor killed with the current child."""
    from autograder.sandbox import _descendants, _start_time
    leader = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen(['sleep', '30']); print('ready', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert leader.stdout.readline().strip() == b"ready"
        members = _descendants(leader.pid, _start_time(leader.pid))
        assert len(members) == 2 and leader.pid in members
        sleeper = next(p for p in members if p != leader.pid)
        assert sleeper not in _descendants(leader.pid, _start_time(sleeper) + 1)
    finally:
        os.killpg(leader.pid, 9)
        leader.wait()


def test_ps4_through_the_isolated_grader():
    """PS4: the solution gets full marks (8), the released student notebook zero."""
    for folder, score in (("solutions", 8), ("assignments", 0)):
        r = grade_file(next((REPO / folder / "ps4").glob("*.ipynb")), "ps4", seed=11, limits=FAST)
        assert r["max_score"] == 8 and r["score"] == score, (folder, r["functions"])
