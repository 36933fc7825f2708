"""Percentages and units of measure after a number ("5 km" -> "five kilometers").

A unit is only expanded right after a number: on its own "m" or "in" is just
a letter or a word.
"""

from __future__ import annotations

import re

from voice_avatar.text.numbers import cardinal, is_one

# symbol -> (singular, plural). Case matters: "mB" is not "MB", "M" is not a unit.
UNITS: dict[str, tuple[str, str]] = {
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "km^2": ("square kilometer", "square kilometers"),
    "m^2": ("square meter", "square meters"),
    "m^3": ("cubic meter", "cubic meters"),
    "sq ft": ("square foot", "square feet"),
    "mph": ("mile per hour", "miles per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mm": ("millimeter", "millimeters"),
    "cm": ("centimeter", "centimeters"),
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "yd": ("yard", "yards"),
    "mg": ("milligram", "milligrams"),
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "lbs": ("pound", "pounds"),
    "lb": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "L": ("liter", "liters"),
    "ms": ("millisecond", "milliseconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "h": ("hour", "hours"),
    "yr": ("year", "years"),
    "yrs": ("year", "years"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "W": ("watt", "watts"),
    "kW": ("kilowatt", "kilowatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "mAh": ("milliamp hour", "milliamp hours"),
    "V": ("volt", "volts"),
    "x": ("times", "times"),
    "USD": ("US dollar", "US dollars"),
    "EUR": ("euro", "euros"),
    "GBP": ("pound", "pounds"),
}

_NUMBER = r"(?P<num>-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
# Longest symbols first so "km/h" wins over "km" and "mph" over "m".
_UNIT_ALTERNATION = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_MEASURE = re.compile(rf"(?<![\w.,^]){_NUMBER} ?(?P<unit>{_UNIT_ALTERNATION})(?![\w/^°])")
_PERCENT = re.compile(rf"(?<![\w.,]){_NUMBER} ?%")
_FEET_INCHES = re.compile(r"(?<![\w.,'])(?P<feet>\d{1,2})'(?P<inches>\d{1,2})(?:\"|'')?(?![\w'\"])")


def _measure(match: re.Match[str]) -> str:
    singular, plural = UNITS[match.group("unit")]
    number = match.group("num")
    return f"{cardinal(number)} {singular if is_one(number) else plural}"


def percentages(text: str) -> str:
    """"45%" -> "forty-five percent", "3.5%" -> "three point five percent"."""
    if "%" not in text:
        return text
    return _PERCENT.sub(lambda m: cardinal(m.group("num")) + " percent", text)


def _feet_inches(match: re.Match[str]) -> str:
    return f"{cardinal(match.group('feet'))} foot {cardinal(match.group('inches'))}"


def units(text: str) -> str:
    """"5 km" -> "five kilometers", "1 kg" -> "one kilogram", "20°C" -> "twenty degrees Celsius"."""
    text = _FEET_INCHES.sub(_feet_inches, text)  # 5'11" -> "five foot eleven"
    return _MEASURE.sub(_measure, text)
