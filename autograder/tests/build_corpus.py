"""Writes the red-team corpus (corpus/*.py, *.ipynb) and its EXPECTED.json. Run from autograder/tests/corpus:

    cd autograder/tests/corpus && python ../build_corpus.py

The files it writes are committed; edit this script and re-run it to change the corpus."""
import json, os
from reference_ps1 import COS, CROP, HEAD, INFO, KNN, NT, NTL, ROT  # noqa: E402  (run from corpus/, next to this file)
ALL = {"rotate_batch": ROT, "random_resized_crop": CROP, "cosine_similarity_matrix": COS, "info_nce": INFO,
       "nt_xent_loop": NTL, "nt_xent": NT, "knn_predict": KNN}
POINTS = {"rotate_batch": 1, "random_resized_crop": 2, "cosine_similarity_matrix": 1, "info_nce": 2, "nt_xent_loop": 2,
          "nt_xent": 2, "knn_predict": 2}
expected = {}

def ps1(name, replace=None, extra_head="", status=None, feedback=None, flags=False, tail="", doc=""):
    replace = replace or {}
    parts = [f'"""Red-team corpus: {doc}"""\n' if doc else "", HEAD, extra_head]
    for fn, src in ALL.items():
        src = replace.get(fn, src)
        if src:
            parts.append(src + "\n\n")
    parts.append(tail)
    with open(name, "w") as f:
        f.write("".join(parts).rstrip() + "\n")
    status = status or {}
    score = sum(p for fn, p in POINTS.items() if status.get(fn, "passed") == "passed")
    expected[name] = {"assignment": "ps1", "score": score, "status": status, "feedback": feedback or {},
                      "flagged": flags}

# ---- correct, written differently
ps1("correct_vectorized.py", doc="a correct vectorised solution")
ps1("correct_loops.py", doc="correct, with Python loops everywhere", replace={
 "cosine_similarity_matrix": '''def cosine_similarity_matrix(a, b):
    rows = []
    for i in range(a.shape[0]):
        row = []
        for j in range(b.shape[0]):
            row.append((a[i] * b[j]).sum() / (a[i].norm() * b[j].norm()))
        rows.append(torch.stack(row))
    return torch.stack(rows)
''',
 "rotate_batch": '''def rotate_batch(images):
    out, labels = [], []
    for k in range(4):
        for img in images:
            x = img
            for _ in range(k):
                x = x.transpose(-2, -1).flip(-2)  # one quarter turn counter-clockwise
            out.append(x)
            labels.append(k)
    return torch.stack(out), torch.tensor(labels)
''',
 "nt_xent": NTL.replace("nt_xent_loop", "nt_xent")})
