"""Split normalised text into sentence-sized pieces for streaming synthesis.

Pieces are slices of the input, stripped: joining them with spaces gives back
every word in order, and no piece is ever cut inside a word (a single word
longer than the limit is returned whole rather than mangled).
"""

from __future__ import annotations

import re
from bisect import bisect_left

# Sentence end: terminal punctuation, optional closing quotes/brackets, then whitespace.
# The lookbehind makes a run of "!!!..." start matching at its first character only.
_SENTENCE_END = re.compile(r"(?<![.!?\u2026])[.!?\u2026]+[\"')\]]*(?=\s)")
# Clause boundary: after , ; : followed by a space, or after a spaced dash.
_CLAUSE_END = re.compile(r"[,;:](?=\s)|(?<=\s)[-\u2013\u2014](?=\s)")
_SPACE = re.compile(r"\s+")
_NEXT_IS_LOWERCASE = re.compile(r"\s+[a-z]")

# Abbreviations after which a full stop is not a sentence end. Normalisation expands most of them,
# but the splitter also works on raw text. ("no" is left out: "I said no." ends sentences.)
_NO_SPLIT_AFTER = frozenset(
    ["mr", "mrs", "ms", "mx", "dr", "st", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "u.s", "u.k", "u.n", "ph.d", "fig", "approx", "inc", "ltd", "corp"]
)
_LAST_WORD = re.compile(r"(\S+)\.$")


def _is_abbreviation(text: str, dot_end: int) -> bool:
    """True when the "." ending at `dot_end` closes an abbreviation or an initial ("J.")."""
    window = text[max(0, dot_end - 12) : dot_end]
    match = _LAST_WORD.search(window)
    if not match:
        return False
    word = match.group(1).lstrip("(\"'[").lower()
    if word in _NO_SPLIT_AFTER:
        return True
    if len(word) == 1 and word.isalpha():  # initials: "J. R. R. Tolkien"
        return True
    return "." in word and all(len(part) <= 2 for part in word.split("."))  # "U.S", "Ph.D"


def _sentences(text: str) -> list[str]:
    """Cut after sentence-final punctuation, except after abbreviations."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        stop = match.group().rstrip("\"')]")
        if stop == "." and _is_abbreviation(text, match.start() + 1):
            continue
        if stop in ("...", "\u2026") and _NEXT_IS_LOWERCASE.match(text, match.end()):
            continue  # "wait... what" trails off mid-sentence
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


def _clause_cuts(text: str) -> list[int]:
    return [m.end() for m in _CLAUSE_END.finditer(text)]


def _space_cuts(text: str) -> list[int]:
    return [m.start() for m in _SPACE.finditer(text)]


def _nearest(cuts: list[int], lo: int, hi: int) -> int | None:
    """The cut strictly inside (lo, hi) nearest its middle; ties go to the earlier cut."""
    middle = (lo + hi) / 2
    i = bisect_left(cuts, middle)
    best = None
    for cut in cuts[max(i - 1, 0) : i + 1]:
        if lo < cut < hi and (best is None or abs(cut - middle) < abs(best - middle)):
            best = cut
    return best  # the two cuts around the middle are the only candidates: all others are farther


def _strip(text: str, lo: int, hi: int) -> tuple[int, int]:
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    return lo, hi


def _fit(sentence: str, max_chars: int) -> list[str]:
    """Halve an over-long sentence until every piece fits (or is a single unbreakable word).

    Works on index ranges with the cut positions found once, so a huge sentence
    costs O(n log n), not a rescan of every half.
    """
    clauses, spaces = _clause_cuts(sentence), _space_cuts(sentence)
    done: list[str] = []
    todo = [_strip(sentence, 0, len(sentence))]
    while todo:
        lo, hi = todo.pop()
        cut = None
        if hi - lo > max_chars:
            cut = _nearest(clauses, lo, hi)
            if cut is None:
                cut = _nearest(spaces, lo, hi)
        if cut is None:
            done.append(sentence[lo:hi])
        else:
            todo.append(_strip(sentence, cut, hi))
            todo.append(_strip(sentence, lo, cut))
    return done


def split_sentences(text: str, max_chars: int = 200) -> list[str]:
    """Sentences of `text`, each at most `max_chars` long (cut at a clause, else at a space)."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    return [piece for sentence in _sentences(text) for piece in _fit(sentence, max_chars)]


def _cut_first(sentence: str, first_max_chars: int) -> list[str]:
    """Cut the opening sentence at a clause so the first audio is ready sooner.

    Takes the last clause boundary that keeps the head within `first_max_chars`;
    if the first clause is already longer, cuts after it anyway (still earlier
    audio). Never cuts mid-clause: a pause inside a phrase sounds broken.
    """
    cuts = [c for c in _clause_cuts(sentence) if 0 < c < len(sentence)]
    if not cuts:
        return [sentence]
    fitting = [c for c in cuts if c <= first_max_chars]
    cut = fitting[-1] if fitting else cuts[0]
    return [sentence[:cut].strip(), sentence[cut:].strip()]


def split_for_streaming(text: str, first_max_chars: int = 80, max_chars: int = 200) -> list[str]:
    """Like `split_sentences`, but the first piece is kept short for a fast first audio chunk."""
    pieces = split_sentences(text, max_chars)
    if pieces and len(pieces[0]) > first_max_chars:
        pieces[:1] = _cut_first(pieces[0], first_max_chars)
    return pieces
