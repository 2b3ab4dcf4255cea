"""How a representation is judged: features of a frozen encoder, kNN accuracy, a linear probe, label efficiency,
and a t-SNE embedding for the eye."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .common import as_float_images, eval_mode, resolve_device  # noqa: F401  (resolve_device: old imports)
from .data import ImageDataset, label_subset


def pixels(dataset: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The raw-pixel baseline: (N, 3*H*W) float32 in [0, 1] and labels (N,)."""
    return as_float_images(dataset.images.flatten(1)), dataset.labels.clone()


@torch.no_grad()
def extract_features(encoder: nn.Module, dataset: ImageDataset, batch_size: int = 512,
                     device: str | torch.device = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Features of every image, with the encoder in eval mode (BatchNorm running statistics), no augmentation.

    Returns (features (N, D) float32 on the CPU, labels (N,) int64). The encoder's train/eval mode is restored.
    """
    device = resolve_device(device)
    feats = []
    with eval_mode(encoder):
        for start in range(0, len(dataset), batch_size):
            x = as_float_images(dataset.images[start:start + batch_size].to(device, non_blocking=True))
            feats.append(encoder(x).float().cpu())
    return torch.cat(feats), dataset.labels.clone()



@torch.no_grad()
def mean_cosine(model_a: nn.Module, model_b: nn.Module, images: torch.Tensor, batch_size: int = 512,
                device: str | torch.device = "auto") -> float:
    """Mean cosine similarity between two models' outputs for the same images, both in eval mode (their modes
    are restored). images: (N, 3, H, W) uint8 (scaled to [0, 1]) or float; the models map them to (N, D)."""
    device = resolve_device(device)
    total, count = 0.0, 0
    with eval_mode(model_a, model_b):
        for start in range(0, len(images), batch_size):
            x = as_float_images(images[start:start + batch_size].to(device))
            cos = F.cosine_similarity(model_a(x).float(), model_b(x).float(), dim=1)  # (n,)
            total, count = total + float(cos.sum()), count + len(cos)
    return total / count


def query_key_agreement(moco: nn.Module, images: torch.Tensor, **kwargs) -> float:
    """How close MoCo's key encoder is to its query encoder *now*: the mean cosine between
    g_k(f_k(x)) and g_q(f_q(x)) for the same (un-augmented) images. 1.0 when the key encoder equals the query
    encoder (momentum 0); it falls as the key encoder lags behind (high momentum, fast-changing query encoder).
    Not to be confused with ``interactive.stored_key_consistency`` (how well the keys stored in the queue agree
    with the current key encoder), which rises with the momentum."""
    return mean_cosine(nn.Sequential(moco.encoder_k, moco.projector_k), nn.Sequential(moco.encoder_q, moco.projector_q),
                       images, **kwargs)



@torch.no_grad()
def extract_sequence_features(encoder: nn.Module, dataset, batch_size: int = 256,
                              device: str | torch.device = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """``extract_features`` for a ``SequenceDataset`` (signals (N, C, L) float, used as they are): the encoder in
    eval mode on every signal. Returns (features (N, D) float32 on the CPU, labels (N,)); the mode is restored."""
    device = resolve_device(device)
    with eval_mode(encoder):
        feats = [encoder(dataset.signals[s:s + batch_size].to(device)).float().cpu()
                 for s in range(0, len(dataset), batch_size)]
    return torch.cat(feats), dataset.labels.clone()


@torch.no_grad()
def knn_predict(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                k: int = 20, temperature: float = 0.07, num_classes: int | None = None,
                chunk: int = 1024) -> torch.Tensor:
    """Weighted kNN on cosine similarity (Wu et al. 2018, the monitor used by MoCo / SimCLR codebases):
    each of the k nearest training features votes for its class with weight exp(sim / temperature).

    train_features (N, D), train_labels (N,), test_features (M, D) -> predicted labels (M,).
    """
    num_classes = num_classes or int(train_labels.max()) + 1
    k = min(k, len(train_features))
    train = F.normalize(train_features.float(), dim=1)
    preds = []
    for start in range(0, len(test_features), chunk):
        sim = F.normalize(test_features[start:start + chunk].float(), dim=1) @ train.T  # (m, N)
        top_sim, top_idx = sim.topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], num_classes, device=sim.device)
        votes.scatter_add_(1, train_labels[top_idx], torch.exp(top_sim / temperature))
        preds.append(votes.argmax(1))
    return torch.cat(preds)


@torch.no_grad()
def nearest_neighbours(query_features: torch.Tensor, gallery_features: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Indices (Q, k) of each query's k most cosine-similar gallery rows, nearest first.
    query_features (Q, D), gallery_features (N, D)."""
    sim = F.normalize(query_features.float(), dim=1) @ F.normalize(gallery_features.float(), dim=1).T  # (Q, N)
    return sim.topk(min(k, sim.shape[1]), dim=1).indices


