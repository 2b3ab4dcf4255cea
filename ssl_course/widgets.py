"""ipywidgets knobs for the lectures. Each builder only wires controls to pure functions that are tested on their
own (``ssl_course.interactive`` computes, ``ssl_course.viz`` draws); no widget logic lives in a notebook.

Every builder returns an :class:`Explorer` (an ``ipywidgets.VBox``): controls, the figure (an ``ipywidgets.Image``
holding a PNG, redrawn whenever a control's value changes) and a line of text. Displayed, it carries the PNG of its
current state next to the widget view, so a reader without a widget front end (GitHub, nbconvert, an untrusted
notebook in JupyterLab) sees a static figure of the default state. Use it as a cell's last expression.

Signatures (keyword defaults are the first state drawn):

    parameter_explorer(fn, title=None, **controls)
        fn(**values) -> Figure | Axes | (Figure, text). A control is a widget or an ipywidgets.interact
        abbreviation: (min, max[, step]) -> slider, [a, b, ...] -> dropdown, a bool -> checkbox.
    temperature_explorer(z1=None, z2=None, temperature=0.5, anchor=0, loss="info_nce" | "nt_xent")
        z1, z2: (N, D) paired embeddings (default: interactive.paired_embeddings()); a log slider for t.
    batch_size_explorer(true_mis=(0.5, 1, 2, 4, 6, 8), batch_size=16, batch_sizes=(2, 4, ..., 1024), dim=10,
                        num_batches=5)
    augmentation_explorer(images, crop_min_scale=0.2, strength=1.0, blur_p=0.0, gray_p=0.2, num=6, seed=0,
                          image_size=None)
        images: (B, 3, H, W) uint8 or float; sliders for the smallest crop area, colour strength, blur p, grey p.
    moco_explorer(results=None, momentum=0.99, queue_size=1024, momenta=(0, 0.5, 0.9, 0.99, 0.999),
                  queue_sizes=(64, 256, 1024, 4096, 16384), batch_size=32)
        results=None: the stored-key consistency toy (interactive.stored_key_consistency) live; or a precomputed ablation
        {(queue_size, momentum): accuracy} drawn as accuracy against queue size for the chosen momentum.
    cpc_explorer(accuracy_per_k, embeddings=None, k=1, class_names=None)
        accuracy_per_k: {k: accuracy} or a sequence for k = 1..K; embeddings: {k: (emb (M, 2), labels (M,))}.
    attention_explorer(images, attention, layer=0, head=0, image=0)
        attention: (L, B, H, h, w) maps or (L, B, H, g*g) patch scores (interactive.attention_map).
    tsne_explorer(embeddings=None, features=None, perplexities=(5, 15, 30, 50), method=None, perplexity=None,
                  class_names=None, max_points=500)
        embeddings: {(method, perplexity): (emb (M, 2), labels (M,))} precomputed, or
        features: {method: (features (M, D), labels (M,))}, embedded on demand with evaluate.tsne and cached.
    sinkhorn_explorer(scores=None, epsilon=0.05, iterations=3)
        scores: (N, K) prototype scores (default: a seeded random batch in which most samples prefer a few
        prototypes); sliders for the Sinkhorn-Knopp iterations and epsilon (losses.sinkhorn_knopp).
    collapse_explorer(monitors, selected=None)
        monitors: {run name: train.History.monitor} precomputed runs (e.g. SimSiam with and without the
        stop-gradient); a multiple selection of the runs whose collapse curves are drawn.
"""
from __future__ import annotations

import base64
import io
import math

import ipywidgets as widgets
import numpy as np
import torch

from . import interactive, viz
from .augment import BatchAugment
from .losses import info_nce, nt_xent, sinkhorn_knopp

__all__ = [
    "Explorer",
    "figure_png",
    "parameter_explorer",
    "temperature_explorer",
    "batch_size_explorer",
    "augmentation_explorer",
    "moco_explorer",
    "cpc_explorer",
    "attention_explorer",
    "tsne_explorer",
    "sinkhorn_explorer",
    "collapse_explorer",
]


