"""Property tests for the sentence splitter (hypothesis); skipped when hypothesis is not installed."""

from __future__ import annotations

import pytest

from voice_avatar.text import normalize_for_speech, split_for_streaming, split_sentences

pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _check_pieces(text: str, pieces: list[str], max_chars: int) -> None:
    assert " ".join(pieces).split() == text.split()  # every word, in order, none cut
    for piece in pieces:
        assert piece and piece == piece.strip()
        assert len(piece) <= max_chars or len(piece.split()) == 1


_texts = st.lists(
    st.sampled_from([*"abcXYZ .,;:!?-\u2014\"')(\n\t", "Dr.", "U.S.", "...", " \u2014 ", "word "]),
    max_size=200,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_texts, max_chars=st.integers(min_value=1, max_value=200))
def test_property_split_sentences_keeps_words_and_limits(text: str, max_chars: int) -> None:
    _check_pieces(text, split_sentences(text, max_chars), max_chars)


@settings(max_examples=300, deadline=None)
@given(
    text=_texts,
    first_max_chars=st.integers(min_value=1, max_value=120),
    max_chars=st.integers(min_value=1, max_value=200),
)
def test_property_streaming_only_refines_the_first_sentence(
    text: str, first_max_chars: int, max_chars: int
) -> None:
    sentences = split_sentences(text, max_chars)
    streamed = split_for_streaming(text, first_max_chars, max_chars)
    assert " ".join(streamed).split() == text.split()
    assert all(piece and piece == piece.strip() for piece in streamed)
    if not sentences:
        assert streamed == []
        return
    head_count = len(streamed) - len(sentences) + 1
    assert head_count in (1, 2)
    assert streamed[head_count:] == sentences[1:]
    assert " ".join(streamed[:head_count]).split() == sentences[0].split()
    if head_count == 2 and len(sentences[0]) > first_max_chars:
        assert len(streamed[0]) < len(sentences[0])


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_property_normalised_text_splits_cleanly(text: str) -> None:
    spoken = normalize_for_speech(text)
    _check_pieces(spoken, split_sentences(spoken, 80), 80)
