"""Amounts of money: "$1,234.56" -> "one thousand two hundred thirty-four dollars and fifty-six cents".

The currency words are ours (num2words' currency mode reads integers as cents
and says "pounds sterling"); every number inside is still spelled by num2words.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from voice_avatar.text.numbers import cardinal, integer_words


class Currency(NamedTuple):
    one: str
    many: str
    sub_one: str
    sub_many: str


CURRENCIES: dict[str, Currency] = {
    "$": Currency("dollar", "dollars", "cent", "cents"),
    "€": Currency("euro", "euros", "cent", "cents"),
    "£": Currency("pound", "pounds", "penny", "pence"),
    "¥": Currency("yen", "yen", "sen", "sen"),
    "₹": Currency("rupee", "rupees", "paisa", "paise"),
}
SCALES = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion", "tn": "trillion"}

_SYMBOL = "[" + "".join(CURRENCIES) + "]"
_AMOUNT = r"(?P<whole>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
_SCALE = r"(?: ?(?P<scale>thousand|million|billion|trillion)\b|(?P<abbr>[KkMmBb]|bn|mn|tn)(?!\w))?"
_PREFIXED = re.compile(rf"(?<![\w.])(?P<neg>-)?(?P<symbol>{_SYMBOL}) ?{_AMOUNT}{_SCALE}(?![\d,]\d|\.\d)")
_SUFFIXED = re.compile(rf"(?<![\w.,])(?P<neg>-)?{_AMOUNT}{_SCALE} ?(?P<symbol>{_SYMBOL})")


def say_money(whole: str, frac: str | None, currency: Currency, scale: str | None = None) -> str:
    """Spell an amount; with a scale word ("2.5 million") the decimal is read as a number."""
    if scale:
        number = whole + ("." + frac if frac else "")
        return f"{cardinal(number)} {scale} {currency.many}"
    if frac and len(frac) > 2:  # "$1.005" is not dollars and cents
        return f"{cardinal(whole + '.' + frac)} {currency.many}"
    units = int(whole.replace(",", ""))
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if units or not cents:
        parts.append(f"{integer_words(whole)} {currency.one if units == 1 else currency.many}")
    if cents:
        parts.append(f"{integer_words(str(cents))} {currency.sub_one if cents == 1 else currency.sub_many}")
    return " and ".join(parts)


def _amount(match: re.Match[str]) -> str:
    scale = match.group("scale") or SCALES.get((match.group("abbr") or "").lower())
    spoken = say_money(match.group("whole"), match.group("frac"), CURRENCIES[match.group("symbol")], scale)
    return ("minus " if match.group("neg") else "") + spoken


def money(text: str) -> str:
    """"$5", "€20", "£3.50", "$2.5M", "$3 billion", and "20€" with the symbol after."""
    if not any(symbol in text for symbol in CURRENCIES):
        return text
    text = _PREFIXED.sub(_amount, text)
    return _SUFFIXED.sub(_amount, text)
