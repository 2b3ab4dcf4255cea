"""The red-team suite of issue 13: attacks a motivated student would try, each pinned to the exact score it must
get, with every classmate's score pinned beside it (so an attack that lowers or raises someone else's score
fails the test).

Grading runs in a subprocess whose command line carries a token: the attacks that look for "the grader" or "a
classmate's runner" only ever target processes of this test, so a broken sandbox cannot hurt anything else. The
suite runs once per isolation layer this machine has: bubblewrap namespaces, and the fallback without them
(SSL_COURSE_GRADER_NO_BWRAP=1: chroot + an unprivileged uid, as root). It never runs the attacks without a
sandbox (they would succeed, and some of them write to the disk or signal processes).
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from autograder import ids

from autograder import sandbox
from autograder.checks import run_checks
from autograder.extract import extract
from autograder.grade import GradingError, csv_cell, grade_path, report_names
from autograder.tests import redteam_attacks as A

REPO = Path(__file__).resolve().parents[2]
SEED = 20240601
LIMITS = {"wall_seconds": 25, "call_seconds": 3, "cpu_seconds": 40, "memory_mb": 1200, "file_size_mb": 8}
TOKEN = f"redteam-{uuid.uuid4().hex[:12]}"
MARK = uuid.uuid4().hex[:12]
MODES = {"namespaces": {}, "unprivileged_user": {sandbox.NO_BWRAP_ENV: "1"}}

GRADE_SCRIPT = textwrap.dedent('''
    import json, sys
    from autograder.grade import grade_path
    from autograder.sandbox import Limits, detect_isolation
    args = json.loads(sys.argv[1])
    reports = grade_path(args["path"], args["assignment"], args["out"], seed=args["seed"],
                         limits=Limits(**args["limits"]), jobs=args["jobs"], single=args.get("single", False))
    print(json.dumps({"isolation": detect_isolation().to_dict(),
                      "reports": {r["report_name"]: {"student": r["student"], "score": r["score"],
                                                     "statuses": {f["name"]: f["status"] for f in r["functions"]},
                                                     "notes": r["notes"], "run": r["run"]} for r in reports}}))
''')


def _mode_env(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (sandbox.NO_BWRAP_ENV, sandbox.NO_SETUID_ENV)}
    env.update(MODES[mode])
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _available(mode: str) -> bool:
    code = "from autograder.sandbox import detect_isolation; print(detect_isolation().mode)"
    out = subprocess.run([sys.executable, "-c", code], env=_mode_env(mode), capture_output=True, text=True,
                         timeout=120)
    return out.stdout.strip() == mode


def _require(mode: str):
    if not _available(mode):
        if os.environ.get("SSL_COURSE_REQUIRE_SANDBOX"):
            pytest.fail(f"isolation layer {mode!r} is not available here")
        pytest.skip(f"isolation layer {mode!r} is not available on this machine (bubblewrap missing, or not root)")


def grade_in_subprocess(path: Path, out: Path, mode: str, jobs: int = 2, assignment: str = "ps1",
                        single: bool = False) -> dict:
    args = {"path": str(path), "out": str(out), "seed": SEED, "limits": LIMITS, "jobs": jobs,
            "assignment": assignment, "single": single}
    proc = subprocess.run([sys.executable, "-c", GRADE_SCRIPT, json.dumps(args), TOKEN], env=_mode_env(mode),
                          capture_output=True, text=True, timeout=900, start_new_session=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- the class

def _submissions(folder: Path) -> dict:
    """Write the class; returns report name -> expected score per mode (an int, or {mode: int})."""
    folder.mkdir(parents=True)
    outside = folder.parent / "redteam-outside"
    outside.mkdir()
    (outside / "solution.py").write_text(A.ps1())
    files = {
        # classmates whose scores must never move
        "victim_a.py": (A.ps1(), 12),
        "victim_b.py": (A.ps1({"nt_xent": A.NT_WRONG}), 10),
        "zz_victim.py": (A.ps1(), 12),  # graded last: the damage attack runs before it
        # reading the reference, by three routes that raise no audit event (or bypass the hook)
        "steal_torch_from_file.py": (A.steal_with("torch_from_file"), 10),
        "steal_fork_exec_cat.py": (A.steal_with("fork_exec_cat"), 10),
        "steal_open_raw.py": (A.steal_with("open_after_audit_hook"), 10),
        # a classmate: copy their function, overwrite their file
        "copy_classmate.py": (A.ps1({"nt_xent": ""}, extra=A.COPY_CLASSMATE), 10),
        "damage_classmate.py": (A.ps1({"rotate_batch": ""}, extra=A.DAMAGE_CLASSMATE), 12),
        # the grader and the parallel child: SIGKILL through pidfds
        "signal_grader.py": (A.ps1({"rotate_batch": ""}, extra=A.SIGNAL_GRADER.replace("TOKEN", TOKEN)), 12),
        # leave the process tree, wait for the grader to exit, rewrite the reports
        "escape_tree.py": (A.ps1({"rotate_batch": ""}, extra=A.ESCAPE.replace("MARKER", MARK)), 12),
        # fill the disk: ENOSPC in the namespace's 64 MB /tmp; the watchdog's quota in the fallback
        "fill_tmp.py": (A.ps1({"rotate_batch": ""}, extra=A.FILL_TMP), {"namespaces": 12, "unprivileged_user": 0}),
        # honest code the old extractor dropped
        "honest_constants.py": (A.ps1({"nt_xent": A.HONEST_CONSTANTS}), 12),
        "honest_alias.py": (A.ps1({"nt_xent": A.HONEST_ALIAS, "cosine_similarity_matrix": ""}), 12),
        # names: a formula (the student id rules of autograder.ids make it "1_2"), and a student whose id collides
        # with another student's report file (carol's Gradescope report is carol.results.json). Two files whose ids
        # are the same ("dave_smith", "dave smith") are two uploads of one student: the newer is graded and the
        # other listed as not graded (test_ids.py, test_two_downloads_of_one_student_grade_the_newer_and_say_so)
        "=1+2.py": (A.ps1(), 12),
        "carol.py": (A.ps1(), 12),
        "carol.results.py": (A.ps1({"nt_xent": A.NT_WRONG}), 10),
        "dave_smith.py": (A.ps1(), 12),
    }
    for name, (src, _) in files.items():
        (folder / name).write_text(src)
    # special files: refused without being read (a 30 GB sparse notebook, a FIFO, a device, symbolic links)
    with open(folder / "huge_sparse.ipynb", "wb") as f:
        f.truncate(30 * 1024 ** 3)
    os.mkfifo(folder / "fifo.py")
    (folder / "link_to_solution.py").symlink_to(outside / "solution.py")
    (folder / "linked_folder").symlink_to(outside, target_is_directory=True)
    expected = {"victim_a": 12, "victim_b": 10, "zz_victim": 12, "huge_sparse": 0, "fifo": 0, "link_to_solution": 0,
                "linked_folder": 0}
    if os.geteuid() == 0:
        os.mknod(folder / "device.py", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
        expected["device"] = 0
    ordered = sorted(files)  # the order find_submissions lists them in, which decides who gets a suffix
    names, _ = report_names([ids.parse_name(n, "ps1").student or Path(n).stem for n in ordered], folder / "none")
    for name, report_name in zip(ordered, names):
        expected[report_name] = files[name][1]
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Each available mode grades the class once (two at a time); results per mode."""
    results = {}
    for mode in MODES:
        if not _available(mode):
            results[mode] = None
            continue
        root = tmp_path_factory.mktemp(f"{mode}-redteam")
        expected = _submissions(root / "class")
        out = root / "out"
        started = time.monotonic()
        res = grade_in_subprocess(root / "class", out, mode, jobs=2)
        res["seconds"] = time.monotonic() - started
        results[mode] = (root, expected, res, out)
    return results


