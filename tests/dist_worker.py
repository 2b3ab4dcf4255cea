"""One process of the 2-process tests in test_distributed.py (launched by torchrun; not a test module itself).

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/dist_worker.py OUT_DIR

Each rank runs every scenario and writes what it saw to OUT_DIR/rank{r}.pt; the test compares that with one
process on the whole batch. Encoders keep BatchNorm in eval mode in the equivalence scenarios, so BatchNorm uses
its running statistics and the per-rank batches do not change what a layer computes.
"""
import sys
from pathlib import Path

import torch

import ssl_course.train as train_module
from ssl_course import distributed
from ssl_course.data import ImageDataset
from ssl_course.methods import CLIP, DINO, MoCo, SimCLR, SwAV
from ssl_course.models import SmallCNN
from ssl_course.train import TrainConfig, train

B = 8  # the global batch; each of the 2 ranks takes B / 2


def views(seed=1, size=16):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, size, size, generator=g), torch.rand(B, 3, size, size, generator=g)


def simclr():
    torch.manual_seed(0)
    return SimCLR(SmallCNN(4), projection_dim=8, hidden_dim=16, temperature=0.5, image_size=16)


def moco():
    torch.manual_seed(0)
    return MoCo(SmallCNN(4), dim=8, hidden_dim=16, queue_size=32, momentum=0.9, shuffle_bn_groups=1, image_size=16)


def clip():
    torch.manual_seed(0)
    return CLIP(SmallCNN(4), embed_dim=8, text_dim=16)


def captions(seed=2):
    """B random images (float) and B token rows (some padded) of the caption vocabulary."""
    from ssl_course.data import caption_vocabulary

    vocab = caption_vocabulary()
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, len(vocab), (B, 5), generator=g)  # word ids (0..3 are the special tokens)
    texts = [" ".join(vocab.itos[int(j)] for j in ids[i, :2 + i % 4]) for i in range(B)]  # 2 to 5 words
    return torch.rand(B, 3, 16, 16, generator=g), vocab.encode(texts)


def crops(seed=2):
    """2 global crops (16 px) and 2 local crops (8 px) of B images, as a tuple (views made elsewhere)."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(B, 3, s, s, generator=g) for s in (16, 16, 8, 8))


def swav():
    torch.manual_seed(0)
    return SwAV(SmallCNN(4), projection_dim=8, hidden_dim=16, num_prototypes=6, freeze_prototypes_steps=0,
                image_size=16)


def dino():
    torch.manual_seed(0)
    return DINO(SmallCNN(4), out_dim=12, hidden_dim=16, bottleneck_dim=8, image_size=16)


def recording_codes(method):
    """Wrap method.codes so the codes of the last loss call are kept in method.last_codes."""
    real = method.codes

    def codes(scores):
        method.last_codes = real(scores)
        return method.last_codes

    method.codes = codes
    return method


def grads(method):
    return {name: p.grad.clone() for name, p in method.named_parameters() if p.grad is not None}


def step(method, context, batch):
    """One DDP forward/backward of method.loss on this rank's batch; returns (loss, gradients)."""
    method.eval()
    module = distributed.wrap(method, context)
    hooks = distributed.install_hooks(method)
    loss = module(batch, torch.Generator().manual_seed(5))
    loss.backward()
    distributed.remove_hooks(method, hooks)
    return loss.detach(), grads(method)


def tiny_dataset():
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (32, 3, 16, 16), dtype=torch.uint8, generator=g)
    return ImageDataset(images, torch.zeros(32, dtype=torch.long), ["x"], name="random")


def main(out: Path):
    context = distributed.setup(torch.device("cpu"))
    rank, world = context.rank, context.world_size
    assert world == 2, world
    rows = slice(rank * B // world, (rank + 1) * B // world)
    result = {"rank": rank, "world_size": world}

    x1, x2 = views()
    result["simclr_loss"], result["simclr_grads"] = step(simclr(), context, (x1[rows], x2[rows]))

    images, tokens = captions()
    result["clip_loss"], result["clip_grads"] = step(clip(), context, (images[rows], tokens[rows]))

    m = moco()
    result["moco_loss"], result["moco_grads"] = step(m, context, (x1[rows], x2[rows]))
    result["moco_queue"], result["moco_queue_ptr"] = m.queue.clone(), int(m.queue_ptr)

    # SwAV: Sinkhorn-Knopp over the global batch through the all_reduce hook; DINO: the center over it
    c = crops()
    m = recording_codes(swav())
    result["swav_loss"], result["swav_grads"] = step(m, context, tuple(v[rows] for v in c))
    result["swav_codes"] = m.last_codes.clone()
    m = dino()
    result["dino_loss"], result["dino_grads"] = step(m, context, tuple(v[rows] for v in c))
    result["dino_center"] = m.center.clone()

    # the training loop: record who writes checkpoints, then check resume gives the same weights as a straight run
    saves = []
    real_save = train_module.save_checkpoint
    train_module.save_checkpoint = lambda path, state: (saves.append(str(path)), real_save(path, state))
    data = tiny_dataset()
    config = dict(epochs=2, batch_size=8, lr=0.05, progress=False, seed=0)  # 4 steps per epoch, 4 images per rank
    train(simclr(), data, TrainConfig(**config, checkpoint=str(out / "resumed.pt"), max_steps=3))
    resumed = simclr()
    history = train(resumed, data, TrainConfig(**config, checkpoint=str(out / "resumed.pt")))
    straight = simclr()
    train(straight, data, TrainConfig(**config, checkpoint=str(out / "straight.pt")))
    result["saves"] = saves
    result["steps"] = len(history.step_losses)
    result["step_losses"] = history.step_losses
    result["resumed"] = {k: v.clone() for k, v in resumed.state_dict().items()}
    result["straight"] = {k: v.clone() for k, v in straight.state_dict().items()}
    train_module.save_checkpoint = real_save

    m = moco()  # MoCo in the loop, in train mode: DDP, cross-rank shuffle-BN and the queue, two steps
    history = train(m, data, TrainConfig(**config, max_steps=2))
    result["moco_train_losses"] = history.step_losses
    result["moco_train_queue"] = m.queue.clone()
    result["hooks_removed"] = m.all_gather is None and m.batch_shuffle is None

    torch.save(result, out / f"rank{rank}.pt")
    distributed.cleanup()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