def figure_png(fig, dpi: int = 72) -> bytes:
    """PNG bytes of a matplotlib Figure; the figure is closed (so the inline backend does not show it twice)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


class Explorer(widgets.VBox):
    """Controls + a figure redrawn by ``draw(**values)`` whenever a control changes + a text line.

    ``draw`` returns a Figure, an Axes, or (Figure | Axes, text). ``renders`` counts the redraws."""

    def __init__(self, draw, controls: dict, title: str | None = None, dpi: int = 72):
        self.draw, self.controls, self.dpi, self.renders = draw, dict(controls), dpi, 0
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.text = widgets.HTML()
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(header + [widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
                                   self.image, self.text])
        self.add_class("ssl-explorer")
        for control in self.controls.values():
            control.observe(lambda _change: self.refresh(), names="value")
        self.refresh()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> None:
        out = self.draw(**self.values)
        fig, text = out if isinstance(out, tuple) else (out, "")
        fig = getattr(fig, "figure", fig)  # an Axes -> its Figure
        png = figure_png(fig, self.dpi)
        self.image.value = png
        # the figure's own width (PNG header: IHDR width at bytes 16-20); without it JupyterLab's flex box stretches
        # a small figure (a 3-inch attention map) to the whole output width
        self.image.layout.width = f"{int.from_bytes(png[16:20], 'big')}px"
        self.text.value = text
        self.renders += 1

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        # the current (= default, when the cell runs) state as a static figure for readers without widgets
        data["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return data


def _control(name: str, abbrev):
    if isinstance(abbrev, widgets.ValueWidget):
        control = abbrev
    else:
        control = widgets.interactive.widget_from_abbrev(abbrev, widgets.interaction.empty)
        if control is None:
            raise ValueError(f"cannot make a control for {name}={abbrev!r}")
    if not control.description:
        control.description = name
    control.style.description_width = "initial"
    if hasattr(control, "continuous_update"):
        control.continuous_update = False  # redraw when the handle is released, not on every pixel
    return control


def parameter_explorer(fn, title: str | None = None, **controls) -> Explorer:
    """A figure ``fn(**values)`` redrawn whenever one of ``controls`` changes (see the module docstring)."""
    return Explorer(fn, {name: _control(name, abbrev) for name, abbrev in controls.items()}, title=title)


def _log_slider(description: str, value: float, lo: float, hi: float) -> widgets.FloatLogSlider:
    return _control(description, widgets.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi),
                                                        step=0.1, description=description, readout_format=".3g"))


def temperature_explorer(z1=None, z2=None, temperature: float = 0.5, anchor: int = 0,
                         loss: str = "info_nce") -> Explorer:
    """A temperature slider redrawing the softmax InfoNCE (or NT-Xent) puts over the candidates, the loss value
    beside it (computed from the softmax, and checked against the library's kernel)."""
    if z1 is None:
        z1, z2 = interactive.paired_embeddings()
    n = len(z1)

    def draw(temperature):
        if loss == "nt_xent":
            probs = interactive.nt_xent_softmax(z1, z2, temperature)
            positive, masked = (anchor + n) % (2 * n), anchor
            value = interactive.nt_xent_from_softmax(probs)
            kernel = float(nt_xent(z1, z2, temperature))
        else:
            probs = interactive.info_nce_softmax(z1, z2, temperature)
            positive, masked = anchor, None
            value = interactive.info_nce_from_softmax(probs)
            kernel = float(info_nce(z1, z2, temperature=temperature))
        fig = viz.temperature_panel(probs, probs[anchor], positive, temperature, value, masked=masked)
        return fig, (f"t = {temperature:.3g}: loss from the softmax {value:.4f}, library kernel "
                     f"<code>{loss}</code> {kernel:.4f}; p(positive) for row {anchor} = {float(probs[anchor, positive]):.3f}")

    return Explorer(draw, {"temperature": _log_slider("temperature t", temperature, 0.01, 10.0)},
                    title="Temperature: how peaked is the softmax over the candidates?")


def batch_size_explorer(true_mis=(0.5, 1, 2, 4, 6, 8), batch_size: int = 16,
                        batch_sizes=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), dim: int = 10,
                        num_batches: int = 5) -> Explorer:
    """A batch-size slider: InfoNCE's MI estimates (optimal critic) against the truth, under the log N ceiling."""
    cache: dict[int, np.ndarray] = {}

    def draw(batch_size):
        if batch_size not in cache:
            cache[batch_size] = interactive.mi_ceiling_curve(true_mis, batch_size, dim, num_batches)
        est = cache[batch_size]
        ax = viz.mi_ceiling(true_mis, est, batch_size)
        return ax, f"N = {batch_size}: log N = {math.log(batch_size):.2f} nats; largest estimate {est.max():.2f}"

    slider = _control("batch size N", widgets.SelectionSlider(options=list(batch_sizes), value=batch_size,
                                                             description="batch size N"))
    return Explorer(draw, {"batch_size": slider}, title="Batch size: the log N ceiling")