@pytest.mark.parametrize("mode", list(MODES))
def test_every_attack_gets_its_exact_score_and_classmates_are_untouched(graded, mode):
    if graded[mode] is None:
        _require(mode)
    root, expected, res, out = graded[mode]
    assert res["isolation"]["mode"] == mode
    got = {name: r["score"] for name, r in res["reports"].items()}
    want = {name: (score[mode] if isinstance(score, dict) else score) for name, score in expected.items()}
    assert got == want, json.dumps({n: res["reports"].get(n) for n in set(got) ^ set(want) | {
        n for n in got if got[n] != want.get(n)}}, indent=1)
    for name, r in res["reports"].items():  # every report names the layers that protected it
        saved = json.loads((out / f"{name}.json").read_text())
        assert saved["isolation"]["mode"] == mode and saved["score"] == r["score"]


@pytest.mark.parametrize("mode", list(MODES))
def test_nothing_outlives_the_run_and_reports_stay_as_written(graded, mode):
    if graded[mode] is None:
        _require(mode)
    root, expected, res, out = graded[mode]
    # the escape attack's shell sleeps 6 s after its start, then rewrites every report it can find
    time.sleep(9)
    survivors = [p for p in Path("/proc").iterdir() if p.name.isdigit() and MARK in _cmdline(p)]
    assert not survivors
    for name, r in res["reports"].items():
        saved = json.loads((out / f"{name}.json").read_text())
        assert saved["score"] == r["score"]
        assert json.loads((out / f"{name}.results.json").read_text())["score"] == r["score"]
    assert "hacked" not in (out / "grades.csv").read_text()


