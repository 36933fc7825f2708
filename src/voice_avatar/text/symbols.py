"""Symbols that have a spoken name ("&" -> "and"); markup characters become spaces.

Runs after addresses, money and percentages (which own "@", "$", "%" in
context) and before cardinals, so "~5" -> "about 5" is then read as a number.
"""

from __future__ import annotations

import re

# (pattern, spoken form) in order: multi-character operators before their single characters.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), spoken)
    for pattern, spoken in (
        (r"\band/or\b", "and or"),
        (r"\b([CF])#(?!\w)", r"\1 sharp"),
        (r"\^2(?!\d)", " squared"),
        (r"\^3(?!\d)", " cubed"),
        (r"\^(?=-?\d)", " to the power of "),
        (r"(?<=\d) ?[x×] ?(?=\d)", " by "),
        (r"(?<=\d):(?=\d)", " to "),  # ratios; clock times were read earlier
        (r"<=|≤", " less than or equal to "),
        (r">=|≥", " greater than or equal to "),
        (r"!=|≠", " not equal to "),
        (r"->|→|=>|⇒", " to "),
        (r"(?<= )<(?= |\d)", " less than "),
        (r"(?<= )>(?= |\d)", " greater than "),
        (r"×", " times "),
        (r"÷", " divided by "),
        (r"≈", " about "),
        (r"=", " equals "),
        (r"\+", " plus "),
        (r"&", " and "),
        (r"@", " at "),
        (r"%", " percent "),
        (r"§", " section "),
        (r"°", " degrees "),
        (r" ?(?:--+|\u2014) ?", " \u2014 "),  # a spaced dash is a pause and a clause boundary
        (r"(?<=\w)/(?=\w)", " slash "),
        (r"[#*_|\\/`~^<>{}]", " "),
    )
)


# Every rule above needs one of these characters; most sentences have none, so skip the scans.
_ANY_SYMBOL = re.compile(r"[/#^x×÷:<>≤≥!=≠→⇒≈~+&@%§°\u2014*_|\\`{}-]")


def symbols(text: str) -> str:
    """Say the symbols that are words ("&", "+", "=", "@"); drop markup ("*", "_", "#")."""
    if not _ANY_SYMBOL.search(text):
        return text
    for pattern, spoken in _RULES:
        text = pattern.sub(spoken, text)
    return text
