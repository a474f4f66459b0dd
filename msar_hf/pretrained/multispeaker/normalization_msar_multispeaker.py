"""English text normalisation for MsarMultiSpeaker: write out what a reader would say.

Abbreviations, numbers, ordinals, dates, times, money, phone numbers, fractions, units and
symbols become words before the phonemizer sees them (espeak-ng reads "$1.5 million" as
"dollar one point five million" and "12/25/1990" as "twelve slash twenty-five slash ...").
The tokenizer applies it (``normalize=True``), so ``pipeline("text-to-speech")`` and
``msar synthesize`` say the same thing. Flat module (no msar_hf imports): it ships as remote
code beside the tokenizer. Numbers are spelled by ``num2words``.
"""

from __future__ import annotations

import re
import unicodedata

_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor", "st": "street",
    "jr": "junior", "sr": "senior", "co": "company", "ltd": "limited", "inc": "incorporated",
    "mt": "mount", "capt": "captain", "col": "colonel", "gen": "general", "lt": "lieutenant",
    "sgt": "sergeant", "rev": "reverend", "vs": "versus", "etc": "et cetera", "approx": "approximately",
    "no": "number", "dept": "department", "ave": "avenue", "rd": "road", "ft": "feet", "km": "kilometers",
    "kg": "kilograms", "cm": "centimeters", "mm": "millimeters", "min": "minutes", "hr": "hours",
}
# "No." is only "number" before a digit; the others whenever followed by a period.
_ABBREV_RE = re.compile(r"\b(" + "|".join(k for k in _ABBREVIATIONS if k != "no") + r")\.", re.IGNORECASE)
# These are only abbreviations before a number ("Fig. 2", "pp. 10-12"); their period, left as it
# was, ended a sentence in split_sentences ("See Fig." / "two.").
_NUMBER_ABBREVIATIONS = {"no": "number", "fig": "figure", "figs": "figures", "vol": "volume", "pp": "pages",
                         "sec": "section", "ch": "chapter", "art": "article", "eq": "equation", "apt": "apartment",
                         "ca": "circa"}
_NUMBER_ABBREV_RE = re.compile(r"\b(" + "|".join(_NUMBER_ABBREVIATIONS) + r")\.\s*(?=\d)", re.IGNORECASE)
_UNITS = {"km": "kilometers", "kg": "kilograms", "cm": "centimeters", "mm": "millimeters", "mg": "milligrams",
          "ml": "milliliters", "kb": "kilobytes", "mb": "megabytes", "gb": "gigabytes", "mph": "miles per hour",
          "kmh": "kilometers per hour", "hz": "hertz", "khz": "kilohertz", "lb": "pounds", "lbs": "pounds",
          "oz": "ounces", "ft": "feet", "yd": "yards", "tsp": "teaspoons", "tbsp": "tablespoons", "ghz": "gigahertz",
          "mhz": "megahertz", "tb": "terabytes", "min": "minutes", "mins": "minutes", "hr": "hours", "hrs": "hours", "mi": "miles"}
# A unit's own period ("5 lb. 3 oz.", "2 in.") is dropped unless it also ends the sentence: left
# in, split_sentences cut "It is 6 ft. 2 in. tall" after "in.". "in" is a unit only with its period.
_UNIT_RE = re.compile(r"(\d)\s?(" + "|".join(_UNITS) + r"|in(?=\.))\b(\.(?!\d))?", re.IGNORECASE)


def _singular(name: str) -> str:
    """feet -> foot, inches -> inch, kilometers per hour -> kilometer per hour (hertz stays)."""
    first, _, rest = name.partition(" ")
    first = {"feet": "foot", "inches": "inch", "hertz": "hertz"}.get(first, first.removesuffix("s"))
    return f"{first} {rest}".strip()


# Units are matched in any case ("10 KM", "60 MPH" on signs), but "HR" and "ML" in capitals are also
# human resources and machine learning: "10 HR staff" was "ten hours staff". Before a word for people,
# teams or work they stay letters ("24 HR service" is still hours).
_UNIT_ACRONYMS = {"hr", "ml"}
_ACRONYM_NOUNS = {"staff", "team", "teams", "employee", "employees", "people", "person", "professional",
                  "professionals", "manager", "managers", "department", "departments", "role", "roles", "position",
                  "positions", "job", "jobs", "engineer", "engineers", "model", "models", "specialist", "specialists",
                  "expert", "experts", "researcher", "researchers", "personnel", "worker", "workers", "rep", "reps",
                  "officer", "officers", "director", "directors", "leader", "leaders", "consultant", "consultants",
                  "project", "projects", "system", "systems", "tool", "tools", "course", "courses", "policy", "policies"}


# Words after a measure that make it no adjective: "a 2 hr drive" but "2 hr to drive", "30 min later"
_NOT_A_NOUN = re.compile(r"\s+(?:of|to|and|or|per|a|an|the|in|on|at|for|from|by|with|than|more|less|later|ago|away|long|"
                         r"old|each|before|after|behind|ahead|late|early|off|up|down|into|is|was|are|were)\b")


def _attributive(match: re.Match) -> bool:
    """A measure before its noun, said in the singular: "a 5 km run" (not "five kilometers run"),
    "24 hr service" (an hr, not hrs). Only after "a"/"an" or with the singular abbreviation "hr"."""
    after = match.string[match.end():]
    if not re.match(r"\s+[a-z]", after) or _NOT_A_NOUN.match(after):
        return False
    return bool(re.search(r"\b[Aa]n?\s+[\d.,]+$", match.string[:match.start(1) + 1])) or match.group(2).lower() == "hr"


def _unit(match: re.Match) -> str:
    if match.group(2).isupper() and match.group(2).lower() in _UNIT_ACRONYMS:
        following = re.match(r"\s+([a-z]+)", match.string[match.end():])
        if following and following.group(1) in _ACRONYM_NOUNS:
            return match.group(0)
    name = _UNITS.get(match.group(2).lower(), "inches")
    # "1 kg" was "one kilograms": singular after a bare 1 (not 21, 0.1 or 1,001)
    if re.search(r"(?<![\d.,])1$", match.string[:match.start(1) + 1]) or _attributive(match):
        name = _singular(name)
    # its period ends the sentence before a capital too: no name follows a unit ("for 45 min. Serves 4")
    ends = _ends_sentence(match) or re.match(r"\s+[A-Z]", match.string[match.end():])
    return f"{match.group(1)} {name}" + ("." if match.group(3) and ends else "")


