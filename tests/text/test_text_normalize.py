"""Table-driven checks of `normalize_for_speech`: one exact expected string per case."""

from __future__ import annotations

import pytest

from voice_avatar.text import normalize, normalize_for_speech
from voice_avatar.text.normalize import RULES

CASES: dict[str, list[tuple[str, str]]] = {
    "cardinals": [
        ("1,234", "one thousand two hundred thirty-four"),
        ("Room 1,234,567", "Room one million two hundred thirty-four thousand five hundred sixty-seven"),
        ("I have 42 apples", "I have forty-two apples"),
        ("Page 3 of 10", "Page three of ten"),
        ("It is 105 miles", "It is one hundred five miles"),
        ("007", "zero zero seven"),
        ("card 1234567890123", "card one two three four five six seven eight nine zero one two three"),
        ("MP3 player", "MP three player"),
        ("COVID-19", "COVID-nineteen"),
    ],
    "decimals": [
        ("3.14", "three point one four"),
        ("0.5", "zero point five"),
        ("It took .5 seconds", "It took point five seconds"),
        ("3.10", "three point one zero"),
        ("1,2,3", "one, two, three"),
        ("version 1.2.3", "version one point two point three"),
        ("v2.0.1 is out", "version two point zero point one is out"),
    ],
    "negatives": [
        ("-5 degrees outside", "minus five degrees outside"),
        ("It fell to -3.5 today", "It fell to minus three point five today"),
        ("-$5", "minus five dollars"),
    ],
    "ordinals": [
        ("The 1st, 22nd and 103rd", "The first, twenty-second and one hundred third"),
        ("the 11th hour", "the eleventh hour"),
        ("our 1,000,000th visitor", "our one millionth visitor"),
        ("3RD place", "third place"),
    ],
    "times": [
        ("Meet at 3:30 PM.", "Meet at three thirty PM."),
        ("At 10:05 we left", "At ten oh five we left"),
        ("Wake at 7 am", "Wake at seven AM"),
        ("Lunch at 12:00", "Lunch at twelve o'clock"),
        ("The train leaves at 14:00", "The train leaves at fourteen hundred"),
        ("It ended at 23:59", "It ended at twenty-three fifty-nine"),
        ("Open until 00:00", "Open until midnight"),
        ("Lap time 10:05:30", "Lap time ten oh five and thirty seconds"),
        ("See you at 5 p.m. Tomorrow works.", "See you at five PM. Tomorrow works."),
        ("at 3:00 pm sharp", "at three PM sharp"),
        ("Shift is 9am-5pm", "Shift is nine AM to five PM"),
    ],
    "dates": [
        ("On 2026-11-25 we go", "On November twenty-fifth, twenty twenty-six we go"),
        ("On 11/25/2026 we go", "On November twenty-fifth, twenty twenty-six we go"),
        ("25 Nov 2026", "November twenty-fifth, twenty twenty-six"),
        ("November 25, 2026", "November twenty-fifth, twenty twenty-six"),
        ("See you Nov. 3rd at noon", "See you November third at noon"),
        ("on the 3rd of May", "on May third"),
        ("March 2026", "March twenty twenty-six"),
        ("Sept. 5", "September fifth"),
        ("It's 5 May.", "It's May fifth."),
        ("Born 1/2/85", "Born January second, nineteen eighty-five"),
        ("25/11/2026", "November twenty-fifth, twenty twenty-six"),
        ("2026-11-25T10:30", "November twenty-fifth, twenty twenty-six at ten thirty"),
        ("The meeting is on 3/15.", "The meeting is on March fifteenth."),
        ("Due by 9/11 please", "Due by September eleventh please"),
        ("He was born on July 4th, 1976.", "He was born on July fourth, nineteen seventy-six."),
        ("May I help you?", "May I help you?"),
    ],
    "years": [
        ("in 1999", "in nineteen ninety-nine"),
        ("in 2005", "in two thousand five"),
        ("since 1905,", "since nineteen oh five,"),
        ("In 1066, William came.", "In ten sixty-six, William came."),
        ("The year 2026", "The year twenty twenty-six"),
        ("circa 1500", "circa fifteen hundred"),
        ("500 BC", "five hundred BC"),
        ("until '05", "until oh five"),
        ("The 1990s were great", "The nineteen nineties were great"),
        ("back in the '80s", "back in the eighties"),
        ("the 2019-2020 season", "the twenty nineteen to twenty twenty season"),
        ("I have 1999 coins", "I have one thousand nine hundred ninety-nine coins"),
    ],
    "money": [
        ("It costs $5", "It costs five dollars"),
        ("$1,234.56", "one thousand two hundred thirty-four dollars and fifty-six cents"),
        ("Only $1", "Only one dollar"),
        ("€20", "twenty euros"),
        ("£3.50", "three pounds and fifty pence"),
        ("It cost £1.01", "It cost one pound and one penny"),
        ("I paid $0.50", "I paid fifty cents"),
        ("$5.00 even", "five dollars even"),
        ("$2.5M raised", "two point five million dollars raised"),
        ("$3 billion", "three billion dollars"),
        ("$50K salary", "fifty thousand dollars salary"),
        ("¥500", "five hundred yen"),
        ("20€", "twenty euros"),
        ("5 USD", "five US dollars"),
        ("$10-$20", "ten dollars to twenty dollars"),
    ],
    "percentages": [
        ("45%", "forty-five percent"),
        ("3.5%", "three point five percent"),
        ("I'm 100% sure", "I'm one hundred percent sure"),
        ("10-20% off", "ten to twenty percent off"),
    ],
    "abbreviations": [
        ("Dr. Smith lives on Mulholland Dr.", "Doctor Smith lives on Mulholland Drive."),
        ("Mr. and Mrs. Jones met Ms. Lee", "Mister and Missus Jones met Miz Lee"),
        ("St. Louis is near 123 Main St.", "Saint Louis is near one hundred twenty-three Main Street."),
        ("Elm St is closed", "Elm Street is closed"),
        ("We drove down Main St. Then we ate.", "We drove down Main Street. Then we ate."),
        ("Visit St. Louis", "Visit Saint Louis"),
        ("apples, pears, etc.", "apples, pears, et cetera."),
        ("e.g. this, i.e. that", "for example this, that is that"),
        ("E.g. this one", "For example this one"),
        ("cats vs. dogs", "cats versus dogs"),
        ("approx. 5 km", "approximately five kilometers"),
        ("~5 min", "about five minutes"),
        ("Prof. Xavier", "Professor Xavier"),
        ("Martin Luther King Jr.", "Martin Luther King Junior."),
        ("No. 5 is mine", "Number five is mine"),
        ("coffee w/ milk", "coffee with milk"),
        ("Dentist appt. on Tue", "Dentist appointment on Tue"),
        (
            "Reminder: Dr. Patel, 1500 Oak Ave.",
            "Reminder: Doctor Patel, one thousand five hundred Oak Avenue.",
        ),
    ],
    "units": [
        ("60 mph", "sixty miles per hour"),
        ("20°C or 68°F", "twenty degrees Celsius or sixty-eight degrees Fahrenheit"),
        ("-1°C", "minus one degree Celsius"),
        ("5 kg", "five kilograms"),
        ("1 km", "one kilometer"),
        ("2.5 km", "two point five kilometers"),
        ("Speed 100 km/h", "Speed one hundred kilometers per hour"),
        ("45°", "forty-five degrees"),
        ("5'11\" tall", "five foot eleven tall"),
        ("a 16 GB card", "a sixteen gigabytes card"),
        ("2x faster", "two times faster"),
    ],
    "phone numbers": [
        ("Call (555) 123-4567 now", "Call five five five, one two three, four five six seven now"),
        ("Call 555.123.4567", "Call five five five, one two three, four five six seven"),
        ("Call 1-800-555-0199.", "Call one, eight zero zero, five five five, zero one nine nine."),
        ("+1 555 123 4567", "plus one, five five five, one two three, four five six seven"),
        ("Call 555-1234.", "Call five five five, one two three four."),
        ("Call +44 20 7946 0958", "Call plus four four, two zero, seven nine four six, zero nine five eight"),
    ],
    "urls and e-mail": [
        ("Email jane.doe@example.com please", "Email jane dot doe at example dot com please"),
        ("See https://www.example.com/path.", "See example dot com slash path."),
        ("Visit www.python.org today", "Visit python dot org today"),
        ("Go to example.com/docs/intro.", "Go to example dot com slash docs slash intro."),
        ("Try https://example.com/a-b?utm=x#top", "Try example dot com slash a dash b"),
        ("mail first_last+tag@mail.co.uk", "mail first underscore last plus tag at mail dot co dot uk"),
    ],
    "symbols": [
        ("Tom & Jerry", "Tom and Jerry"),
        ("2 + 2 = 4", "two plus two equals four"),
        ("Meet me @ 5", "Meet me at five"),
        ("#ThrowbackThursday", "hashtag Throwback Thursday"),
        ("#1 fan", "number one fan"),
        ("thanks @jane", "thanks at jane"),
        ("C++ and C#", "C plus plus and C sharp"),
        ("x^2", "x squared"),
        ("x >= 5", "x greater than or equal to five"),
        ("a 1920x1080 screen", "a one thousand nine hundred twenty by one thousand eighty screen"),
        ("The ratio is 16:9", "The ratio is sixteen to nine"),
        ("Q&A", "Q and A"),
        ("**bold** and _it_", "bold and it"),
        ("and/or", "and or"),
    ],
    "ranges": [
        ("10-20 people", "ten to twenty people"),
        ("ages 18–25", "ages eighteen to twenty-five"),
        ("3-4pm", "three to four PM"),
        ("5-10 km", "five to ten kilometers"),
        ("It's 3-2 to us", "It's three to two to us"),
        ("1990-95", "nineteen ninety to ninety-five"),
    ],
    "fractions": [
        ("1/2 cup", "one half cup"),
        ("3/4 done", "three quarters done"),
        ("2/3", "two thirds"),
        ("5/8 inch", "five eighths inch"),
        ("1 1/2 cups", "one and one half cups"),
        ("1½ cups", "one and one half cups"),
        ("open 24/7", "open twenty-four seven"),
        ("a 100/3 ratio", "a one hundred thirds ratio"),
        ("3/250", "three slash two hundred fifty"),
    ],
    "cleanup": [
        ("Hello\tworld\x00 \u200b!", "Hello world!"),
        ("Great job 👍🏽🎉!", "Great job!"),
        ("Hello 🇺🇸 world ❤️", "Hello world"),
        ("★★★★★ review", "review"),
        ("“Smart quotes” and ‘single’", "\"Smart quotes\" and 'single'"),
        ("Em—dash", "Em — dash"),
        ("ﬁne", "fine"),
        ("Ｆｕｌｌwidth １２３", "Fullwidth one hundred twenty-three"),
        ("  lots   of\n\nspace  ", "lots of space"),
        ("Apple™ and Google®", "Apple and Google"),
        ("", ""),
    ],
    "untouched": [
        ("Hello, World! How's it going?", "Hello, World! How's it going?"),
        ("NASA and the FBI", "NASA and the FBI"),
        ("Café naïve résumé", "Café naïve résumé"),
        ("He said hi... then left", "He said hi... then left"),
        ("Привет, мир", "Привет, мир"),
        ("Stop the Drive now", "Stop the Drive now"),
        ("No, I won't", "No, I won't"),
    ],
    "messages": [
        (
            "Hey! Running ~10 min late, traffic is awful 😩. Grab a table for 4?",
            "Hey! Running about ten minutes late, traffic is awful. Grab a table for four?",
        ),
        (
            "Revenue up 12.5% to $4.2B; EPS was $1.23 vs. $1.10 expected.",
            "Revenue up twelve point five percent to four point two billion dollars; "
            "EPS was one dollar and twenty-three cents versus one dollar and ten cents expected.",
        ),
        (
            "Temp today: 72°F (22°C), wind 10 mph.",
            "Temp today: seventy-two degrees Fahrenheit (twenty-two degrees Celsius), "
            "wind ten miles per hour.",
        ),
        (
            "My number is 415-555-2671, text me.",
            "My number is four one five, five five five, two six seven one, text me.",
        ),
    ],
}

