"""An inaudible watermark on every audio we generate: which service made it, and for which avatar.

The scheme is numpy only, so the product does not need torch:

* **Tiles.** Audio is cut into tiles of 32 ms by 24 bands (ERB-spaced, 500-5600 Hz). The bands
  hold speech from telephone to wideband, and they stay below the 8 kHz Nyquist of 16 kHz audio even
  after a 5 % speed-up. Each tile's level goes up or down by 0.6-3 dB, following a keyed
  pseudo-random +-1 pattern (seeded by SHA-256 of `KEY`). The pattern repeats every 32 tiles
  (about 1 s): frame-synchronous repetition, so any second of audio carries the whole mark. A
  change of level rides on the speech itself: it adds nothing to silence, and it sits under the
  sound that masks it. Gains cross between tiles over 12 ms and between bands over 10 % of a band,
  so the changes are smooth.
* **Two layers.** Three quarters of the pattern's cells are *sync*, with fixed signs: they say
  "voice-avatar made this". The other quarter carry a 48-bit payload: an 8-bit service id, a
  24-bit avatar tag (the first 6 hex digits of the avatar id) and a CRC-16. Each bit sits in
  about 4 cells per period.
* **Informed embedding** (improved spread spectrum). Speech itself correlates a little with any
  pattern, for or against it. The embedder measures this with the detector's own analysis. Then it
  sets each layer's strength so that the detector's score on the untouched output reaches a
  target: `SYNC_TARGET` for the mark, `PAYLOAD_TARGET` for the payload as a whole, and `BIT_Z`
  for each payload bit. Short or unlucky clips get up to `MAX_DB`; long clips get as little as
  `MIN_DB`. So the score lands near its target, whatever words are spoken.
* **Detection.** Resample to 16 kHz. For each tile, take the log energy of its middle half, minus
  the mean of its four neighbours (this removes the speech envelope). Correlate the result with
  the pattern. The score is a z-score: the correlation divided by its standard deviation under a
  random pattern. So unmarked audio scores about N(0, 1) on each try, whatever the speech, and by
  Hoeffding's bound never much worse. The mark survives:
  - MP3, because a codec keeps the levels of 32 ms by 1/4-octave regions;
  - resampling, because the grid is set in hertz and seconds, not in samples;
  - trimming, because all 32 pattern shifts and 4 sub-tile offsets are tried;
  - a speed change by resampling. This stretches time and frequency by the same factor, so factors
    from 0.94 to 1.06 are tried: coarsely on 3 s pieces, then finely (under 1/4 tile of drift
    across the whole window) around the best two.
  The false-alarm estimate counts every try, `TRIALS_PER_SECOND` of them per second searched;
  that number is calibrated on unmarked speech.
* **Audio made in pieces.** Streamed sentences are marked one by one, so their patterns do not
  line up from one sentence to the next. When the whole clip shows no mark, the detector also
  searches each stretch between pauses on its own. The false-alarm estimate counts those tries
  whether they run or not.
* **Payload.** The hard bits are decoded with Chase flips of the 6 least certain bits, checked by
  the CRC. A known avatar (`detect(..., avatar_ids=...)`) is confirmed by correlating the payload
  cells as a whole. This is dependable on any marked clip; decoding the tag blind needs more
  audio and a clean grid.

Limits:
- The key is public in this source. Anyone can detect the mark and, with effort, remove or forge
  it: it labels honest output, it does not prove provenance against an adversary.
- Not measured: time stretches that keep the pitch (unlike a speed change by resampling), pitch
  shifts, heavy noise, reverberation, and speed changes beyond +-6 %.
- Audio under 0.5 s, or sampled below 11.6 kHz, is left unmarked.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy.special import ndtr

from voice_avatar.audio import Audio, resample

#: Identifies this service's marks; changing it makes earlier audio undetectable.
KEY = b"voice-avatar watermark v1"
#: The payload's service id for this product (a fork sharing the key would pick another).
SERVICE_ID = 1
SERVICES = {SERVICE_ID: "voice-avatar"}

# The grid, shared by embedder and detector.
RATE = 16_000  # analysis rate
N_FFT, HOP = 512, 64  # analysis STFT: 32 ms frames every 4 ms
TILE = 0.032  # seconds
CORE = 0.5  # the middle part of a tile that is measured: the edges carry the neighbours' changes
F_LO, F_HI, N_BANDS = 500.0, 5600.0, 24
PERIOD = 32  # tiles per pattern repetition
SYNC_FRACTION = 0.75
PAYLOAD_BITS = 48
FLOOR_DB = 45.0  # tiles this far below the loudest are silence: not measured, not changed

# Embedding strength (dB of level change per tile) and the scores it aims at.
MIN_DB, MAX_DB = 0.6, 3.0
SYNC_TARGET = 8.0
PAYLOAD_TARGET = 5.0
BIT_Z, BIT_EXTRA_DB = 1.5, 1.0  # each bit's target, and how far above the sync strength it may go
EFFECT = 0.65  # measured change of a tile's residual per dB applied (ramps and analysis blur the rest)
RAMP = 0.012  # seconds over which a tile's gain turns into the next one's

# The search and its decisions.
SPEEDS = (0.94, 1.06)
PHASES = 4  # sub-tile offsets tried
COARSE_STEP, COARSE_WINDOW = 0.005, 3.0
WINDOW = 20.0  # longer audio is searched in overlapping windows of this length
MAX_SEARCH_SECONDS = 60.0  # the mark repeats every second: the first minute tells
MIN_SECONDS = 0.5
TRIALS_PER_SECOND = 1000.0  # effective independent tries per second searched (calibrated on speech)
FALSE_ALARM = 1e-4  # per file: the detection threshold follows from it
VERIFY_Z = 3.0  # payload score that confirms a given avatar (another tag scores about N(0, 1))
CHASE_BITS = 6


def _erb(hz: np.ndarray | float) -> np.ndarray:
    return 21.4 * np.log10(1 + 0.00437 * np.asarray(hz, dtype=float))


BAND_EDGES = (10 ** (np.linspace(_erb(F_LO), _erb(F_HI), N_BANDS + 1) / 21.4) - 1) / 0.00437


# ---------------------------------------------------------------- payload


@dataclass(frozen=True)
class Payload:
    """What a mark says: which service made the audio, and a 24-bit tag of the avatar (0: none given)."""

    service: int = SERVICE_ID
    avatar_tag: int = 0

    @classmethod
    def for_avatar(cls, avatar_id: str | None, service: int = SERVICE_ID) -> Payload:
        return cls(service, avatar_tag(avatar_id))

    @property
    def service_name(self) -> str:
        return SERVICES.get(self.service, f"unknown service {self.service}")

    def bits(self) -> np.ndarray:
        data = _to_bits(self.service, 8) + _to_bits(self.avatar_tag, 24)
        return np.array(data + _to_bits(_crc16(data), 16), dtype=np.int8)

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> Payload | None:
        """The payload, or None when the check bits disagree."""
        values = [int(b) for b in bits]
        if _from_bits(values[32:]) != _crc16(values[:32]):
            return None
        return cls(_from_bits(values[:8]), _from_bits(values[8:32]))


def avatar_tag(avatar_id: str | None) -> int:
    """24 bits naming an avatar: the first 6 hex digits of its (random, uuid4) id, else a hash of it."""
    if not avatar_id:
        return 0
    if re.fullmatch(r"[0-9a-fA-F]{6,}", avatar_id):
        tag = int(avatar_id[:6], 16)
    else:
        tag = int.from_bytes(hashlib.sha256(avatar_id.encode()).digest()[:3], "big")
    return tag or 1  # 0 means "no avatar"


def _to_bits(value: int, n: int) -> list[int]:
    return [(value >> (n - 1 - i)) & 1 for i in range(n)]


def _from_bits(bits: list[int]) -> int:
    return int("".join(map(str, bits)), 2)


def _crc16(bits: list[int]) -> int:
    """CRC-16/CCITT-FALSE over a list of bits."""
    reg = 0xFFFF
    for bit in bits:
        top = ((reg >> 15) & 1) ^ bit
        reg = ((reg << 1) & 0xFFFF) ^ (0x1021 if top else 0)
    return reg


# ---------------------------------------------------------------- the keyed pattern


@dataclass(frozen=True)
class _Layout:
    signs: np.ndarray  # (bands, PERIOD) of +-1
    roles: np.ndarray  # (bands, PERIOD): -1 sync, j >= 0 payload bit j

    @property
    def sync(self) -> np.ndarray:
        return self.signs * (self.roles < 0)

    def layer(self) -> np.ndarray:
        """(bands, PERIOD): 0 for sync cells, 1 + j for payload bit j."""
        return np.where(self.roles < 0, 0, self.roles + 1)


@lru_cache(maxsize=4)
def _layout(key: bytes) -> _Layout:
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
    signs = rng.choice(np.array([-1.0, 1.0]), size=(N_BANDS, PERIOD))
    cells = rng.permutation(N_BANDS * PERIOD)
    roles = np.full(N_BANDS * PERIOD, -1, dtype=np.int64)
    data_cells = cells[round(SYNC_FRACTION * N_BANDS * PERIOD) :]
    roles[data_cells] = np.arange(len(data_cells)) % PAYLOAD_BITS
    return _Layout(signs, roles.reshape(N_BANDS, PERIOD))


# ---------------------------------------------------------------- analysis (shared by both sides)


class _Grid:
    """One clip's 16 kHz spectrogram, cut into tiles for any speed factor and offset."""

    def __init__(self, samples16: np.ndarray) -> None:
        x = np.pad(samples16.astype(np.float32), N_FFT // 2)
        n_frames = max(0, 1 + (len(x) - N_FFT) // HOP)
        frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n_frames]
        spec = sfft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1)
        self.cum_bins = np.zeros((N_FFT // 2 + 2, n_frames))
        np.cumsum((spec.real**2 + spec.imag**2).T, axis=0, dtype=np.float64, out=self.cum_bins[1:])
        self.n_frames = n_frames
        self.duration = n_frames * HOP / RATE
        self._unscaled: np.ndarray | None = None  # band_cumsum(1.0), wanted by every caller
        # The silence floor and the clipping level are fixed per clip from the unscaled tiling, so
        # that every candidate alignment, and the embedder, judge tiles alike.
        level = 10 * np.log10(self.tiles(1.0, 0.0) + 1e-12)
        top = float(np.percentile(level, 98)) if level.size else 0.0
        self.reference = (top, _robust_spread(_raw_residual(level, top)))

    def band_cumsum(self, speed: float) -> np.ndarray:
        """(bands, frames + 1): running band energies, band edges scaled by `speed`."""
        if speed == 1.0 and self._unscaled is not None:
            return self._unscaled
        edges = np.clip(np.round(BAND_EDGES * speed * N_FFT / RATE).astype(int), 0, self.cum_bins.shape[0] - 1)
        bands = self.cum_bins[edges[1:]] - self.cum_bins[edges[:-1]]
        cum = np.hstack([np.zeros((N_BANDS, 1)), np.cumsum(bands, axis=1)])
        if speed == 1.0:
            self._unscaled = cum
        return cum

    def tiles(self, speed: float, start: float, band_cumsum: np.ndarray | None = None) -> np.ndarray:
        """(bands, tiles) energies of tiles TILE/speed seconds long, from frame `start` on."""
        cum = self.band_cumsum(speed) if band_cumsum is None else band_cumsum
        tile_frames = TILE / speed * RATE / HOP
        n = int((self.n_frames - start) // tile_frames)
        if n < 1:
            return np.zeros((N_BANDS, 0))
        middle = start + tile_frames * (np.arange(n) + 0.5)
        first = np.round(middle - tile_frames * CORE / 2).astype(int)
        last = np.minimum(np.round(middle + tile_frames * CORE / 2).astype(int), self.n_frames)
        return cum[:, last] - cum[:, first]

    def residual(self, energy: np.ndarray) -> np.ndarray:
        """Each tile's level minus its neighbours' mean: 0 in silence, clipped against outliers."""
        top, spread = self.reference
        return np.clip(_raw_residual(10 * np.log10(energy + 1e-12), top), -3 * spread, 3 * spread)


def _raw_residual(level: np.ndarray, top: float) -> np.ndarray:
    active = level > top - FLOOR_DB
    level = np.maximum(level, top - FLOOR_DB)
    p = np.pad(level, 1, mode="edge")
    res = level - 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])
    return np.where(active, res, 0.0)


def _robust_spread(res: np.ndarray) -> float:
    nonzero = np.abs(res[res != 0])
    return float(np.median(nonzero) * 1.4826) if nonzero.size else 1.0


def _fold(res: np.ndarray) -> np.ndarray:
    """Sum the tiles at each pattern position: (bands, PERIOD)."""
    pad = (-res.shape[1]) % PERIOD
    return np.pad(res, ((0, 0), (0, pad))).reshape(N_BANDS, -1, PERIOD).sum(axis=1)


def _scores(pattern: np.ndarray, folded: np.ndarray) -> np.ndarray:
    """z-score of `pattern` against `folded` for every circular shift s (pattern cell m+s on tile m)."""
    f = np.fft.rfft(folded, axis=1)
    f2 = np.fft.rfft(folded**2, axis=1)
    num = np.fft.irfft(np.sum(np.fft.rfft(pattern, axis=1) * np.conj(f), axis=0), n=PERIOD)
    var = np.fft.irfft(np.sum(np.fft.rfft(np.abs(pattern), axis=1) * np.conj(f2), axis=0), n=PERIOD)
    return num / np.sqrt(np.maximum(var, 1e-12))


def _at_16k(audio: Audio) -> np.ndarray:
    return audio.samples if audio.sample_rate == RATE else resample(audio.samples, audio.sample_rate, RATE)


# ---------------------------------------------------------------- detection


@dataclass(frozen=True)
class Detection:
    """What `detect` found. `confidence` is 1 minus the estimated chance that unmarked audio scores this high."""

    found: bool
    score: float
    confidence: float
    payload: Payload | None = None  # decoded blind, when the CRC agrees
    avatar_id: str | None = None  # the one of `detect`'s `avatar_ids` that the mark names
    speed: float | None = None  # the speed change the mark was found at (1.05: 5 % faster)

    @property
    def service(self) -> str | None:
        if self.payload is not None:
            return self.payload.service_name
        return SERVICES[SERVICE_ID] if self.found else None


@dataclass
class _Match:
    z: float = -math.inf
    speed: float = 1.0
    start: float = 0.0
    shift: int = 0
    folded: np.ndarray = field(default_factory=lambda: np.zeros((N_BANDS, PERIOD)))


def detect(audio: Audio, avatar_ids: Iterable[str] = (), key: bytes = KEY) -> Detection:
    """Look for our mark in `audio`; a mark naming one of `avatar_ids` reports that avatar."""
    samples = _at_16k(audio)[: int(MAX_SEARCH_SECONDS * RATE)]
    if len(samples) < MIN_SECONDS * RATE:
        return Detection(False, 0.0, 0.0)
    layout = _layout(key)
    whole, phrases = _windows(samples)
    trials = TRIALS_PER_SECOND * sum(max(1.0, float(b - a) / RATE) for a, b in whole + phrases)
    best = max((_search(samples[a:b], layout) for a, b in whole), key=lambda m: m.z)
    if trials * ndtr(-best.z) >= FALSE_ALARM and phrases:  # perhaps sentences marked one by one
        best = max([best] + [_search(samples[a:b], layout) for a, b in phrases], key=lambda m: m.z)
    p_value = min(1.0, trials * float(ndtr(-best.z)))
    if p_value >= FALSE_ALARM:
        return Detection(False, round(best.z, 2) if math.isfinite(best.z) else 0.0, 1.0 - p_value)
    soft, spread = _bit_values(best, layout)
    payload = _decode(soft)
    avatar_id = _confirm(soft, spread, payload, list(avatar_ids))
    return Detection(True, round(best.z, 2), 1.0 - p_value, payload, avatar_id, round(best.speed, 4))


def _windows(samples: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The clip (in overlapping WINDOW pieces when long), and its stretches between pauses."""
    n, size = len(samples), int(WINDOW * RATE)
    whole = [(a, min(n, a + size)) for a in range(0, n - size // 2, size // 2)] if n > size else [(0, n)]
    phrases = [p for p in _phrases(samples) if p[1] - p[0] >= MIN_SECONDS * RATE]
    return whole, phrases if len(phrases) > 1 else []


def _phrases(samples: np.ndarray, pause: float = 0.2) -> list[tuple[int, int]]:
    """Stretches of sound separated by at least `pause` seconds of near-silence (sentence gaps)."""
    hop = int(0.01 * RATE)
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop).astype(np.float64)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.concatenate([[False], level > np.percentile(level, 95) - 50, [False]])
    edges = np.flatnonzero(np.diff(loud.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    spans: list[list[int]] = []
    for s, e in zip(starts, ends, strict=True):
        if spans and (s - spans[-1][1]) * hop < pause * RATE:
            spans[-1][1] = e
        else:
            spans.append([s, e])
    return [(s * hop, e * hop) for s, e in spans]


def _search(samples16: np.ndarray, layout: _Layout) -> _Match:
    """The best (speed, offset, pattern shift): coarse on short pieces, then fine on the whole."""
    if len(samples16) < MIN_SECONDS * RATE:
        return _Match()
    grid = _Grid(samples16)
    fine_step = min(COARSE_STEP, TILE / (4 * max(grid.duration, 1.0)))
    if grid.duration < 2 * COARSE_WINDOW:
        speeds = _speeds(1.0, SPEEDS, fine_step)
    else:
        coarse = _speeds(1.0, SPEEDS, COARSE_STEP)
        scores = _coarse_scores(grid, layout, coarse)
        around = [_speeds(s, (s - COARSE_STEP, s + COARSE_STEP), fine_step) for s in coarse[np.argsort(scores)[-2:]]]
        speeds = np.unique(np.round(np.concatenate(around), 6))
    best = max((_best_at(grid, layout, float(s)) for s in speeds), key=lambda m: m.z)
    for start in (best.start - 1, best.start + 1):  # to the nearest hop: sharper payload bits
        if start >= 0:
            best = max(best, _best_at(grid, layout, best.speed, [start]), key=lambda m: m.z)
    return best


def _speeds(centre: float, limits: tuple[float, float], step: float) -> np.ndarray:
    """Speed factors from limits[0] to limits[1] every `step`, `centre` among them."""
    below = np.arange(centre, limits[0] - step / 2, -step)
    above = np.arange(centre + step, limits[1] + step / 2, step)
    return np.concatenate([below[::-1], above])


def _best_at(grid: _Grid, layout: _Layout, speed: float, starts: list[float] | None = None) -> _Match:
    cum = grid.band_cumsum(speed)
    tile_frames = TILE / speed * RATE / HOP
    best = _Match()
    for start in starts if starts is not None else [p * tile_frames / PHASES for p in range(PHASES)]:
        energy = grid.tiles(speed, start, cum)
        if energy.shape[1] < 2:
            continue
        folded = _fold(grid.residual(energy))
        z = _scores(layout.sync, folded)
        shift = int(np.argmax(z))
        if z[shift] > best.z:
            best = _Match(float(z[shift]), speed, start, shift, folded)
    return best


def _coarse_scores(grid: _Grid, layout: _Layout, speeds: np.ndarray) -> np.ndarray:
    """For each speed, the sum of squared best scores of the clip's COARSE_WINDOW pieces."""
    piece = int(COARSE_WINDOW * RATE / HOP)
    scores = np.zeros(len(speeds))
    for i, speed in enumerate(speeds):
        cum = grid.band_cumsum(speed)
        tile_frames = TILE / speed * RATE / HOP
        for first in range(0, grid.n_frames - piece // 2, piece):
            best = 0.0
            for p in range(PHASES):
                energy = grid.tiles(speed, first + p * tile_frames / PHASES, cum)[:, : int(piece / tile_frames)]
                if energy.shape[1] >= 2:
                    best = max(best, float(_scores(layout.sync, _fold(grid.residual(energy))).max()))
            scores[i] += best**2
    return scores


def _bit_values(match: _Match, layout: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """Each payload bit's correlation (positive: 1) and its standard deviation without a mark."""
    aligned = np.roll(match.folded, match.shift, axis=1)
    bit = layout.roles.ravel()
    cells = bit >= 0
    soft = np.bincount(bit[cells], weights=(layout.signs * aligned).ravel()[cells], minlength=PAYLOAD_BITS)
    spread = np.sqrt(np.bincount(bit[cells], weights=(aligned**2).ravel()[cells], minlength=PAYLOAD_BITS))
    return soft, spread


def _decode(soft: np.ndarray) -> Payload | None:
    """The payload from soft bits, flipping the CHASE_BITS least certain ones until the CRC agrees.

    Up to 2**CHASE_BITS tries of a 16-bit CRC: a wrong payload gets through about once in 1000.
    """
    hard = (soft > 0).astype(np.int8)
    doubtful = np.argsort(np.abs(soft))[:CHASE_BITS]
    weights = np.abs(soft[doubtful])
    masks = [[(f >> i) & 1 for i in range(CHASE_BITS)] for f in range(2**CHASE_BITS)]
    for mask in sorted(masks, key=lambda m: float(np.dot(m, weights))):
        bits = hard.copy()
        bits[doubtful] ^= np.array(mask, dtype=np.int8)
        payload = Payload.from_bits(bits)
        if payload is not None:
            return payload
    return None


def _confirm(soft: np.ndarray, spread: np.ndarray, payload: Payload | None, avatar_ids: list[str]) -> str | None:
    """The avatar among `avatar_ids` that the mark names: by the decoded tag, else by correlation."""
    if payload is not None:
        named = [a for a in avatar_ids if avatar_tag(a) == payload.avatar_tag]
        return named[0] if len(named) == 1 else None
    if not avatar_ids:
        return None
    total = max(float(np.sqrt(np.sum(spread**2))), 1e-12)
    scores = [float(np.dot(Payload.for_avatar(a).bits() * 2.0 - 1.0, soft)) / total for a in avatar_ids]
    best = int(np.argmax(scores))
    threshold = VERIFY_Z + math.sqrt(2 * math.log(len(scores)))
    return avatar_ids[best] if scores[best] >= threshold else None


# ---------------------------------------------------------------- embedding


def embed(audio: Audio, payload: Payload | None = None, key: bytes = KEY) -> Audio:
    """`audio` with the mark: same rate and length, each tile's level changed by at most MAX_DB."""
    payload = payload or Payload()
    if audio.duration < MIN_SECONDS or audio.sample_rate < 2 * (F_HI + 200):
        return audio
    layout = _layout(key)
    position = np.arange(math.ceil(audio.duration / TILE)) % PERIOD
    layer = layout.layer()[:, position]
    bits = payload.bits() * 2.0 - 1.0
    sign = layout.signs[:, position] * np.where(layer == 0, 1.0, bits[np.maximum(layer - 1, 0)])

    host = _measure(audio, sign, layer, layout)
    sign = sign * host.active  # silence and near-silence: nothing to gain, nothing to hear
    sync_db = float(np.clip(_strength(host, SYNC_TARGET)[0], MIN_DB, MAX_DB))
    lifted = _strength(host, PAYLOAD_TARGET, whole_payload=True)[0]
    needed = _strength(host, BIT_Z)[1:]
    bits_db = np.maximum(lifted, np.minimum(needed, sync_db + BIT_EXTRA_DB))
    strength = np.clip(np.concatenate([[sync_db], bits_db]), MIN_DB, MAX_DB)

    marked = _apply(audio, strength[layer] * sign)
    peak = float(np.max(np.abs(marked.samples)))
    return Audio(marked.samples * (0.999 / peak), marked.sample_rate) if peak > 0.999 else marked


@dataclass
class _LayerScores:
    """What the detector sees of each layer (0 sync, 1 + j payload bit j) at the embedding grid."""

    score: np.ndarray  # sum of sign * residual over the layer's tiles
    variance: np.ndarray  # of that sum under a random pattern (over folded cells, as detected)
    tiles: np.ndarray  # active tiles in the layer
    cell_tiles_sq: np.ndarray  # sum over the layer's cells of (active tiles in the cell) ** 2
    active: np.ndarray  # (bands, tiles): loud enough to count


def _measure(audio: Audio, sign: np.ndarray, layer: np.ndarray, layout: _Layout) -> _LayerScores:
    grid = _Grid(_at_16k(audio))
    res = grid.residual(grid.tiles(1.0, 0.0))[:, : sign.shape[1]]
    n = res.shape[1]
    active = np.zeros(sign.shape, dtype=bool)
    active[:, :n] = res != 0
    if 0 < n < sign.shape[1]:  # the last, partial tile follows its neighbour
        active[:, n:] = active[:, n - 1 : n]
    size = PAYLOAD_BITS + 1
    cells = layout.layer().ravel()
    per_cell = _fold(active[:, :n].astype(float)).ravel()
    return _LayerScores(
        score=np.bincount(layer[:, :n].ravel(), weights=(sign[:, :n] * res).ravel(), minlength=size),
        variance=np.bincount(cells, weights=(_fold(res) ** 2).ravel(), minlength=size),
        tiles=np.bincount(cells, weights=per_cell, minlength=size),
        cell_tiles_sq=np.bincount(cells, weights=per_cell**2, minlength=size),
        active=active,
    )


def _strength(host: _LayerScores, target: float, whole_payload: bool = False) -> np.ndarray:
    """Per layer (or for the payload layers together), the dB that brings the score to `target` sigmas.

    A change of `a` dB moves each active tile's residual by about EFFECT * a. That adds
    EFFECT * a * tiles to the score, and (EFFECT * a * tiles in the cell) ** 2 per folded cell to
    its variance. So solve (h + a k) ** 2 = target ** 2 * (v + a ** 2 q) for a.
    """
    h, v, k, q = host.score, host.variance, EFFECT * host.tiles, EFFECT**2 * host.cell_tiles_sq
    if whole_payload:
        h, v, k, q = (np.array([x[1:].sum()]) for x in (h, v, k, q))
    curvature = k * k - target * target * q
    discriminant = np.maximum(h * h * k * k - curvature * (h * h - target * target * v), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        solved = (np.sqrt(discriminant) - h * k) / curvature
    # nothing to mark: the least; the target out of reach at any strength: the most
    return np.where(k <= 0, MIN_DB, np.where(curvature <= 0, MAX_DB, solved))


def _apply(audio: Audio, gains_db: np.ndarray) -> Audio:
    """Each band of `audio` scaled by its tiles' gains (dB, bands x tiles), smoothly across edges.

    Each band's slice of the spectrum is taken to baseband at a low rate, multiplied there by its
    gain curve, and added back: one FFT of the whole clip each way, and small ones per band.
    """
    x = audio.samples.astype(np.float32)
    sr, n = audio.sample_rate, len(x)
    nfft = sfft.next_fast_len(n + int(0.05 * sr), real=True)  # padding: the ends do not wrap round
    spectrum = sfft.rfft(x, nfft)
    change = np.zeros_like(spectrum)
    hz_per_bin = sr / nfft
    guard = 200.0  # Hz around the band for the gain curve's own bandwidth (12 ms ramps: under 100 Hz)
    bounds = np.arange(1, gains_db.shape[1]) * TILE
    knots = np.stack([bounds - RAMP / 2, bounds + RAMP / 2], axis=1).ravel()
    for b, (lo, hi) in enumerate(itertools.pairwise(BAND_EDGES)):
        factor = (10 ** (gains_db[b] / 20) - 1).astype(np.float32)
        if hi + guard >= sr / 2 or not np.any(factor):
            continue
        first = int((lo - guard) / hz_per_bin)
        size = min(sfft.next_fast_len(int((hi - lo + 2 * guard) / hz_per_bin)), len(spectrum) - first)
        freqs = (first + np.arange(size)) * hz_per_bin
        edge = max(15.0, 0.1 * (hi - lo))  # crossover into the neighbouring bands
        mask = np.minimum(np.clip((freqs - lo) / edge + 0.5, 0, 1), np.clip((hi - freqs) / edge + 0.5, 0, 1))
        mask = mask.astype(np.float32)
        base = sfft.ifft(spectrum[first : first + size] * mask)
        times = np.arange(size, dtype=np.float32) * np.float32(nfft / size / sr)
        curve = np.interp(times, knots, np.repeat(factor, 2)[1:-1]) if len(factor) > 1 else factor[0]
        change[first : first + size] += sfft.fft(base * curve)
    return Audio(sfft.irfft(spectrum + change, nfft)[:n].astype(np.float32), sr)