# Grams only in lower case: "5G" is a mobile network, and so is "4g" before a word of one; "802.11g"
# is a Wi-Fi standard
_GRAMS_RE = re.compile(r"(\d)(?<!802\.11)\s?g\b(?!\.\d)(?!\s+(?:network|networks|signal|coverage|lte|data|"
                       r"connection|speed|speeds|phone|phones|mobile|sim|internet|router|modem|tower|towers)\b)")


def _grams(match: re.Match) -> str:
    one = re.search(r"(?<![\d.,])1$", match.string[:match.start(1) + 1])
    return f"{match.group(1)} {'gram' if one else 'grams'}"
_SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "=": " equals ", "@": " at ", "#": " number "}
# Dotted abbreviations that are words, not letters; any other run of dotted letters ("U.S.A.",
# "a.m.") is said letter by letter, and its dots must not end a sentence.
_DOTTED_WORDS = {"i.e.": "that is", "e.g.": "for example", "cf.": "compare"}
_DOTTED_WORDS_RE = re.compile(r"(?<!\w)(" + "|".join(re.escape(k) for k in _DOTTED_WORDS) + r")(?!\w)", re.IGNORECASE)
_INITIALISM_RE = re.compile(r"(?<!\w)((?:[A-Za-z]\.){2,})(?!\w)")
# After "U.S." a capitalised word can start a sentence ("... in the U.S. It is big.") or go on with a
# name ("the U.S. Army"): the words that usually begin one keep the sentence break.
_SENTENCE_STARTERS = {"a", "an", "and", "but", "he", "her", "his", "i", "in", "it", "its", "my", "on", "our", "she",
                      "so", "that", "the", "then", "there", "these", "they", "this", "those", "we", "what", "when",
                      "you", "your"}


# Titles stand before a name, so their period never ends a sentence.
_TITLES = {"mr", "mrs", "ms", "dr", "prof", "capt", "col", "gen", "lt", "sgt", "rev", "mt"}


def _ends_sentence(match: re.Match) -> bool:
    """Whether the period of a dotted abbreviation also ends its sentence: nothing (or only a
    closing quote) or a line break follows, or a word that usually begins a sentence."""
    rest = match.string[match.end():]
    if not rest.strip() or re.match(r'[ \t]*\n|"', rest):
        return True
    following = re.match(r"\s+([A-Z][a-z]*)\b", rest)
    return bool(following) and following.group(1).lower() in _SENTENCE_STARTERS


# "5pm", "10:30am", "9 AM", "5 p.m.": the letters as espeak-ng says them in capitals ("a m" reads
# "uh em", and "am" glued to "10:30am" also hid the time from the clock rule).
_MERIDIEM_RE = re.compile(r"(\d)\s?(?:([AaPp])\.[Mm]\.|([AaPp])[Mm]\b)")


def _meridiem(match: re.Match) -> str:
    letter = (match.group(2) or match.group(3)).upper()
    stop = "." if match.group(2) and _ends_sentence(match) else ""  # "at 5 p.m. Then ..."
    return f"{match.group(1)} {letter}M{stop}"


def _initialism(match: re.Match) -> str:
    """U.S.A. -> U S A; with a period kept where it also ends the sentence."""
    return " " + " ".join(match.group(1).replace(".", "")) + ("." if _ends_sentence(match) else " ")


def _abbreviation(match: re.Match) -> str:
    """Dr. -> doctor, Rd. -> road; the period kept where it also ends the sentence ("on Main Rd.
    Then ..." lost its sentence break before). "St." is Saint before a name, else street."""
    key = match.group(1).lower()
    if key in _UNITS and re.search(r"\d\s?$", match.string[:match.start()]):
        return match.group(0)  # "1 ft." is the unit rule's ("one foot", not "one feet")
    if key == "st":
        name = re.match(r"[ \t]+([A-Z][a-z]*)\b", match.string[match.end():])
        if name and name.group(1).lower() not in _SENTENCE_STARTERS:
            return "saint"
        return "street" + ("." if _ends_sentence(match) else "")
    return _ABBREVIATIONS[key] + ("." if key not in _TITLES and _ends_sentence(match) else "")
_MONTHS = {"jan": "January", "feb": "February", "mar": "March", "apr": "April", "jun": "June", "jul": "July",
           "aug": "August", "sep": "September", "sept": "September", "oct": "October", "nov": "November",
           "dec": "December"}
_MONTH_RE = re.compile(r"\b(" + "|".join(_MONTHS) + r")\.(?=\s*\d)", re.IGNORECASE)  # "Jan. 5", not "mar."
# Without the dot only capitalised and beside a number: "Nov 28, 2026", "28 Nov 2026" (not "mar 5")
_BARE_MONTH_RE = re.compile(r"\b(" + "|".join(m.capitalize() for m in _MONTHS) + r")\b\.?(?=\s*\d)|(?<=\d )("
                            + "|".join(m.capitalize() for m in _MONTHS) + r")\b\.?")
_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December"]
_MONTH_NAME = "(" + "|".join(_MONTH_NAMES) + ")"
_ISO_DATE_RE = re.compile(r"\b(\d{4})([-/])(\d\d)\2(\d\d)\b")  # 2026-11-28, 2026/11/28
_DOTTED_DATE_RE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")  # 28.11.2026 (day first), not a version
_SLASH_DATE_RE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d\d)\b")  # 12/25/1990, 25/12/90
# A month and day with no year, after a word that takes a day: "Due 12/25" was "twelve / twenty five".
# Bare, "12/25" may be a score or a share; after "since" or "expires" a month and year (a card's
# 12/25), so those stay as they were.
_DATED_MONTH_DAY_RE = re.compile(r"\b((?:[Dd]ue|[Oo]n|[Bb]y|[Uu]ntil|[Tt]ill|[Ff]rom|[Bb]efore|[Aa]fter|[Ee]nds?|"
                                 r"[Ss]tarts?|[Oo]pens?|[Cc]loses?)\s+)(0?[1-9]|1[0-2])/([12]\d|3[01]|0?[1-9])"
                                 r"(?![\w/]|\.\d)")