TABLE = [
    pytest.param(source, expected, id=f"{category}: {source[:40]}")
    for category, cases in CASES.items()
    for source, expected in cases
]


@pytest.mark.parametrize(("source", "expected"), TABLE)
def test_normalize_for_speech(source: str, expected: str) -> None:
    assert normalize_for_speech(source) == expected


def test_table_covers_enough_cases() -> None:
    assert len(TABLE) >= 60


@pytest.mark.parametrize(
    "odd",
    [
        "\x00\x01\x02",
        "$",
        "$$$ 100%%% ###",
        "1/0",
        "0/0 and 5/1",
        "99:99",
        "2026-13-45",
        "13/45/2026",
        "Feb 31",
        "0 AD",
        "http://",
        "@@@@",
        "1" * 5000,
        "1," * 3000,
        "9" * 30 + ".5",
        "\ud800 lone surrogate",
        "\U0010ffff private",
        "., ;: !? -- ... ()",
    ],
)
def test_odd_input_never_raises(odd: str) -> None:
    result = normalize_for_speech(odd)
    assert isinstance(result, str)


def test_rejects_non_string() -> None:
    with pytest.raises(TypeError):
        normalize_for_speech(None)  # type: ignore[arg-type]


def test_idempotent_on_normalised_text() -> None:
    once = normalize_for_speech("Dr. Smith paid $1,234.56 on Nov. 3rd, 2026 at 3:30 PM.")
    assert normalize_for_speech(once) == once


