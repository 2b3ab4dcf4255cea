"""Data-parallel training: two CPU processes (gloo, launched by torchrun) must compute what one process computes
on the whole batch. The encoders' BatchNorm layers are in eval mode in the equivalence checks (running statistics),
so that splitting the batch over ranks does not change the layers' outputs; the training-loop check runs in train
mode. The processes run tests/dist_worker.py once; each test reads what the ranks recorded."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_course import distributed

sys.path.insert(0, str(Path(__file__).parent))
import dist_worker  # noqa: E402  (the same model builders and inputs as the ranks)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "tests" / "dist_worker.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)], out


def _reference(method, batch):
    method.eval()
    loss = method.loss(batch, torch.Generator().manual_seed(5))
    loss.backward()
    return loss.detach(), dist_worker.grads(method)


def test_simclr_two_ranks_equal_one_process_on_the_whole_batch(ranks):
    results, _ = ranks
    loss, grads = _reference(dist_worker.simclr(), dist_worker.views())
    for r in results:
        # every rank computes the loss over the global batch: 2 x 8 views, negatives from both ranks
        torch.testing.assert_close(r["simclr_loss"], loss, rtol=1e-5, atol=1e-6)
        assert r["simclr_grads"].keys() == grads.keys()
        for name, g in grads.items():  # DDP averages; the gather's backward returns the other ranks' share
            torch.testing.assert_close(r["simclr_grads"][name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_clip_two_ranks_equal_one_process_on_the_whole_batch(ranks):
    """CLIP gathers both the image and the text embeddings with gradients: every rank's loss is the global
    batch's, and the averaged gradients (the logit scale's included) are those of one process on that batch."""
    results, _ = ranks
    loss, grads = _reference(dist_worker.clip(), dist_worker.captions())
    assert "logit_scale" in grads and "text_encoder.token_embedding.weight" in grads
    for r in results:
        torch.testing.assert_close(r["clip_loss"], loss, rtol=1e-5, atol=1e-6)
        assert r["clip_grads"].keys() == grads.keys()
        for name, g in grads.items():
            torch.testing.assert_close(r["clip_grads"][name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_gradients_through_other_ranks_negatives_are_not_dropped(ranks):
    """The trap: without gradients through the gathered embeddings, each rank's gradient misses the terms where
    its embeddings act as negatives for the other rank: the result would differ from the full-batch gradient."""
    results, _ = ranks
    method = dist_worker.simclr()
    method.eval()
    x1, x2 = dist_worker.views()
    z1, z2 = method(torch.cat([x1, x2])).chunk(2)
    from ssl_course.losses import nt_xent
    n = dist_worker.B // 2
    partial = 0
    for r in range(2):  # what a no-grad all_gather gives: other ranks' rows as constants
        rows = slice(r * n, (r + 1) * n)
        parts1 = [z1[rows] if q == r else z1[q * n:(q + 1) * n].detach() for q in range(2)]
        parts2 = [z2[rows] if q == r else z2[q * n:(q + 1) * n].detach() for q in range(2)]
        partial = partial + nt_xent(torch.cat(parts1), torch.cat(parts2), 0.5) / 2
    partial.backward()
    name = "encoder.features.0.0.weight"
    assert not torch.allclose(method.get_parameter(name).grad, results[0]["simclr_grads"][name], rtol=1e-3)


def test_moco_queue_holds_every_ranks_keys_in_order(ranks):
    results, _ = ranks
    reference = dist_worker.moco()
    loss, grads = _reference(reference, dist_worker.views())
    for r in results:
        assert r["moco_queue_ptr"] == dist_worker.B  # 2 ranks x 4 keys entered
        torch.testing.assert_close(r["moco_queue"], reference.queue, rtol=1e-5, atol=1e-6)
        for name, g in grads.items():
            torch.testing.assert_close(r["moco_grads"][name], g, rtol=1e-4, atol=1e-6, msg=name)
    # each rank's loss is the mean over its own queries; their mean is the whole batch's loss
    torch.testing.assert_close((results[0]["moco_loss"] + results[1]["moco_loss"]) / 2, loss, rtol=1e-5, atol=1e-6)


def test_swav_sinkhorn_over_two_ranks_equals_one_process_on_the_whole_batch(ranks):
    """The all_reduce hook makes each rank's codes its rows of the global batch's equipartition; without it each
    rank would equipartition its own 4 images, and the codes, the loss and the gradients would differ."""
    results, _ = ranks
    reference = dist_worker.recording_codes(dist_worker.swav())
    loss, grads = _reference(reference, dist_worker.crops())
    n = dist_worker.B // 2
    for r, result in enumerate(results):
        torch.testing.assert_close(result["swav_codes"], reference.last_codes[:, r * n:(r + 1) * n],
                                   rtol=1e-5, atol=1e-6)
        assert result["swav_grads"].keys() == grads.keys()
        for name, g in grads.items():  # DDP averages the ranks' gradients of their mean losses
            torch.testing.assert_close(result["swav_grads"][name], g, rtol=1e-4, atol=1e-6, msg=name)
    torch.testing.assert_close((results[0]["swav_loss"] + results[1]["swav_loss"]) / 2, loss, rtol=1e-5, atol=1e-6)
    # the local equipartition is another solution: the hook is what the equality above depends on
    local = dist_worker.recording_codes(dist_worker.swav())
    local.eval()
    local.loss(tuple(v[:n] for v in dist_worker.crops()))
    assert not torch.allclose(local.last_codes, results[0]["swav_codes"], atol=1e-4)


def test_dino_center_over_two_ranks_is_the_whole_batchs(ranks):
    results, _ = ranks
    reference = dist_worker.dino()
    loss, grads = _reference(reference, dist_worker.crops())
    for result in results:
        torch.testing.assert_close(result["dino_center"], reference.center, rtol=1e-5, atol=1e-7)
        for name, g in grads.items():
            torch.testing.assert_close(result["dino_grads"][name], g, rtol=1e-4, atol=1e-6, msg=name)
    torch.testing.assert_close((results[0]["dino_loss"] + results[1]["dino_loss"]) / 2, loss, rtol=1e-5, atol=1e-6)


def test_training_loop_under_two_ranks(ranks):
    results, out = ranks
    assert results[0]["saves"] and not results[1]["saves"]  # only rank 0 writes checkpoints
    assert set(results[0]["saves"]) == {str(out / "resumed.pt"), str(out / "straight.pt")}
    assert not list(out.glob("*.tmp"))
    for r in results:
        assert r["steps"] == 8  # 32 images, global batch 8, 2 epochs
        assert r["step_losses"] == results[0]["step_losses"]  # the logged loss is the mean over ranks
        for key, value in r["straight"].items():  # resumed on both ranks = uninterrupted run
            torch.testing.assert_close(r["resumed"][key], value, rtol=0, atol=0, msg=key)
        for key, value in results[0]["straight"].items():  # and the ranks hold the same weights
            if "running_" in key or "num_batches" in key:  # BN statistics: each rank's last batch (rank 0 saves)
                continue
            torch.testing.assert_close(r["straight"][key], value, rtol=0, atol=0, msg=key)
        assert len(r["moco_train_losses"]) == 2 and r["hooks_removed"]
    torch.testing.assert_close(results[0]["moco_train_queue"], results[1]["moco_train_queue"])


def test_shard_splits_the_global_batch():
    batch = torch.arange(12)
    parts = [distributed.shard(batch, r, 3) for r in range(3)]
    assert torch.equal(torch.cat(parts), batch)
    with pytest.raises(ValueError, match="evenly"):
        distributed.shard(batch, 0, 5)


def test_one_process_without_torchrun_is_unchanged(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = distributed.setup(torch.device("cpu"))
    assert not context.distributed and context.is_main
    x = torch.randn(3, 2, requires_grad=True)
    assert distributed.gather_with_grad(x) is x and distributed.gather_no_grad(x) is x
    assert not isinstance(distributed.wrap(torch.nn.Linear(2, 2), context), torch.nn.parallel.DistributedDataParallel)


def test_throughput_options(monkeypatch):
    """compile=True compiles the encoders and heads in place (state_dict keys unchanged), never the augmentation;
    fused optimizers only on CUDA."""
    from ssl_course.train import TrainConfig, build_optimizer, train

    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    method = dist_worker.simclr()
    keys = set(method.state_dict())
    train(method, dist_worker.tiny_dataset(), TrainConfig(epochs=1, batch_size=16, max_steps=1, progress=False,
                                                          compile=True))
    assert compiled == ["SmallCNN", "ProjectionHead"] and set(method.state_dict()) == keys
    assert not build_optimizer(method, TrainConfig(), torch.device("cpu")).defaults.get("fused")
