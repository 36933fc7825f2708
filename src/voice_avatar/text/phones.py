"""Phone numbers, read digit by digit in their groups.

Runs before dates and ranges, or "555-123-4567" would be read as a range.
Only unambiguous shapes are recognised: a leading "+", a "(555)" area code,
the North American 3-3-4 grouping with "-" or "." separators, or a local
3-4 number right after "call", "phone", "tel"...
"""

from __future__ import annotations

import re

from voice_avatar.text.numbers import digit_words

_NANP = re.compile(
    r"(?<![\w+.-])(?:(?P<country>\+?1)[ .-])?(?:\((?P<area1>\d{3})\) ?|(?P<area2>\d{3})[.-])"
    r"(?P<exchange>\d{3})[ .-](?P<line>\d{4})(?![\w-]|[.,]\d)"
)
# "+44 20 7946 0958": the separator between groups is required, so the groups cannot be
# re-partitioned in exponentially many ways when the match fails.
_INTERNATIONAL = re.compile(
    r"(?<![\w+])\+(?P<country>\d{1,3})(?P<rest>(?:[ .-]\(?\d{1,4}\)?){2,6})(?![\w-]|[.,]\d)"
)
# "555-1234" alone looks like a range; only a word such as "call" or "phone" before it makes it a number.
_LOCAL = re.compile(
    r"\b(?P<context>(?i:call|text|phone|tel|fax|dial|cell|mobile|number))(?P<gap>\.?:? )"
    r"(?P<exchange>\d{3})-(?P<line>\d{4})(?![\w-]|[.,]\d)"
)
_GROUP = re.compile(r"\d+")


def _groups(*groups: str) -> str:
    """Join digit groups with commas so the TTS pauses where a person would."""
    return ", ".join(digit_words(g) for g in groups if g)


def _nanp(match: re.Match[str]) -> str:
    country = match.group("country") or ""
    prefix = ("plus " if country.startswith("+") else "") if country else ""
    area = match.group("area1") or match.group("area2")
    return prefix + _groups(country.lstrip("+"), area, match.group("exchange"), match.group("line"))


def _international(match: re.Match[str]) -> str:
    rest = _GROUP.findall(match.group("rest"))
    if not 6 <= sum(len(g) for g in rest) <= 14:
        return match.group()
    return "plus " + _groups(match.group("country"), *rest)


def _local(match: re.Match[str]) -> str:
    return match.group("context") + match.group("gap") + _groups(match.group("exchange"), match.group("line"))


def phone_numbers(text: str) -> str:
    """"(555) 123-4567" -> "five five five, one two three, four five six seven"."""
    text = _NANP.sub(_nanp, text)
    text = _INTERNATIONAL.sub(_international, text)
    return _LOCAL.sub(_local, text)