@pytest.mark.parametrize("mode", list(MODES))
def test_refusals_collisions_and_csv(graded, mode):
    if graded[mode] is None:
        _require(mode)
    root, expected, res, out = graded[mode]
    reports = res["reports"]
    for name in ("huge_sparse", "fifo", "link_to_solution", "linked_folder"):
        assert reports[name]["run"] == {}, name  # refused before any child started
        assert any("refused" in n or "too large" in n for n in reports[name]["notes"]), reports[name]["notes"]
    # colliding names: carol.results's report does not overwrite carol's Gradescope report (carol.results.json)
    students = {r["student"]: name for name, r in reports.items()}
    assert {"carol", "carol.results", "dave_smith", "1_2"} <= set(students)
    assert len({students[s] for s in ("carol", "carol.results")}) == 2
    assert json.loads((out / f"{students['carol']}.results.json").read_text())["score"] == 12
    # CSV: no cell starts a formula (the id rules already drop "="; the CSV writer escapes any cell that would)
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows and not any(cell[:1] in "=+-@" for row in rows for cell in row.split(",") if cell)
    assert not any(row.startswith("=") for row in rows)


def test_jobs_1_gives_the_same_scores_as_jobs_2(graded, tmp_path):
    mode = next((m for m in MODES if graded[m] is not None), None)
    if mode is None:
        _require("namespaces")
    _, expected, res, _ = graded[mode]
    folder = tmp_path / "redteam-serial"
    expected_serial = _submissions(folder / "class")
    serial = grade_in_subprocess(folder / "class", tmp_path / "out", mode, jobs=1)
    assert {n: r["score"] for n, r in serial["reports"].items()} == \
        {n: r["score"] for n, r in res["reports"].items()}
    assert set(expected_serial) == set(expected)


def _cmdline(p: Path) -> str:
    try:
        return (p / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------- uploads and the output folder

def test_single_upload_that_is_a_symlink_to_the_solution_scores_zero(tmp_path):
    solution = tmp_path / "solution.py"
    solution.write_text(A.ps1())
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "ps1_contrastive_basics.ipynb").symlink_to(solution)
    out = tmp_path / "results"
    out.mkdir()
    (out / "submission.json").mkdir()  # something that is not a report where a report goes: a new name
    reports = grade_path(upload, "ps1", out, seed=SEED, single=True)
    assert len(reports) == 1 and reports[0]["score"] == 0
    assert "symbolic link" in " ".join(reports[0]["notes"])
    assert reports[0]["report_name"] == "submission-2"
    assert json.loads((out / "results.json").read_text())["score"] == 0


