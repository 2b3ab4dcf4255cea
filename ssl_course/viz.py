"""Every plot the course shows. Each function draws into a given matplotlib Axes (or makes a Figure) and returns
it, so notebooks, the demo and the widgets share one implementation."""
from __future__ import annotations

import math
import textwrap
from typing import Sequence

import numpy as np
import torch

from .common import as_float_images


def _plt():
    import matplotlib.pyplot as plt

    return plt


def to_display(image) -> np.ndarray:
    """A (3, H, W) uint8 or float [0, 1] tensor/array -> (H, W, 3) float array for imshow."""
    x = torch.as_tensor(image).detach().cpu()
    x = as_float_images(x)
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def image_grid(images, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.3, suptitle=None):
    """Show a batch of images (B, 3, H, W) in a grid; returns the Figure."""
    plt = _plt()
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_display(images[i]), interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def augmentation_pairs(images, augment, generator=None, num: int = 8, size: float = 1.3):
    """Rows: the originals, view 1, view 2 (each view an independent draw of ``augment``). Returns the Figure."""
    plt = _plt()
    images = images[:num]
    v1, v2 = augment(images, generator), augment(images, generator)
    fig, axes = plt.subplots(3, len(images), figsize=(len(images) * size, 3 * size * 1.05), squeeze=False)
    for col in range(len(images)):
        for row, batch in enumerate((images, v1, v2)):
            axes[row, col].imshow(to_display(batch[col]), interpolation="nearest")
            axes[row, col].axis("off")
    for row, name in enumerate(("original", "view 1", "view 2")):
        axes[row, 0].set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def similarity_matrix(z1: torch.Tensor, z2: torch.Tensor, temperature: float | None = None, ax=None):
    """The 2N x 2N cosine-similarity matrix of [z1; z2] that NT-Xent reads: the positives are the two
    off-diagonals at distance N; the main diagonal (self-similarity) is what the loss masks out."""
    plt = _plt()
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).detach().float().cpu(), dim=1)
    sim = (z @ z.T).numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    shown = sim / temperature if temperature else sim
    im = ax.imshow(shown, cmap="viridis")
    n = len(z1)
    ax.axhline(n - 0.5, color="w", lw=0.8)
    ax.axvline(n - 0.5, color="w", lw=0.8)
    ax.set_title("cosine similarity" + (f" / t (t={temperature})" if temperature else "") + ", [z1; z2]")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    return ax


def tsne_scatter(embedding: np.ndarray, labels, class_names: Sequence[str] | None = None, ax=None,
                 title: str = "t-SNE", legend: bool = True, s: float = 6):
    """Scatter a 2-D embedding (M, 2) coloured by integer labels (M,)."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    labels = np.asarray(labels)
    cmap = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
    for c in np.unique(labels):
        pts = embedding[labels == c]
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(pts[:, 0], pts[:, 1], s=s, color=cmap(int(c) % cmap.N), label=name)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if legend:
        ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return ax


def tsne_panels(panels: dict[str, tuple[np.ndarray, np.ndarray]], class_names=None, size: float = 4.0):
    """Several t-SNE scatters side by side: {title: (embedding (M, 2), labels (M,))}. Returns the Figure."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels) + 1.2, size), squeeze=False)
    for i, (ax, (title, (emb, labels))) in enumerate(zip(axes[0], panels.items())):
        tsne_scatter(emb, labels, class_names, ax=ax, title=title, legend=i == len(panels) - 1)
    fig.tight_layout()
    return fig


