"""Turn written text into the words a TTS voice should say.

`RULES` is the whole pipeline, in order. The order matters: each rule claims
the characters that would confuse a later one (an e-mail's dots before
abbreviations, a phone number's dashes before ranges, a date's numbers before
plain cardinals). Every rule is a pure ``str -> str`` function whose regexes
are compiled at import and anchored with lookbehinds, so matching stays
linear in the input length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from voice_avatar.text import (
    abbreviations,
    cleanup,
    dates,
    measures,
    money,
    numerals,
    phones,
    symbols,
    web,
)

log = logging.getLogger(__name__)

Rule = Callable[[str], str]

RULES: tuple[tuple[str, Rule], ...] = (
    ("unicode and control characters", cleanup.prepare),
    ("e-mail addresses", web.emails),
    ("urls", web.urls),
    ("hashtags and mentions", web.hashtags_and_mentions),
    ("phone numbers", phones.phone_numbers),
    ("dates", dates.dates),
    ("ranges", numerals.ranges),
    ("clock times", dates.times),
    ("abbreviations", abbreviations.abbreviations),
    ("money", money.money),
    ("percentages", measures.percentages),
    ("units", measures.units),
    ("fractions", numerals.fractions),
    ("ordinals", numerals.ordinals),
    ("decades", numerals.decades),
    ("years", numerals.years),
    ("version numbers", numerals.versions),
    ("symbols", symbols.symbols),
    ("letters glued to digits", numerals.split_letters_from_digits),
    ("cardinal numbers", numerals.cardinals),
    ("unpronounceable characters", cleanup.strip_unspeakable),
    ("whitespace and punctuation", cleanup.tidy),
)


def normalize_for_speech(text: str) -> str:
    """Return what a TTS should say for `text`; never raises on odd input.

    A rule that fails on some input is skipped (and logged) rather than
    losing the whole message: a slightly worse reading beats silence.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_for_speech expects str, got {type(text).__name__}")
    for name, rule in RULES:
        try:
            text = rule(text)
        except Exception:
            log.exception("text rule %r failed; leaving its input unchanged", name)
    return text
