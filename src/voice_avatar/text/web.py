"""E-mail addresses, URLs, hashtags and @mentions, read the way a person would say them.

These run before any number or abbreviation rule, because their dots, slashes
and digits must not be read as decimals, dates or sentence ends.
"""

from __future__ import annotations

import re

# Every pattern starts with a negative lookbehind on its own first character class, so a
# long run of such characters is scanned from its start only (no quadratic re-scanning).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL_WITH_PREFIX = re.compile(r"(?<![\w@./-])(?:[A-Za-z][A-Za-z0-9+.-]{0,9}://|www\.)[^\s<>\"]+", re.I)
_TLDS = "com|org|net|edu|gov|io|dev|ai|app|co|uk|us|ca|au|de|fr|info|me|tv|ly|biz"
_BARE_DOMAIN = re.compile(
    rf"(?<![\w@./-])(?:[A-Za-z0-9-]+\.)+(?:{_TLDS})\b(?!\.?[A-Za-z0-9])(?:/[^\s<>\"]*)?", re.I
)
_HASHTAG = re.compile(r"(?<![\w&#])#([A-Za-z][A-Za-z0-9_]*)")
_NUMBER_SIGN = re.compile(r"(?<![\w&#])#(?=\d)")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]+)")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WWW = re.compile(r"^www\.", re.I)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TRAILING_PUNCT = ".,;:!?)]}'\""
_URL_SYMBOLS = {
    ".": " dot ",
    "/": " slash ",
    "-": " dash ",
    "_": " underscore ",
    "@": " at ",
    ":": " colon ",
    "~": " tilde ",
    "+": " plus ",
    "=": " equals ",
    "&": " and ",
    "%": " percent ",
}
_URL_SYMBOL = re.compile("|".join(re.escape(s) for s in _URL_SYMBOLS))
_SPACES = re.compile(r"\s+")


def _say_symbols(text: str) -> str:
    """Replace the punctuation inside an address by its spoken name."""
    return _SPACES.sub(" ", _URL_SYMBOL.sub(lambda m: _URL_SYMBOLS[m.group()], text)).strip()


def _split_trailing_punctuation(text: str) -> tuple[str, str]:
    """A URL at the end of a sentence swallows the full stop; give it back."""
    core = text.rstrip(_TRAILING_PUNCT)
    return core, text[len(core):]


def say_url(url: str) -> str:
    """"https://www.example.com/path?q=1" -> "example dot com slash path".

    Scheme, "www.", query string and fragment are dropped: nobody reads those aloud.
    """
    address = _WWW.sub("", _SCHEME.sub("", url))
    for cut in "?#":
        address = address.split(cut, 1)[0]
    return _say_symbols(address.rstrip("/"))


def say_email(address: str) -> str:
    """"jane.doe@example.com" -> "jane dot doe at example dot com"."""
    return _say_symbols(address)


def _url(match: re.Match[str]) -> str:
    core, tail = _split_trailing_punctuation(match.group())
    spoken = say_url(core)
    return (spoken or core) + tail


def _hashtag(match: re.Match[str]) -> str:
    """"#ThrowbackThursday" -> "hashtag Throwback Thursday"."""
    return "hashtag " + _CAMEL_BOUNDARY.sub(" ", match.group(1)).replace("_", " ")


def emails(text: str) -> str:
    """Spell out e-mail addresses (before URLs: an address contains a domain)."""
    return _EMAIL.sub(lambda m: say_email(m.group()), text) if "@" in text else text


def urls(text: str) -> str:
    """Spell out URLs, with or without a scheme ("example.com/path")."""
    if "." not in text:  # every URL form has a dot ("www." or a domain)
        return text
    text = _URL_WITH_PREFIX.sub(_url, text)
    return _BARE_DOMAIN.sub(_url, text)


def hashtags_and_mentions(text: str) -> str:
    """"#tbt" -> "hashtag tbt", "#1" -> "number 1", "@jane" -> "at jane"."""
    if "#" not in text and "@" not in text:
        return text
    text = _HASHTAG.sub(_hashtag, text)
    text = _NUMBER_SIGN.sub("number ", text)
    return _MENTION.sub(r"at \1", text)