def training_curves(history, ax=None):
    """Loss per step (and kNN accuracy per epoch on a twin axis when monitored) of a ``train.History``."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(history.step_losses, lw=0.8, color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="tab:blue")
    knn = [(e["epoch"], e["knn_acc"]) for e in history.epochs if "knn_acc" in e]
    if knn:
        steps_per_epoch = len(history.step_losses) / max(1, history.epochs[-1]["epoch"])
        ax2 = ax.twinx()
        ax2.plot([ep * steps_per_epoch for ep, _ in knn], [a for _, a in knn], "o-", color="tab:orange")
        ax2.set_ylabel("kNN accuracy", color="tab:orange")
    return ax


def accuracy_bars(results: dict[str, dict[str, float]], ax=None, title: str = ""):
    """Grouped bars: {representation: {metric: accuracy}} (e.g. the demo's table). Long names are wrapped onto
    several lines, and a new figure grows with the number of bars, so that the labels never overlap."""
    plt = _plt()
    names = list(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.5, 1.4 * len(names)), 3.2))
    metrics = list(next(iter(results.values())))
    width = 0.8 / len(metrics)
    for j, metric in enumerate(metrics):
        values = [results[n][metric] for n in names]
        bars = ax.bar(np.arange(len(names)) + j * width, values, width, label=metric)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(names)) + width * (len(metrics) - 1) / 2, [textwrap.fill(n, 11) for n in names])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return ax


def sweep_plot(results: dict, xlabel: str, ax=None, ylabel: str = "accuracy", title: str = "", log: bool = False):
    """Line plot of metrics against a swept setting: {setting: {metric: value}}, one line per metric.

    Settings are placed at evenly spaced positions labelled with their values (momenta such as 0, 0.9, 0.99, 0.999
    or queue sizes read better that way); ``log=True`` uses the values themselves on a log axis instead.
    Every value is written next to its marker."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.2))
    settings = list(results)
    xs = np.asarray(settings, dtype=float) if log else np.arange(len(settings))
    metrics = list(dict.fromkeys(m for v in results.values() for m in v))
    for metric in metrics:
        ys = np.array([results[s].get(metric, np.nan) for s in settings], dtype=float)
        ax.plot(xs, ys, "o-", label=metric)
        for x, y in zip(xs, ys):
            if np.isfinite(y):
                ax.annotate(f"{y:.2f}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    if log:
        ax.set_xscale("log")
    else:
        ax.set_xticks(xs, [str(s) for s in settings])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(metrics) > 1:
        ax.legend(fontsize=8)
    return ax


def mi_estimates(true_mis, curves: dict, ax=None, title: str = "InfoNCE estimate vs true mutual information"):
    """Estimate against truth for several batch sizes N ({N: [estimate per true MI]}), with each ceiling log N
    dashed and the identity line dotted."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    true_mis = np.asarray(true_mis, dtype=float)
    ax.plot(true_mis, true_mis, ":", color="k", label="true MI")
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(curves)))
    for color, (n, values) in zip(colors, sorted(curves.items())):
        ax.plot(true_mis, values, "o-", color=color, label=f"N = {n}")
        ax.axhline(np.log(n), ls="--", lw=0.8, color=color)
    ax.set_xlabel("true I(x; y) [nats]")
    ax.set_ylabel("log N - L_InfoNCE [nats]")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


# ---- the plots the lectures' knobs redraw (ssl_course.widgets); each also works on its own ---------------------

def softmax_bars(probs, positive: int, ax=None, title: str = "", masked: int | None = None):
    """Bar chart of one softmax row (the candidates' probabilities), the positive in orange, a masked candidate
    (the anchor in NT-Xent) greyed out and marked."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3))
    probs = np.asarray(torch.as_tensor(probs).detach().cpu(), dtype=float)
    colors = ["tab:orange" if j == positive else "tab:blue" for j in range(len(probs))]
    ax.bar(np.arange(len(probs)), probs, color=colors)
    if masked is not None:
        ax.text(masked, 0.02, "self\n(masked)", ha="center", fontsize=7, color="0.4")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(np.arange(len(probs)))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("candidate (orange: the positive)")
    ax.set_ylabel("softmax probability")
    ax.set_title(title, fontsize=10)
    return ax


def temperature_panel(probs_matrix, row_probs, positive: int, temperature: float, loss: float, masked=None):
    """Two panels for the temperature knob: the whole softmax matrix (rows: queries) and one row as bars, with the
    loss in the title. Returns the Figure."""
    plt = _plt()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.3), gridspec_kw={"width_ratios": [1, 1.6]})
    im = ax0.imshow(np.asarray(torch.as_tensor(probs_matrix)), cmap="viridis", vmin=0, vmax=1)
    ax0.set_title(f"softmax(sim / t), t = {temperature:g}", fontsize=10)
    ax0.set_xlabel("candidate")
    ax0.set_ylabel("query")
    fig.colorbar(im, ax=ax0, fraction=0.046)
    softmax_bars(row_probs, positive, ax=ax1, masked=masked,
                 title=f"one row; loss = {loss:.3f} (log N = {math.log(len(probs_matrix)):.2f})")
    fig.tight_layout()
    return fig


def mi_ceiling(true_mis, estimates, batch_size: int, ax=None):
    """One batch size's InfoNCE estimates against the true MI, with the identity line and the log N ceiling."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6))
    true_mis = np.asarray(true_mis, dtype=float)
    ax.plot(true_mis, true_mis, ":", color="k", label="true MI")
    ax.plot(true_mis, estimates, "o-", color="tab:blue", label=f"estimate, N = {batch_size}")
    ax.axhline(math.log(batch_size), ls="--", color="tab:red", label=f"log N = {math.log(batch_size):.2f}")
    ax.set_ylim(0, max(true_mis.max(), math.log(batch_size)) * 1.08)
    ax.set_xlabel("true I(x; y) [nats]")
    ax.set_ylabel("log N - L_InfoNCE [nats]")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("InfoNCE cannot certify more than log N", fontsize=10)
    return ax


def stored_key_consistency_curve(result: dict, momentum: float, queue_size: int, ax=None):
    """Mean cosine between a stored key and the current key encoder's key for the same input, by the key's age
    (``interactive.stored_key_consistency``)."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(result["age"], result["consistency"], "o-", ms=3)
    ax.set_ylim(min(0.0, float(np.min(result["consistency"]))), 1.02)
    ax.set_xlabel("age of the key in the queue [iterations]")
    ax.set_ylabel("cosine(stored key, fresh key)")
    ax.set_title(f"m = {momentum:g}, K = {queue_size}: mean stored-key consistency {result['mean']:.3f}", fontsize=10)
    return ax


def queue_size_ablation(results: dict, momentum: float, queue_size: int | None = None, ax=None):
    """Accuracy against MoCo's queue size K at one momentum m, from an ablation ``{(K, m): accuracy}``; the
    (queue_size, momentum) setting circled."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.4))
    qs = sorted(q for q, m in results if m == momentum)
    ax.semilogx(qs, [results[q, momentum] for q in qs], "o-", base=2)
    if (queue_size, momentum) in results:
        ax.plot([queue_size], [results[queue_size, momentum]], "o", ms=12, mfc="none", color="tab:red")
    ax.set_xlabel("queue size K")
    ax.set_ylabel("accuracy")
    ax.set_title(f"momentum m = {momentum:g}", fontsize=10)
    return ax


def per_k_accuracy(accuracy, k: int | None = None, ax=None, title: str = "CPC: accuracy of predicting step k"):
    """Bars of accuracy per prediction step ({k: accuracy} or a sequence for k = 1..K); ``k`` highlighted."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    items = sorted(accuracy.items()) if isinstance(accuracy, dict) else list(enumerate(accuracy, start=1))
    ks, accs = [a for a, _ in items], [b for _, b in items]
    ax.bar(ks, accs, color=["tab:orange" if kk == k else "tab:blue" for kk in ks])
    ax.set_xticks(ks)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("prediction step k")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    return ax


def attention_overlay(image, attention_map, ax=None, title: str = "", alpha: float = 0.55):
    """An image (3, H, W) with an attention map (h, w) in [0, 1] upsampled over it."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    img = to_display(image)
    ax.imshow(img, interpolation="nearest")
    ax.imshow(np.asarray(attention_map), cmap="inferno", alpha=alpha, interpolation="bilinear",
              extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5))
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    return ax


def step_accuracy(curves: dict[str, Sequence[float]], chance: float | None = None, first_step: int = 1, ax=None,
                  title: str = "CPC: prediction accuracy per step k"):
    """CPC's accuracy of picking the true z_{t+k} for k = first_step, first_step + 1, ...: one line per model
    ({name: [accuracy per k]}), chance (1 / candidates) dotted."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for name, values in curves.items():
        ax.plot(np.arange(first_step, first_step + len(values)), values, "o-", label=name)
    if chance is not None:
        ax.axhline(chance, ls=":", color="gray", label=f"chance (1/{round(1 / chance)})")
    ax.set_xlabel("prediction step k")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def label_efficiency_curves(results: dict[str, dict[float, float]], ax=None,
                     title: str = "linear probe with a fraction of the labels"):
    """Label-efficiency curves: {representation: {fraction of labels: accuracy}} (from
    ``evaluate.label_efficiency``), one line per representation on a log x axis labelled in percent."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, curve in results.items():
        fractions = sorted(curve)
        ax.semilogx(fractions, [curve[f] for f in fractions], "o-", label=name)
    every = sorted({f for curve in results.values() for f in curve})
    ax.set_xticks(every, [f"{100 * f:g}%" for f in every])
    ax.minorticks_off()
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return ax


def nearest_neighbours(query_images, gallery_images, neighbours: dict[str, np.ndarray], query_labels=None,
                       gallery_labels=None, size: float = 1.0):
    """Retrieval by representation: for each query image, its top-k gallery images under each representation.

    query_images (Q, 3, H, W), gallery_images (N, 3, H, W) (uint8 or float in [0, 1]);
    neighbours: {representation name: (Q, k) gallery indices, nearest first} (``evaluate.nearest_neighbours``);
    with labels, a neighbour of the query's class is framed green, another class red. One row per
    (query, representation); returns the Figure.
    """
    plt = _plt()
    names = list(neighbours)
    num_queries, k = np.asarray(neighbours[names[0]]).shape
    rows = num_queries * len(names)
    fig, axes = plt.subplots(rows, k + 1, figsize=((k + 1) * size + 1.6, rows * size * 1.05), squeeze=False)
    for q in range(num_queries):
        for r, name in enumerate(names):
            row = axes[q * len(names) + r]
            row[0].imshow(to_display(query_images[q]), interpolation="nearest")
            row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
            for j, index in enumerate(np.asarray(neighbours[name])[q]):
                ax = row[j + 1]
                ax.imshow(to_display(gallery_images[int(index)]), interpolation="nearest")
                if query_labels is not None and gallery_labels is not None:
                    same = int(gallery_labels[int(index)]) == int(query_labels[q])
                    for spine in ax.spines.values():
                        spine.set_edgecolor("tab:green" if same else "tab:red")
                        spine.set_linewidth(2.5)
            for ax in row:
                ax.set_xticks([])
                ax.set_yticks([])
            if r == 0:
                row[0].set_title("query", fontsize=8)
    for j in range(k):
        axes[0, j + 1].set_title(f"#{j + 1}", fontsize=8)
    fig.tight_layout()
    return fig


# ---- attention maps (computed in ssl_course.attention and ssl_course.tracking); each returns a Figure ----

def plot_activation_attention(images: torch.Tensor, maps: list[torch.Tensor], layer_names=None, alpha: float = 0.6):
    """images (B, 3, H, W); maps: list of (B, H, W) from ``activation_attention``. One row per image:
    the image, then each layer's map over it."""
    plt = _plt()

    b, columns = images.shape[0], 1 + len(maps)
    fig, axes = plt.subplots(b, columns, figsize=(1.8 * columns, 1.8 * b), squeeze=False)
    names = layer_names or [f"block {i + 1}" for i in range(len(maps))]
    for i in range(b):
        axes[i, 0].imshow(to_display(images[i]))
        for j, m in enumerate(maps):
            axes[i, j + 1].imshow(to_display(images[i]))
            axes[i, j + 1].imshow(m[i].cpu().numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
            if i == 0:
                axes[0, j + 1].set_title(names[j], fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_cls_attention(images: torch.Tensor, maps: torch.Tensor, alpha: float = 0.6):
    """images (B, 3, H, W); maps (B, heads, H, W) from ``cls_attention``: one row per image, one column per head."""
    plt = _plt()

    b, heads = maps.shape[:2]
    fig, axes = plt.subplots(b, heads + 1, figsize=(1.8 * (heads + 1), 1.8 * b), squeeze=False)
    for i in range(b):
        axes[i, 0].imshow(to_display(images[i]))
        for h in range(heads):
            axes[i, h + 1].imshow(to_display(images[i]))
            axes[i, h + 1].imshow(maps[i, h].cpu().numpy(), cmap="inferno", alpha=alpha, vmin=0, vmax=1)
            if i == 0:
                axes[0, h + 1].set_title(f"head {h + 1}", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_tracking(reference: torch.Tensor, target: torch.Tensor, query_map: torch.Tensor, query: tuple[int, int],
                  stride: int, reference_mask=None, propagated=None, true_mask=None):
    """One clip: the target frame with the query point, the reference frame with where that point copies its colour
    from (``query_attention`` map (h, w)), and optionally the reference mask, the propagated and the true target
    masks (each (H, W))."""
    plt = _plt()

    panels = 2 + sum(m is not None for m in (reference_mask, propagated, true_mask))
    fig, axes = plt.subplots(1, panels, figsize=(2.4 * panels, 2.6))
    axes[0].imshow(to_display(target))
    axes[0].scatter([query[1] * stride + stride / 2], [query[0] * stride + stride / 2], c="red", s=30)
    axes[0].set_title("target + query", fontsize=9)
    axes[1].imshow(to_display(reference))
    size = reference.shape[-1]
    axes[1].imshow(query_map.cpu().numpy(), cmap="jet", alpha=0.55, extent=(0, size, size, 0))
    axes[1].set_title("reference: copied from", fontsize=9)
    k = 2
    for title, m, img in (("reference mask", reference_mask, reference), ("propagated", propagated, target),
                          ("true mask", true_mask, target)):
        if m is not None:
            axes[k].imshow(to_display(img))
            axes[k].imshow(np.asarray(m, dtype=float), cmap="Greens", alpha=0.5, vmin=0, vmax=1)
            axes[k].set_title(title, fontsize=9)
            k += 1
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig



# --------------------------------------------------------------------------------------------------------------
# learning without negatives (lecture 07)
# --------------------------------------------------------------------------------------------------------------

def collapse_curves(monitors: dict[str, Sequence[dict]], axes=None, keys=("output_std", "effective_rank")):
    """The collapse monitor over training, one line per run: {run name: [{"step": s, "output_std": ..,
    "effective_rank": ..}, ...]} (a ``train.History.monitor``). One panel per key; returns the Figure.
    A collapsed run ends at output std 0 and effective rank 1; both are drawn as dotted references."""
    plt = _plt()
    if axes is None:
        _, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 3.4), squeeze=False)
        axes = axes[0]
    references = {"output_std": (0.0, "collapsed: 0"), "effective_rank": (1.0, "collapsed: 1")}
    for ax, key in zip(axes, keys):
        for name, records in monitors.items():
            points = [(r["step"], r[key]) for r in records if key in r]
            if points:
                ax.plot(*zip(*points), "o-", ms=3, lw=1.2, label=name)
        if key in references:
            value, text = references[key]
            ax.axhline(value, color="0.5", ls=":", lw=1)
            ax.annotate(text, (0.01, value), xycoords=("axes fraction", "data"), fontsize=7, color="0.4",
                        xytext=(0, 3), textcoords="offset points")
        ax.set_xlabel("step")
        ax.set_ylabel(key.replace("_", " "))
    axes[-1].legend(fontsize=7, loc="best")
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def alignment_uniformity(points: dict[str, tuple[float, float, float]], ax=None,
                         title: str = "alignment vs uniformity (colour: linear probe)"):
    """Wang & Isola (2020)'s picture: one point per method at (uniformity, alignment), coloured by its accuracy.
    points: {method: (alignment, uniformity, accuracy)}. Lower is better on both axes (bottom left is best).
    Returns the Axes."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 4.2))
    names = list(points)
    align = np.array([points[n][0] for n in names], dtype=float)
    unif = np.array([points[n][1] for n in names], dtype=float)
    acc = np.array([points[n][2] for n in names], dtype=float)
    sc = ax.scatter(unif, align, c=acc, cmap="viridis", s=80, edgecolors="k", vmin=min(0.0, acc.min()),
                    vmax=max(1.0, acc.max()))
    for name, x, y, a in zip(names, unif, align, acc):
        ax.annotate(f"{name} ({a:.2f})", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.figure.colorbar(sc, ax=ax, label="linear probe accuracy")
    ax.set_xlabel("uniformity  log E exp(-2 |f(x) - f(y)|^2)  (lower: more uniform)")
    ax.set_ylabel("alignment  E |f(x) - f(x')|^2  (lower: better)")
    ax.set_title(title)
    return ax


def assignment_matrices(panels: dict[str, torch.Tensor], size: float = 3.4, max_rows: int = 32):
    """Sinkhorn-Knopp at work: one heat map per (N, K) assignment matrix ({title: matrix}, rows = samples,
    columns = prototypes), with the row sums and column sums printed under each panel (equipartition: every
    column sum equal). At most ``max_rows`` rows are drawn; the sums are over all rows. Returns the Figure."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size * 1.15), squeeze=False)
    for ax, (title, q) in zip(axes[0], panels.items()):
        q = torch.as_tensor(q).detach().float().cpu()
        ax.imshow(q[:max_rows].numpy(), aspect="auto", cmap="magma", vmin=0)
        rows, cols = q.sum(1), q.sum(0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"prototype\nrow sums {rows.min():.2f}-{rows.max():.2f}, "
                      f"column sums {cols.min():.2f}-{cols.max():.2f}", fontsize=8)
        ax.set_ylabel("sample")
    fig.tight_layout()
    return fig


def circle_features(panels: dict[str, tuple[np.ndarray, np.ndarray]], class_names=None, size: float = 3.3):
    """2-D features drawn on the unit circle, as Wang & Isola's figure 1: {title: (features (M, 2), labels (M,))};
    every feature is l2-normalised (so it lies on the circle) and coloured by its class, with a histogram of its
    angle below (a uniform spread is flat; a collapsed one is a spike). Returns the Figure."""
    plt = _plt()
    fig, axes = plt.subplots(2, len(panels), figsize=(size * len(panels), size * 1.55), squeeze=False,
                             gridspec_kw={"height_ratios": [2.2, 1]})
    for j, (title, (features, labels)) in enumerate(panels.items()):
        z = np.asarray(features, dtype=float)
        z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        labels = np.asarray(labels)
        ax = axes[0, j]
        ax.add_patch(plt.Circle((0, 0), 1, fill=False, color="0.7"))
        jitter = 1 + 0.04 * np.random.default_rng(0).standard_normal(len(z))  # points on one spot stay visible
        ax.scatter(z[:, 0] * jitter, z[:, 1] * jitter, c=labels, cmap="tab10", s=6, vmin=0, vmax=9)
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-1.3, 1.3)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
        axes[1, j].hist(np.arctan2(z[:, 1], z[:, 0]), bins=36, range=(-np.pi, np.pi), color="tab:blue")
        axes[1, j].set_xlabel("angle")
    fig.tight_layout()
    return fig