def augmentation_explorer(images, crop_min_scale: float = 0.2, strength: float = 1.0, blur_p: float = 0.0,
                          gray_p: float = 0.2, num: int = 6, seed: int = 0, image_size: int | None = None) -> Explorer:
    """Sliders for SimCLR's augmentation knobs redrawing two views of each image (the same random seed every
    time, so only the knob's effect changes)."""
    images = torch.as_tensor(images)[:num]
    size = image_size or images.shape[-1]

    def draw(crop_min_scale, strength, blur_p, gray_p):
        augment = BatchAugment(size, interactive.augment_config(crop_min_scale, strength, blur_p, gray_p, size))
        fig = viz.augmentation_pairs(images, augment, torch.Generator().manual_seed(seed), num=num, size=1.1)
        return fig, (f"crop area in [{crop_min_scale:.2f}, 1], colour strength {strength:.2f}, "
                     f"blur p {blur_p:.2f}, grayscale p {gray_p:.2f}")

    def slider(name, value, lo, hi, step):
        return _control(name, widgets.FloatSlider(value=value, min=lo, max=hi, step=step, description=name))

    return Explorer(draw, {
        "crop_min_scale": slider("smallest crop", crop_min_scale, 0.05, 1.0, 0.05),
        "strength": slider("colour strength", strength, 0.0, 2.0, 0.1),
        "blur_p": slider("blur p", blur_p, 0.0, 1.0, 0.1),
        "gray_p": slider("grayscale p", gray_p, 0.0, 1.0, 0.1),
    }, title="Augmentations: two views of each image")


def moco_explorer(results: dict | None = None, momentum: float = 0.99, queue_size: int = 1024,
                  momenta=(0.0, 0.5, 0.9, 0.99, 0.999), queue_sizes=(64, 256, 1024, 4096, 16384),
                  batch_size: int = 32) -> Explorer:
    """Queue size and momentum: the stored-key consistency toy (``results=None``) or a precomputed ablation
    ``{(queue_size, momentum): accuracy}``."""
    if results is not None:
        queue_sizes = sorted({q for q, _ in results})
        momenta = sorted({m for _, m in results})
        queue_size = queue_size if queue_size in queue_sizes else queue_sizes[0]
        momentum = momentum if momentum in momenta else momenta[-1]

    def draw(momentum, queue_size):
        if results is None:
            res = interactive.stored_key_consistency(momentum, queue_size, batch_size=batch_size)
            return viz.stored_key_consistency_curve(res, momentum, queue_size), \
                f"mean cosine between stored and fresh keys: {res['mean']:.3f}"
        ax = viz.queue_size_ablation(results, momentum, queue_size)
        return ax.figure, f"K = {queue_size}, m = {momentum:g}: accuracy {results.get((queue_size, momentum), float('nan')):.3f}"

    return Explorer(draw, {
        "momentum": _control("momentum m", widgets.SelectionSlider(options=list(momenta), value=momentum)),
        "queue_size": _control("queue size K", widgets.SelectionSlider(options=list(queue_sizes), value=queue_size)),
    }, title="MoCo: queue size and momentum")


def cpc_explorer(accuracy_per_k, embeddings: dict | None = None, k: int = 1, class_names=None) -> Explorer:
    """A slider for CPC's prediction step k: accuracy per k (k highlighted) and, when given, the t-SNE of the
    context vectors used to predict step k."""
    ks = sorted(accuracy_per_k) if isinstance(accuracy_per_k, dict) else list(range(1, len(accuracy_per_k) + 1))

    def draw(k):
        import matplotlib.pyplot as plt

        panels = 2 if embeddings else 1
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.4), squeeze=False)
        viz.per_k_accuracy(accuracy_per_k, k, ax=axes[0, 0])
        if embeddings:
            emb, labels = embeddings[k]
            viz.tsne_scatter(emb, labels, class_names, ax=axes[0, 1], title=f"t-SNE of the embeddings for step k = {k}")
        fig.tight_layout()
        acc = accuracy_per_k[k] if isinstance(accuracy_per_k, dict) else accuracy_per_k[k - 1]
        return fig, f"k = {k}: accuracy {float(acc):.3f}"

    return Explorer(draw, {"k": _control("step k", widgets.SelectionSlider(options=ks, value=k))},
                    title="CPC: how far ahead can the context predict?")


def attention_explorer(images, attention, layer: int = 0, head: int = 0, image: int = 0) -> Explorer:
    """Pickers for layer / head / image redrawing that attention map over the image."""
    shape = np.shape(attention)
    n_layers, n_images, n_heads = shape[0], shape[1], shape[2]

    def draw(layer, head, image):
        m = interactive.attention_map(attention, layer, head, image)
        ax = viz.attention_overlay(images[image], m, title=f"layer {layer}, head {head}, image {image}")
        return ax, f"layer {layer} / {n_layers}, head {head} / {n_heads}, image {image} / {n_images}"

    def picker(name, value, n):
        return _control(name, widgets.IntSlider(value=value, min=0, max=n - 1, description=name))

    return Explorer(draw, {"layer": picker("layer", layer, n_layers), "head": picker("head", head, n_heads),
                           "image": picker("image", image, n_images)}, title="Attention maps")


