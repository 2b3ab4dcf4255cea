"""``speakers``: synthetic audio-like signals whose identity lives in hidden parameters, for CPC on sequences.

Each speaker has a base pitch f0, a timbre (the relative amplitudes of 6 harmonics, i.e. a formant-like spectral
envelope) and a vibrato rate. An utterance is a string of "syllables" (segments of random length with their own
intonation: pitch within +-12% of f0, amplitude envelope) separated by short pauses, plus noise. So the
speaker is a slow feature shared by every part of an utterance (what CPC's context should capture), while the
syllables vary, and a classifier on one waveform sample cannot tell speakers apart.

Train and test share the speakers (classification is by speaker) but not the utterances. Generated in well under a
second with NumPy; deterministic given the seed.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

NUM_HARMONICS = 6


class SequenceDataset(Dataset):
    """Signals held in memory.

    signals: float32 (N, C, L); labels: int64 (N,). ``dataset[i]`` -> (signal (C, L), label). The training loop
    collates items into a tuple (signals (B, C, L), labels (B,)) that it passes to ``method.loss``.
    """

    def __init__(self, signals, labels, name: str = "sequences"):
        self.signals = torch.as_tensor(signals, dtype=torch.float32)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        if self.signals.dim() != 3 or self.labels.shape != (self.signals.shape[0],):
            raise ValueError(f"signals must be (N, C, L) and labels (N,), got {tuple(self.signals.shape)} and "
                             f"{tuple(self.labels.shape)}")
        self.name = name

    def __len__(self) -> int:
        return self.signals.shape[0]

    def __getitem__(self, index):
        return self.signals[index], self.labels[index]

    def __repr__(self) -> str:
        return f"SequenceDataset({self.name!r}, {len(self)} signals of {tuple(self.signals.shape[1:])})"


def speaker_parameters(num_speakers: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The hidden identity of each speaker: f0 (cycles per sample), harmonic amplitudes (S, 6), vibrato rate."""
    rng = np.random.default_rng([seed, 12345])
    # pitches within one octave, in a random order: neighbours differ by less than a syllable's intonation
    # (+-12%), so pitch alone does not identify a speaker and the timbre has to be heard too
    f0 = np.exp(np.linspace(np.log(0.015), np.log(0.03), num_speakers)) * rng.uniform(0.98, 1.02, num_speakers)
    harmonics = rng.gamma(1.0, 1.0, (num_speakers, NUM_HARMONICS)) + 0.1
    harmonics /= np.linalg.norm(harmonics, axis=1, keepdims=True)
    vibrato = rng.uniform(0.0005, 0.003, num_speakers)
    order = rng.permutation(num_speakers)
    return {"f0": f0[order], "harmonics": harmonics, "vibrato": vibrato}


def make_speakers(num_speakers: int = 10, utterances_per_speaker: int = 100, length: int = 2048, seed: int = 0,
                  split: str = "train", noise: float = 0.3):
    """Render utterances. Returns (signals float32 (N, 1, length), labels int64 (N,)), N = S * utterances,
    each signal scaled to unit standard deviation (so loudness is no clue)."""
    params = speaker_parameters(num_speakers, seed)
    rng = np.random.default_rng([seed, {"train": 0, "test": 1}[split]])
    n = num_speakers * utterances_per_speaker
    labels = np.repeat(np.arange(num_speakers), utterances_per_speaker)
    t = np.arange(length)
    signals = np.empty((n, length), dtype=np.float32)
    for i, s in enumerate(labels):
        # syllables: segment boundaries, per-syllable pitch factor and loudness; pauses between them
        bounds = np.cumsum(rng.integers(96, 320, 24))
        syllable = np.searchsorted(bounds, t, side="right")
        pitch = rng.uniform(0.88, 1.12, 25)[syllable] * params["f0"][s]
        pitch = pitch * (1 + 0.02 * np.sin(2 * np.pi * params["vibrato"][s] * t + rng.uniform(0, 2 * np.pi)))
        starts = np.concatenate([[0], bounds])[syllable]
        ends = bounds[np.minimum(syllable, len(bounds) - 1)]
        pos = (t - starts) / np.maximum(ends - starts, 1)  # 0..1 within the syllable
        envelope = np.sin(np.pi * np.clip(pos * 1.15, 0, 1)) * rng.uniform(0.5, 1.0, 25)[syllable]
        phase = 2 * np.pi * np.cumsum(pitch) + rng.uniform(0, 2 * np.pi)
        h = np.arange(1, NUM_HARMONICS + 1)[:, None]
        voice = (params["harmonics"][s][:, None] * np.sin(h * phase[None])).sum(0)
        x = envelope * voice + noise * rng.standard_normal(length)
        signals[i] = (x - x.mean()) / x.std()
    perm = rng.permutation(n)
    return signals[perm][:, None], labels[perm].astype(np.int64)


def load_speakers(split: str = "train", num_speakers: int = 10, utterances_per_speaker: int | None = None,
                  length: int = 2048, seed: int = 0) -> SequenceDataset:
    """The "speakers" dataset: split "train" (default 100 utterances per speaker) or "test" (default 40)."""
    if split not in ("train", "test"):
        raise ValueError(f"speakers split must be 'train' or 'test', got {split!r}")
    per = utterances_per_speaker or (100 if split == "train" else 40)
    signals, labels = make_speakers(num_speakers, per, length, seed, split)
    return SequenceDataset(signals, labels, f"speakers-{split}")