def knn_accuracy(train_features, train_labels, test_features, test_labels, k: int = 20,
                 temperature: float = 0.07) -> float:
    """Fraction of test features whose weighted-kNN prediction is right (see ``knn_predict``)."""
    pred = knn_predict(train_features, train_labels, test_features, k, temperature,
                       num_classes=int(max(train_labels.max(), test_labels.max())) + 1)
    return float((pred == test_labels).float().mean())


def linear_probe(train_features, train_labels, test_features, test_labels, weight_decay: float = 1e-4,
                 max_iter: int = 200, device: str | torch.device = "auto") -> float:
    """Accuracy of a multinomial logistic regression trained on frozen features.

    Features are standardised with the training set's mean and std; the classifier is fitted full-batch with
    L-BFGS (deterministic, no learning rate to tune) and an L2 penalty ``weight_decay``.
    train_features (N, D), train_labels (N,), test_features (M, D), test_labels (M,) -> test accuracy in [0, 1].
    """
    device = resolve_device(device)
    x_train, x_test = train_features.float().to(device), test_features.float().to(device)
    y_train, y_test = train_labels.to(device), test_labels.to(device)
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    classifier = nn.Linear(x_train.shape[1], num_classes).to(device)
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    optimizer = torch.optim.LBFGS(classifier.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(classifier(x_train), y_train) + weight_decay * classifier.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return float((classifier(x_test).argmax(1) == y_test).float().mean())


def label_efficiency(train_features, train_labels, test_features, test_labels,
                     fractions=(0.01, 0.1, 1.0), seed: int = 0, **probe_kwargs) -> dict[float, float]:
    """Linear-probe accuracy when only a class-balanced fraction of the training labels is kept.
    Returns {fraction: test accuracy}."""
    results = {}
    for fraction in fractions:
        keep = torch.from_numpy(label_subset(train_labels.numpy(), fraction, seed))
        results[fraction] = linear_probe(train_features[keep], train_labels[keep], test_features, test_labels,
                                         **probe_kwargs)
    return results


def evaluate_features(train_features, train_labels, test_features, test_labels, k: int = 20) -> dict[str, float]:
    """The two standard numbers for one representation: {"linear_probe": acc, "knn": acc}."""
    return {"linear_probe": linear_probe(train_features, train_labels, test_features, test_labels),
            "knn": knn_accuracy(train_features, train_labels, test_features, test_labels, k=k)}


def format_table(table: dict[str, dict[str, float]], k: int = 20) -> str:
    """A Markdown table, one row per representation: representation | linear probe | kNN (the demo's table)."""
    lines = [f"| representation | linear probe | kNN (k={k}) |", "|---|---:|---:|"]
    lines += [f"| {name} | {r['linear_probe']:.3f} | {r['knn']:.3f} |" for name, r in table.items()]
    return "\n".join(lines)


def representation_table(representations: dict, k: int = 20, show: bool = True) -> dict[str, dict[str, float]]:
    """Judge several representations the same way and print one table (``format_table``), as the lectures do.

    representations: {name: (train_features (N, D), train_labels (N,), test_features (M, D), test_labels (M,))}
    (e.g. ``experiment.baseline_features`` or ``ExperimentResult.features``) or {name: an accuracy dict already
    measured, e.g. ``ExperimentResult.accuracy``}, in the order the rows should appear.
    Returns {name: {"linear_probe": acc, "knn": acc}} (for ``viz.accuracy_bars``); ``show=False`` prints nothing.
    """
    table = {name: dict(value) if isinstance(value, dict) else evaluate_features(*value, k=k)
             for name, value in representations.items()}
    if show:
        print(format_table(table, k=k))
    return table


def tsne(features: torch.Tensor, perplexity: float = 30.0, seed: int = 0, max_points: int = 2000,
         max_iter: int = 750):
    """2-D t-SNE of (N, D) features. Uses at most ``max_points`` evenly spaced rows (t-SNE is O(N^2)).

    Returns (embedding (M, 2) float32 ndarray, indices (M,) of the rows used).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float32)
    idx = np.linspace(0, len(features) - 1, min(max_points, len(features))).round().astype(int)
    x = features[idx]
    if x.shape[1] > 50:  # the usual PCA to 50 dimensions first: faster and less noisy
        x = PCA(50, random_state=seed).fit_transform(x)
    perplexity = min(perplexity, (len(x) - 1) / 3)
    emb = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", max_iter=max_iter,
               random_state=seed).fit_transform(x)
    return emb.astype(np.float32), idx


def ridge_r2(train_features, train_targets, test_features, test_targets, alpha: float = 1e-2) -> float:
    """How much of a continuous target a linear map of the features explains: ridge regression (closed form,
    features standardised with the training set's statistics, penalty ``alpha`` per training example) fitted on
    the training set, then the test set's R^2 = 1 - SSE / SST, averaged over the target's columns.

    train_features (N, D), train_targets (N,) or (N, k), test_features (M, D), test_targets (M,) or (M, k).
    1 means perfectly decodable; about 0 (it can be negative) means a linear read-out does no better than the mean.
    """
    x_train, x_test = (torch.as_tensor(f, dtype=torch.float64) for f in (train_features, test_features))
    y_train, y_test = (torch.as_tensor(np.asarray(t), dtype=torch.float64).reshape(len(f), -1)
                       for t, f in ((train_targets, x_train), (test_targets, x_test)))
    mean, std = x_train.mean(0), x_train.std(0)
    # features (almost) constant on the training set, e.g. dead ReLUs, carry nothing learnable; standardising them
    # would blow up whatever small values they take on the test set
    live = std > 1e-3 * std.median().clamp_min(1e-12)
    x_train, x_test = (x_train[:, live] - mean[live]) / std[live], (x_test[:, live] - mean[live]) / std[live]
    y_mean = y_train.mean(0)
    gram = x_train.T @ x_train + alpha * len(x_train) * torch.eye(x_train.shape[1], dtype=torch.float64)
    weights = torch.linalg.solve(gram, x_train.T @ (y_train - y_mean))  # (D, k)
    prediction = x_test @ weights + y_mean
    sse = ((y_test - prediction) ** 2).sum(0)
    sst = ((y_test - y_test.mean(0)) ** 2).sum(0).clamp_min(1e-12)
    return float((1 - sse / sst).mean())


def decode_factors(train_features, train_factors: dict, test_features, test_factors: dict,
                   categorical=("shape", "polarity")) -> dict[str, float]:
    """Which generative factors a representation keeps, read out linearly: for a categorical factor the linear
    probe's test accuracy, for a continuous one the ridge regression's test R^2 (``ridge_r2``).

    train_features (N, D), test_features (M, D); *_factors: {name: (N,) / (M,) or (N, k) / (M, k) arrays}, e.g.
    ``ImageDataset.factors`` of the ``shapes`` splits; entries with more than two dimensions (the object mask)
    are not factors and are skipped. Returns {factor name: score}, in the factors' order.
    """
    scores = {}
    for name, train_values in train_factors.items():
        if np.asarray(train_values).ndim > 2:
            continue
        if name in categorical:
            scores[name] = linear_probe(train_features, torch.as_tensor(np.asarray(train_values), dtype=torch.long),
                                        test_features, torch.as_tensor(np.asarray(test_factors[name]),
                                                                       dtype=torch.long))
        else:
            scores[name] = ridge_r2(train_features, train_values, test_features, test_factors[name])
    return scores


# --------------------------------------------------------------------------------------------------------------
# what a loss without negatives must avoid: collapse; and what contrastive losses optimise (Wang & Isola 2020)
# --------------------------------------------------------------------------------------------------------------

def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """Wang & Isola (2020)'s alignment: E || f(x) - f(y) ||_2^alpha over positive pairs, on l2-normalised
    features. z1, z2: (N, D) embeddings of two views of the same N images (row i with row i). 0 when every pair
    maps to the same point; at most 2^alpha. Lower is better."""
    z1, z2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    return float((z1 - z2).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """Wang & Isola (2020)'s uniformity: log E exp(-t || f(x) - f(y) ||^2) over pairs of different images, on
    l2-normalised features. z: (N, D), N >= 2. 0 for a collapsed encoder (every distance 0); more negative is more
    uniform (about -t * 2 = -4 at t = 2 for points spread evenly on a high-dimensional sphere). Computed with
    log-sum-exp, so large t cannot underflow to log 0."""
    z = F.normalize(z.float(), dim=1)
    if len(z) < 2:
        raise ValueError("uniformity needs at least 2 embeddings")
    sq_dist = torch.pdist(z, p=2).pow(2)  # (N (N - 1) / 2,) distinct pairs
    return float(torch.logsumexp(-t * sq_dist, dim=0) - np.log(len(sq_dist)))


def output_std(z: torch.Tensor) -> float:
    """SimSiam's collapse monitor (Chen & He 2021, figure 2): the standard deviation over the batch of the
    l2-normalised output, per dimension, averaged over dimensions. z: (N, D). 0 for a collapsed output (every
    image maps to one point); about 1 / sqrt(D) for outputs spread like a Gaussian."""
    return float(F.normalize(z.float(), dim=1).std(dim=0).mean())


def effective_rank(z: torch.Tensor) -> float:
    """Roy & Vetterli (2007)'s effective rank of the (N, D) embedding matrix: exp of the entropy of its normalised
    singular values (of the centred features). 1 when everything lies on one line (dimensional collapse), D when
    every direction carries equal variance."""
    z = z.double() - z.double().mean(0)
    s = torch.linalg.svdvals(z)
    if float(s.sum()) == 0.0:
        return 1.0  # a constant output: no direction at all, counted as the lowest rank
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def collapse_monitor(z: torch.Tensor) -> dict[str, float]:
    """{"output_std": ``output_std``, "effective_rank": ``effective_rank``} of an (N, D) batch of outputs."""
    return {"output_std": output_std(z), "effective_rank": effective_rank(z)}


# --- CLIP: zero-shot classification and image-text retrieval ------------------------------------------------------

@torch.no_grad()
def class_embeddings(model: nn.Module, class_prompts: dict) -> torch.Tensor:
    """(C, D) unit vectors, one per class: each class's prompts -> ``model.encode_text`` -> L2-normalised ->
    averaged over the class's prompts (prompt ensembling, Radford et al. 2021 section 3.1.4) -> normalised again.
    Averaging after normalising gives every prompt the same weight, whatever its embedding's norm.

    class_prompts: {class name: [prompt, ...]} (at least one prompt per class), in the classifier's class order."""
    if not class_prompts or any(len(p) == 0 for p in class_prompts.values()):
        raise ValueError("class_prompts needs at least one class and at least one prompt per class")
    rows = []
    with eval_mode(model):
        for prompts in class_prompts.values():
            prompts = [prompts] if isinstance(prompts, str) else list(prompts)
            t = F.normalize(model.encode_text(model.tokenize(prompts)).float(), dim=1)  # (P, D)
            rows.append(F.normalize(t.mean(0), dim=0))
    return torch.stack(rows)  # (C, D)


@torch.no_grad()
def encode_images(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """(N, 3, H, W) uint8 or float -> (N, D) float32 ``model.encode_image`` embeddings, L2-normalised, in eval mode
    (BatchNorm running statistics; the model's mode is restored), on the model's device, returned on the CPU."""
    device = next(model.parameters(), torch.empty(0)).device
    out = []
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device)
            out.append(F.normalize(model.encode_image(x).float(), dim=1).cpu())
    return torch.cat(out)


@torch.no_grad()
def zero_shot(model: nn.Module, images: torch.Tensor, class_prompts: dict, labels: torch.Tensor | None = None,
              batch_size: int = 512) -> dict:
    """Classify images by the prompt they match best, with no training on labels (CLIP's zero-shot classifier).

    model: has ``encode_image`` (images -> (N, D)), ``encode_text`` (tokens -> (P, D)) and ``tokenize`` (texts ->
           tokens), e.g. ``ssl_course.methods.CLIP``
    images: (N, 3, H, W); class_prompts: {class: [prompt, ...]} (``class_embeddings`` ensembles them);
    labels: optional (N,) class indices in the order of ``class_prompts``.
    Returns {"predictions": (N,) int64, "scores": (N, C) cosine similarities, "classes": [names],
    "accuracy": float (None without labels)}.
    """
    weights = class_embeddings(model, class_prompts).cpu()  # (C, D)
    scores = encode_images(model, images, batch_size) @ weights.T  # (N, C)
    predictions = scores.argmax(1)
    accuracy = None
    if labels is not None:
        labels = torch.as_tensor(labels).cpu()
        accuracy = float((predictions == labels).float().mean())
    return {"predictions": predictions, "scores": scores, "classes": list(class_prompts), "accuracy": accuracy}


@torch.no_grad()
def retrieval(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, ks=(1, 5, 10)) -> dict:
    """Recall@k of paired rows: image i's caption is text i.

    image_embeddings, text_embeddings: (N, D) (normalised here; cosine similarity ranks). For each image, the
    rank of its own text among all N texts is the number of texts scoring strictly higher; recall@k is the share
    of images whose own text ranks below k (image -> text), and the same for texts (text -> image).
    Returns {"image_to_text": {k: recall}, "text_to_image": {k: recall}}.
    """
    if image_embeddings.shape != text_embeddings.shape or image_embeddings.dim() != 2:
        raise ValueError(f"image and text embeddings must both be (N, D), got {tuple(image_embeddings.shape)} and "
                         f"{tuple(text_embeddings.shape)}")
    u = F.normalize(image_embeddings.float(), dim=1)
    v = F.normalize(text_embeddings.float(), dim=1)
    sim = u @ v.T  # (N, N): image i against text j
    own = sim.diagonal()
    rank_i2t = (sim > own[:, None]).sum(1)  # texts above image i's own caption
    rank_t2i = (sim > own[None, :]).sum(0)  # images above text j's own image
    return {"image_to_text": {k: float((rank_i2t < k).float().mean()) for k in ks},
            "text_to_image": {k: float((rank_t2i < k).float().mean()) for k in ks}}