def test_a_folder_where_grades_csv_goes_is_a_clear_error(tmp_path):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "alice.py").write_text(A.ps1())
    (tmp_path / "out" / "grades.csv").mkdir(parents=True)
    with pytest.raises(GradingError, match="grades.csv exists and is not a regular file"):
        grade_path(tmp_path / "subs", "ps1", tmp_path / "out", seed=SEED)
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "subs"), "--assignment",
                           "ps1", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env=_mode_env("namespaces"))
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_names_never_collide_and_csv_cells_are_text():
    names, warnings = report_names(["carol", "carol.results", "Carol", "dave_smith", "dave smith", "results",
                                    "grades", "x" * 300], Path("/nonexistent"))
    assert len({n.lower() for n in names}) == len(names)
    assert "results" not in names and "grades" not in names
    assert len(warnings) == 4
    assert csv_cell("=1+2") == "'=1+2" and csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("-2+3") == "'-2+3"
    assert csv_cell("alice") == "alice" and csv_cell(8.0) == 8.0


def test_a_killed_grader_loses_no_finished_report_and_a_rerun_completes(tmp_path):
    subs = tmp_path / "redteam-resume"
    subs.mkdir()
    for i in range(3):
        (subs / f"student{i}.py").write_text(A.ps1())
    out = tmp_path / "out"
    env = _mode_env("namespaces" if _available("namespaces") else "unprivileged_user")
    args = json.dumps({"path": str(subs), "out": str(out), "seed": SEED, "limits": LIMITS, "jobs": 1,
                       "assignment": "ps1"})
    proc = subprocess.Popen([sys.executable, "-c", GRADE_SCRIPT, args, TOKEN], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out / "student0.json").exists():
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.name: json.loads(p.read_text()) for p in out.glob("student*.json")
                if not p.name.endswith(".results.json")}
    assert "student0.json" in finished and len(finished) < 3
    assert all(r["complete"] and r["score"] == 12 for r in finished.values())
    assert not (out / "grades.csv").exists()
    mtimes = {name: (out / name).stat().st_mtime_ns for name in finished}
    reports = grade_path(subs, "ps1", out, seed=SEED, limits=sandbox.Limits(**LIMITS))
    assert [r["score"] for r in reports] == [12, 12, 12]
    assert all(r.get("resumed") for r in reports if f"{r['report_name']}.json" in finished)
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == mtimes  # not regraded
    assert (out / "grades.csv").read_text().count("\n") == 4
    forced = grade_path(subs, "ps1", out, seed=SEED, limits=sandbox.Limits(**LIMITS), force=True)
    assert not any(r.get("resumed") for r in forced)


# ------------------------------------------------------------------------------- the parent's own work

def test_six_thousand_imports_are_extracted_in_linear_time():
    cells = ["\n".join(f"import math as m{i}" for i in range(6000)) + "\n" + A.NT,
             "\n".join("import torch" for _ in range(6000))]
    started = time.monotonic()
    extracted = extract(cells, ["nt_xent"])
    assert time.monotonic() - started < 10
    assert extracted.found == {"nt_xent"}


def test_honest_constants_and_aliases_are_kept():
    ex = extract([A.HEAD + A.HONEST_CONSTANTS + A.HONEST_ALIAS.replace("nt_xent = simclr_loss", "loss = simclr_loss")
                  + "\nBIG = train_for_an_hour()\n"], ["nt_xent", "loss", "cosine_similarity_matrix"])
    assert ex.found == {"nt_xent", "loss", "cosine_similarity_matrix"} and not ex.forbidden
    for name in ("EPS", "SCALE: float", "LOW, HIGH", "MASK_VALUE", "loss = simclr_loss"):
        assert name in ex.source, name
    assert "train_for_an_hour" not in ex.source  # not needed by a graded function: never runs
    bad = extract([A.HEAD + "import ssl_course.losses as L\nREF = L.nt_xent\nnt_xent = REF\n"], ["nt_xent"])
    assert "nt_xent" in bad.forbidden


# ------------------------------------------------------------------ wrong code that used to pass (PS2, PS3)

