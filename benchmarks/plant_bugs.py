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
]


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "ssl_course", "tests", "pyproject.toml"],
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