def test_no_rule_fails_on_table_input(caplog: pytest.LogCaptureFixture) -> None:
    """The per-rule safety net exists for surprises, not for the inputs we know about."""
    for param in TABLE:
        normalize_for_speech(param.values[0])
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_rule_order_keeps_its_constraints() -> None:
    """Each pair is (rule, rule it must precede); the reasons are in normalize.py's docstring."""
    names = [name for name, _ in RULES]
    assert names[0] == "unicode and control characters"
    assert names[-1] == "whitespace and punctuation"
    for first, later in [
        ("e-mail addresses", "urls"),
        ("urls", "abbreviations"),
        ("phone numbers", "ranges"),
        ("dates", "ranges"),
        ("dates", "fractions"),
        ("ranges", "clock times"),
        ("clock times", "abbreviations"),
        ("abbreviations", "cardinal numbers"),
        ("money", "symbols"),
        ("percentages", "symbols"),
        ("symbols", "cardinal numbers"),
        ("cardinal numbers", "unpronounceable characters"),
    ]:
        assert names.index(first) < names.index(later), (first, later)


def test_a_failing_rule_is_skipped_not_fatal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(normalize, "RULES", (("broken", broken), *RULES))
    assert normalize_for_speech("I have 2 cats") == "I have two cats"
    assert any("broken" in record.getMessage() for record in caplog.records)