SHUFFLE = {
    "correct": ("idx = torch.randperm(n, generator=generator)\n    return idx, torch.argsort(idx)", "passed"),
    "reversal": ("idx = torch.arange(n - 1, -1, -1)\n    return idx, torch.argsort(idx)", "wrong"),
    "roll by one": ("idx = torch.roll(torch.arange(n), 1)\n    return idx, torch.argsort(idx)", "wrong"),
    "ignores the generator": ("idx = torch.randperm(n)\n    return idx, torch.argsort(idx)", "wrong"),
    "not the inverse": ("idx = torch.randperm(n, generator=generator)\n    return idx, idx", "wrong"),
}


@pytest.mark.parametrize("variant", list(SHUFFLE))
def test_ps2_shuffle_must_come_from_the_generator(variant):
    import torch
    body, status = SHUFFLE[variant]
    ns = {"torch": torch}
    exec(f"def batch_shuffle_indices(n, generator=None):\n    {body}\n", ns)
    assert run_checks("batch_shuffle_indices", ns["batch_shuffle_indices"], seed=7).status == status


CONTEXT = {
    "correct": ("self.gru = nn.GRU(input_dim, context_dim, batch_first=True)", "return self.gru(z)[0]", "passed"),
    "cumulative sum": ("self.proj = None; self.c = context_dim",
                       "return torch.cumsum(z, 1)[..., :1].repeat(1, 1, self.c)", "wrong"),
    "frozen GRU": ("self.gru = nn.GRU(input_dim, context_dim, batch_first=True).requires_grad_(False)",
                   "return self.gru(z)[0]", "wrong"),
    "causal conv, no GRU": ("self.conv = nn.Conv1d(input_dim, context_dim, 2)",
                            "return self.conv(F.pad(z.transpose(1, 2), (1, 0))).transpose(1, 2).cumsum(1)", "wrong"),
    "GRU plus a projection": ("self.gru = nn.GRU(input_dim, 2 * context_dim, batch_first=True); "
                              "self.out = nn.Linear(2 * context_dim, context_dim)",
                              "return self.out(self.gru(z)[0])", "passed"),
}


@pytest.mark.parametrize("variant", list(CONTEXT))
def test_ps3_context_network_must_be_a_trainable_causal_gru(variant):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    init, forward, status = CONTEXT[variant]
    ns = {"torch": torch, "nn": nn, "F": F}
    exec(textwrap.dedent(f"""
        class ContextNetwork(nn.Module):
            def __init__(self, input_dim, context_dim):
                super().__init__()
                {init}
            def forward(self, z):
                {forward}
    """), ns)
    result = run_checks("ContextNetwork", ns["ContextNetwork"], seed=7)
    assert result.status == status, result.feedback


def test_wrong_ps2_ps3_code_fails_in_the_isolated_grader_too(tmp_path):
    """The same checks through the sandbox (module facts come back from the child over the pipe)."""
    sol2 = next((REPO / "solutions/ps2").glob("*.ipynb")).read_text()
    sol3 = next((REPO / "solutions/ps3").glob("*.ipynb")).read_text()
    wrong2 = sol2.replace("idx_shuffle = torch.randperm(n, generator=generator)",
                          "idx_shuffle = torch.arange(n - 1, -1, -1)")
    wrong3 = sol3.replace("context, _ = self.gru(z)", "context = torch.cumsum(z, 1)[..., :1].repeat(1, 1, "
                                                       "self.gru.hidden_size)")
    assert wrong2 != sol2 and wrong3 != sol3
    for ps, text, fn in (("ps2", wrong2, "batch_shuffle_indices"), ("ps3", wrong3, "ContextNetwork")):
        sub = tmp_path / ps
        sub.mkdir()
        (sub / "student.ipynb").write_text(text)
        report = grade_path(sub, ps, tmp_path / f"out-{ps}", seed=SEED)[0]
        statuses = {f["name"]: f["status"] for f in report["functions"]}
        assert statuses[fn] == "wrong", report["functions"]
        assert all(s == "passed" for n, s in statuses.items() if n != fn), statuses