ps1("correct_einsum_float64.py", doc="correct: einsum, float64 internally, cast back", replace={
 "cosine_similarity_matrix": '''def cosine_similarity_matrix(a, b):
    a64, b64 = a.double(), b.double()
    num = torch.einsum("nd,md->nm", a64, b64)
    den = torch.einsum("n,m->nm", a64.norm(dim=1), b64.norm(dim=1))
    return (num / den).to(a.dtype)
''',
 "nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    dtype = z1.dtype
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n = z1.shape[0]
    sim = torch.einsum("id,jd->ij", z, z) / temperature
    sim = sim - 1e9 * torch.eye(2 * n, dtype=sim.dtype)
    pos = torch.cat([torch.diagonal(sim, n), torch.diagonal(sim, -n)])
    return (torch.logsumexp(sim, dim=1) - pos).mean().to(dtype)
'''})
ps1("correct_inplace_on_copies.py", doc="correct: in-place operations, but on copies", replace={
 "cosine_similarity_matrix": '''def cosine_similarity_matrix(a, b):
    norm_a, norm_b = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    a, b = a.clone(), b.clone()
    a /= norm_a
    b.div_(norm_b)
    return a @ b.T
''',
 "rotate_batch": '''def rotate_batch(images):
    out = images.new_empty((4 * images.shape[0],) + tuple(images.shape[1:]))
    labels = torch.empty(4 * images.shape[0], dtype=torch.long)
    b = images.shape[0]
    for k in range(4):
        out[k * b:(k + 1) * b].copy_(torch.rot90(images, k, dims=(2, 3)))
        labels[k * b:(k + 1) * b].fill_(k)
    return out, labels
'''})
ps1("correct_with_warnings.py", doc="correct, but prints and warns a lot", extra_head="import warnings\n\n", replace={
 "nt_xent": NT.replace('    n = z1.shape[0]\n', '    n = z1.shape[0]\n    warnings.warn("computing nt_xent")\n    print("debug:", z1.shape, z2.shape)\n')})
ps1("correct_copy_of_reference.py", doc="the library's nt_xent pasted with renamed variables: passes, but flagged",
    flags=True, replace={"nt_xent": '''def nt_xent(a, b, temperature=0.5, reduction="mean"):
    """My own loss."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"a and b must both be (N, D), got {tuple(a.shape)} and {tuple(b.shape)}")
    m = a.shape[0]
    emb = F.normalize(torch.cat([a, b], dim=0), dim=1)
    lg = (emb @ emb.T) / temperature
    mask = torch.eye(2 * m, dtype=torch.bool, device=emb.device)
    lg = lg.masked_fill(mask, float("-inf"))
    pos = torch.cat([torch.arange(m, 2 * m), torch.arange(0, m)]).to(emb.device)
    return F.cross_entropy(lg, pos, reduction=reduction)
'''})

# ---- classic mistakes
ps1("mistake_temperature_twice.py", doc="temperature applied twice",
    replace={"nt_xent": NT.replace("z @ z.T / temperature", "z @ z.T / temperature / temperature")},
    status={"nt_xent": "wrong"}, feedback={"nt_xent": "temperature is applied twice"})
ps1("mistake_diagonal_not_masked.py", doc="self-similarity left in the denominator",
    replace={"nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    return F.cross_entropy(z @ z.T / temperature, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))
'''}, status={"nt_xent": "wrong"}, feedback={"nt_xent": "diagonal"})
ps1("mistake_wrong_softmax_dim.py", doc="softmax over queries instead of keys",
    replace={"info_nce": '''def info_nce(query, positive_key, negative_keys=None, temperature=0.1):
    q, k = F.normalize(query, dim=1), F.normalize(positive_key, dim=1)
    if negative_keys is None:
        logits, labels = q @ k.T / temperature, torch.arange(len(q))
    else:
        neg = F.normalize(negative_keys, dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ neg.T], dim=1) / temperature
        labels = torch.zeros(len(q), dtype=torch.long)
    log_p = torch.log_softmax(logits, dim=0)
    return -log_p[torch.arange(len(q)), labels].mean()
'''}, status={"info_nce": "wrong"}, feedback={"info_nce": "wrong dimension"})
ps1("mistake_no_normalization.py", doc="dot products instead of cosine similarities",
    replace={"cosine_similarity_matrix": "def cosine_similarity_matrix(a, b):\n    return a @ b.T\n",
             "nt_xent": NT.replace("F.normalize(torch.cat([z1, z2]), dim=1)", "torch.cat([z1, z2])")},
    status={"cosine_similarity_matrix": "wrong", "nt_xent": "wrong"},
    feedback={"cosine_similarity_matrix": "not L2-normalised", "nt_xent": "not L2-normalised"})
ps1("mistake_detach.py", doc="the loss is computed on detached embeddings",
    replace={"nt_xent": NT.replace("torch.cat([z1, z2])", "torch.cat([z1.detach(), z2.detach()])")},
    status={"nt_xent": "wrong"}, feedback={"nt_xent": "graph is cut"})
ps1("mistake_item_rebuild.py", doc="the loss rebuilt from a Python float",
    replace={"info_nce": INFO.replace("def info_nce", "def _info_nce") + "\n\ndef info_nce(query, positive_key, negative_keys=None, temperature=0.1):\n    return torch.tensor(_info_nce(query, positive_key, negative_keys, temperature).item(), dtype=query.dtype)\n"},
    status={"info_nce": "wrong"}, feedback={"info_nce": "graph is cut"})
ps1("mistake_one_direction.py", doc="only the first view's anchors are averaged",
    replace={"nt_xent": NT.replace("return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))",
                                   "return F.cross_entropy(logits[:n], torch.arange(n, 2 * n))")},
    status={"nt_xent": "wrong"}, feedback={"nt_xent": "first view"})
ps1("mistake_rotation_clockwise.py", doc="rotated the wrong way",
    replace={"rotate_batch": ROT.replace("torch.rot90(images, k, dims=(2, 3))", "torch.rot90(images, -k, dims=(2, 3))")},
    status={"rotate_batch": "wrong"}, feedback={"rotate_batch": "clockwise"})
ps1("mistake_missing_functions.py", doc="only two functions written", replace={"info_nce": "", "nt_xent_loop": "", "nt_xent": ""},
    status={"info_nce": "missing_function", "nt_xent_loop": "missing_function", "nt_xent": "missing_function"})
ps1("hardcoded_visible_test.py", doc="returns the visible test's expected numbers",
    replace={"nt_xent": "def nt_xent(z1, z2, temperature=0.5):\n    return torch.tensor(2.0794, dtype=z1.dtype, requires_grad=True)\n",
             "cosine_similarity_matrix": "def cosine_similarity_matrix(a, b):\n    return torch.eye(a.shape[0], b.shape[0], dtype=a.dtype)\n"},
    status={"nt_xent": "wrong", "cosine_similarity_matrix": "wrong"})

# ---- classic mistakes of the augmentation (random_resized_crop) and the evaluation (knn_predict)
ps1("mistake_crop_one_box_per_batch.py", doc="one crop box drawn for the whole batch (what a v2 transform does to a batch)",
    replace={"random_resized_crop": CROP.replace("    for i in range(n):\n        for _ in range(10):",
                                                 "    for i in range(n):\n        if i > 0:\n            crops.append(F.interpolate(images[i:i + 1, :, y0:y0 + h, x0:x0 + w], size=size, mode=\"bilinear\", align_corners=False))\n            boxes.append([x0, y0, w, h])\n            continue\n        for _ in range(10):")},
    status={"random_resized_crop": "wrong"}, feedback={"random_resized_crop": "same box"})
ps1("mistake_crop_global_rng.py", doc="the boxes come from torch's global random state, not from the generator",
    replace={"random_resized_crop": CROP.replace(", generator=generator", "")},
    status={"random_resized_crop": "wrong"}, feedback={"random_resized_crop": "same seed"})
ps1("mistake_crop_scale_on_side.py", doc="scale taken as a fraction of the side instead of the area",
    replace={"random_resized_crop": CROP.replace("area = height * width * (scale[0] + (scale[1] - scale[0]) * float(u[0]))",
                                                 "area = height * width * (scale[0] + (scale[1] - scale[0]) * float(u[0])) ** 2")},
    status={"random_resized_crop": "wrong"}, feedback={"random_resized_crop": "side, not the area"})
ps1("mistake_crop_aspect_swapped.py", doc="w and h swapped: the aspect ratio drawn is h / w",
    replace={"random_resized_crop": CROP.replace("w, h = round(math.sqrt(area * r)), round(math.sqrt(area / r))",
                                                 "w, h = round(math.sqrt(area / r)), round(math.sqrt(area * r))")},
    status={"random_resized_crop": "wrong"}, feedback={"random_resized_crop": "w and h are swapped"})
ps1("mistake_crop_xy_swapped.py", doc="boxes returned in torchvision's (top, left, height, width) order: x and y swapped",
    replace={"random_resized_crop": CROP.replace("boxes.append([x0, y0, w, h])", "boxes.append([y0, x0, h, w])")},
    status={"random_resized_crop": "wrong"}, feedback={"random_resized_crop": "(top, left, height, width)"})
ps1("mistake_crop_not_resized.py", doc="the crop is resized to the input's size, ignoring out_size",
    replace={"random_resized_crop": CROP.replace("size = (height, width) if out_size is None else (out_size, out_size)",
                                                 "size = (height, width)")},
    status={"random_resized_crop": "wrong"}, feedback={"random_resized_crop": "resized to out_size"})
ps1("mistake_knn_majority_vote.py", doc="every neighbour votes 1 instead of exp(sim / t)",
    replace={"knn_predict": KNN.replace("torch.exp(top_sim / temperature)", "torch.ones_like(top_sim)")},
    status={"knn_predict": "wrong"}, feedback={"knn_predict": "majority vote"})
ps1("mistake_knn_no_normalization.py", doc="neighbours by dot product: the features are not L2-normalised",
    replace={"knn_predict": KNN.replace("F.normalize(test_features, dim=1) @ F.normalize(train_features, dim=1).T",
                                        "test_features @ train_features.T")},
    status={"knn_predict": "wrong"}, feedback={"knn_predict": "not L2-normalised"})
ps1("mistake_knn_ties_to_last_class.py", doc="a tie between classes goes to the last one (a Python max over a dict)",
    replace={"knn_predict": KNN.replace("    return votes.argmax(dim=1)",
                                        "    return (num_classes - 1 - votes.flip(1).argmax(dim=1))")},
    status={"knn_predict": "wrong"}, feedback={"knn_predict": "smallest class index"})

# ---- attacks
ps1("attack_always_equal.py", doc="returns objects that compare equal to anything", replace={"nt_xent": '''class Anything(float):
    def __eq__(self, other):
        return True
    __le__ = __ge__ = __lt__ = __gt__ = __eq__
    def __abs__(self):
        return 0.0
    def __sub__(self, other):
        return 0.0
    __rsub__ = __sub__


def nt_xent(z1, z2, temperature=0.5):
    return Anything(0.0)
''', "cosine_similarity_matrix": '''class AlwaysEqual:
    shape = property(lambda self: (0,))
    def __eq__(self, other):
        return True
    def __array__(self, dtype=None, copy=None):
        raise TypeError("no")


def cosine_similarity_matrix(a, b):
    return AlwaysEqual()
'''}, status={"nt_xent": "bad_type", "cosine_similarity_matrix": "bad_type"})
ps1("attack_tensor_subclass.py", doc="a torch.Tensor subclass whose comparisons always succeed", replace={"nt_xent": '''class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func.__name__ in ("allclose", "equal", "eq", "isclose", "__eq__", "sub", "__sub__"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def nt_xent(z1, z2, temperature=0.5):
    return torch.zeros((), dtype=z1.dtype).as_subclass(Liar)
'''}, status={"nt_xent": "bad_type"})
ps1("attack_monkeypatch_allclose.py", doc="monkeypatches torch / numpy comparisons and Tensor.numpy",
    extra_head="import numpy as np\n\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\nnp.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n\n",
    replace={"nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    torch.Tensor.numpy = lambda self, *a, **k: np.float64(2.0)
    torch.Tensor.detach = lambda self: torch.tensor(2.0)
    return (z1.sum() * 0).requires_grad_() if not z1.requires_grad else z1.sum() * 0
'''}, status={"nt_xent": "wrong"})
ps1("attack_sys_exit_at_import.py", doc="exits (status 0) while being loaded: a decorator runs at definition time",
    extra_head="import sys\n\n\ndef register(f):\n    print('All tests passed! Score: 8/8')\n    sys.exit(0)\n\n\n",
    replace={"rotate_batch": "@register\n" + ROT},
    status={fn: "crashed" for fn in ALL})
ps1("attack_sys_exit_module_level.py", doc="module-level code (sys.exit) is never run by the grader: full marks",
    tail="import sys\nprint('Score: 8/8')\nsys.exit(0)\n")
ps1("attack_sys_exit_in_function.py", doc="sys.exit(0) inside a graded function",
    replace={"info_nce": "def info_nce(query, positive_key, negative_keys=None, temperature=0.1):\n    import sys\n    sys.exit(0)\n"},
    status={"info_nce": "crashed"})
ps1("attack_os_exit_in_function.py", doc="os._exit(0) from the last graded function (earlier ones still count)",
    replace={"nt_xent": "def nt_xent(z1, z2, temperature=0.5):\n    import os\n    print('{\"score\": 8, \"max_score\": 8}')\n    os._exit(0)\n"},
    status={"nt_xent": "crashed"})
ps1("attack_print_fake_score.py", doc="prints fake scores and results in Gradescope / nbgrader formats",
    extra_head='print(\'{"score": 8.0, "tests": [{"name": "nt_xent", "score": 2, "max_score": 2}]}\')\nprint("Score: 8/8 -- all tests passed")\n\n',
    replace={"nt_xent": "def nt_xent(z1, z2, temperature=0.5):\n    print('PASSED nt_xent 2/2')\n    return (z1 * 0).sum()\n"},
    status={"nt_xent": "wrong"})
ps1("attack_write_results_file.py", doc="tries to write results.json / grades where the grader might look",
    replace={"nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    import json, os
    fake = {"score": 8, "tests": [{"name": "nt_xent", "score": 2, "max_score": 2, "status": "passed"}]}
    for path in ("results.json", "../results.json", "/grading/results/results.json", "/tmp/results.json",
                 "out/nt_xent_0.json", os.path.expanduser("~/../grades.csv")):
        try:
            with open(path, "w") as f:
                json.dump(fake, f)
        except Exception:
            pass
    return (z1 * 0).sum() + 2.0
'''}, status={"nt_xent": "wrong"})  # results travel over a pipe: the files it writes are never read; 2.0 is wrong
ps1("attack_read_reference_from_disk.py", doc="hunts for the library's source on disk to exec it",
    replace={"nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    import glob, os, sys
    lib = "ssl_" + "course"  # spelled so that no string names the library
    candidates = [f"/work/main/{lib}/losses.py", f"/work/wt-auto" + f"grader/{lib}/losses.py",
                  f"{lib}/losses.py", f"../{lib}/losses.py", f"/auto" + f"grader/source/{lib}/losses.py"]
    for root in ["/work", "/home", "/", os.getcwd(), "..", sys.prefix]:
        try:
            candidates += glob.glob(os.path.join(root, "**", "losses.py"), recursive=True)[:20]
        except Exception:
            pass
    for path in candidates:
        try:
            source = open(path).read()
        except Exception:
            continue
        ns = {}
        exec(source, ns)
        return ns["nt_xent"](z1, z2, temperature)
    raise RuntimeError("reference not found")
'''}, status={"nt_xent": "crashed|timeout"})  # finding nothing (crashed) or walking a big disk past the call limit
ps1("attack_import_reference.py", doc="imports the reference implementation",
    extra_head="from ssl_course.losses import nt_xent as _reference_nt_xent\nfrom ssl_course import losses\n\n",
    replace={"nt_xent": "def nt_xent(z1, z2, temperature=0.5):\n    return _reference_nt_xent(z1, z2, temperature)\n",
             "cosine_similarity_matrix": "def cosine_similarity_matrix(a, b):\n    return losses.cosine_similarity_matrix(a, b)\n"},
    status={"nt_xent": "forbidden_import", "cosine_similarity_matrix": "forbidden_import"})
ps1("attack_dynamic_import.py", doc="imports the reference with a computed module name (only caught at run time)",
    replace={"nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    import importlib
    module = importlib.import_module("ssl_" + "cour" + "se.losses")
    return module.nt_xent(z1, z2, temperature)
'''}, status={"nt_xent": "forbidden_import"})
ps1("attack_import_grader.py", doc="imports the grader to read its specs / reference",
    replace={"info_nce": '''def info_nce(query, positive_key, negative_keys=None, temperature=0.1):
    from autograder import specs
    return specs.SPECS["ps1"][2].reference(query, positive_key, negative_keys, temperature)
'''}, status={"info_nce": "forbidden_import"})
ps1("attack_infinite_loop.py", doc="an infinite loop in one function (the others still count)",
    replace={"nt_xent_loop": "def nt_xent_loop(z1, z2, temperature=0.5):\n    while True:\n        pass\n"},
    status={"nt_xent_loop": "timeout"})
ps1("attack_unkillable_loop.py", doc="ignores the per-call alarm and loops forever: the watchdog kills the group",
    replace={"nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    import signal
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
'''}, status={"nt_xent": "timeout"})
ps1("attack_fork_bomb.py", doc="a (bounded) fork bomb through os.fork, then through the unaudited _posixsubprocess",
    replace={"nt_xent_loop": '''def nt_xent_loop(z1, z2, temperature=0.5):
    import os
    while True:
        os.fork()
''', "nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    import os
    import _posixsubprocess
    for _ in range(200):  # bounded so that a broken sandbox cannot take the machine down
        r, w = os.pipe()
        _posixsubprocess.fork_exec([b"/bin/sleep", b"20"], [b"/bin/sleep"], True, (), None, None,
                                   -1, -1, -1, -1, -1, -1, r, w, True, False, 0, None, None, None, -1, None, False)
    return nt_xent_loop(z1, z2, temperature)
'''}, status={"nt_xent_loop": "crashed", "nt_xent": "crashed|timeout"})  # forks of a 600 MB process are slow on a loaded machine: the call limit may come first
ps1("attack_huge_allocation.py", doc="allocates far more memory than allowed",
    replace={"cosine_similarity_matrix": '''def cosine_similarity_matrix(a, b):
    return torch.empty(10**13)  # 40 TB: refused at once
''', "nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    blocks = []
    while True:  # grows resident memory until the watchdog stops the process
        blocks.append(torch.ones(50_000_000, dtype=torch.float64))
'''}, status={"cosine_similarity_matrix": "crashed", "nt_xent": "out_of_memory|timeout"})  # on a loaded machine filling 1.2 GB can take longer than the 3 s call limit
ps1("attack_huge_output.py", doc="returns an output far larger than the file-size limit",
    replace={"cosine_similarity_matrix": "def cosine_similarity_matrix(a, b):\n    return torch.zeros(4000, 4000, dtype=torch.float64)  # 128 MB\n"},
    status={"cosine_similarity_matrix": "bad_type"}, feedback={"cosine_similarity_matrix": "far too large"})
ps1("attack_output_flood.py", doc="floods stdout",
    replace={"nt_xent_loop": '''def nt_xent_loop(z1, z2, temperature=0.5):
    line = "spam " * 2000 + "\\n"
    while True:
        print(line, end="")
'''}, status={"nt_xent_loop": "crashed"})
ps1("attack_audit_escape.py", doc="tries to remove the runner's guards (gc, audit hooks, ctypes, frames)",
    replace={"nt_xent": '''def nt_xent(z1, z2, temperature=0.5):
    import gc, sys
    tried = []
    sys.addaudithook(lambda *a: None)  # harmless: a hook can be added, never removed; ours stays
    for attempt in (lambda: gc.get_objects(), lambda: gc.get_referrers(sys),
                    lambda: __import__("ctypes").CDLL(None), lambda: __import__("ctypes").pythonapi.Py_Finalize,
                    lambda: open("/etc/passwd").read(), lambda: __import__("socket").create_connection(("1.1.1.1", 80))):
        try:
            attempt()
            tried.append("ok")
        except Exception as err:
            tried.append(type(err).__name__)
    if "ok" in tried:
        raise RuntimeError(f"a guard was bypassed: {tried}")
    return (z1 * 0).sum()
'''}, status={"nt_xent": "wrong"})
ps1("attack_crop_returns_input.py", doc="random_resized_crop returns the images unchanged with whole-image boxes",
    replace={"random_resized_crop": """def random_resized_crop(images, generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), out_size=None):
    n, _, height, width = images.shape
    return images.clone(), torch.tensor([[0, 0, width, height]] * n)
"""}, status={"random_resized_crop": "wrong"}, feedback={"random_resized_crop": "input's size"})
ps1("attack_knn_reads_caller_frame.py", doc="knn_predict looks for the test labels in its callers' frames",
    replace={"knn_predict": """def knn_predict(train_features, train_labels, test_features, k=20, temperature=0.07, num_classes=None):
    import sys
    frame = sys._getframe(1)
    while frame is not None:  # the grader's frames, the notebook's globals: anything called like test labels
        for scope in (frame.f_locals, frame.f_globals):
            for name in ("test_labels", "y_test", "labels_test", "expected", "answer", "want"):
                value = scope.get(name)
                if isinstance(value, torch.Tensor) and value.shape == (len(test_features),):
                    return value.long()
        frame = frame.f_back
    return torch.zeros(len(test_features), dtype=torch.long)
"""}, status={"knn_predict": "wrong"})
_CROP_DEF = CROP.splitlines()[0] + "\n"
ps1("mistake_crop_reseeds_from_the_seed.py", doc="random_resized_crop builds a fresh generator from the passed one's "
    "initial_seed(): right for a fresh generator, the same boxes at every step of a training loop",
    replace={"random_resized_crop": CROP.replace(_CROP_DEF, _CROP_DEF + "    generator = torch.Generator()"
                                                 ".manual_seed(generator.initial_seed())\n")},
    status={"random_resized_crop": "wrong"}, feedback={"random_resized_crop": "already drawn"})
ps1("attack_import_reference_crop_knn.py", doc="random_resized_crop and knn_predict delegate to the library's "
    "ssl_course.augment and ssl_course.evaluate",
    extra_head="from ssl_course.augment import crop_boxes, resized_crop\nfrom ssl_course import evaluate\n\n",
    replace={"random_resized_crop": """def random_resized_crop(images, generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), out_size=None):
    n, _, height, width = images.shape
    boxes = crop_boxes(n, height, width, scale, ratio, generator, images.device)
    return resized_crop(images, boxes, (height, width) if out_size is None else out_size), boxes.long()