_MONTH_YEAR_RE = re.compile(_MONTH_NAME + r",?\s+(1[1-9]\d\d|20\d\d)\b(?![.,]\d)")  # May 2021
_MONTH_DAY_RE = re.compile(_MONTH_NAME + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b(?![:.]\d)(?:,?\s+(\d{4})\b)?")
_DAY_MONTH_RE = re.compile(r"(\b[Tt]he\s+)?\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_NAME + r"\b(?:,?\s+(\d{4})\b)?")
_SCALES = "thousand|million|billion|trillion"
# name, plural, and the hundredth's name and plural ("£12.99" was "twelve pounds and ninety nine cents")
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents")}
# Phone numbers are read digit by digit, in their groups: (555) 123-4567, 555-1234.
# With a "1-" / "+1 " country code (1-800-555-1234) or dots (555.123.4567), which were read as
# "one - eight hundred ..." and "five hundred and fifty five point one hundred ...".
_PHONE_RE = re.compile(r"(?:(?<!\w)\+1[\s.-]|(?<![\w+])1[.-])?(?:(?:\(\d{3}\)\s?|\b\d{3}[\s.-])?\b\d{3}-\d{4}|\b\d{3}\.\d{3}\.\d{4})\b")
_DIGIT_WORDS = ["oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# Proper fractions with a small denominator (1/2, 3/4, 5/8); "24/7" or "9/11" are not fractions.
# "2 1/2" (and "2½") is "two and a half".
_FRACTION_RE = re.compile(r"(?<![\w/.])(?:(\d{1,3}) )?(\d)/(\d{1,2})(?![\w/])")
_PER_UNIT = {"s": "second", "sec": "second", "h": "hour", "hr": "hour", "min": "minute", "day": "day"}


# Roman numerals after a capitalised word: espeak-ng reads "Henry VIII" as "Henry roman eight".
# After a name they are regnal ("Henry the eighth"), after these words a number ("World War two").
_ROMAN_RE = re.compile(r"\b([A-Z][a-z]+)\s+([IVXL]+)\b")
_ROMAN_COUNTED = {"war", "chapter", "part", "volume", "act", "scene", "book", "bowl", "phase", "section", "article",
                  "type", "class", "grade", "level", "stage", "title", "appendix", "episode", "season", "round",
                  "vatican", "rocky", "apollo", "gemini", "wars"}


def _roman_value(numeral: str) -> int | None:
    """The value of a well-formed Roman numeral up to 89 (so "LI" yes, "IIV" or "VX" no)."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50}
    total = 0
    for i, c in enumerate(numeral):
        v = values[c]
        total += -v if i + 1 < len(numeral) and values[numeral[i + 1]] > v else v
    canonical = ""
    rest = total
    for value, symbol in ((50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while rest >= value:
            canonical, rest = canonical + symbol, rest - value
    return total if 0 < total < 90 and canonical == numeral else None


def _roman(match: re.Match) -> str:
    word, numeral = match.group(1), match.group(2)
    value = _roman_value(numeral)
    if value is None:
        return match.group(0)
    if word.lower() in _ROMAN_COUNTED:
        return f"{word} {_num2words(str(value))}"
    # a name: only numerals that cannot be a word or a letter ("I", "X", "Malcolm X", "XL")
    if set(numeral) <= set("IVX") and (len(numeral) > 1 or numeral == "V"):
        return f"{word} the {_num2words(str(value), 'ordinal')}"
    return match.group(0)


# Processor and graphics card model numbers are said in groups, as their users say them: "i7-13700K"
# was "i seven - thirteen thousand seven hundred K" ("i seven thirteen seven hundred K"), "RTX 4090"
# "four thousand and ninety" ("forty ninety"). Only an Intel-style code (a hyphen after i3-i9 or E3-E7)
# or a number after a brand word: a bare "5000K" is a colour temperature, "2024-25" a season.
_MODEL_CODE_RE = re.compile(r"\b(i[3579]|E[357])-(\d{4,5})([A-Z]{0,3}\d?)\b(?!-)")
_MODEL_AFTER_BRAND_RE = re.compile(r"\b(RTX|GTX|RX|Radeon|GeForce|Xeon|Ryzen\s+[3579]|Core\s+i[3579])\s+(\d{3,5})"
                                   r"([A-Z]{1,3}\d?[A-Z]{0,2})?\b(?![-.,]\d)")


def _model_number(digits: str) -> str:
    """4090 -> forty ninety, 9900 -> ninety nine hundred, 13700 -> thirteen seven hundred, 10850 -> ten
    eight fifty, 970 -> nine seventy: the first two digits (one of three), then the rest as a clock's
    minutes are read."""
    if digits[0] == "0" or digits.endswith("000"):
        return " ".join(_DIGIT_WORDS[int(d)] for d in digits) if digits[0] == "0" else _num2words(digits)
    head = 1 if len(digits) == 3 else 2  # "GTX 970" was "nine hundred and seventy"
    words, tail = [_num2words(digits[:head])], digits[head:]
    if len(tail) == 3:  # 13700: "thirteen" "seven hundred"; 10850: "ten" "eight fifty"
        if tail.endswith("00"):
            return f"{words[0]} {_num2words(tail[0])} hundred"
        words.append(_DIGIT_WORDS[int(tail[0])])
        tail = tail[1:]
    words.append("hundred" if tail == "00" else f"oh {_num2words(tail[1])}" if tail[0] == "0" else _num2words(tail))
    return " ".join(words)


def _model_code(match: re.Match) -> str:
    suffix = f" {match.group(3)}" if match.group(3) else ""
    return f"{match.group(1)} {_model_number(match.group(2))}{suffix}"


# Web addresses and e-mail: their dots were pauses (espeak keeps "." as punctuation), not "dot".
_URL_RE = re.compile(r"\b(?:https?://|www\.)[^\s\"'<>]*[^\s\"'<>.,;:!?)]", re.IGNORECASE)
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")


def _web_address(match: re.Match) -> str:
    """https://www.example.com/a?q=1 -> w w w dot example dot com slash a ?q=1 (the scheme unsaid)."""
    address = re.sub(r"^https?://", "", match.group(0), flags=re.IGNORECASE)
    address = re.sub(r"^www\.", "w w w.", address, flags=re.IGNORECASE)
    address = address.replace(".", " dot ").replace("/", " slash ").replace("@", " at ").replace("?", " ")
    return " " + address.replace("-", " dash ").replace("_", " underscore ") + " "


def _is_emoji_part(c: str) -> bool:
    """Parts of an emoji sequence that are not category So: skin tones (Sk), zero-width joiner,
    variation selectors, the keycap mark and tag characters."""
    o = ord(c)
    return (0x1F3FB <= o <= 0x1F3FF or o in (0x200D, 0x20E3) or 0xFE00 <= o <= 0xFE0F
            or 0xE0020 <= o <= 0xE007F)


def _clock(match: re.Match) -> str:
    """3:45 -> three forty five; 3:05 -> three oh five; 3:00 -> three o'clock."""
    hours, minutes = match.group(1), match.group(2)
    if minutes == "00":  # "8:00 AM" is "eight AM", not "eight o'clock AM"
        meridiem = re.match(r"\s?[AP]M\b", match.string[match.end():])
        return f" {_num2words(hours)} " if meridiem else f" {_num2words(hours)} o'clock "
    spoken = _num2words(minutes) if not minutes.startswith("0") else f"oh {_num2words(minutes[1])}"
    return f" {_num2words(hours)} {spoken} "


def _decade(match: re.Match) -> str:
    """80s / '90s / 1960s -> eighties / nineties / nineteen sixties."""
    century, tens = match.group(1), match.group(2)
    word = _num2words(tens)
    word = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f" {_num2words(century)} {word} " if century else f" {word} "


def _num2words(value: str, to: str = "cardinal") -> str:
    try:
        from num2words import num2words
    except ImportError as exc:  # pragma: no cover - num2words is a dependency of msar
        raise ImportError("text normalisation needs `pip install num2words`") from exc

    return num2words(value if "." in value else int(value), to=to, lang="en").replace("-", " ").replace(",", "")


def _money(match: re.Match) -> str:
    symbol, whole, cents = match.group(1), match.group(2).replace(",", ""), match.group(3)
    cents = cents.ljust(2, "0") if cents else cents  # $5.5 is five dollars and fifty cents
    unit = _CURRENCIES[symbol]
    words = f"{_num2words(whole)} {unit[0] if whole == '1' else unit[1]}"
    if cents and int(cents):
        said = f"{_num2words(cents)} {unit[2] if cents == '01' else unit[3]}"
        words = said if int(whole) == 0 else f"{words} and {said}"  # $0.05 is "five cents", not "zero dollars and"
    return f" {words} "


# "$2.5bn", "£5m", "$3k": the short scales, glued to the number (or "bn"/"mn" after a space)
_SHORT_SCALES = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion", "tn": "trillion"}
_MONEY_SCALE_RE = re.compile(r"([$£€])\s?(\d[\d,]*(?:\.\d+)?)(?:\s?(" + _SCALES + r"|bn|mn|tn)\b|(k|m|b)\b)", re.IGNORECASE)


def _money_scale(match: re.Match) -> str:
    """$1.5 million -> one point five million dollars (not "one dollar and fifty cents million")."""
    scale = (match.group(3) or match.group(4)).lower()
    scale = _SHORT_SCALES.get(scale, scale)
    return f" {_num2words(match.group(2).replace(',', ''))} {scale} {_CURRENCIES[match.group(1)][1]} "


def _spoken_year(year: str) -> str:
    """1984 -> nineteen eighty four, 2005 -> two thousand and five, 2021 -> twenty twenty one, 90 -> ninety."""
    if len(year) == 2:
        return f"oh {_DIGIT_WORDS[int(year[1])]}" if year.startswith("0") else _num2words(year)
    return _num2words(year, "year")


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _date(month: int, day: int, year: str | None, day_first: bool = False, the: str = "") -> str | None:
    """A month, day and optional year as said: "December twenty fifth, nineteen ninety" (or
    "the third of May" where the text put the day first); None when it is not a date."""
    if not (1 <= month <= 12 and 1 <= day <= _MONTH_DAYS[month - 1]):  # "2/30" is no date
        return None
    name, ordinal = _MONTH_NAMES[month - 1], _num2words(str(day), "ordinal")
    words = f"{the or 'the '}{ordinal} of {name}" if day_first else f"{name} {ordinal}"
    return f" {words}, {_spoken_year(year)} " if year else f" {words} "


def _slash_date(match: re.Match) -> str:
    """12/25/1990 (month first, as in en-US); 25/12/1990 when the first number cannot be a month."""
    first, second, year = int(match.group(1)), int(match.group(2)), match.group(3)
    month, day = (second, first) if first > 12 else (first, second)
    return _date(month, day, year) or match.group(0)


# A month and a two-digit year after "born", "since", "in" or "from": "Born 11/89" was "eleven eighty
# nine" (the split rule: 11 + 89 = 100). Only where the second number cannot be a day (32 and up):
# "since 11/25" may be the 25th of November, so it is left; "in 1/50 of cases" is a share.
_MONTH_SHORT_YEAR_RE = re.compile(r"\b((?:[Bb]orn|[Ss]ince|[Ii]n|[Ff]rom)\s+)(0?[1-9]|1[0-2])/(3[2-9]|[4-9]\d)(?![\w/]|\.\d|\s+of\b)")


def _month_short_year(match: re.Match) -> str:
    return f"{match.group(1)}{_MONTH_NAMES[int(match.group(2)) - 1]} {_spoken_year(match.group(3))}"


def _fraction(match: re.Match) -> str:
    whole, numerator, denominator = match.group(1), int(match.group(2)), int(match.group(3))
    if not 2 <= denominator <= 10 or numerator >= denominator:
        return match.group(0)
    word = {2: "half", 4: "quarter"}.get(denominator) or _num2words(str(denominator), "ordinal")
    if numerator > 1:
        word = "halves" if word == "half" else word + "s"
    if whole:  # "two and a half", not "two one half"
        return f" {_num2words(whole)} and {'a' if numerator == 1 else _num2words(str(numerator))} {word} "
    return f" {_num2words(str(numerator))} {word} "


def _phone(match: re.Match) -> str:
    groups = re.findall(r"\d+", match.group(0))
    plus = "plus " if match.group(0).startswith("+") else ""
    return " " + plus + ", ".join(" ".join(_DIGIT_WORDS[int(d)] for d in g) for g in groups) + " "


# UK phone numbers: a 0 trunk prefix (or +44, with an optional "(0)") and ten more digits in two or
# three groups: "020 7946 0958", "07700 900123", "+44 (0)20 7946 0958". They were read as counts
# ("seven thousand nine hundred and forty six"); the digit count keeps "2005 1234 5678" a list of numbers.
_UK_PHONE_RE = re.compile(r"(?<![\w+])(\+44[\s-]?(?:\(0\)[\s-]?)?|0)(\d{1,4})[\s-](\d{3,6})(?:[\s-](\d{3,4}))?(?!\w|[.,]\d)")


def _uk_phone(match: re.Match) -> str:
    prefix, groups = match.group(1), [g for g in match.groups()[1:] if g]
    if prefix == "0":
        groups[0] = "0" + groups[0]
    if sum(len(g) for g in groups) != (11 if prefix == "0" else 10):
        return match.group(0)
    said = ", ".join(" ".join(_DIGIT_WORDS[int(d)] for d in g) for g in groups)
    return f" plus four four, {said} " if prefix != "0" else f" {said} "


# Ratios: "16:9" was "sixteen: nine" (espeak-ng does not say the colon). Two numbers around a colon
# are a clock time unless the second cannot be minutes ("16:9", "3:1") or the words around say
# ratio ("aspect ratio 16:10", "a 16:10 screen", "odds of 10:30"); after a name it is a verse.
_RATIO_RE = re.compile(r"(?<![\d:])\b(\d{1,3}):(\d{1,3})\b(?!:\d)")
_RATIO_BEFORE_RE = re.compile(r"\b(?:ratio|aspect|odds)\b(?:\s+(?:is|was|of|at))?\s*$", re.IGNORECASE)
_RATIO_AFTER_RE = re.compile(r"\s*(?:aspect|ratio|screen|display|monitor|format|widescreen)\b", re.IGNORECASE)


def _ratio(match: re.Match) -> str:
    first, second = match.group(1), match.group(2)
    a_time = len(second) == 2 and int(second) < 60 and int(first) <= 24
    said_ratio = (_RATIO_BEFORE_RE.search(match.string[:match.start()])
                  or _RATIO_AFTER_RE.match(match.string[match.end():]))
    if a_time and not said_ratio:
        return match.group(0)
    if not said_ratio and re.search(r"\b[A-Z][a-z]{2,}\s+$", match.string[:match.start()]):
        return f" {_num2words(first)} {_num2words(second)} "  # a verse: "Genesis 1:1", as "John 3:16" is read
    return f" {_num2words(first)} to {_num2words(second)} "


# Hours, minutes and seconds: "12:30:45" was "twelve thirty: forty five" (the second colon unsaid).
# Read as a duration, the parts that are not zero ("1:05:30" "one hour five minutes and thirty seconds",
# a race or video time, "0:45:12" "forty five minutes and twelve seconds"); a clock time only where
# the text says so ("at 12:30:45", "9:05:00 PM"): "twelve thirty and forty five seconds".
_HMS_RE = re.compile(r"(?<![\d:.])\b(\d{1,2}):([0-5]\d):([0-5]\d)\b(?![:\d]|\.\d)")


def _hms(match: re.Match) -> str:
    hours, minutes, seconds = match.group(1), match.group(2), match.group(3)
    clock = (re.search(r"\b(?:at|from|until|till)\s+$", match.string[:match.start()], re.IGNORECASE)
             or re.match(r"\s?[AP]M\b", match.string[match.end():]))
    if clock and int(hours) <= 24:
        said = _clock(re.match(r"(\d+):(\d+)", f"{hours}:{minutes}")).strip()
        if minutes == "00" and re.match(r"\s?[AP]M\b", match.string[match.end():]):
            said = _num2words(hours)
        return f" {said} and {_num2words(seconds)} seconds " if int(seconds) else f" {said} "
    parts = [f"{_num2words(value)} {name if int(value) == 1 else name + 's'}"
             for value, name in ((hours, "hour"), (minutes, "minute"), (seconds, "second")) if int(value)]
    if not parts:
        return match.group(0)
    return " " + (" ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) + " "


# Splits: "50/50" was "fifty / fifty"; two shares of a hundred ("80/20", "60/40") or 20/20 vision are
# said as a pair of numbers. Other slashes stay with the fraction and date rules.
_SPLIT_RE = re.compile(r"(?<![\w/.])(\d\d)/(\d\d)(?![\w/]|\.\d)")


def _split(match: re.Match) -> str:
    first, second = match.group(1), match.group(2)
    if int(first) + int(second) != 100 and match.group(0) != "20/20":
        return match.group(0)
    return f" {_num2words(first)} {_num2words(second)} "


# Degrees said letter by letter: "Ph.D." was "P H E" (the initialism rule does not see "Ph"),
# "MSc" "msk"; the period stays where it also ends the sentence.
_DEGREE_RE = re.compile(r"\b(Ph\.?\s?D|[BM]\.?Sc)(s)?(\.)?(?!\w)")


def _degree(match: re.Match) -> str:
    letters = " ".join(c for c in match.group(1).upper() if c.isalpha())
    plural = "ees" if match.group(2) else ""  # "PhDs": "P H Dees" (espeak-ng said "D S")
    return letters + plural + ("." if match.group(3) and _ends_sentence(match) else "")


# "vs" without its period was "V S" (lower case only: "the Vs" are letters); "w/" and "w/o" (notes, recipes) were left to the phonemizer.
_SHORTHANDS = ((re.compile(r"\bvs\b(?!\.)"), "versus"), (re.compile(r"(?<![\w/])[Ww]/[Oo](?![\w/])"), "without"),
               (re.compile(r"(?<![\w/])[Ww]/(?=\s)"), "with"))


# "10k", "3.5M" without a currency sign were "ten k", "three point five M": the scale is said, except
# where K names a race distance or a screen resolution ("a 5K run", "ran a 5K", "4K TV": "five K"). Lowercase
# "m" is metres as often as millions ("100m sprint") and a bare "B" a flat or a pencil ("4B"), so
# those stay as written; "B" is billions only after a decimal ("4.2B"), "M" millions after a decimal
# or from 10 up ("3M" is a company).
_SUFFIX_SCALE_RE = re.compile(r"(?<![\w.$£€-])(\d+(?:\.\d+)?)(k|K|M|B|bn|mn)\b(?![.,]\d)")
_K_NAMES = {"run", "runs", "race", "races", "walk", "fun", "runner", "runners", "tv", "tvs", "video", "videos",
            "display", "screen", "monitor", "resolution", "hdr", "streaming", "camera", "gaming", "ultra"}
# "I ran a 5K", "finish the 10K": a race with no noun after it ("ran 10k tests" stays thousands)
_K_RACE_BEFORE_RE = re.compile(r"\b(?:ran|run|runs|running|jogged|walked|did|do|finished|finish|completed|complete"
                               r"|won|win|entered|enter)\s+(?:a|the|my|his|her|their|our|this|that)\s+$", re.IGNORECASE)


def _suffix_scale(match: re.Match) -> str:
    number, suffix = match.group(1), match.group(2)
    following = re.match(r"\s+(\w+)", match.string[match.end():])
    if suffix in "kK":
        if suffix == "K" and "." not in number and int(number) >= 1000:
            return f"{number} kelvin"  # "a 5000K bulb", a colour temperature (was "five thousand thousand")
        if ((following and following.group(1).lower() in _K_NAMES) or (suffix == "K" and number in ("4", "8"))
                or _K_RACE_BEFORE_RE.search(match.string[:match.start()])):
            return f"{number} K"
    elif suffix in "MB" and "." not in number and (suffix == "B" or int(number) < 10):
        return match.group(0)
    return f"{number} {_SHORT_SCALES[suffix.lower()]}"


# Feet and inches with primes: 6'2" was "six ' two \"". Straight quotes or prime signs (NFKC makes
# ″ two ′, turned into '' here). A height is "six foot two"; a length alone is "feet" after a number
# that a measure word follows ("10' long") and "foot" before a noun ("a 10' pole", "a 12" pizza").
# A number in quotes ('"42"', "'5'") is no length: the opening quote rules it out. One pass for
# both, so that a quote closing after a height ('"I'm 5' 4"".') is not read as inches.
_FEET_INCHES_RE = re.compile(r"(?<![\w'\".])(?:(\d{1,2})'\s?(\d{1,2})(?:\"|'')|(\d{1,3}(?:\.\d+)?)(\"|''|')(?=[\s,.;:)!?]|$))")
_MEASURE_WORDS = {"tall", "long", "wide", "high", "deep", "thick", "away", "across", "of", "in", "from", "below",
                  "above", "and", "or", "under", "over", "to"}


def _closes_quote(before: str, mark: str) -> bool:
    """The mark closes a quotation: one like it opens after a space or bracket, and none since."""
    quote = "'" if mark == "'" else '"'
    return re.search(r"(?:^|[\s(\[])" + quote + "[^" + quote + r"]*$", before.replace("''", '"')) is not None


def _feet_inches(match: re.Match) -> str:
    if match.group(1):  # a height
        return f"{match.group(1)} foot {match.group(2)}"
    number, mark = match.group(3), match.group(4)
    if _closes_quote(match.string[:match.start()], mark):
        return match.group(0)  # 'He said "The answer is 42".' was "forty two inches"
    following = re.match(r"[ \t]+([a-z]+)\b", match.string[match.end():])
    attributive = number == "1" or (following and following.group(1) not in _MEASURE_WORDS)
    if mark == "'":
        return f"{number} {'foot' if attributive else 'feet'}"
    return f"{number} {'inch' if attributive else 'inches'}"


# Years from 2000 outside a full date were counts: "in 2024" was "in two thousand and twenty four".
# A year follows words like "since" or "year"; after "in", "by", "from"... only where no noun
# follows ("in 2005 we met", "by 2024,", but "by 2010 votes", "in 2021 1/2 of them"); with nothing
# before it, only at a sentence end ("It was 2019."). "2005 people" stays a count. "2023-24" (or
# "2023/24") is a season.
_YEAR_RE = re.compile(r"(?<![\w.,$£€-])(20\d\d)(?:[-/](\d\d)\b)?(?![\w%]|[.,:/-]?\d)")
_YEAR_AFTER = {"since", "until", "till", "year", "circa", "copyright", "spring", "summer", "autumn", "fall", "winter", "early",
               "late", "mid", "during", "before", "after", "around", "january", "february", "march", "april", "may",
               "june", "july", "august", "september", "october", "november", "december"}
_YEAR_MAYBE_AFTER = {"in", "by", "from", "of", "to", "and", "or", "through", "between", "than"}
_YEAR_FOLLOWERS = _SENTENCE_STARTERS | {"to", "and", "or", "through", "until", "when", "was", "were", "is", "as",
                                        "with", "for", "at", "onwards", "onward", "after", "before", "had", "have",
                                        "saw", "season", "election", "elections", "census", "budget", "edition",
                                        "while", "because", "since", "where", "alone", "only", "already"}


# "Q3 2024", "FY 2024", "H1 2023": a quarter, half or fiscal year names a year ("Q3 2024 results")
_YEAR_PERIOD_BEFORE_RE = re.compile(r"\b(?:Q[1-4]|H[12]|FY|CY)\s*$")  # (or after it: "2024 Q3")
# "The 2022 World Cup", "a 2019 study": after a determiner, a year is known by the event it dates; a
# count ("The 2022 participants") has a plural noun. A capitalised word that is no plural ("World
# Cup", "Toyota") names an event too; "the 2000 Americans" is a count.
_YEAR_DETERMINERS = {"the", "a", "an", "this", "that", "his", "her", "its", "their", "our", "my", "your"}
_YEAR_EVENTS = {"olympics", "olympic", "paralympics", "world", "cup", "election", "elections", "midterms",
                "season", "edition", "model", "census", "budget", "crisis", "recession", "championship",
                "championships", "tournament", "final", "finals", "campaign", "summit", "festival", "vintage", "study",
                "survey", "report", "film", "movie", "album", "release", "draft", "playoffs", "derby", "marathon",
                "awards", "oscars", "grammys", "race", "referendum", "pandemic", "earthquake", "floods", "version"}
# "2012 was better", "2016 saw growth": a year that starts a sentence (or a clause after "and") before
# a verb said of one thing; "2010 were injured" (plural) is a count
_YEAR_SUBJECT_VERBS = {"was", "is", "has", "wasn't", "isn't", "hasn't", "saw", "brought", "had", "marked", "marks",
                       "began", "begins", "ended", "ends", "proved", "became", "remains", "remained", "promises",
                       "looks", "seems", "will"}
# "In 2010 prices rose" begins with a year; "In 2010 cases ..." with a count of what follows
_YEAR_COUNTED = {"people", "persons", "cases", "patients", "men", "women", "children", "students", "units", "copies",
                 "words", "pages", "votes", "times", "items", "samples", "subjects", "participants", "respondents",
                 "households", "homes", "jobs", "deaths", "users", "of", "out"}
_SENTENCE_START_RE = re.compile(r"(?:^|[.!?]['\")]?\s+|\n)\s*['\"(]?$")
# "From 2010 to 2020", "between 2012 and 2016": the second of two years (the first is one by its "to")
_YEAR_RANGE_BEFORE_RE = re.compile(r"\b(?:from|between)\s+(1[1-9]\d\d|20\d\d)\s+(?:to|and|through|until|till)\s+$",
                                   re.IGNORECASE)


def _year_by_context(match: re.Match, before: str) -> bool | None:
    """True where the words around make 20XX a year, False where a count, None: not decided here."""
    year, head, rest = match.group(1), match.string[:match.start()], match.string[match.end():]
    following = re.match(r"\s*([A-Za-z']+)", rest)
    word = following.group(1) if following else ""
    # "from 2010 to 2500 people": no later year follows, so the first is a count too
    partner = re.match(r"\s*(?:to|and|through|until|till)\s+(\d{4})\b", rest)
    if partner and before in ("from", "between") and not int(year) < int(partner.group(1)) <= 2099:
        return False
    if _YEAR_PERIOD_BEFORE_RE.search(head):
        return True
    range_ = _YEAR_RANGE_BEFORE_RE.search(head)
    if range_ and int(range_.group(1)) < int(year):
        return True
    if re.match(r"\s+(?:Q[1-4]|H[12])\b", rest):  # "2024 Q3 results"
        return True
    if re.match(r":\s+[A-Z]", rest) and _SENTENCE_START_RE.search(head):  # "2012: The Movie", a title
        return True
    if before in _YEAR_DETERMINERS and word:
        names = re.match(r"\s*((?:[A-Z][\w']*\s*){1,3})", rest)
        if word.lower() in _YEAR_EVENTS or word == "Games" or any(w.lower() in _YEAR_EVENTS for w in (names.group(1).split() if names else [])):
            return True
        if names and not all(w.endswith("s") for w in names.group(1).split()):
            return True  # "the 2015 Paris Agreement", not "the 2000 Americans"
        return None
    if (_SENTENCE_START_RE.search(head) or before in ("and", "but", "while", "whereas")) and word in _YEAR_SUBJECT_VERBS:
        return True
    opening_in = re.search(r"\bIn\s+$", head)
    if (opening_in and _SENTENCE_START_RE.search(head[:opening_in.start()]) and word[:1].islower()
            and word not in _YEAR_COUNTED and not re.match(r"\s*\d", rest)):
        return True
    return None


def _year(match: re.Match) -> str:
    year, until = match.group(1), match.group(2)
    if until and int(until) <= int(year[2:]):
        return match.group(0)  # "2019-05" is no season
    before = re.search(r"([A-Za-z]+)[\s-]+$", match.string[:match.start()])
    before = before.group(1).lower() if before else ""
    rest = match.string[match.end():]
    by_context = None if until else _year_by_context(match, before)
    if by_context is False:
        return match.group(0)
    if before in _YEAR_AFTER or until or by_context:
        pass
    elif before in _YEAR_MAYBE_AFTER:
        following = re.match(r"\s*([A-Za-z]+)", rest)
        if not (re.match(r"\s*(?:[.!?;:,)\"]|$)", rest) or (following and following.group(1).lower() in _YEAR_FOLLOWERS)
                or (following and following.group(1)[0].isupper())):
            return match.group(0)
    elif not re.match(r"[.!?](?:\s|$)|\s*$", rest):
        return match.group(0)
    said = _spoken_year(year)
    return f" {said} {_spoken_year(until)} " if until else f" {said} "


# Dimensions: "12x10", "3 x 4", "2' x 3'" were "twelve x ten"; "0x1F" is hexadecimal, not "zero by".
_DIMENSION_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?(?:'|\"|'')?)\s?[x×]\s?(?=\d)")

# Scores: "4.5/5" was "four point five / five", "7/10" after "rated" "seven tenths": a decimal over
# 5, 10 or 100, or a whole number after a word of rating or before "stars", is "out of".
_SCORE_RE = re.compile(r"(?<![\w/.])(\d+(?:\.\d+)?)/(5|10|100)(?![\w/]|\.\d)")
_SCORE_BEFORE_RE = re.compile(r"\b(?:score[sd]?(?:\s+(?:is|was|of))?|rated|rating(?:\s+(?:is|was|of))?|rates"
                              r"|g[ai]ve\s+it|gives\s+it|giving\s+it|gets|got|grade|marks?)\W*$", re.IGNORECASE)
# "Give it 10/10", "got 85/100": a full score, or any out of a hundred (no day is 100), is "out of"
# with no rating word too; "on 10/10" is a date and "3/100 of a second" a fraction, so they stay.
_SCORE_DATE_BEFORE_RE = re.compile(r"\b(?:on|since|until|till|by|from|before|after|dated)\s+$", re.IGNORECASE)


def _score(match: re.Match) -> str:
    number, total = match.group(1), match.group(2)
    before, after = match.string[:match.start()], match.string[match.end():]
    whole_score = (total in ("10", "100") and number.isdigit() and not re.match(r"\s+of\b", after)
                   and (int(number) == int(total) or (total == "100" and int(number) < 100))
                   and not _SCORE_DATE_BEFORE_RE.search(before))
    if not ("." in number or whole_score or _SCORE_BEFORE_RE.search(before) or re.match(r"\s+stars?\b", after)):
        return match.group(0)
    return f" {number} out of {total} "


def normalize_text(text: str) -> str:
    """Spell out what a speaker would say: abbreviations, numbers, money, ordinals, symbols.

    Years (1100-1999) are read in pairs ("nineteen eighty four"), as people say them; 2000-2099
    only where the words around make it a year ("in 2024 we", "since 2010", "the 2022 World Cup",
    "2012 was"), else a count. "1:05:30" is a duration ("one hour five minutes and thirty seconds"),
    a clock time only after "at" or before AM/PM.
    """
    # "½" is "1⁄2" after NFKC, with a fraction slash, and "2½" would become "21⁄2"
    text = re.sub("[\u00bc-\u00be\u2150-\u215e]", lambda m: " " + unicodedata.normalize("NFKC", m.group(0)) + " ", text)
    text = unicodedata.normalize("NFKC", text).replace("\u2044", "/")
    text = text.replace("’", "'").replace("“", '"').replace("”", '"').replace("–", "-").replace("—", ", ")
    text = text.replace("\u2212", "-").replace("\u2032", "'")  # the minus sign ("\u22125" was "\u2212 five"), a prime
    # emoji and other pictographs: not words (a phonemizer would read out their names); the symbols
    # that are words are said first
    text = re.sub(r"°\s?([CF])\b", lambda m: " degrees " + ("Celsius" if m.group(1) == "C" else "Fahrenheit"), text)
    text = text.replace("°", " degrees ").replace("©", " copyright ").replace("™", " trademark ")
    # control characters too: espeak-ng stops reading at a NUL ("hello\x00 world" says "hello")
    text = "".join(" " if unicodedata.category(c) == "Cc" and not c.isspace() else c for c in text)
    # invisible format characters (a BOM, soft hyphens and zero-width spaces from web or PDF text)
    # broke words for espeak-ng: "zero\u00adwidth" was said "zero idth"
    text = "".join(c for c in text.replace("\u200b", " ") if unicodedata.category(c) != "Cf")
    text = "".join(c for c in text if unicodedata.category(c) not in ("So", "Cs", "Co") and not _is_emoji_part(c))
    text = _URL_RE.sub(_web_address, text)
    text = _EMAIL_RE.sub(_web_address, text)
    text = re.sub(r"#(?=[A-Za-z])", " hashtag ", text)  # "#blessed" (before a number "#" is "number")
    text = _DEGREE_RE.sub(_degree, text)
    for pattern, word in _SHORTHANDS:
        text = pattern.sub(word, text)
    text = _MERIDIEM_RE.sub(_meridiem, text)
    text = _NUMBER_ABBREV_RE.sub(lambda m: _NUMBER_ABBREVIATIONS[m.group(1).lower()] + " ", text)
    text = _DOTTED_WORDS_RE.sub(lambda m: _DOTTED_WORDS[m.group(1).lower()], text)
    text = _INITIALISM_RE.sub(_initialism, text)
    text = _MONTH_RE.sub(lambda m: _MONTHS[m.group(1).lower()], text)
    text = _BARE_MONTH_RE.sub(lambda m: _MONTHS[(m.group(1) or m.group(2)).lower()], text)
    text = _ABBREV_RE.sub(_abbreviation, text)
    text = _ROMAN_RE.sub(_roman, text)
    text = _MODEL_CODE_RE.sub(_model_code, text)
    text = _MODEL_AFTER_BRAND_RE.sub(_model_code, text)
    # dates before anything reads their numbers or hyphens
    text = _ISO_DATE_RE.sub(lambda m: _date(int(m.group(3)), int(m.group(4)), m.group(1)) or m.group(0), text)
    text = _DOTTED_DATE_RE.sub(lambda m: _date(int(m.group(2)), int(m.group(1)), m.group(3), day_first=True)
                               or m.group(0), text)
    text = _SLASH_DATE_RE.sub(_slash_date, text)
    text = _DATED_MONTH_DAY_RE.sub(lambda m: m.group(1) + (_date(int(m.group(2)), int(m.group(3)), None) or
                                                          f"{m.group(2)}/{m.group(3)}").strip(), text)
    text = _MONTH_SHORT_YEAR_RE.sub(_month_short_year, text)
    text = _MONTH_DAY_RE.sub(lambda m: _date(_MONTH_NAMES.index(m.group(1)) + 1, int(m.group(2)), m.group(3))
                             or m.group(0), text)
    text = _DAY_MONTH_RE.sub(lambda m: _date(_MONTH_NAMES.index(m.group(3)) + 1, int(m.group(2)), m.group(4),
                                             day_first=True, the=m.group(1) or "") or m.group(0), text)
    text = _MONTH_YEAR_RE.sub(lambda m: f"{m.group(1)} {_spoken_year(m.group(2))}", text)
    text = _YEAR_RE.sub(_year, text)
    text = re.sub(r"\b24/7\b", "twenty four seven", text)
    text = _SPLIT_RE.sub(_split, text)
    text = _SCORE_RE.sub(_score, text)
    text = _DIMENSION_RE.sub(lambda m: m.group(0) if m.group(1) == "0" else f"{m.group(1)} by ", text)
    text = _FEET_INCHES_RE.sub(_feet_inches, text)
    # "3x faster", "a 10x zoom": a multiplier ("three x faster" before); "4x4" went "by" above, a hex
    # "0x1F" has no word end after its x
    text = re.sub(r"\b(\d+(?:\.\d+)?)x\b", r"\1 times", text)
    text = _UK_PHONE_RE.sub(_uk_phone, text)
    text = _PHONE_RE.sub(_phone, text)
    text = re.sub(r"([$£€]\d[\d,.]*)\s?-\s?(?=[$£€]\d)", r"\1 to ", text)  # $5-$10 (said "five dollars ten dollars")
    text = _MONEY_SCALE_RE.sub(_money_scale, text)
    text = re.sub(r"([$£€])\s?(\d[\d,]*)(?:\.(\d{1,2}))?(?!\d)", _money, text)
    text = _SUFFIX_SCALE_RE.sub(_suffix_scale, text)
    text = _HMS_RE.sub(_hms, text)
    text = _RATIO_RE.sub(_ratio, text)
    text = re.sub(r"\b(\d{1,2}:\d\d)\s?-\s?(?=\d{1,2}:\d\d\b)", r"\1 to ", text)  # 9:00-17:00 (the hyphen unsaid)
    text = re.sub(r"\b(\d{1,2}):(\d\d)\b", _clock, text)
    text = re.sub(r"\b(1[1-9]|[1-9])00s\b", lambda m: f" {_num2words(m.group(1))} hundreds ", text)  # 1900s, 100s
    text = re.sub(r"\b([1-9])000s\b", lambda m: f" {_num2words(m.group(1))} thousands ", text)  # 2000s
    text = re.sub(r"(?:\b(1[1-9]|20)|'|\b)([1-9]0)'?s\b", _decade, text)
    text = re.sub(r"(?<![\w.])-(?=\d)", " minus ", text)
    # pages 10-20, 1914-1918; a full stop may follow ("won 102-98." kept its hyphen), a decimal not
    text = re.sub(r"(?<![\w.-])(\d+)-(\d+)(?![\w-]|\.\d)", r"\1 to \2", text)
    text = re.sub(r"(?<=[A-Za-z])-(?=\d)", " ", text)  # COVID-19
    # "v2.1.3" was "v two point one. three": a version is "version", its dots "point"
    text = re.sub(r"\bv(?=\d+\.\d)", "version ", text)
    text = re.sub(r"\b(\d+(?:\.\d+){2,})\b", lambda m: " point ".join(m.group(1).split(".")), text)  # 2.0.1
    text = _FRACTION_RE.sub(_fraction, text)
    text = _UNIT_RE.sub(_unit, text)
    text = _GRAMS_RE.sub(_grams, text)
    text = re.sub(r"(?<=[a-z])/(" + "|".join(_PER_UNIT) + r")\b", lambda m: f" per {_PER_UNIT[m.group(1)]}", text)
    text = re.sub(r"(\d+)\s?%", lambda m: f"{m.group(1)} percent", text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: _num2words(m.group(1), "ordinal"), text)
    text = re.sub(r"\b1[1-9]\d\d\b(?!\.\d)", lambda m: _spoken_year(m.group(0)), text)
    text = re.sub(r"(?<!\w)'(\d\d)\b(?!['.]?\d)", lambda m: _spoken_year(m.group(1)), text)  # '92 ("' ninety two")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    # a number with a leading zero is a code (PIN, ZIP, 007): digit by digit (after the
    # thousands separators are gone: "1,000" is not a code), not "forty two" for 0042
    text = re.sub(r"(?<![\w.])0\d+\b(?!\.\d)", lambda m: " " + " ".join(_DIGIT_WORDS[int(d)] for d in m.group(0)) + " ", text)
    # ".5" was ". five": its dot, joined to the word before, ended a sentence ("and. seventy five")
    text = re.sub(r"(?<![\w.])\.(\d+)", lambda m: " point " + " ".join(_num2words(d) for d in m.group(1)) + " ", text)
    text = re.sub(r"\d+(?:\.\d+)?", lambda m: f" {_num2words(m.group(0))} ", text)
    for sym, word in _SYMBOLS.items():
        text = text.replace(sym, word)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


__all__ = ["normalize_text"]
