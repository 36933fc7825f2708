"""Common written abbreviations expanded to the words a reader says.

Runs after dates and times (which own "Nov." and "a.m.") and before numbers,
because "St." is told apart as Saint or Street partly by a house number before it.
An expansion keeps a full stop when the abbreviation's own stop also ended
the sentence ("... and so on, etc." -> "... et cetera.").
"""

from __future__ import annotations

import re
from collections.abc import Callable

_NEXT_IS_NAME = re.compile(r" [A-Z]")
_SENTENCE_END = re.compile(r"\s*$| [A-Z]")
_CAPITALISED = re.compile(r"[A-Z][a-z]*")
_HOUSE_NUMBER = re.compile(r"\d+[A-Za-z]{0,2}")
_LOOKBACK_CHARS = 48


def _period_if_sentence_ended(match: re.Match[str]) -> str:
    """Give back the sentence's full stop when the abbreviation was its last word."""
    if match.group().endswith(".") and _SENTENCE_END.match(match.string, match.end()):
        return "."
    return ""


def _previous_words(match: re.Match[str], count: int) -> list[str]:
    """The last `count` words before the match, looking back a bounded window only (stays linear)."""
    start = max(0, match.start() - _LOOKBACK_CHARS)
    words = match.string[start : match.start()].split()
    if start > 0 and words and not match.string[start - 1].isspace():
        words = words[1:]  # cut mid-word by the window
    return words[-count:]


def _followed_by_name(match: re.Match[str]) -> bool:
    return bool(_NEXT_IS_NAME.match(match.string, match.end()))


def _same_case(source: str, words: str) -> str:
    """"E.g." at a sentence start becomes "For example"."""
    return words[:1].upper() + words[1:] if source[:1].isupper() else words


def _after_street_name(before: list[str]) -> bool:
    """"123 Main St", "5th St", or a capitalised word that does not open the sentence ("down Main St")."""
    if not before:
        return False
    if _HOUSE_NUMBER.fullmatch(before[-1]):
        return True
    if not _CAPITALISED.fullmatch(before[-1]) or len(before) < 2:
        return False  # "Visit St. Louis": a capital at the start of the text says nothing
    return not before[0].endswith((".", "!", "?"))


def _saint_or_street(match: re.Match[str]) -> str:
    """"St. Louis" is a saint; "123 Main St.", "down Main St. Then" and "on Elm St" are streets."""
    if _followed_by_name(match) and not _after_street_name(_previous_words(match, 2)):
        return "Saint"
    return "Street" + _period_if_sentence_ended(match)


def _doctor_or_drive(match: re.Match[str]) -> str:
    """"Dr. Smith" is a doctor; "Mulholland Dr." (no name after it) is a drive."""
    before = _previous_words(match, 1)
    if not _followed_by_name(match) and before and _CAPITALISED.fullmatch(before[-1]):
        return "Drive" + _period_if_sentence_ended(match)
    return "Doctor"


def _fixed(words: str, keeps_period: bool) -> Callable[[re.Match[str]], str]:
    """A plain expansion; `keeps_period` for words that can end a sentence."""

    def expand(match: re.Match[str]) -> str:
        spoken = _same_case(match.group(), words)
        return spoken + (_period_if_sentence_ended(match) if keeps_period else "")

    return expand


_TITLE = r"(?=\.? [A-Z])"  # "Mr Smith" without a stop is still a title.
_NOT_IN_WORD = r"(?<![\w.])"  # no match inside "Adr." or after "1st."
Expander = Callable[[re.Match[str]], str]

# (needle, pattern, expansion) in order. The needle is a lowercase literal every match contains:
# a cheap `in` test that skips the rule's regex scan for text that cannot match.
_RULES: tuple[tuple[str, re.Pattern[str], Expander], ...] = tuple(
    (needle, re.compile(_NOT_IN_WORD + pattern, flags), expand)
    for needle, pattern, flags, expand in (
        ("st", r"St(?:\.|\b)(?!\.?\w)", 0, _saint_or_street),
        ("dr", r"Dr(?:\.|\b)(?!\.?\w)", 0, _doctor_or_drive),
        ("mrs", rf"Mrs(?:\.|{_TITLE})", 0, _fixed("Missus", False)),
        ("mr", rf"Mr(?:\.|{_TITLE})", 0, _fixed("Mister", False)),
        ("ms", rf"Ms(?:\.|{_TITLE})", 0, _fixed("Miz", False)),
        ("prof.", r"Prof\.", 0, _fixed("Professor", False)),
        ("sgt.", r"Sgt\.", 0, _fixed("Sergeant", False)),
        ("capt.", r"Capt\.", 0, _fixed("Captain", False)),
        ("mt.", r"Mt\.(?= [A-Z])", 0, _fixed("Mount", False)),
        ("jr.", r"Jr\.", 0, _fixed("Junior", True)),
        ("sr.", r"Sr\.", 0, _fixed("Senior", True)),
        ("ave.", r"Ave\.", 0, _fixed("Avenue", True)),
        ("blvd", r"Blvd\.?(?!\w)", 0, _fixed("Boulevard", True)),
        ("rd.", r"Rd\.", 0, _fixed("Road", True)),
        ("apt", r"Apt\.?(?= ?\d)", 0, _fixed("Apartment", False)),
        ("appt", r"appt\.?(?!\w)", re.I, _fixed("appointment", True)),
        ("appts", r"appts\.?(?!\w)", re.I, _fixed("appointments", True)),
        ("inc.", r"Inc\.", 0, _fixed("Incorporated", True)),
        ("ltd.", r"Ltd\.", 0, _fixed("Limited", True)),
        ("corp.", r"Corp\.", 0, _fixed("Corporation", True)),
        ("dept.", r"Dept\.", 0, _fixed("Department", True)),
        ("fig.", r"Fig\.(?= ?\d)", 0, _fixed("Figure", False)),
        ("no.", r"No\.(?= ?\d)", re.I, _fixed("number", False)),
        ("etc", r"etc\.?(?!\w)", re.I, _fixed("et cetera", True)),
        ("e.g", r"e\.g\.?(?!\w)", re.I, _fixed("for example", False)),
        ("i.e", r"i\.e\.?(?!\w)", re.I, _fixed("that is", False)),
        ("a.k.a", r"a\.k\.a\.?(?!\w)", re.I, _fixed("also known as", False)),
        ("aka", r"aka\b", re.I, _fixed("also known as", False)),
        ("vs", r"vs\.?(?!\w)", re.I, _fixed("versus", False)),
        ("approx", r"approx\.?(?!\w)", re.I, _fixed("approximately", False)),
        ("~", r"~(?= ?[$€£¥₹]?\.?\d)", 0, _fixed("about ", False)),
        ("w/o", r"(?<!/)w/o(?![\w/])", re.I, _fixed("without", False)),
        ("w/", r"(?<!/)w/(?= ?[A-Za-z])", re.I, _fixed("with ", False)),
    )
)


def abbreviations(text: str) -> str:
    """Expand titles (Dr., Mrs.), street words (St., Ave.) and Latin shorthands (e.g., etc.)."""
    lowered = text.lower()
    for needle, pattern, expand in _RULES:
        if needle in lowered:
            text = pattern.sub(expand, text)
    return text
