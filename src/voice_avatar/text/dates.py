"""Dates and clock times, spoken in US style ("November twenty-fifth, twenty twenty-six").

Dates run before ranges ("2026-11-25" is not "2026 to 11") and fractions
("11/25/2026" is not eleven twenty-fifths); times run after ranges so that
"3-4pm" first becomes "3 to 4pm".
"""

from __future__ import annotations

import re

from voice_avatar.text.numbers import cardinal, integer_words, ordinal, year

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MONTH_BY_PREFIX = {name[:3].lower(): name for name in MONTHS}
# Capitalised only: "may" and "march" are also ordinary words.
_MONTH = (
    r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b"
)
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR_AFTER = r"(?:,? (?P<year>\d{4}))?"
_END = r"(?![\w:/]|[.,]\d)"

_ISO = re.compile(
    r"(?<![\w.:/-])(?P<year>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:(?P<t>T)(?=\d)|(?![\w-]|[.:/]\d))"
)
_SLASHED = re.compile(r"(?<![\w./-])(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<year>\d{4}|\d{2})(?![\w/-]|[.,]\d)")
# "3/15" without a year: a date when the day cannot be a month, or after "on", "by"...
_MONTH_DAY = re.compile(
    r"(?:\b(?P<ctx>[Oo]n|[Bb]y|[Uu]ntil|[Tt]ill|[Ff]rom|[Ss]ince|[Bb]efore|[Aa]fter|[Dd]ue) )?"
    r"(?<![\w./-])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?![\w/]|[.,]\d)"
)
_MONTH_FIRST = re.compile(
    rf"\b{_MONTH}(?:\.?,? (?P<only_year>\d{{4}})|\.? {_DAY}{_YEAR_AFTER}){_END}"
)
_DAY_FIRST = re.compile(
    rf"(?:\b[Tt]he )?(?<![\w.,/-]){_DAY} (?:of )?{_MONTH}(?:\.(?=,? \d{{4}}))?{_YEAR_AFTER}{_END}"
)

_AMPM = r"(?P<ampm>[AaPp]\.?[Mm]\b\.?)"
_CLOCK = re.compile(
    rf"(?<![\w:.$])(?P<h>\d{{1,2}}):(?P<m>\d{{2}})(?::(?P<s>\d{{2}}))?(?: ?{_AMPM})?(?![\w:]|[.,]\d)"
)
_HOUR_AMPM = re.compile(rf"(?<![\w:.$,])(?P<h>\d{{1,2}}) ?{_AMPM}")
_NEXT_SENTENCE_OR_END = re.compile(r" [A-Z]|$")


def _month_name(token: str) -> str:
    return _MONTH_BY_PREFIX[token[:3].lower()]


def _full_year(token: str) -> int:
    """Two-digit years pivot at 50: "26" -> 2026, "85" -> 1985."""
    value = int(token)
    if len(token) == 2:
        value += 2000 if value < 50 else 1900
    return value


def say_date(month: int, day: int | None = None, year_value: int | None = None) -> str:
    """"November twenty-fifth, twenty twenty-six"; day and year are optional."""
    words = MONTHS[month - 1]
    if day is not None:
        words += " " + ordinal(str(day))
    if year_value is not None:
        words += (", " if day is not None else " ") + year(year_value)
    return words


def _valid(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _iso(match: re.Match[str]) -> str:
    month, day = int(match.group("m")), int(match.group("d"))
    if not _valid(month, day):
        return match.group()
    return say_date(month, day, int(match.group("year"))) + (" at " if match.group("t") else "")


def _slashed(match: re.Match[str]) -> str:
    """US order (month first); "25/11/2026" can only be day first, so it is read that way."""
    month, day = int(match.group("m")), int(match.group("d"))
    if month > 12 and day <= 12:
        month, day = day, month
    if not _valid(month, day):
        return match.group()
    return say_date(month, day, _full_year(match.group("year")))


def _month_day(match: re.Match[str]) -> str:
    month, day = int(match.group("m")), int(match.group("d"))
    context = match.group("ctx")
    if not _valid(month, day) or not (context or day > 12):
        return match.group()  # "3/4" on its own stays a fraction
    return (context + " " if context else "") + say_date(month, day)


def _named(match: re.Match[str]) -> str:
    month = MONTHS.index(_month_name(match.group("month"))) + 1
    groups = match.groupdict()
    if groups.get("only_year"):
        return say_date(month, None, int(groups["only_year"]))
    day = int(groups["day"])
    if not 1 <= day <= 31:
        return match.group()
    year_value = int(groups["year"]) if groups.get("year") else None
    return say_date(month, day, year_value)


def dates(text: str) -> str:
    """ISO, US slashed and written-out dates, all read month first."""
    text = _ISO.sub(_iso, text)
    text = _SLASHED.sub(_slashed, text)
    text = _MONTH_DAY.sub(_month_day, text)
    text = _DAY_FIRST.sub(_named, text)  # first: in "25 Nov 2026" the year belongs to the day
    return _MONTH_FIRST.sub(_named, text)


def _ampm(match: re.Match[str]) -> str:
    """" PM", keeping a sentence-final full stop that "p.m." swallowed."""
    token = match.group("ampm")
    if not token:
        return ""
    spoken = " AM" if token[0] in "Aa" else " PM"
    if token.endswith(".") and _NEXT_SENTENCE_OR_END.match(match.string, match.end()):
        spoken += "."
    return spoken


def say_time(hour: int, minute: int, second: int = 0, has_ampm: bool = False) -> str:
    """"ten oh five", "three thirty", "ten o'clock", "fourteen hundred", "midnight"."""
    if hour in (0, 24) and minute == 0 and not second and not has_ampm:
        return "midnight"
    words = integer_words(str(hour))
    if minute == 0:
        if not has_ampm:
            words += " o'clock" if 1 <= hour <= 12 else " hundred"
    elif minute < 10:
        words += " oh " + integer_words(str(minute))
    else:
        words += " " + integer_words(str(minute))
    if second:
        words += " and " + cardinal(str(second)) + (" second" if second == 1 else " seconds")
    return words


def _clock(match: re.Match[str]) -> str:
    hour, minute = int(match.group("h")), int(match.group("m"))
    second = int(match.group("s") or 0)
    if hour > 24 or minute > 59 or second > 59:
        return match.group()
    return say_time(hour, minute, second, bool(match.group("ampm"))) + _ampm(match)


def _hour_ampm(match: re.Match[str]) -> str:
    hour = int(match.group("h"))
    if not 1 <= hour <= 12:
        return match.group()
    return integer_words(str(hour)) + _ampm(match)


def times(text: str) -> str:
    """"3:30 PM" -> "three thirty PM", "10:05" -> "ten oh five", "7 am" -> "seven AM"."""
    text = _CLOCK.sub(_clock, text)
    return _HOUR_AMPM.sub(_hour_ampm, text)