def tsne_explorer(embeddings: dict | None = None, features: dict | None = None, perplexities=(5, 15, 30, 50),
                  method: str | None = None, perplexity: float | None = None, class_names=None,
                  max_points: int = 500) -> Explorer:
    """Perplexity and which method's features to draw (precomputed embeddings, or features embedded on demand)."""
    if (embeddings is None) == (features is None):
        raise ValueError("give exactly one of embeddings= or features=")
    if embeddings is not None:
        methods = list(dict.fromkeys(m for m, _ in embeddings))
        perplexities = sorted({p for _, p in embeddings})
        cache = dict(embeddings)
    else:
        methods, cache = list(features), {}
    method = method or methods[0]
    perplexity = perplexity if perplexity in perplexities else perplexities[len(perplexities) // 2]

    def draw(method, perplexity):
        if (method, perplexity) not in cache:
            from .evaluate import tsne

            feats, labels = features[method]
            emb, idx = tsne(np.asarray(feats), perplexity=perplexity, max_points=max_points)
            cache[method, perplexity] = (emb, np.asarray(labels)[idx])
        emb, labels = cache[method, perplexity]
        ax = viz.tsne_scatter(emb, labels, class_names, title=f"{method}, perplexity {perplexity}")
        return ax, f"{method}: {len(emb)} points, perplexity {perplexity}"

    return Explorer(draw, {
        "method": _control("features", widgets.Dropdown(options=methods, value=method)),
        "perplexity": _control("perplexity", widgets.SelectionSlider(options=list(perplexities), value=perplexity)),
    }, title="t-SNE: perplexity and features")


def skewed_scores(n: int = 32, k: int = 8, seed: int = 0) -> torch.Tensor:
    """(n, k) cosine-like scores in which most samples prefer the first few prototypes (the situation
    equipartition is for: without it every sample would be assigned to the same few prototypes)."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.nn.functional.normalize(torch.randn(n, k, generator=g), dim=1)
    return (scores + torch.linspace(0.6, 0.0, k)).clamp(-1, 1.6)


def sinkhorn_explorer(scores=None, epsilon: float = 0.05, iterations: int = 3) -> Explorer:
    """Sliders for Sinkhorn-Knopp's iterations (0 = the plain softmax of scores / epsilon, what a sample would
    pick alone) and epsilon; draws the assignment before and after with its row and column sums."""
    scores = skewed_scores() if scores is None else torch.as_tensor(scores).float()
    num_samples, num_prototypes = scores.shape

    def draw(iterations, epsilon):
        softmax = torch.softmax(scores / epsilon, dim=1)
        after = sinkhorn_knopp(scores, epsilon, iterations) if iterations > 0 else softmax
        fig = viz.assignment_matrices({"softmax(scores / epsilon)": softmax,
                                       f"Sinkhorn-Knopp, {iterations} iteration(s)": after})
        cols = after.sum(0)
        return fig, (f"column sums {float(cols.min()):.2f} to {float(cols.max()):.2f} (equipartition: every one "
                     f"{num_samples / num_prototypes:.2f} = N / K); each row sums to 1")

    controls = {"iterations": _control("iterations", widgets.IntSlider(value=iterations, min=0, max=20)),
                "epsilon": _log_slider("epsilon", epsilon, 0.01, 1.0)}
    return Explorer(draw, controls, title="Sinkhorn-Knopp: from each sample's choice to an equipartition")


def collapse_explorer(monitors: dict, selected=None) -> Explorer:
    """Choose which precomputed runs' collapse curves (``viz.collapse_curves``) to compare, and replay them up to a
    training step (the slider starts at the last recorded step)."""
    names = list(monitors)
    if not names or not any(monitors.values()):
        raise ValueError("collapse_explorer needs at least one run with monitor records")
    selected = tuple(selected) if selected is not None else tuple(names)
    last_step = max(r["step"] for records in monitors.values() for r in records)

    def draw(runs, step):
        chosen = {name: [r for r in monitors[name] if r["step"] <= step]
                  for name in (runs or names[:1])}
        shown = "; ".join(f"{name}: std {records[-1]['output_std']:.3f}, rank {records[-1]['effective_rank']:.1f}"
                          for name, records in chosen.items() if records)
        where = "at the end" if step >= last_step else f"at step {step}"
        return viz.collapse_curves(chosen), f"{where}: {shown}"

    control = widgets.SelectMultiple(options=names, value=selected, rows=min(8, len(names)), description="runs")
    steps = widgets.IntSlider(value=last_step, min=0, max=last_step, step=1, description="up to step")
    return Explorer(draw, {"runs": _control("runs", control), "step": _control("up to step", steps)},
                    title="Collapse: which runs keep their spread")
