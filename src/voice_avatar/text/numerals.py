"""Bare numbers: ranges, fractions, ordinals, decades, years, versions and plain cardinals.

These rules run after everything that gives digits a meaning (dates, money,
units...), in order from most to least specific; `cardinals` is the catch-all.
"""

from __future__ import annotations

import re

from voice_avatar.text.numbers import cardinal, decade, integer_words, ordinal, plural_word, year

_SYMBOLS = "$€£¥₹"
_RANGE_SIDE = rf"[{_SYMBOLS}]?\d+(?:[.,:]\d+)*"
# "10-20", "3-4pm", "9am-5pm", "$10-$20", "10–20%"; a spaced hyphen "10 - 3" stays a minus.
_RANGE = re.compile(
    rf"(?<![\w.,:/{_SYMBOLS}-])(?P<left>{_RANGE_SIDE}(?: ?[AaPp]\.?[Mm]\b\.?)?%?)"
    rf"(?:-|\u2013|\u2014| \u2013 | \u2014 )(?P<right>{_RANGE_SIDE})(?![-/]\d|[.,:]\d)"
)
_YEARISH = re.compile(r"1\d{3}|20\d{2}")

_FRACTION = re.compile(
    r"(?<![\w.,/:$-])(?:(?P<whole>\d+) )?(?P<num>\d+)/(?P<den>\d+)(?![\w/]|[.,]\d)"
)
_IDIOMS = {"24/7": "twenty-four seven", "50/50": "fifty-fifty"}

_ORDINAL = re.compile(r"(?<![\w.,])(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th|ST|ND|RD|TH)\b")
_DECADE = re.compile(r"(?<![\w.,'])(?:(?P<full>1[1-9]\d0|20\d0)|'?(?P<short>[1-9]0))'?s\b")
_YEAR_CONTEXT = (
    r"in|since|by|from|until|till|of|circa|ca\.|c\.|during|before|after|around|year|"
    r"early|late|mid|summer|winter|spring|fall|autumn|copyright"
)
_YEAR_IN_CONTEXT = re.compile(
    rf"(?<![\w.])(?P<ctx>{_YEAR_CONTEXT})(?P<gap>[ -])(?P<year>1\d{{3}}|20\d\d)(?![\w]|[.,]\d)", re.I
)
_YEAR_WITH_ERA = re.compile(r"(?<![\w.,])(?P<year>\d{1,4}) ?(?P<era>AD|BC|BCE|CE)\b")
_SHORT_YEAR = re.compile(r"(?<![\w'])'(?P<yy>\d\d)(?![\w']|[.,]\d)")
_VERSION = re.compile(r"(?<![\w.])(?P<v>[vV](?=\d))?(?P<number>\d+(?:\.\d+){2,})(?![\w]|\.\d)")
_LETTER_DIGIT = re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
# Not inside a word, not the tail of a decimal already read; ".5" only after a space or at the start.
_CARDINAL = re.compile(
    r"(?<!\w)(?<!\d\.)(?P<neg>(?<![\w.])-(?=\.?\d))?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|(?<![\w.])\.\d+)"
)


def _range(match: re.Match[str]) -> str:
    """Only the dash is replaced, so money, units and times on either side are read by their own rules."""
    left, right = match.group("left"), match.group("right")
    if _YEARISH.fullmatch(left) and _YEARISH.fullmatch(right):
        return f"{year(int(left))} to {year(int(right))}"
    if _YEARISH.fullmatch(left) and len(right) == 2 and right.isdigit():  # "1990-95"
        tail = ("oh " + integer_words(right[1])) if right[0] == "0" else integer_words(right)
        return f"{year(int(left))} to {tail}"
    return f"{left} to {right}"


def say_fraction(numerator: int, denominator: int) -> str:
    """"one half", "three quarters", "two thirds", "five eighths"."""
    if denominator == 2:
        name = "half"
    elif denominator == 4:
        name = "quarter"
    else:
        name = ordinal(str(denominator))
    if numerator != 1:
        name = plural_word(name)
    return f"{integer_words(str(numerator))} {name}"


def _is_fraction(numerator: int, denominator: int) -> bool:
    """Small denominators, or a proper fraction up to hundredths; "100/3" is read as "slash"."""
    if denominator < 2:
        return False
    return denominator <= 10 or (numerator < denominator and denominator <= 100)


def _fraction(match: re.Match[str]) -> str:
    whole, num, den = match.group("whole"), match.group("num"), match.group("den")
    pair = f"{num}/{den}"
    if len(num) > 6 or len(den) > 6:
        return match.group().replace("/", " slash ")
    if pair in _IDIOMS and not whole:
        return _IDIOMS[pair]
    numerator, denominator = int(num), int(den)
    if not _is_fraction(numerator, denominator):
        spoken = f"{integer_words(num)} slash {integer_words(den)}"
    else:
        spoken = say_fraction(numerator, denominator)
    if whole:
        joiner = " and " if _is_fraction(numerator, denominator) and numerator < denominator else " "
        spoken = integer_words(whole) + joiner + spoken
    return spoken


def _year_in_context(match: re.Match[str]) -> str:
    return match.group("ctx") + match.group("gap") + year(int(match.group("year")))


def _short_year(match: re.Match[str]) -> str:
    """"'99" -> "ninety-nine", "'05" -> "oh five"."""
    yy = match.group("yy")
    return ("oh " + integer_words(yy[1])) if yy[0] == "0" else integer_words(yy)


def _version(match: re.Match[str]) -> str:
    spoken = " point ".join(integer_words(part) for part in match.group("number").split("."))
    return ("version " if match.group("v") else "") + spoken


def _cardinal(match: re.Match[str]) -> str:
    return ("minus " if match.group("neg") else "") + cardinal(match.group("num"))


def ranges(text: str) -> str:
    """"10-20" -> "10 to 20"; two years are read as years ("2019-2020")."""
    return _RANGE.sub(_range, text)


def fractions(text: str) -> str:
    """"1/2" -> "one half", "2 3/4" -> "two and three quarters"."""
    return _FRACTION.sub(_fraction, text) if "/" in text else text


def ordinals(text: str) -> str:
    """"1st" -> "first", "22nd" -> "twenty-second", "103rd" -> "one hundred third"."""
    return _ORDINAL.sub(lambda m: ordinal(m.group("num")), text)


def decades(text: str) -> str:
    """"1990s" -> "nineteen nineties", "'80s" -> "eighties"."""
    return _DECADE.sub(lambda m: decade(int(m.group("full") or m.group("short"))), text)


def years(text: str) -> str:
    """A 4-digit number after "in", "since", "by"... or before "BC"/"AD" is read as a year."""
    text = _YEAR_IN_CONTEXT.sub(_year_in_context, text)
    text = _YEAR_WITH_ERA.sub(lambda m: f"{year(int(m.group('year')))} {m.group('era')}", text)
    return _SHORT_YEAR.sub(_short_year, text)


def versions(text: str) -> str:
    """"v1.2.3" -> "version one point two point three" (also IP-like dotted numbers)."""
    return _VERSION.sub(_version, text) if "." in text else text


def split_letters_from_digits(text: str) -> str:
    """"MP3" -> "MP 3", "3D" -> "3 D", so the digits are read as a number, the letters as letters."""
    return _LETTER_DIGIT.sub(" ", text)


def cardinals(text: str) -> str:
    """Every number left: "1,234", "-5", "3.14", ".5", "007" (digit by digit)."""
    return _CARDINAL.sub(_cardinal, text)
