"""ReDoS guard: adversarial 20,000-character inputs must normalise (and split) quickly.

Each string repeats a fragment that almost matches some rule, the classic
trigger for catastrophic backtracking. Linear rules take well under 0.5 s
here on an idle machine; a quadratic or exponential pattern takes many seconds
on every run, so the 1 s budget (best of three tries) is generous yet still
catches one.
"""

from __future__ import annotations

import random
import time

import pytest

from voice_avatar.text import normalize_for_speech, split_for_streaming

SIZE = 20_000
BUDGET_SECONDS = 1.0

FRAGMENTS = [
    "1", "1,", "1.", "1-", "1/", "1:", "1 ", "a.", "a@", "@", "#", "$1", "a", "-", "--", "/", " ",
    "http://", "www.", "a.com", "Dr. ", "St. ", ". ", "!", "1st", "'9", "19", "(1)", "+1 ", "a-",
    "e.g.", "1 1/", "$", "€1.", "1.1.", "a1", "1x", "-1", "%", "10:", "Nov 1", "1 Nov ", "½", "👍",
    ", ", "... ", "a, ", "1990s", "in 1999 ", "+", "=", "&", "_", "*", "a.b@", "555-", "(555) ",
    "1-1-", "1:1:", "1/1/", "1am", "9am-", "$1-", "1 km", "1°", "^", "~", "w/", "a_b.",
]


def _repeat(fragment: str) -> str:
    return (fragment * (SIZE // len(fragment) + 1))[:SIZE]


def _elapsed(text: str, tries: int = 3) -> float:
    """Best of a few runs: a busy machine can stall one run, but backtracking slows every run."""
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        split_for_streaming(normalize_for_speech(text))
        best = min(best, time.perf_counter() - start)
        if best < BUDGET_SECONDS:
            break
    return best


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_repeated_fragment_is_fast(fragment: str) -> None:
    assert _elapsed(_repeat(fragment)) < BUDGET_SECONDS


@pytest.mark.parametrize("seed", range(5))
def test_random_symbol_soup_is_fast(seed: int) -> None:
    rnd = random.Random(seed)
    alphabet = "0123456789.,-/:@#$%&+= aAZ\n!?;'\"()x€°"
    text = "".join(rnd.choice(alphabet) for _ in range(SIZE))
    assert _elapsed(text) < BUDGET_SECONDS
