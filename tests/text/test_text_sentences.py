"""Sentence splitting for streaming: exact examples, then properties that must hold for any text."""

from __future__ import annotations

import random

import pytest

from voice_avatar.text import normalize_for_speech, split_for_streaming, split_sentences

LONG = (
    "This is a long sentence with many words, and it has a clause here; another clause there: "
    "and a final part that goes on and on and on until it is very long indeed."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hello there. How are you? I'm fine! Thanks.",
            ["Hello there.", "How are you?", "I'm fine!", "Thanks."],
        ),
        ("I moved to the U.S. last year. It was fine.", ["I moved to the U.S. last year.", "It was fine."]),
        ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
        ("Mr. Smith left. Dr. Who stayed.", ["Mr. Smith left.", "Dr. Who stayed."]),
        ("He has a Ph.D. in maths.", ["He has a Ph.D. in maths."]),
        ("Wait... then what? Really?! Yes.", ["Wait... then what?", "Really?!", "Yes."]),
        ("Wait... What?", ["Wait...", "What?"]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("(It rained.) We stayed in.", ["(It rained.)", "We stayed in."]),
        ("No punctuation at all", ["No punctuation at all"]),
        ("I said no. Then I left.", ["I said no.", "Then I left."]),
        ("   ", []),
        ("", []),
        (LONG, [LONG]),  # 168 characters: under the default limit
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_long_sentence_is_cut_at_the_clause_nearest_the_middle() -> None:
    assert split_sentences(LONG, max_chars=60) == [
        "This is a long sentence with many words,",
        "and it has a clause here; another clause there:",
        "and a final part that goes on and on",
        "and on until it is very long indeed.",
    ]


def test_without_clauses_the_cut_is_at_a_space() -> None:
    text = "one two three four five six seven eight nine ten"
    expected = ["one two three", "four five", "six seven", "eight nine ten"]
    assert split_sentences(text, max_chars=20) == expected


def test_a_single_overlong_word_is_kept_whole() -> None:
    word = "a" * 300
    assert split_sentences(f"{word} b", max_chars=50) == [word, "b"]


def test_dash_is_a_clause_boundary() -> None:
    text = "The first half of this sentence is here \u2014 and the second half follows after it."
    assert split_sentences(text, max_chars=50) == [
        "The first half of this sentence is here \u2014",
        "and the second half follows after it.",
    ]


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_sentences("Hi.", max_chars=0)


def test_streaming_cuts_only_the_first_sentence_at_a_clause() -> None:
    text = "Short one. " + LONG
    assert split_for_streaming(text) == split_sentences(text)  # first sentence already short
    assert split_for_streaming(LONG + " Next one.", first_max_chars=60) == [
        "This is a long sentence with many words,",
        "and it has a clause here; another clause there: and a final part that goes on and on and on "
        "until it is very long indeed.",
        "Next one.",
    ]


def test_streaming_takes_the_last_clause_that_fits() -> None:
    text = "Well, as I was saying, the meeting is moved to Friday because the room is booked all week long."
    assert split_for_streaming(text, first_max_chars=30) == [
        "Well, as I was saying,",
        "the meeting is moved to Friday because the room is booked all week long.",
    ]


def test_streaming_never_cuts_mid_clause() -> None:
    text = "A single clause that runs well past the first chunk limit without any punctuation inside"
    assert split_for_streaming(text, first_max_chars=20) == [text]


def test_streaming_on_normalised_text() -> None:
    spoken = normalize_for_speech("Dr. Smith paid $5.50 on Nov. 3rd. He was happy.")
    assert split_for_streaming(spoken) == [
        "Doctor Smith paid five dollars and fifty cents on November third.",
        "He was happy.",
    ]


# ---- properties -------------------------------------------------------------------------------

def _check_pieces(text: str, pieces: list[str], max_chars: int) -> None:
    assert " ".join(pieces).split() == text.split()  # every word, in order, none cut
    for piece in pieces:
        assert piece and piece == piece.strip()
        assert len(piece) <= max_chars or len(piece.split()) == 1


_WORDS = ["a", "Dr.", "U.S.", "word", "longerword", "x" * 40, "end.", "why?", "wow!", "so,", "semi;",
          "col:", "\u2014", "-", "...", "\"quote.\"", "(paren)", "3.", "e.g."]


@pytest.mark.parametrize("seed", range(40))
def test_random_texts_keep_every_word(seed: int) -> None:
    rnd = random.Random(seed)
    text = " ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(0, 150)))
    max_chars = rnd.randint(1, 120)
    _check_pieces(text, split_sentences(text, max_chars), max_chars)
    streamed = split_for_streaming(text, first_max_chars=rnd.randint(1, 80), max_chars=max_chars)
    assert " ".join(streamed).split() == text.split()
