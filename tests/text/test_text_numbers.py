"""The num2words wrappers: US style (no "and", no group commas) and safe fallbacks."""

from __future__ import annotations

import pytest

from voice_avatar.text.numbers import cardinal, decade, digit_words, integer_words, ordinal, year


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [
        (cardinal, "1,234", "one thousand two hundred thirty-four"),
        (cardinal, "-2.50", "minus two point five zero"),
        (cardinal, ".5", "point five"),
        (cardinal, "0", "zero"),
        (integer_words, "105", "one hundred five"),
        (integer_words, "0042", "zero zero four two"),
        (integer_words, "1" * 10, "one " * 9 + "one"),
        (integer_words, "1,000,000", "one million"),
        (integer_words, "12,345,678,901", "twelve billion three hundred forty-five million six hundred "
                                           "seventy-eight thousand nine hundred one"),
        (ordinal, "103", "one hundred third"),
        (ordinal, "12", "twelfth"),
        (year, 2005, "two thousand five"),
        (year, 1905, "nineteen oh five"),
        (year, 2026, "twenty twenty-six"),
        (year, 1900, "nineteen hundred"),
        (decade, 1990, "nineteen nineties"),
        (decade, 2000, "two thousands"),
        (decade, 80, "eighties"),
        (digit_words, "2048", "two zero four eight"),
    ],
)
def test_number_words(function, value, expected) -> None:  # type: ignore[no-untyped-def]
    assert function(value) == expected


def test_huge_digit_runs_are_read_digit_by_digit() -> None:
    # int() refuses strings over 4300 digits; reading them one by one must still work.
    assert integer_words("7" * 5000) == " ".join(["seven"] * 5000)
    assert cardinal("9" * 5000 + ".5").endswith("nine point five")
