"""The envelope mappings fitted at enrollment: a vocal-tract warp and a differential kNN.

The kNN is *differential*: it learns what to add to Piper's envelope (speaker minus Piper on
aligned frames) rather than replacing Piper's frames by the speaker's. Averaged deltas are
smooth, so Piper's own phonetic detail survives and the words stay intelligible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voice_avatar.engines.local import features

#: How much of the utterance's mean delta is applied (see `DeltaKnn.exaggerated`).
STATIC_EXAGGERATION = 1.5

#: Warp factors tried at enrollment: formants scaled by this much (>1 = shorter vocal tract).
WARP_GRID = np.round(np.arange(0.86, 1.245, 0.02), 3)


def warp_envelope(sp: np.ndarray, factor: float) -> np.ndarray:
    """Envelope with every frequency scaled by `factor` (a vocal-tract-length change)."""
    if factor == 1.0:
        return sp
    bins = sp.shape[1]
    source = np.clip(np.arange(bins) / factor, 0, bins - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    w = source - lo
    return sp[:, lo] * (1.0 - w) + sp[:, hi] * w


def fit_warp(piper_sp: np.ndarray, target_coded: np.ndarray) -> float:
    """Warp that brings Piper's aligned frames closest to the speaker's, after a global EQ.

    The per-dimension mean difference is removed first, so the warp explains formant
    positions rather than a channel or tilt difference (the kNN takes care of those).
    """
    best, best_cost = 1.0, np.inf
    for factor in WARP_GRID:
        coded = features.encode(warp_envelope(piper_sp, float(factor)))[:, 1:]
        diff = target_coded[:, 1:] - coded
        cost = float(((diff - diff.mean(0)) ** 2).sum(1).mean())
        if cost < best_cost:
            best, best_cost = float(factor), cost
    return best


@dataclass
class DeltaKnn:
    """Piper frames (keys: coded envelope without c0) and what to add to each (deltas)."""

    keys: np.ndarray
    deltas: np.ndarray
    k: int

    def __call__(self, coded: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Envelope moved by the mean delta of the k nearest keys, frame by frame (c0 kept)."""
        keys = self.keys.astype(np.float32)
        deltas = self.deltas.astype(np.float32)
        key_norms = (keys**2).sum(1)
        out = coded.copy()
        k = min(self.k, len(keys))
        for start in range(0, len(coded), chunk):
            query = coded[start : start + chunk, 1:].astype(np.float32)
            distances = key_norms[None, :] - 2.0 * query @ keys.T
            nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
            out[start : start + chunk, 1:] += deltas[nearest].mean(axis=1)
        return out

    def exaggerated(self, coded: np.ndarray) -> np.ndarray:
        """Like calling the map, with the utterance's mean delta scaled by STATIC_EXAGGERATION.

        Averaging k neighbours shrinks deltas towards zero. Scaling the whole delta by 1.5
        gained ~0.04 SECS but doubled the word error rate (phone-specific deltas smear
        consonants); scaling only the mean (the speaker's average timbre) keeps most of
        the gain and none of the errors.
        """
        return self.exaggerate(coded, self(coded))

    @staticmethod
    def exaggerate(coded: np.ndarray, moved: np.ndarray) -> np.ndarray:
        """`exaggerated` from the map's output `moved` (which can be computed in parts)."""
        delta = moved - coded
        return coded + delta + (STATIC_EXAGGERATION - 1.0) * delta.mean(axis=0)
