"""Plant each bug of issue 18's audit (and a few more of the same kinds) in a scratch copy of the working tree, one
at a time, run the narrow tests meant to catch it, and print a markdown table: bug -> the test that failed.

    OMP_NUM_THREADS=1 python benchmarks/plant_bugs.py            # all bugs (about 5 minutes on one core)
    OMP_NUM_THREADS=1 python benchmarks/plant_bugs.py moco_queue # only the bugs whose name contains this

Each bug is a one-place text edit (asserted to match exactly once, so a refactor that moves the code makes the
script fail loudly instead of planting nothing). A bug that no test catches is reported as SURVIVED and the
script exits 1. Results of the last run: benchmarks/RESULTS_mutation.md.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

A, T, M, D, H = ("ssl_course/augment.py", "ssl_course/train.py", "ssl_course/methods/moco.py",
                 "ssl_course/distributed.py", "ssl_course/models/heads.py")

G, S = "autograder/compare.py", "autograder/specs.py"
CORPUS_23 = "autograder/tests/test_corpus_ps2_ps3.py"
SPEC_CASES = "autograder/tests/test_specs_cases.py"

# name, file, old text, new text, tests to run
BUGS = [
    ("flip drawn once per batch", A,
     "flip = torch.rand(b, generator=generator, device=x.device) < c.flip_p",
     "flip = (torch.rand(1, generator=generator, device=x.device) < c.flip_p).expand(b)",
     "tests/test_augment.py"),
    ("grayscale decision once per batch", A,
     "pick = (torch.rand(x.shape[0], generator=generator, device=x.device) < self.config.gray_p).view(-1, 1, 1, 1)",
     "pick = (torch.rand(1, generator=generator, device=x.device) < self.config.gray_p).view(-1, 1, 1, 1)",
     "tests/test_augment.py"),
    ("blur decision once per batch", A,
     "pick = torch.rand(b, generator=generator, device=x.device) < c.blur_p",
     "pick = (torch.rand(1, generator=generator, device=x.device) < c.blur_p).expand(b)",
     "tests/test_augment.py"),
    ("blur sigma once per batch", A,
     "sigma = _uniform(c.blur_sigma[0], c.blur_sigma[1], b, generator, x.device)",
     "sigma = _uniform(c.blur_sigma[0], c.blur_sigma[1], 1, generator, x.device).expand(b)",
     "tests/test_augment.py"),
    ("jitter on/off once per batch", A,
     "apply = torch.rand(b, generator=generator, device=dev) < c.jitter_p",
     "apply = (torch.rand(1, generator=generator, device=dev) < c.jitter_p).expand(b)",
     "tests/test_augment.py"),
    ("crop position once per batch", A,
     "x0 = torch.floor(torch.rand(batch, generator=generator, device=device) * (width - w + 1))",
     "x0 = torch.floor(torch.rand(1, generator=generator, device=device) * (width - w + 1))",
     "tests/test_augment.py"),
    ("crop position only from the top-left quarter", A,
     "y0 = torch.floor(torch.rand(batch, generator=generator, device=device) * (height - h + 1))",
     "y0 = torch.floor(torch.rand(batch, generator=generator, device=device) * (height - h + 1) / 2)",
     "tests/test_augment.py"),
    ("SimCLR jitter probability 0.8 -> 0.5", A,
     "    jitter_p: float = 0.8\n", "    jitter_p: float = 0.5\n", "tests/test_augment.py"),
    ("SimCLR jitter strength 0.8s -> 0.5s", A,
     "return cls(jitter=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s), blur_p=blur_p)",
     "return cls(jitter=(0.5 * s, 0.5 * s, 0.5 * s, 0.2 * s), blur_p=blur_p)", "tests/test_augment.py"),
    ("SimCLR torchvision jitter p 0.8 -> 0.5", A,
     'ops["jitter"] = jitter if c.jitter_p >= 1 else v2.RandomApply([jitter], p=c.jitter_p)',
     'ops["jitter"] = jitter if c.jitter_p >= 1 else v2.RandomApply([jitter], p=0.5)',
     "tests/test_augment.py"),
    ("grayscale with p = 1 - gray_p", A,
     "< self.config.gray_p).view(-1, 1, 1, 1)", "> self.config.gray_p).view(-1, 1, 1, 1)", "tests/test_augment.py"),
    ("MoCo enqueues the queries instead of the keys", M,
     "keys = self.all_gather(k) if self.all_gather is not None else k",
     "keys = self.all_gather(q) if self.all_gather is not None else q.detach()",
     "tests/test_models_methods.py"),
    ("MoCo keys not un-shuffled", M,
     "im_k[idx_shuffle])[idx_unshuffle]", "im_k[idx_shuffle])[idx_shuffle]", "tests/test_models_methods.py"),
    ("MoCo EMA sides swapped", M,
     "momentum_update_(self.key_parameters(), self.query_parameters(), self.momentum)",
     "momentum_update_(self.key_parameters(), self.query_parameters(), 1 - self.momentum)",
     "tests/test_models_methods.py"),
    ("MoCo key encoder shares the query encoder", M,
     "self.encoder_k = copy.deepcopy(self.encoder_q)", "self.encoder_k = self.encoder_q",
     "tests/test_models_methods.py"),
    ("epoch loss averaged over the resumed steps only", T,
     '"loss": float(np.mean(epoch_all))', '"loss": float(np.mean(epoch_losses))', "tests/test_train_resume.py"),
    ("checkpoint written in place", T,
     "    torch.save(state, tmp)\n    os.replace(tmp, path)\n", "    torch.save(state, path)\n",
     "tests/test_train_resume.py"),
    ("DataLoader path draws from the global RNG (the resume bug)", T,
     "loader = DataLoader(SeededItems(self.dataset), batch_size=bs // world, sampler=items,",
     "loader = DataLoader(self.dataset, batch_size=bs // world, sampler=indices,", "tests/test_train_resume.py"),
    ("Ctrl-C does not checkpoint", T,
     "    except KeyboardInterrupt:\n        checkpoint()\n", "    except KeyboardInterrupt:\n",
     "tests/test_train_resume.py"),
    ("checkpoint_every ignored", T,
     "if config.checkpoint_every and global_step % config.checkpoint_every == 0:",
     "if False and config.checkpoint_every:", "tests/test_train_resume.py"),
    ("non-finite loss not checked", T,
     "if not math.isfinite(value):", "if False:", "tests/test_train_resume.py"),
    ("corrupt checkpoint raises torch's own error", T,
     "        return torch.load(path, map_location=map_location, weights_only=False)\n    except Exception",
     "        return torch.load(path, map_location=map_location, weights_only=False)\n    except KeyError",
     "tests/test_train_resume.py"),
    ("bf16 autocast never enabled", T,
     "with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):",
     "with torch.autocast(device_type, dtype=torch.bfloat16, enabled=False):", "tests/test_train_resume.py"),
    ("channels_last ignored", T,
     "        method.to(memory_format=torch.channels_last)\n    batches", "        pass\n    batches",
     "tests/test_train_resume.py"),
    ("kNN monitor ignores knn_k", T,
     "k=config.knn_k)", "k=20)", "tests/test_train_evaluate.py::test_knn_monitor_and_per_image_pipeline"),
    ("sync_bn on the CPU silently accepted", D,
     'raise ValueError("sync_bn needs CUDA', 'print("sync_bn needs CUDA', "tests/test_train_resume.py"),
    ("DDP: SimCLR's gathered negatives pass no gradient back", D,
     "        grad = grad.contiguous().clone()\n        dist.all_reduce(grad, op=dist.ReduceOp.SUM)\n",
     "        grad = grad.contiguous().clone()\n", "tests/test_distributed.py"),
    ("DDP: shuffle-BN restores keys with the shuffle, not its inverse", D,
     "return gather_no_grad(k)[idx_unshuffle.view(world, -1)[rank]]",
     "return gather_no_grad(k)[idx_shuffle.view(world, -1)[rank]]", "tests/test_distributed.py"),
    ("DDP: MoCo's queue takes only this rank's keys", D,
     '("all_gather", gather_no_grad), ', "", "tests/test_distributed.py"),
    ("grader reference: CPC scores transposed (library kernel)", "ssl_course/losses.py",
     "return (context @ weight.T) @ future.T", "return ((context @ weight.T) @ future.T).T",
     "tests/test_grader_specs_independent.py"),
    ("grader reference: enqueue without wrap-around (library kernel)", "ssl_course/losses.py",
     "rows = (ptr + torch.arange(N, device=queue.device)) % K",
     "rows = (ptr + torch.arange(N, device=queue.device)).clamp(max=K - 1)",
     "tests/test_grader_specs_independent.py"),
    ("RotNet ignores its augment", "ssl_course/methods/rotation.py",
     "            images = self.augment(images, generator)\n", "            pass\n",
     "tests/test_pretext_methods.py::test_rotation_optional_augment_is_applied_before_rotating"),
    ("projection head without ReLU", H,
     "            layers.append(nn.ReLU(inplace=True))\n", "            pass\n", "tests/test_models_methods.py"),
    ("run_experiment evaluates the untrained encoder", "ssl_course/experiment.py",
     "features = features_of(method.encoder, labelled, test_set, config.device)",
     "features = features_of(build(config, train_set.image_size).encoder, labelled, test_set, config.device)",
     "tests/test_lecture_helpers.py::test_run_experiment_trains_a_pretext_method"),
    ("matmul FLOPs counted as multiply-adds", "ssl_course/bench.py",
     "return 2 * size**3 / seconds", "return size**3 / seconds", "tests/test_bench.py"),
    ("correlated Gaussians: y without the noise scale", "ssl_course/mi.py",
     "y = rho * x + math.sqrt(1.0 - rho ** 2) * eps", "y = rho * x + (1.0 - rho ** 2) * eps",
     "tests/test_mi.py::test_samples_are_the_generators_draws_on_every_device"),
    # the grader's own checks (autograder/), each caught by the PS2/PS3 red-team corpus graded in the sandbox
    ("grader: a gradient that must be zero is not checked (MoCo's keys)", G,
     "            if target_zero and not _close(g, target, low, 10):\n",
     "            if False:\n", CORPUS_23),
    ("grader: ContextNetwork's causality not checked", S,
     "    if not np.allclose(out[:, :t0], out_future[:, :t0], rtol=1e-5, atol=1e-6):\n", "    if False:\n", CORPUS_23),
    ("grader: the shuffle's inverse not checked", S,
     "        if not np.array_equal(shuffle[unshuffle], np.arange(n)) or \\\n"
     "                not np.array_equal(unshuffle[shuffle], np.arange(n)):\n", "        if False:\n", CORPUS_23),
    ("grader: float tolerance loosened to 2 %", G,
     "rtol, atol = (2e-4, 2e-5) if low_precision else (1e-6, 1e-9)",
     "rtol, atol = (2e-2, 2e-5) if low_precision else (2e-2, 1e-9)", CORPUS_23),
    # mutants that survived mutmut on the grader (benchmarks/RESULTS_mutation.md), killed by tests written after
    ("grader mutant: causality case may change the sequence from step 0", S,
     "t0 = int(rng.integers(2, t - 1))", "t0 = int(rng.integers(t - 1))", SPEC_CASES),
    ("grader mutant: causality case's changed future is NaN", S,
     "x_future[:, t0:] = _rand(rng, b, t - t0, d, dtype=np.float32)", "x_future[:, t0:] = None", SPEC_CASES),
    ("grader mutant: causality tolerance rtol 1.00001", S,
     "if not np.allclose(out[:, :t0], out_future[:, :t0], rtol=1e-5,",
     "if not np.allclose(out[:, :t0], out_future[:, :t0], rtol=1.00001,", SPEC_CASES),
    ("grader mutant: 'does not change' tolerance rtol 1.00001", S,
     "if np.allclose(out[:, t0:], out_future[:, t0:], rtol=1e-5,",
     "if np.allclose(out[:, t0:], out_future[:, t0:], rtol=1.00001,", SPEC_CASES),
    ("grader mutant: a missing context output passes", S,
     'return False, "the network must return one tensor', 'return True, "the network must return one tensor',
     SPEC_CASES),
    ("grader mutant: shape check needs both outputs wrong", S,
     "if out.shape != (b, t, c) or out_future.shape", "if out.shape != (b, t, c) and out_future.shape", SPEC_CASES),
    ("grader mutant: constant-context check skips step 1", S,
     "out[:, 1:], out[:, :1]", "out[:, 2:], out[:, :1]", SPEC_CASES),
    ("grader mutant: module facts read when one is missing", S, "if info and all(", "if info or all(", SPEC_CASES),
    ("grader mutant: an unreported parameter count counts as 1", S,
     'i.get("trainable_parameters", 0)', 'i.get("trainable_parameters", 1)', SPEC_CASES),
    ("grader mutant: FunctionResult.to_dict of nothing", G,
     "return asdict(self)", "return asdict(None)", "autograder/tests/test_compare_units.py"),
    ("grader mutant: the reference's generator unseeded", G,
     "args.append(torch.Generator().manual_seed(a.seed))", "args.append(None)",
     "autograder/tests/test_compare_units.py"),
    ("grader mutant: a variant that raised names the mistake", G,
     'if outs is None or len(outs) != len(outcome["outputs"]):\n        return False',
     'if outs is None or len(outs) != len(outcome["outputs"]):\n        return True',
     "autograder/tests/test_compare_units.py"),
]


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "ssl_course", "autograder", "tests",
                            "pyproject.toml"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)


def first_failure(output: str) -> str:
    match = re.search(r"^FAILED (\S+)", output, re.M)
    return match.group(1) if match else ""


def main(selection: str = "") -> int:
    work = Path(tempfile.mkdtemp(prefix="plant-"))
    copy_tree(work)
    env = {**os.environ, "PYTHONPATH": str(work), "OMP_NUM_THREADS": "1"}
    rows, survived = [], 0
    for name, path, old, new, tests in BUGS:
        if selection and selection not in name:
            continue
        target = work / path
        original = target.read_text()
        assert original.count(old) == 1, f"{name}: the text to replace occurs {original.count(old)} times in {path}"
        target.write_text(original.replace(old, new))
        try:
            proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests.split()],
                                  cwd=work, env=env, capture_output=True, text=True, timeout=600)
        finally:
            target.write_text(original)
        caught = proc.returncode == 1
        survived += not caught
        failed = first_failure(proc.stdout) if caught else f"SURVIVED (pytest exit {proc.returncode})"
        rows.append(f"| {name} | `{path}` | `{failed}` |")
        print(rows[-1], flush=True)
    shutil.rmtree(work)
    print(f"\n{len(rows) - survived} of {len(rows)} planted bugs caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
