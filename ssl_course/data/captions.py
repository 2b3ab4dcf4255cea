"""``captioned_shapes``: every ``shapes`` image with a caption written from the factors that made it.

The generator knows each image's shape, colour, size, position and background, so it can write alt-text such as
"a large red star near the top left", "red star" or "a star on a dark background". Like real alt-text, a caption
names only some of the factors (each nameable factor is named with probability ``mention_p``), with several
templates and synonyms. Which factors may be named at all is a parameter (``named_factors``), for ablations such
as "captions without colour words": the images stay the same, only the captions change.

Factors as words (from ``make_shapes(..., return_factors=True)``):
  shape      the class, by one of its synonyms ("disk", "circle", "dot", ...); named in every caption when allowed
  colour     the hue of the shape's colour, in 8 bins (red, orange, yellow, green, cyan, blue, purple, pink)
  size       the scale: small (< 0.58) or large (> 0.67); a medium shape has no size word
  position   top / bottom and left / right of the centre (more than 0.1 away), else "in the middle"
  background the polarity: a bright shape on a dark background, or a dark shape on a light one ("striped
             background" is also used, which says nothing about polarity)

The caption draws come from their own random stream (the split's seed and a fixed tag), so the images, labels
and factors are exactly those of ``shapes`` with the same seed.
"""
from __future__ import annotations

import colorsys

import numpy as np
import torch

from ..text import Vocabulary
from .base import ImageDataset
from .shapes import SHAPE_CLASSES

FACTORS = ("shape", "colour", "size", "position", "background")  # what a caption can name

SHAPE_WORDS = {  # class -> synonyms (one word each, so the word-level tokenizer keeps a shape one token)
    "disk": ("disk", "circle", "dot"), "ring": ("ring", "donut", "hoop"), "square": ("square", "block"),
    "frame": ("frame", "outline"), "triangle": ("triangle",), "star": ("star",), "cross": ("cross", "plus"),
    "crescent": ("crescent", "moon"), "semicircle": ("semicircle", "half-disk"), "L-shape": ("l-shape", "elbow"),
}
GENERIC_NOUNS = ("shape", "object", "figure")  # the noun of a caption that may not name the shape
COLOUR_NAMES = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")
COLOUR_WORDS = {"red": ("red", "crimson"), "orange": ("orange",), "yellow": ("yellow", "golden"),
                "green": ("green",), "cyan": ("cyan", "turquoise"), "blue": ("blue",),
                "purple": ("purple", "violet"), "pink": ("pink", "magenta")}
# upper hue edges (degrees) of the colour bins; hues from 330 wrap round to red
_HUE_EDGES = np.array([15, 45, 70, 160, 200, 260, 300, 330])
SIZE_WORDS = {"small": ("small", "tiny", "little"), "large": ("large", "big")}
PREFIXES = ("a", "a picture of a", "an image of a", "there is a", "")  # "" : a bare phrase such as "red star"
_POSITION_TEMPLATES = {  # (vertical, horizontal) -> phrases
    "both": ("near the {v} {h}", "in the {v} {h}", "at the {v} {h} corner"),
    "v": ("at the {v}", "near the {v}"), "h": ("on the {h}", "to the {h}"),
    "none": ("in the middle", "in the centre"),
}
_BACKGROUND_TEMPLATES = ("on a {p} background", "against a {p} background", "on a {p} striped background",
                         "on a striped background")

# every word a caption can use for each factor (disjoint sets: the tests check a caption names only what it may)
FACTOR_WORDS = {
    "shape": {w for words in SHAPE_WORDS.values() for w in words},
    "colour": {w for words in COLOUR_WORDS.values() for w in words},
    "size": {w for words in SIZE_WORDS.values() for w in words},
    "position": {"top", "bottom", "left", "right", "middle", "centre", "corner"},
    "background": {"dark", "light", "striped", "background"},
}
_OTHER_WORDS = {"a", "an", "picture", "image", "of", "there", "is", "on", "in", "at", "near", "the", "to",
                "against", *GENERIC_NOUNS}


