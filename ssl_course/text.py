"""A word-level tokenizer for the course's generated captions: no download, no sub-words.

>>> vocab = Vocabulary(["a", "red", "star"])
>>> vocab.encode(["a red star", "a star"])      # (2, 5) int64: <bos> a red star <eos>, padded with <pad> = 0
>>> vocab.decode(vocab.encode(["a red star"]))  # ["a red star"]

A caption is lower-cased and split on white space (",", "." and ";" are dropped); a word the vocabulary does not
hold becomes ``<unk>``.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import torch

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3: padding is id 0


def tokenize(text: str) -> list[str]:
    """Lower-case words of ``text``: white space separates words; commas, full stops and semicolons are dropped."""
    return re.sub(r"[,.;]", " ", text.lower()).split()


class Vocabulary:
    """A fixed word <-> id table. ids 0..3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``; the words follow,
    sorted (so the same word set gives the same ids whatever order it came in)."""

    def __init__(self, words: Iterable[str]):
        words = sorted({w.lower() for w in words} - set(SPECIAL_TOKENS))
        self.itos: list[str] = list(SPECIAL_TOKENS) + words
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = (self.stoi[t] for t in SPECIAL_TOKENS)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Vocabulary":
        """The vocabulary of every word in ``texts``."""
        return cls(w for t in texts for w in tokenize(t))

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word.lower() in self.stoi

    def encode(self, texts: Sequence[str], length: int | None = None) -> torch.Tensor:
        """(N, L) int64 ids: ``<bos>`` words ``<eos>``, right-padded with ``<pad>`` (id 0).

        L = the longest text's word count + 2, or ``length`` (a text longer than that is a ValueError: a caption
        cut short would silently lose words)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single text in a list")
        rows = [[self.bos_id] + [self.stoi.get(w, self.unk_id) for w in tokenize(t)] + [self.eos_id] for t in texts]
        longest = max((len(r) for r in rows), default=2)
        if length is None:
            length = longest
        elif longest > length:
            raise ValueError(f"a text has {longest} tokens with <bos> and <eos>, more than length={length}")
        out = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        return out

    def decode(self, tokens: torch.Tensor) -> list[str]:
        """(N, L) ids -> N texts (words joined by spaces; ``<bos>``, ``<eos>`` and ``<pad>`` dropped, the text
        stops at ``<eos>``; ``<unk>`` stays visible)."""
        tokens = torch.as_tensor(tokens)
        if tokens.dim() == 1:
            tokens = tokens[None]
        texts = []
        for row in tokens.tolist():
            words = []
            for i in row:
                if i == self.eos_id:
                    break
                if i not in (self.pad_id, self.bos_id):
                    words.append(self.itos[i])
            texts.append(" ".join(words))
        return texts

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"