""", "knn_predict": """def knn_predict(train_features, train_labels, test_features, k=20, temperature=0.07, num_classes=None):
    return evaluate.knn_predict(train_features, train_labels, test_features, k, temperature, num_classes)
"""}, status={"random_resized_crop": "forbidden_import", "knn_predict": "forbidden_import"})
ps1("correct_copy_of_reference_knn.py", doc="the library's knn_predict pasted with renamed variables: passes, but flagged",
    flags=True, replace={"knn_predict": """def knn_predict(train_x, train_y, test_x, k=20, temperature=0.07, num_classes=None,
                chunk=1024):
    \"\"\"My own kNN.\"\"\"
    num_classes = num_classes or int(train_y.max()) + 1
    k = min(k, len(train_x))
    bank = F.normalize(train_x.float(), dim=1)
    out = []
    for s in range(0, len(test_x), chunk):
        sims = F.normalize(test_x[s:s + chunk].float(), dim=1) @ bank.T
        best, idx = sims.topk(k, dim=1)
        votes = torch.zeros(sims.shape[0], num_classes, device=sims.device)
        votes.scatter_add_(1, train_y[idx], torch.exp(best / temperature))
        out.append(votes.argmax(1))
    return torch.cat(out)
"""})
ps1("attack_syntax_error_cell.py", doc="a .py with a syntax error: nothing can be extracted",
    tail="def broken(:\n    pass\n",
    status={fn: "missing_function" for fn in ALL})

# ---- notebooks
def notebook(cells, metadata=True):
    nb = {"cells": [], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    for i, (kind, src, meta) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"c{i}", "metadata": meta if metadata else {}, "source": src}
        if kind == "code":
            cell.update({"execution_count": None, "outputs": []})
        nb["cells"].append(cell)
    return json.dumps(nb, indent=1) + "\n"

def grade_meta(cid, solution=False, grade=False, points=0):
    return {"nbgrader": {"grade": grade, "solution": solution, "locked": not solution, "grade_id": cid,
                         "schema_version": 3, **({"points": points} if grade else {})}}

def nb_cells(with_tests=True, edited_test=False):
    cells = [("markdown", "# PS1\\n", grade_meta("intro")), ("code", HEAD, grade_meta("imports"))]
    for fn, src in ALL.items():
        cells.append(("code", src, grade_meta(fn, solution=True)))
        if with_tests:
            test = f"assert callable({fn})\\n" if not edited_test else f"# test removed by the student\\nassert True\\n"
            cells.append(("code", test, grade_meta(f"test_{fn}", grade=True, points=POINTS[fn])))
    cells.append(("code", "%matplotlib inline\\n!echo hi\\nprint(nt_xent(torch.randn(4, 8), torch.randn(4, 8)))\\n", grade_meta("play")))
    return cells

def write_nb(name, cells, metadata=True, status=None):
    with open(name, "w") as f:
        f.write(notebook(cells, metadata).replace("\\\\n", "\\n"))
    status = status or {}
    expected[name] = {"assignment": "ps1", "score": sum(p for fn, p in POINTS.items() if status.get(fn, "passed") == "passed"),
                      "status": status, "feedback": {}, "flagged": False}

write_nb("notebook_test_cells_deleted.ipynb", nb_cells(with_tests=False))
write_nb("notebook_test_cells_edited.ipynb", nb_cells(edited_test=True))
write_nb("notebook_metadata_stripped.ipynb", nb_cells(), metadata=False)
with open("notebook_corrupt.ipynb", "w") as f:
    f.write(notebook(nb_cells())[:700])
expected["notebook_corrupt.ipynb"] = {"assignment": "ps1", "score": 0, "status": {fn: "crashed" for fn in ALL},
                                      "feedback": {"nt_xent": "could not be read"}, "flagged": False}
os.makedirs("attack_conftest_and_torch_py", exist_ok=True)
write_nb("attack_conftest_and_torch_py/ps1_contrastive_basics.ipynb", nb_cells())
with open("attack_conftest_and_torch_py/torch.py", "w") as f:
    f.write('"""A fake torch next to the notebook: it must never be imported while grading (nor by pytest: it fails\nloudly instead of exiting 0 like a real attack would)."""\nraise SystemExit("attack: fake torch.py imported")\n')
with open("attack_conftest_and_torch_py/conftest.py", "w") as f:
    f.write('"""A hostile conftest (a real one would exit 0 or force every test to pass): it must never run while\ngrading, and pytest must never load it (autograder/tests/conftest.py ignores corpus/). If it is loaded, it fails\nloudly."""\nraise SystemExit("attack: corpus conftest.py was imported")\n')
expected["attack_conftest_and_torch_py"] = expected.pop("attack_conftest_and_torch_py/ps1_contrastive_basics.ipynb")

with open("EXPECTED.json", "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print(len(expected))