def caption_vocabulary() -> Vocabulary:
    """The vocabulary of every word the caption generator can write (whatever ``named_factors``): a model trained
    on colour-free captions still has ids (untrained) for the colour words."""
    return Vocabulary(set().union(*FACTOR_WORDS.values(), _OTHER_WORDS))


def shape_prompts(templates=("a {}", "a picture of a {}", "there is a {}")) -> dict[str, list[str]]:
    """{shape class: prompts} for zero-shot classification of ``shapes``: every template filled with every synonym
    of the class (an "a" before a vowel becomes "an")."""
    prompts = {}
    for name in SHAPE_CLASSES:
        texts = []
        for template in templates:
            for word in SHAPE_WORDS[name]:
                text = template.format(word)
                texts.append(text.replace(f"a {word}", f"{_article(word)} {word}"))
        prompts[name] = texts
    return prompts


def colour_names(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) RGB in [0, 1] -> (N,) index into ``COLOUR_NAMES`` by hue."""
    hue = np.array([colorsys.rgb_to_hsv(*c)[0] * 360 for c in np.asarray(rgb, dtype=float)])
    return np.searchsorted(_HUE_EDGES, hue, side="right") % len(COLOUR_NAMES)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def make_captions(factors: dict, seed=0, named_factors=FACTORS, mention_p: float = 0.6):
    """One caption per image, drawn deterministically from ``seed`` (an int or a list of ints).

    factors: ``make_shapes(..., return_factors=True)``'s dict (shape, shape colour, scale, position, polarity)
    named_factors: the factors a caption may name (a subset of ``FACTORS``); shape, when allowed, is always named,
                   every other allowed factor with probability ``mention_p``.
    Returns (captions: list[str], mentions: {factor: (N,) bool}, what each caption names).
    """
    unknown = set(named_factors) - set(FACTORS)
    if unknown:
        raise ValueError(f"unknown factors {sorted(unknown)}; a caption can name {', '.join(FACTORS)}")
    if not 0.0 <= mention_p <= 1.0:
        raise ValueError(f"mention_p must be in [0, 1], got {mention_p}")
    seed = list(seed) if isinstance(seed, (list, tuple)) else [int(seed)]
    rng = np.random.default_rng(seed + [0xCA97])  # the captions' own stream: the images' draws are untouched
    shapes = np.asarray(factors["shape"])
    n = len(shapes)
    colours = colour_names(factors["shape colour"])
    scale = np.asarray(factors["scale"])
    position = np.asarray(factors["position"])
    polarity = np.asarray(factors["polarity"])
    mentions = {f: np.zeros(n, dtype=bool) for f in FACTORS}
    captions = []
    for i in range(n):
        u = rng.random(len(FACTORS))  # one draw per factor, per image, whatever is allowed: stable streams
        named = {f: f in named_factors and (f == "shape" or u[k] < mention_p) for k, f in enumerate(FACTORS)}
        size = "small" if scale[i] < 0.58 else "large" if scale[i] > 0.67 else None
        named["size"] = named["size"] and size is not None
        choice = rng.integers(0, 1 << 30, 8)  # template and synonym choices
        noun_words = SHAPE_WORDS[SHAPE_CLASSES[shapes[i]]] if named["shape"] else GENERIC_NOUNS
        words = [noun_words[choice[0] % len(noun_words)]]
        if named["colour"]:
            options = COLOUR_WORDS[COLOUR_NAMES[colours[i]]]
            words.insert(0, options[choice[1] % len(options)])
        if named["size"]:
            words.insert(0, SIZE_WORDS[size][choice[2] % len(SIZE_WORDS[size])])
        phrases = []
        if named["position"]:
            x, y = position[i]
            v = "top" if y < -0.1 else "bottom" if y > 0.1 else None  # image rows grow downwards
            h = "left" if x < -0.1 else "right" if x > 0.1 else None
            key = "both" if v and h else "v" if v else "h" if h else "none"
            options = _POSITION_TEMPLATES[key]
            phrases.append(options[choice[3] % len(options)].format(v=v, h=h))
        if named["background"]:
            tone = "dark" if polarity[i] == 1 else "light"
            phrases.append(_BACKGROUND_TEMPLATES[choice[4] % len(_BACKGROUND_TEMPLATES)].format(p=tone))
        if len(phrases) == 2 and choice[5] % 2:
            phrases.reverse()
        prefix = PREFIXES[choice[6] % len(PREFIXES)]
        if prefix == "a" or prefix.endswith(" a"):  # "a" or "an", by the next word
            prefix = prefix[:-1] + _article(words[0])
        captions.append(" ".join([p for p in [prefix] if p] + words + phrases))
        for f in FACTORS:
            mentions[f][i] = named[f]
    return captions, mentions


class CaptionedImageDataset(ImageDataset):
    """An ImageDataset whose images each have a caption.

    captions:   N strings; tokens: (N, L) int64 ids of the captions (``vocabulary.encode``), padded with 0
    vocabulary: the ``ssl_course.text.Vocabulary`` the tokens come from
    mentions:   optional {factor: (N,) bool}, which factors each caption names

    ``dataset[i]`` is still (image, label), so every evaluation of images works unchanged; the training loop
    yields (images, tokens) batches to a method that sets ``uses_captions`` (CLIP).
    """

    def __init__(self, images, labels, classes, captions, vocabulary: Vocabulary, name: str = "captioned images",
                 transform=None, factors: dict | None = None, mentions: dict | None = None, tokens=None):
        super().__init__(images, labels, classes, name, transform, factors)
        if len(captions) != len(self.labels):
            raise ValueError(f"{len(captions)} captions for {len(self.labels)} images")
        self.captions, self.vocabulary = list(captions), vocabulary
        self.tokens = torch.as_tensor(tokens) if tokens is not None else vocabulary.encode(self.captions)
        self.mentions = {k: np.asarray(v) for k, v in mentions.items()} if mentions is not None else None

    def subset(self, indices) -> "CaptionedImageDataset":
        indices = torch.as_tensor(indices, dtype=torch.long)
        rows = indices.numpy()
        base = super().subset(indices)
        return CaptionedImageDataset(base.images, base.labels, self.classes, [self.captions[i] for i in rows],
                                     self.vocabulary, self.name, self.transform, base.factors,
                                     {k: v[rows] for k, v in self.mentions.items()} if self.mentions else None,
                                     self.tokens[indices])

    def with_transform(self, transform) -> "CaptionedImageDataset":
        return CaptionedImageDataset(self.images, self.labels, self.classes, self.captions, self.vocabulary,
                                     self.name, transform, self.factors, self.mentions, self.tokens)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", captions of up to {self.tokens.shape[1]} tokens)"


def add_captions(dataset: ImageDataset, seed=0, named_factors=FACTORS, mention_p: float = 0.6,
                 vocabulary: Vocabulary | None = None) -> CaptionedImageDataset:
    """``dataset`` (a ``shapes`` split, which knows its factors) with captions from ``make_captions``; vocabulary
    default: ``caption_vocabulary()``. The lecture's ablation re-captions the same images with other
    ``named_factors``."""
    if dataset.factors is None:
        raise ValueError(f"{dataset.name} has no generative factors to write captions from (use a shapes split)")
    captions, mentions = make_captions(dataset.factors, seed, named_factors, mention_p)
    name = dataset.name if dataset.name.startswith("captioned") else f"captioned_{dataset.name}"
    return CaptionedImageDataset(dataset.images, dataset.labels, dataset.classes, captions,
                                 vocabulary or caption_vocabulary(), name, dataset.transform, dataset.factors,
                                 mentions)
