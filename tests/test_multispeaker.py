"""MsarMultiSpeaker TTS: tokenizer, text normalisation, alignment, model, Auto*/remote code, pipeline."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import tiny_multispeaker

import msar_hf.models  # noqa: F401  (Auto* registration)
from msar_hf.audio import load_audio
from msar_hf.errors import MsarError
from msar_hf.models.multispeaker import (
    MsarMultiSpeakerModel,
    MsarMultiSpeakerProcessor,
    MsarMultiSpeakerTokenizer,
)
from msar_hf.models.multispeaker.modeling_msar_multispeaker import (
    durations_to_alignment,
    monotonic_alignment_search,
)
from msar_hf.synthesis import (
    TTS,
    ReferenceAudioError,
    TextError,
    UnknownSpeakerError,
    check_text,
    normalize_text,
    resolve_voice,
    split_sentences,
    synthesize,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tokenizer() -> MsarMultiSpeakerTokenizer:
    return MsarMultiSpeakerTokenizer()


def tiny_model(tokenizer, speakers=("kathleen", "awb"), seed=0) -> MsarMultiSpeakerModel:
    return tiny_multispeaker(speakers, seed)[0]


def kathleen(fixtures_dir: Path, n: int = 2) -> list[tuple[Path, str]]:
    folder = fixtures_dir / "speech" / "kathleen"
    with open(folder / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    return [(folder / r["file_name"], r["text"]) for r in rows]


# ----------------------------------------------------------------------------------------------
# text
# ----------------------------------------------------------------------------------------------
def test_tokenizer_phonemizes_and_round_trips(tokenizer):
    enc = tokenizer("Author of the danger trail, Philip Steels, etc.")
    ids = enc["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids
    phones = tokenizer.decode(ids, skip_special_tokens=True)
    # espeak-ng's reading: "author" starts with the stressed vowel ɔː, "trail" has eɪ, commas kept
    assert phones.startswith("ˈ ɔː θ") and "eɪ" in phones and "," in phones
    assert tokenizer(phones, phonemize=False)["input_ids"] == ids
    # word boundaries: one "_" between each of the 8 words ("etc." is normalised to "et cetera")
    assert phones.split().count("_") == 7
    assert tokenizer("Author of the danger trail, Philip Steels, etc.", normalize=False)["input_ids"] != ids


def test_tokenizer_batch_padding_and_save(tokenizer, tmp_path):
    batch = tokenizer(["Hello.", "A much longer sentence, with a comma."], padding=True, return_tensors="pt")
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()
    assert (batch["input_ids"][0][batch["attention_mask"][0] == 0] == tokenizer.pad_token_id).all()
    tokenizer.save_pretrained(tmp_path)
    again = MsarMultiSpeakerTokenizer.from_pretrained(tmp_path)
    assert again("Hello.")["input_ids"] == tokenizer("Hello.")["input_ids"]


def test_normalize_text_spells_out_numbers_and_abbreviations():
    out = normalize_text("Dr. Smith paid $3.50 on the 2nd of May 1984 for 15% of No. 7, i.e. 1,200 items & more.")
    for words in ("doctor smith", "three dollars and fifty cents", "second", "nineteen eighty four",
                  "fifteen percent", "number seven,", "one thousand two hundred items", " and more"):
        assert words in out.lower(), (words, out)
    assert not any(c.isdigit() for c in out)
    assert normalize_text("Mr. and Mrs. Jones, 3.5 km") == "mister and missus Jones, three point five kilometers"
    # times, signs, decades, dotted letters and pictographs, as a reader says them; the dots of
    # "a.m." or "U.S.A." end no sentence
    out = normalize_text("At 3:45 p.m. on Jan. 5 the U.S.A. paid $5.5 at -5 degrees, e.g. in the '90s 😀.")
    assert out == ("At three forty five PM on January fifth the U S A paid five dollars and fifty cents at "
                   "minus five degrees, for example in the nineties."), out
    assert len(split_sentences(out)) == 1
    assert normalize_text("at 7:00 and 9:05 in the 1960s") == "at seven o'clock and nine oh five in the nineteen sixties"
    assert normalize_text("the 1900s, the 100s and the 2000s") == "the nineteen hundreds, the one hundreds and the two thousands"
    assert normalize_text("thumbs 👍🏽 up 👨‍👩‍👧!") == "thumbs up!"  # skin tones and joiners go with the emoji
    # an initialism keeps its full stop where the next word starts a sentence, not before a name
    assert normalize_text("I live in the U.S. It is big.") == "I live in the U S. It is big."
    assert normalize_text("the U.S. Army") == "the U S Army"
    # dates, phone numbers, ranges, fractions, versions, money with a scale, per-units, temperatures
    for text, spoken in (
        ("On 2026-11-28 we met.", "On November twenty eighth, twenty twenty six we met."),
        ("Born 12/25/1990 or 25/12/90.", "Born December twenty fifth, nineteen ninety or December twenty fifth, ninety."),
        ("It was March 3, 2021, not 3 May 2021 or May 2021.",
         "It was March third, twenty twenty one, not the third of May, twenty twenty one or May twenty twenty one."),
        ("The 3rd of May", "The third of May"),
        ("Call (555) 123-4567 or 555-1234.", "Call five five five, one two three, four five six seven or five five five, one two three four."),
        ("Pages 10-20 of version 2.0.1, 24/7", "Pages ten to twenty of version two point zero point one, twenty four seven"),
        ("1/2 cup, 3/4 mile and 2/3 of it", "one half cup, three quarters mile and two thirds of it"),
        ("$1.5 million and €30 billion", "one point five million dollars and thirty billion euros"),
        ("-5°C at 70 km/h, 70°F, COVID-19", "minus five degrees Celsius at seventy kilometers per hour, seventy degrees Fahrenheit, COVID nineteen"),
    ):
        assert normalize_text(text) == spoken, (text, normalize_text(text))


def test_normalize_text_keeps_the_full_stop_of_an_abbreviation_that_ends_a_sentence():
    # "Rd." / "etc." / "a.m." at a sentence end lost their only full stop: two sentences became one
    assert split_sentences(normalize_text("I live on Main Rd. The house is red.")) == [
        "I live on Main road.", "The house is red."]
    assert normalize_text("Philip Steels, etc.") == "Philip Steels, et cetera."
    assert normalize_text("We met at Elm St.\nNext day") == "We met at Elm street. Next day"
    assert normalize_text("He met Mr. Smith, Jr. at 12:05 a.m.").endswith("junior at twelve oh five AM.")
    # "St." is a street after a name and Saint before one
    assert normalize_text("221B Baker St. in St. Louis") == "two hundred and twenty one B Baker street in saint Louis"


def test_normalize_text_reads_am_and_pm_after_a_time():
    # "10:30am" was "ten: thirty am" (the clock rule missed it), "a.m." became "a m" ("uh em")
    assert normalize_text("We met at 10:30am and left at 4pm.") == "We met at ten thirty AM and left at four PM."
    assert normalize_text("At 8:00 AM, 9 a.m. or 12:05 P.M.") == "At eight AM, nine AM or twelve oh five PM."
    assert split_sentences(normalize_text("It starts at 5 p.m. Then we eat.")) == ["It starts at five PM.", "Then we eat."]
    assert normalize_text("three a month") == "three a month"


def test_normalize_text_reads_a_range_at_the_end_of_a_sentence():
    # the range rule refused a range followed by a full stop: "won 102-98." kept a bare hyphen,
    # which the phonemizer drops ("one hundred and two ninety eight")
    assert normalize_text("The Lakers won 102-98.") == "The Lakers won one hundred and two to ninety eight."
    assert normalize_text("See pages 10-12. From $5-$10.") == "See pages ten to twelve. From five dollars to ten dollars."


def test_normalize_text_reads_cents_and_short_money_scales():
    # "$0.05" was "zero dollars and five cents"; "$2.5bn" was "two dollars and fifty cents bn"
    assert normalize_text("It was $0.05, then €0.99, then $1.01.") == (
        "It was five cents, then ninety nine cents, then one dollar and one cent.")
    assert normalize_text("$2.5bn, £5m, $3k and $4 bn") == (
        "two point five billion dollars, five million pounds, three thousand dollars and four billion dollars")
    assert normalize_text("$5 more") == "five dollars more"


def test_normalize_text_reads_roman_numerals_after_names_and_counted_words():
    # espeak-ng reads "Henry VIII" as "Henry roman eight" and "World War II" as "World War roman two"
    assert normalize_text("After World War II, Henry VIII and Elizabeth II's reign; Chapter IV, Super Bowl LVII.") == (
        "After World War two, Henry the eighth and Elizabeth the second's reign; Chapter four, Super Bowl fifty seven.")
    # a pronoun, a letter, a size or an abbreviation stays as it is
    for text in ("Then I left", "Malcolm X spoke", "Size XL", "Washington DC", "When Mary I went", "Part VIIII"):
        assert normalize_text(text) == text


def test_normalize_text_reads_dates_with_short_months_dots_and_slashes():
    # "Nov 28, 2026" was "Nov twenty eight, two thousand and twenty six", "28.11.2026" "twenty eight
    # point eleven point ...", "2026/11/28" kept its slashes
    spoken = "November twenty eighth, twenty twenty six"
    assert normalize_text("Nov 28, 2026") == spoken
    assert normalize_text("2026/11/28") == spoken
    assert normalize_text("28 Nov 2026 or 28.11.2026") == (
        "the twenty eighth of November, twenty twenty six or the twenty eighth of November, twenty twenty six")
    assert normalize_text("the mar 5 and in Dec.") == "the mar five and in Dec."


def test_normalize_text_reads_phone_numbers_with_a_country_code_or_dots():
    # "1-800-555-1234" was "one - eight oh oh, ...", "555.123.4567" a pair of decimals
    assert normalize_text("Call 1-800-555-1234.") == "Call one, eight oh oh, five five five, one two three four."
    assert normalize_text("+1 (555) 123-4567 or 555.123.4567") == (
        "plus one, five five five, one two three, four five six seven or five five five, one two three, four five six seven")
    assert normalize_text("1 555-1234") == "one five five five, one two three four"


def test_normalize_text_reads_a_decimal_without_its_leading_zero():
    out = normalize_text("About .5 and .75 of it... 5 left.")
    assert out == "About point five and point seven five of it... five left.", out
    assert len(split_sentences(out)) == 2


def test_normalize_text_reads_mixed_and_unicode_fractions():
    # "2 1/2 cups" was "two one half cups", "½" was "one ⁄ two" and "2½" (NFKC "21⁄2") "twenty one ⁄ two"
    assert normalize_text("Add 2 1/2 cups, ½ cup and 1¾ miles.") == (
        "Add two and a half cups, one half cup and one and three quarters miles.")
    assert normalize_text("in 2021 1/2 of them") == "in two thousand and twenty one one half of them"


def test_normalize_text_drops_control_characters(tokenizer):
    # espeak-ng stops at a NUL: the rest of the sentence was silently never said
    assert normalize_text("hello\x00 world\x07 and\tmore\r\n") == "hello world and more"
    assert "w ˈɜː l d".replace(" ", "") in tokenizer.decode(tokenizer("hello\x00 world")["input_ids"]).replace(" ", "")


def test_normalize_text_spells_abbreviations_before_a_number():
    # "See Fig. 2" was split into the sentences "See Fig." and "two ..."
    out = normalize_text("See Fig. 2 and Vol. 1, pp. 10-12, Sec. 3, Apt. 4B.")
    assert out == "See figure two and volume one, pages ten to twelve, section three, apartment four B.", out
    assert len(split_sentences(out)) == 1
    assert normalize_text("the fig. tree") == "the fig. tree"


def test_normalize_text_reads_numbers_with_leading_zeros_digit_by_digit():
    # "0042" was "forty two", a ZIP code "02139" "two thousand one hundred and thirty nine"
    assert normalize_text("PIN 0042, ZIP 02139, agent 007.") == (
        "PIN oh oh four two, ZIP oh two one three nine, agent oh oh seven.")
    assert normalize_text("0.5, 0, 1.05 and 09:05") == "zero point five, zero, one point zero five and nine oh five"
    assert normalize_text("1,000 and 7,900,000,000") == "one thousand and seven billion nine hundred million"


def test_normalize_text_reads_a_year_with_an_apostrophe():
    # "She in '92." was "She in ' ninety two." (the apostrophe is a stray token to the phonemizer)
    assert normalize_text("Born in '92, the class of '05.") == "Born in ninety two, the class of oh five."
    assert normalize_text("the '90s, rock 'n' roll") == "the nineties, rock 'n' roll"


def test_normalize_text_reads_web_addresses_and_email():
    # their dots were punctuation to espeak (a pause, never "dot") and "https://" was spelled out
    out = normalize_text("Visit https://www.example.com/path?q=1 or mail john.doe@example.com. Then go.")
    assert out == ("Visit w w w dot example dot com slash path q equals one or mail john dot doe at example dot com. "
                   "Then go."), out
    assert len(split_sentences(out)) == 2


def test_normalize_text_reads_a_hashtag():
    # "#blessed" was "number blessed"; "#1" stays "number one"
    assert normalize_text("Follow #blessed, the #1 fan.") == "Follow hashtag blessed, the number one fan."


def test_normalize_text_reads_imperial_units_and_drops_their_period():
    # "2 in." and "5 lb." kept their periods, which split "It's 6 ft. 2 in. tall." after "in."
    out = normalize_text("It's 6 ft. 2 in. tall. It weighs 5 lb. 3 oz. and 3 lbs")
    assert out == "It's six feet two inches tall. It weighs five pounds three ounces and three pounds", out
    assert split_sentences(out) == ["It's six feet two inches tall.", "It weighs five pounds three ounces and three pounds"]
    assert normalize_text("It weighs 10 kg. The box is 5 in the morning.") == (
        "It weighs ten kilograms. The box is five in the morning.")


def test_normalize_text_drops_invisible_format_characters(tokenizer):
    # a BOM, a soft hyphen and a zero-width space reached espeak-ng: "zero\u00adwidth" lost its "w"
    assert normalize_text("\ufeffHello.\u200bZero\u00adwidth hy\u00adphen\u200c.") == "Hello. Zerowidth hyphen."
    phones = tokenizer.decode(tokenizer("hy\u00adphen\u00adation")["input_ids"], skip_special_tokens=True)
    assert phones == tokenizer.decode(tokenizer("hyphenation")["input_ids"], skip_special_tokens=True)


def test_normalize_text_reads_uk_phone_numbers_digit_by_digit():
    # "020 7946 0958" was "oh two oh seven thousand nine hundred and forty six oh nine five eight"
    assert normalize_text("Call 020 7946 0958.") == "Call oh two oh, seven nine four six, oh nine five eight."
    assert normalize_text("+44 20 7946 0958 or +44 (0)20 7946 0958") == (
        "plus four four, two oh, seven nine four six, oh nine five eight or "
        "plus four four, two oh, seven nine four six, oh nine five eight")
    assert normalize_text("Text 07700 900123 or 0121 496 0000") == (
        "Text oh seven seven oh oh, nine oh oh one two three or oh one two one, four nine six, oh oh oh oh")
    assert normalize_text("from 0 to 100 and 2005 2345 6789") == (
        "from zero to one hundred and two thousand and five two thousand three hundred and forty five "
        "six thousand seven hundred and eighty nine")  # not phone numbers


def test_normalize_text_reads_ratios_and_splits():
    # "16:9" was "sixteen: nine" (the colon unsaid), "50/50" "fifty / fifty"
    assert normalize_text("The aspect ratio 16:9, a 16:10 screen, odds of 3:1.") == (
        "The aspect ratio sixteen to nine, a sixteen to ten screen, odds of three to one.")
    assert normalize_text("Meet at 10:30 or at 16:10, a 4:3 TV") == "Meet at ten thirty or at sixteen ten, a four to three TV"
    assert normalize_text("A 50/50 chance, the 80/20 rule, open 24/7.") == (
        "A fifty fifty chance, the eighty twenty rule, open twenty four seven.")
    # a verse after a name is read like "John 3:16"; a score out of 5, 10 or 100
    assert normalize_text("Genesis 1:1 and John 3:16") == "Genesis one one and John three sixteen"
    assert normalize_text("Rated 7/10, a 4.5/5, 4/5 stars, but 3/10 of the class.") == (
        "Rated seven out of ten, a four point five out of five, four out of five stars, but three tenths of the class.")


def test_normalize_text_reads_degrees_and_common_abbreviations():
    # "Ph.D." was said "P H E", "vs" "V S", "w/" and "w/o" were left to the phonemizer
    assert normalize_text("She has a Ph.D. He has a PhD, two PhDs.") == "She has a P H D. He has a P H D, two P H Dees."
    assert normalize_text("Smith vs Jones, pay w/ cash, w/o tax, ca. 1850") == (
        "Smith versus Jones, pay with cash, without tax, circa eighteen fifty")


def test_normalize_text_reads_thousands_and_millions_suffixes():
    # "10k" was "ten k", "3.5M users" "three point five M"; a named distance or resolution stays a letter
    assert normalize_text("He earns 10k a year; 3.5M users, 20M views and $4.2B.") == (
        "He earns ten thousand a year; three point five million users, twenty million views and "
        "four point two billion dollars.")
    assert normalize_text("She ran a 5K run and a 10k race on a 4K TV.") == "She ran a five K run and a ten K race on a four K TV."
    # a race run, with no noun after it (before the scale rule it was "five K" too)
    assert normalize_text("I ran a 5K yesterday and will finish the 10K.") == (
        "I ran a five K yesterday and will finish the ten K.")
    assert normalize_text("We ran 10k tests and have 50K users.") == "We ran ten thousand tests and have fifty thousand users."
    # ambiguous: metres or millions, the company 3M, flat 4B
    assert normalize_text("the 100m sprint, 3M and Apt. 4B") == "the one hundred m sprint, three M and apartment four B"


def test_normalize_text_reads_heights_in_feet_and_inches():
    # "6'2\"" was "six ' two \""
    assert normalize_text("He is 6'2\" tall, she is 5' 11\", a 12\" pizza and a 10' pole.") == (
        "He is six foot two tall, she is five foot eleven, a twelve inch pizza and a ten foot pole.")
    assert normalize_text("He is 6\u20322\u2033, it says \"42\".") == 'He is six foot two, it says " forty two ".'
    assert normalize_text('She said: "I\'m 5\' 4"".') == 'She said: "I\'m five foot four ".'  # no inches


def test_normalize_text_reads_a_quote_closing_after_a_number_as_a_quote():
    # the closing quote of a quotation that ends in a number was read as inches or feet
    assert normalize_text('He said "The answer is 42". The sign read "Exit 12".') == (
        'He said "The answer is forty two ". The sign read "Exit twelve ".')
    assert normalize_text("They called it 'Top 10' for years.") == "They called it 'Top ten ' for years."
    # a length after a closed quotation is still one
    assert normalize_text('He said "hi" to a 12" pizza and a 10\' pole.') == (
        'He said "hi" to a twelve inch pizza and a ten foot pole.')


def test_normalize_text_reads_years_after_2000_by_context():
    # "in 2024" was "in two thousand and twenty four": years from 2000 were read as counts
    assert normalize_text("In 2005 we met; since 2010 and by 2024, from 2019 to 2021.") == (
        "In two thousand and five we met; since twenty ten and by twenty twenty four, from twenty nineteen to twenty twenty one.")
    assert normalize_text("It was 2019. The 2010s. The year 2030 and the class of 2024, the 2023-24 season.") == (
        "It was twenty nineteen. The twenty tens. The year twenty thirty and the class of twenty twenty four, "
        "the twenty twenty three twenty four season.")
    assert normalize_text("The 2020/21 season.") == "The twenty twenty twenty one season."
    # counts stay counts
    assert normalize_text("2005 people came, in 2021 1/2 of them and by 2010 votes.") == (
        "two thousand and five people came, in two thousand and twenty one one half of them and by two thousand "
        "and ten votes.")


def test_normalize_text_reads_years_that_the_words_around_mark_as_years():
    # "The 2022 World Cup" was "The two thousand and twenty two World Cup"; "From 2010 to 2020 things
    # changed" read its second year as a count; "2012 was better" and "In 2010 prices rose" too
    for text, spoken in (
        ("The 2022 World Cup and the 2024 Olympics.", "The twenty twenty two World Cup and the twenty twenty four Olympics."),
        ("The 2020 Olympics, the 2020 census, a 2019 study", "The twenty twenty Olympics, the twenty twenty census, a twenty nineteen study"),
        ("Q3 2024 results, Copyright 2024 Acme Ltd, \u00a9 2024 Acme",
         "Q three twenty twenty four results, Copyright twenty twenty four Acme Ltd, copyright twenty twenty four Acme"),
        ("From 2010 to 2020 things changed.", "From twenty ten to twenty twenty things changed."),
        ("Between 2012 and 2016 sales fell.", "Between twenty twelve and twenty sixteen sales fell."),
        ("2001: A Space Odyssey. 2012: The Movie", "two thousand and one: A Space Odyssey. twenty twelve: The Movie"),
        ("the 2015 Paris Agreement, 2024 Q3 results", "the twenty fifteen Paris Agreement, twenty twenty four Q three results"),
        ("2012 was better. 2016 saw growth and 2020 brought change.",
         "twenty twelve was better. twenty sixteen saw growth and twenty twenty brought change."),
        ("In 2010 prices rose.", "In twenty ten prices rose."),
    ):
        assert normalize_text(text) == spoken, (text, normalize_text(text))
    # counts stay counts
    for text, spoken in (
        ("2005 people came, by 2010 votes.", "two thousand and five people came, by two thousand and ten votes."),
        ("The 2022 participants and the 2000 Americans", "The two thousand and twenty two participants and the two thousand Americans"),
        ("In 2010 cases the drug failed.", "In two thousand and ten cases the drug failed."),
        ("from 2010 to 2500 people", "from two thousand and ten to two thousand five hundred people"),
        ("2010 were injured.", "two thousand and ten were injured."),
        ("Page 2022: Results", "Page two thousand and twenty two: Results"),
    ):
        assert normalize_text(text) == spoken, (text, normalize_text(text))
    assert normalize_text("in 2021 1/2 of them") == "in two thousand and twenty one one half of them"


def test_normalize_text_reads_hours_minutes_and_seconds():
    # "12:30:45" was "twelve thirty: forty five", "1:05:30" "one oh five: thirty": a duration unless a
    # clock time is said ("at", AM/PM)
    assert normalize_text("He finished in 1:05:30, she in 0:45:12 and they in 2:00:00.") == (
        "He finished in one hour five minutes and thirty seconds, she in forty five minutes and twelve seconds "
        "and they in two hours.")
    assert normalize_text("It left at 12:30:45 and came back at 9:05:00 PM.") == (
        "It left at twelve thirty and forty five seconds and came back at nine oh five PM.")
    assert normalize_text("a 1:00:01 lap") == "a one hour and one second lap"


def test_normalize_text_keeps_upper_case_acronyms_that_are_no_units():
    # "10 HR staff" was "ten hours staff", "5 ML models" "five milliliters models"
    assert normalize_text("We hired 10 HR staff and 5 ML engineers.") == "We hired ten HR staff and five ML engineers."
    assert normalize_text("10 KM, 10 km, 24 HR service, 5 hr, 500 ML bottle, 60 MPH") == (
        "ten kilometers, ten kilometers, twenty four hour service, five hours, five hundred milliliters bottle, "
        "sixty miles per hour")


def test_normalize_text_reads_a_month_and_short_year_after_born_or_since():
    # "Born 11/89" was "Born eleven eighty nine" (a split: 11 + 89 = 100)
    assert normalize_text("Born 11/89, here since 03/95, in 5/99.") == (
        "Born November eighty nine, here since March ninety five, in May ninety nine.")
    # a day (11/25 may be the 25th), a split, or a share of something stays as it was
    assert normalize_text("since 11/25, in 12/31, a 40/60 split, in 1/50 of cases") == (
        "since eleven / twenty five, in twelve / thirty one, a forty sixty split, in one / fifty of cases")


def test_normalize_text_reads_scores_out_of_ten_and_a_hundred():
    # "Give it 10/10" was "ten / ten", "My score was 7/10" "seven tenths"
    assert normalize_text("Give it 10/10. My score was 7/10, she got 85/100.") == (
        "Give it ten out of ten. My score was seven out of ten, she got eighty five out of one hundred.")
    # a fraction, a date or a small fraction stays one
    assert normalize_text("3/10 of the class, on 10/10 and 3/100 of a second") == (
        "three tenths of the class, on October tenth and three / one hundred of a second")


def test_normalize_text_reads_processor_and_graphics_card_model_numbers():
    # "i7-13700K" was "i seven - thirteen thousand seven hundred K", "RTX 4090" "RTX four thousand and ninety"
    assert normalize_text("An i7-13700K, an i9-9900K, a Core i5-10850H and an RTX 4090.") == (
        "An i seven thirteen seven hundred K, an i nine ninety nine hundred K, a Core i five ten eight fifty H "
        "and an RTX forty ninety.")
    assert normalize_text("Ryzen 7 5800X, GTX 1080 Ti, RX 7900 XTX, i7-1065G7") == (
        "Ryzen seven fifty eight hundred X, GTX ten eighty Ti, RX seventy nine hundred XTX, i seven ten sixty five G seven")
    # three digits after a brand: "GTX 970" was "GTX nine hundred and seventy"
    assert normalize_text("A GTX 970 and a GeForce 750 Ti.") == "A GTX nine seventy and a GeForce seven fifty Ti."
    # not a model number ("5000K" is a colour temperature: it was "five thousand thousand")
    assert normalize_text("Route 2024-25, a 5000K bulb, A4 paper") == (
        "Route twenty twenty four twenty five, a five thousand kelvin bulb, A four paper")


def test_normalize_text_reads_signs_pence_units_and_dimensions():
    # "\u22125\u00b0C" (a minus sign) was "\u2212 five degrees", "\u00a312.99" "twelve pounds and ninety nine cents",
    # "1 kg" "one kilograms", "6 ft" "six ft", "12x10" "twelve x ten"
    assert normalize_text("It was \u22125\u00b0C, down \u22122.5%.") == "It was minus five degrees Celsius, down minus two point five percent."
    assert normalize_text("\u00a312.99, \u00a30.50 and \u00a31.01") == (
        "twelve pounds and ninety nine pence, fifty pence and one pound and one penny")
    assert normalize_text("Add 1 kg, 250g and 1 tsp; 1 ft or 6 ft.") == (
        "Add one kilogram, two hundred and fifty grams and one teaspoon; one foot or six feet.")
    # a mobile network or a Wi-Fi standard written in lower case is no weight
    assert normalize_text("My 4g signal is weak on 802.11g, add 500g of flour.") == (
        "My four g signal is weak on eight hundred and two point one one g, add five hundred grams of flour.")
    assert normalize_text("The room is 12x10, tiles 3 x 4 and 2.4 GHz.") == (
        "The room is twelve by ten, tiles three by four and two point four gigahertz.")
    assert normalize_text("a 2' x 3' rug, 0x1F") == "a two foot by three foot rug, zero x one F"
    # a unit's period before a capital ends the sentence; a hyphen between times is "to"
    assert normalize_text("Bake 45 min. Serves 4, open 9:00-17:30.") == (
        "Bake forty five minutes. Serves four, open nine o'clock to seventeen thirty.")


def test_check_text_rejects_unspeakable_text():
    for bad, why in (("", "empty"), ("   \n", "empty"), ("?!... ---", "punctuation"),
                     ("Привет, мир", "non-Latin"), ("Hello 世界", "non-Latin")):
        with pytest.raises(TextError, match=why):
            check_text(bad)
    check_text("Café déjà vu, 42.")  # accented Latin and digits are fine
    check_text("𝐁𝐨𝐥𝐝 ℌ𝔢𝔩𝔩𝔬 ｆｕｌｌｗｉｄｔｈ")  # styled Latin letters (NFKC-equivalent) are Latin, as normalize_text reads them
    assert normalize_text("𝐁𝐨𝐥𝐝 ℌ𝔢𝔩𝔩𝔬") == "Bold Hello"


def test_split_sentences_bounds_length():
    text = "First one. Second one! Third? " + ", ".join(["a clause with words"] * 40) + "."
    parts = split_sentences(text, max_chars=120)
    assert parts[:3] == ["First one.", "Second one!", "Third?"]
    assert split_sentences("J. Smith left. He won!") == ["J. Smith left.", "He won!"]
    # a quoted or bracketed stop ends a sentence only where the next one starts
    assert split_sentences('He said "no." and left. Then "Yes!" She ran. (It was late.) Next.') == [
        'He said "no." and left.', 'Then "Yes!"', "She ran.", "(It was late.)", "Next."]
    assert all(len(p) <= 121 for p in parts) and len(parts) > 5
    assert " ".join(parts).replace(" ", "") == text.replace(" ", "")


# ----------------------------------------------------------------------------------------------
# alignment
# ----------------------------------------------------------------------------------------------
def test_monotonic_alignment_search_finds_the_planted_path():
    torch.manual_seed(0)
    durations = torch.tensor([[3, 1, 4, 2], [2, 2, 2, 0]])
    truth = durations_to_alignment(durations, max_frames=10)
    log_p = torch.randn(2, 4, 10) * 0.1 + 5.0 * truth  # the planted path is clearly most likely
    found = monotonic_alignment_search(log_p, torch.tensor([4, 3]), torch.tensor([10, 6]))
    assert torch.equal(found, truth)
    # random scores: still monotonic, one token per frame, every token at least one frame
    found = monotonic_alignment_search(torch.randn(1, 7, 30), torch.tensor([7]), torch.tensor([30]))
    assert torch.equal(found.sum(1), torch.ones(1, 30))
    assert (found.sum(-1) >= 1).all()
    first_token_per_frame = found[0].argmax(0)
    assert (first_token_per_frame.diff() >= 0).all()


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------
def test_bilstm_ignores_padding():
    from msar_hf.models.multispeaker.modeling_msar_multispeaker import BiLSTM

    torch.manual_seed(0)
    lstm = BiLSTM(6, 5, num_layers=2).eval()
    x = torch.randn(2, 9, 6)
    batch = lstm(x, torch.tensor([9, 4]))
    alone = lstm(x[1:, :4], torch.tensor([4]))
    assert torch.allclose(batch[1, :4], alone[0], atol=1e-6)
    assert torch.allclose(batch[0], lstm(x[:1], torch.tensor([9]))[0], atol=1e-6)


def _batch(model, tokenizer, pairs):
    wavs = [load_audio(p)[0] for p, _ in pairs]
    mels = [model.compute_mel(w)[0] for w in wavs]
    T = max(m.shape[0] for m in mels)
    labels = torch.full((len(mels), T, mels[0].shape[1]), -11.5)
    mask = torch.zeros(len(mels), T, dtype=torch.long)
    for i, m in enumerate(mels):
        labels[i, : m.shape[0]] = m
        mask[i, : m.shape[0]] = 1
    enc = tokenizer([t for _, t in pairs], padding=True, return_tensors="pt")
    return dict(**enc, labels=labels, labels_attention_mask=mask)


def test_training_forward_aligns_and_learns(tokenizer, fixtures_dir):
    model = tiny_model(tokenizer).train()
    batch = _batch(model, tokenizer, kathleen(fixtures_dir, 2))
    emb = torch.nn.functional.normalize(torch.randn(2, 192), dim=-1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        out = model(**batch, speaker_embeddings=emb)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert set(out.loss_terms) == {"prior", "mel", "postnet", "duration"}
    # MAS gives every real token >= 1 frame and exactly covers the real frames
    assert torch.equal(out.durations.sum(1), batch["labels_attention_mask"].sum(1))
    assert ((out.durations >= 1) == batch["attention_mask"].bool()).all()
    assert losses[-1] < 0.7 * losses[0]


def test_generation_shapes_and_non_silent_output(tokenizer):
    model = tiny_model(tokenizer)
    enc = tokenizer(["Hello there.", "A second, longer sentence to say."], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, speaker_ids=torch.tensor([0, 1]))
    hop = model.config.hop_length
    assert out.waveform.shape[0] == 2 and out.spectrogram.shape[-1] == model.config.num_mel_bins
    frames = out.durations.sum(1)
    assert torch.equal(out.waveform_lengths, (frames - 1) * hop)
    assert out.waveform_lengths[1] > out.waveform_lengths[0]
    for wav, n in zip(out.waveform, out.waveform_lengths):
        assert torch.isfinite(wav).all() and wav[:n].pow(2).mean().sqrt() > 1e-4
        assert wav[n:].abs().max() == 0 if n < wav.shape[0] else True
    with torch.no_grad():
        gl = model(**enc, speaker_ids=torch.tensor([0, 1]), waveform_stage="griffin_lim")
    assert gl.waveform.shape == out.waveform.shape and gl.waveform.abs().max() > 0
    # the speaker changes the output
    with torch.no_grad():
        a = model(**enc, speaker_ids=torch.tensor([0, 0])).spectrogram
        b = model(**enc, speaker_ids=torch.tensor([1, 1])).spectrogram
    assert a.shape != b.shape or not torch.allclose(a, b)


def test_speakers_must_match_the_batch(tokenizer):
    """Three speaker ids (or embeddings) for two texts used to be accepted silently (the third
    ignored), and two for one text broadcast it into two outputs; one, or one per text, is meant."""
    model = tiny_model(tokenizer)
    enc = tokenizer(["Hello there.", "A second, longer sentence to say."], padding=True, return_tensors="pt")
    one = tokenizer("Hello there.", return_tensors="pt")
    with torch.no_grad():
        for inputs, speakers in ((enc, {"speaker_ids": torch.tensor([0, 1, 1])}),
                                 (enc, {"speaker_embeddings": torch.randn(3, 192)}),
                                 (one, {"speaker_ids": torch.tensor([0, 1])})):
            with pytest.raises(ValueError, match="one speaker, or one per text"):
                model(**inputs, **speakers)
        assert model(**enc, speaker_ids=torch.tensor([1])).waveform.shape[0] == 2  # one voice for all


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_weights_fail_clearly(tokenizer, dtype):
    """from_pretrained(..., dtype=torch.bfloat16) then synthesis died inside a Conv1d with 'Input type
    (float) and bias type (c10::BFloat16) should be the same'; the model runs in float32 and says so."""
    model = tiny_model(tokenizer).to(dtype)
    with torch.no_grad(), pytest.raises(TypeError, match=r"float32.*\.float\(\)"):
        model(**tokenizer("Hello there.", return_tensors="pt"), speaker_ids=torch.tensor([0]))


def test_griffin_lim_fallback_reconstructs_real_speech(tokenizer, speech_file):
    """The labelled fallback: mel of a real recording -> Griffin-Lim -> a similar mel."""
    model = tiny_model(tokenizer)
    wav, _ = load_audio(speech_file)
    mel = model.compute_mel(wav)
    back = model.vocode(mel, "griffin_lim")
    mel_back = model.compute_mel(back)
    n = min(mel.shape[1], mel_back.shape[1])
    assert (mel_back[:, :n] - mel[:, :n]).abs().mean() < 1.0  # natural-log units
    assert torch.corrcoef(torch.stack([mel[0, :n].flatten(), mel_back[0, :n].flatten()]))[0, 1] > 0.9


def _save(model, tokenizer, path: Path) -> Path:
    sys.path.insert(0, str(REPO / "recipes"))
    from train_multispeaker import register_auto_classes

    register_auto_classes()
    model.save_pretrained(path)
    MsarMultiSpeakerProcessor(tokenizer).save_pretrained(path)
    return path


def test_save_load_auto_and_pipeline(tokenizer, tmp_path):
    from transformers import AutoModel, AutoModelForTextToWaveform, AutoProcessor, pipeline

    model = tiny_model(tokenizer)
    path = _save(model, tokenizer, tmp_path / "tts")
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["auto_map"]["AutoModelForTextToWaveform"].endswith("MsarMultiSpeakerModel")
    assert (path / "modeling_msar_multispeaker.py").exists() and (path / "tokenization_msar_multispeaker.py").exists()
    for auto in (AutoModel, AutoModelForTextToWaveform):
        loaded = auto.from_pretrained(path).eval()
        assert torch.equal(loaded.speaker_table, model.speaker_table)
    processor = AutoProcessor.from_pretrained(path)
    inputs = processor("Good morning.", return_tensors="pt")
    with torch.no_grad():
        a = model(**inputs, speaker_ids=torch.tensor([1])).waveform
        b = loaded(**inputs, speaker_ids=torch.tensor([1])).waveform
    assert torch.allclose(a, b, atol=1e-5)

    tts = pipeline("text-to-speech", model=str(path))
    emb = model.speaker_table[1:2]
    out = tts("Good morning.", forward_params={"speaker_embeddings": emb})
    assert out["sampling_rate"] == 16000
    assert out["audio"].ndim == 1 and abs(out["audio"].shape[0] - a.shape[-1]) == 0
    assert torch.allclose(torch.from_numpy(out["audio"]), a[0], atol=1e-5)
    # a batch of texts of different lengths: each item comes back as it does alone, at its own
    # length (it was zero-padded to the longest of its batch); an empty text is named, not an IndexError
    texts = ["Good morning.", "Hi.", "A longer sentence than the others.", "Nice to see."]  # 1st, 4th: one token count
    alone = [tts(t)["audio"] for t in texts]
    batched = tts(texts, batch_size=4)
    for one, out in zip(alone, batched, strict=True):
        assert out["audio"].shape == one.shape and np.allclose(out["audio"], one, atol=1e-5)
    with pytest.raises(ValueError, match="the text is empty"):
        tts("   ")
    with pytest.raises(ValueError, match="nothing to say"):
        tts("-")


def test_text_to_speech_pipeline_gives_each_item_of_a_batch_its_own_length():
    """pipeline("text-to-speech") with batch_size > 1 returned every item at the length of the
    longest of its batch: transformers' TextToAudioPipeline keeps only the model's padded waveform
    (its [0]) and drops waveform_lengths, so a short text came back with seconds of trailing zeros.
    msar's pipeline for the task (a TextToAudioPipeline, unchanged for other models) keeps the
    lengths and cuts each item to its own, as synthesized alone."""
    from transformers import TextToAudioPipeline, pipeline

    import msar_hf

    tts = pipeline("text-to-speech", model=msar_hf.SYNTHESIS_MODEL)
    assert isinstance(tts, TextToAudioPipeline)
    short, long = "Hi there.", "This sentence is a good deal longer than the one before it."
    voice = {"speaker_ids": torch.tensor([0])}
    alone = {t: tts(t, forward_params=voice)["audio"] for t in (short, long)}
    assert alone[short].ndim == 1 and 0 < alone[short].shape[0] < alone[long].shape[0] // 2
    for texts in ([short, long], [long, short]):
        for out, text in zip(tts(texts, batch_size=2, forward_params=voice), texts, strict=True):
            assert out["sampling_rate"] == 16000
            assert out["audio"].shape == alone[text].shape, text
            assert np.allclose(out["audio"], alone[text], atol=1e-5), text
    # a list without batching, and one text, are as before
    assert [o["audio"].shape for o in tts([short, long], forward_params=voice)] == [alone[short].shape, alone[long].shape]


def test_text_to_speech_pipeline_runs_other_models_as_transformers_does(tmp_path):
    """msar's text-to-audio pipeline class stands in for transformers' for every model once msar is
    imported: a model that is not msar's (a tiny random VITS here) gets transformers' own results."""
    from transformers import TextToAudioPipeline, VitsConfig, VitsModel, VitsTokenizer, pipeline

    import msar_hf.pipelines  # noqa: F401  (the task's class)

    vocab = {c: i for i, c in enumerate(["<pad>", "<unk>", *" abcdefghijklmnopqrstuvwxyz.,'-"])}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    tok = VitsTokenizer(str(tmp_path / "vocab.json"))
    config = VitsConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, ffn_dim=64,
                        flow_size=32, upsample_initial_channel=32, upsample_rates=[8, 8], upsample_kernel_sizes=[16, 16],
                        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=1,
                        duration_predictor_num_flows=1, posterior_encoder_num_wavenet_layers=1,
                        prior_encoder_num_wavenet_layers=1, spectrogram_bins=65, noise_scale=0.0, noise_scale_duration=0.0)
    torch.manual_seed(0)
    model = VitsModel(config).eval()
    ours, theirs = pipeline("text-to-speech", model=model, tokenizer=tok), TextToAudioPipeline(model=model, tokenizer=tok)
    assert type(ours) is not TextToAudioPipeline and isinstance(ours, TextToAudioPipeline)
    texts = ["hi there.", "a much longer sentence than that one."]
    for a, b in zip(ours(texts, batch_size=2), theirs(texts, batch_size=2), strict=True):
        assert a["sampling_rate"] == b["sampling_rate"] and np.array_equal(a["audio"], b["audio"])
    assert np.array_equal(ours(texts[0])["audio"], theirs(texts[0])["audio"])


def test_remote_code_loads_without_msar(tokenizer, tmp_path):
    path = _save(tiny_model(tokenizer), tokenizer, tmp_path / "tts")
    code = (
        "import sys, torch; from transformers import AutoModelForTextToWaveform, AutoProcessor\n"
        f"m = AutoModelForTextToWaveform.from_pretrained({str(path)!r}, trust_remote_code=True)\n"
        f"p = AutoProcessor.from_pretrained({str(path)!r}, trust_remote_code=True)\n"
        "assert 'msar_hf' not in sys.modules, 'remote code must not import msar_hf'\n"
        "out = m(**p('Hi there.', return_tensors='pt'), speaker_ids=torch.tensor([0]))\n"
        # the remote tokenizer spells out numbers and dates as msar synthesize does
        "said = p('On 12/25/1990 it cost $1.5 million.')['input_ids']\n"
        "assert said == p('On December twenty fifth, nineteen ninety it cost one point five million dollars.')['input_ids']\n"
        "assert said != p('On 12/25/1990 it cost $1.5 million.', normalize=False)['input_ids']\n"
        "print(type(m).__module__, out.waveform.shape[-1])\n"
    )
    env = dict(os.environ, HF_MODULES_CACHE=str(tmp_path / "modules"), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    module, samples = res.stdout.split()[-2:]
    assert module.startswith("transformers_modules") and int(samples) > 0


# ----------------------------------------------------------------------------------------------
# voices and long text
# ----------------------------------------------------------------------------------------------
def test_resolve_voice(tokenizer, speech_file, tmp_path):
    from msar_hf.audio import save_audio

    tts = TTS(model=tiny_model(tokenizer), processor=MsarMultiSpeakerProcessor(tokenizer), path=tmp_path)
    assert torch.equal(resolve_voice(tts, speaker="awb"), tts.model.speaker_table[1])
    with pytest.raises(UnknownSpeakerError, match="kathleen, awb"):
        resolve_voice(tts, speaker="nobody")
    with pytest.raises(MsarError, match="exactly one"):
        resolve_voice(tts)
    fake = lambda path: torch.arange(192, dtype=torch.float32)
    emb = resolve_voice(tts, voice=speech_file, embed=fake)
    assert emb.shape == (192,) and abs(float(emb.norm()) - 1) < 1e-5
    wav, rate = load_audio(speech_file)
    short = save_audio(tmp_path / "short.wav", wav[: rate // 2], rate)
    silent = save_audio(tmp_path / "silent.wav", torch.zeros(rate * 2), rate)
    with pytest.raises(ReferenceAudioError, match="short.wav.*at least 1 s"):
        resolve_voice(tts, voice=short, embed=fake)
    with pytest.raises(ReferenceAudioError, match="silent.wav.*silent"):
        resolve_voice(tts, voice=silent, embed=fake)


def test_long_text_streams_sentence_by_sentence(tokenizer, tmp_path):
    tts = TTS(model=tiny_model(tokenizer), processor=MsarMultiSpeakerProcessor(tokenizer), path=tmp_path)
    sentence = "The 3 quick brown foxes jumped over 12 lazy dogs, again and again. "
    text = (sentence * 80)[:5000]
    from msar_hf.synthesis import stream_speech

    chunks = list(stream_speech(tts, text, tts.model.speaker_table[0]))
    assert len(chunks) == len(split_sentences(normalize_text(text)))
    wav = synthesize(tts, text, tts.model.speaker_table[0])
    assert wav.shape[0] == sum(c.shape[0] for c in chunks) and wav.abs().max() <= 0.9 + 1e-6


# ----------------------------------------------------------------------------------------------
# recipe: vocoder fine-tuning on ground-truth-aligned mels
# ----------------------------------------------------------------------------------------------
def test_aligned_crop_pairs_mel_frames_with_their_samples(tokenizer, speech_file):
    """The crop's mel frames are the frames of its own samples (interior frames: no edge padding)."""
    import random

    sys.path.insert(0, str(REPO / "recipes"))
    from train_multispeaker import aligned_crop

    model = tiny_model(tokenizer)
    wav, _ = load_audio(speech_file)
    wav16 = (wav.clamp(-1, 1) * 32767).short()
    mel = model.compute_mel(wav16.float() / 32767)[0]
    for seed in range(3):
        crop_mel, crop_wav = aligned_crop(mel, wav16, 20, model.config.hop_length, random.Random(seed))
        assert crop_mel.shape[0] == 21 and crop_wav.shape[0] == 20 * model.config.hop_length
        own = model.compute_mel(crop_wav)[0]
        assert torch.allclose(own[3:-3], crop_mel[3:-3], atol=1e-4)


def test_vocoder_gta_stage_caches_aligned_mels_and_resumes(tokenizer, fixtures_dir, tmp_path, capsys):
    from safetensors.torch import save_file

    sys.path.insert(0, str(REPO / "recipes"))
    import train_multispeaker as recipe
    from tiny_models import TINY_MULTISPEAKER

    cfg = {"seed": 0, "cache_dir": tmp_path / "cache", "output_dir": tmp_path / "runs", "model": dict(TINY_MULTISPEAKER),
           "vocoder_gta": {"segment_frames": 8, "batch_size": 2, "lr": 1e-3, "warmup_steps": 1, "max_steps": 3,
                           "max_minutes": 5, "lr_cosine_over_minutes": True, "checkpoint_every": 2, "clips_per_voice": 3, "max_frames_per_batch": 1, "threads": 1}}
    cfg["cache_dir"].mkdir()
    model = tiny_model(tokenizer, speakers=("kathleen",))
    items, emb = [], {}
    for path, text in kathleen(fixtures_dir, 3):
        wav, _ = load_audio(path)
        ids = tokenizer(text)["input_ids"]
        items.append({"voice": "kathleen", "utt": path.stem, "text": text, "path": str(path), "split": "train",
                      "ids": torch.tensor(ids, dtype=torch.int16), "mel": model.compute_mel(wav)[0].half(),
                      "wav": (wav.clamp(-1, 1) * 32767).short()})
        emb[("kathleen", path.stem)] = model.speaker_table[0].clone()
    torch.save(items, cfg["cache_dir"] / "features.pt")
    torch.save(emb, cfg["cache_dir"] / "embeddings.pt")
    for stage, weights in (("acoustic", model.state_dict()), ("vocoder", model.vocoder.state_dict())):
        (cfg["output_dir"] / stage / "step_7").mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in weights.items()}, str(cfg["output_dir"] / stage / "step_7" / "model.safetensors"))

    recipe.train(cfg, "vocoder_gta")
    # GTA mels: one per clip, as long as the real mel, and what the acoustic model predicts
    # teacher-forced (monotonic alignment search on the real mel) for that clip
    gta = torch.load(cfg["cache_dir"] / "gta_mels.pt")["mels"]
    assert len(gta) == 3
    with torch.no_grad():
        for it in items:
            batch = recipe.collate([dict(it, emb=emb[("kathleen", it["utt"])])], [0], -11.5)
            expected = model(**batch).spectrogram[0]
            got = gta[("kathleen", it["utt"])].float()
            assert got.shape == it["mel"].shape
            assert torch.allclose(got, expected, atol=2e-2)
            assert not torch.allclose(got, it["mel"].float(), atol=0.1)
    # trained from the vocoder checkpoint, checkpointed, and resumable
    out = cfg["output_dir"] / "vocoder_gta"
    first = recipe._load_weights(out / "step_3")  # the checkpoint's model weights (torch.save)
    start = model.vocoder.state_dict()
    assert set(first) == set(start) and any(not torch.equal(first[k], start[k]) for k in first)
    capsys.readouterr()
    cfg["vocoder_gta"]["max_steps"] = 5
    recipe.train(cfg, "vocoder_gta")
    assert f"resumed from {out / 'step_3'} (step 3" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("step_*")) == ["step_4", "step_5"]  # checkpoint_every 2, newest two kept


def test_normalize_text_reads_versions_and_multipliers():
    # "v2.1.3" was "v two point one. three", "3x faster" "three x faster"
    assert normalize_text("v2.1.3 is 3x faster than v2.1, with a 10x zoom at 1.5x speed.") == (
        "version two point one point three is three times faster than version two point one, with a ten times "
        "zoom at one point five times speed.")
    # dimensions stay "by", a V8 engine is no version
    assert normalize_text("a 2x4 beam, a V8 engine") == "a two by four beam, a V eight engine"


def test_normalize_text_reads_a_month_and_day_after_a_date_word():
    # "Due 12/25" was "Due twelve / twenty five"; without such a word "12/25" may be a score
    assert normalize_text("Due 12/25. Open from 7/4 until 9/1.") == (
        "Due December twenty fifth. Open from July fourth until September first.")
    assert normalize_text("She scored 12/25, on 2/30, expires 12/25") == (
        "She scored twelve / twenty five, on two / thirty, expires twelve / twenty five")


def test_normalize_text_says_a_measure_before_its_noun_in_the_singular():
    # "a 5 km run" was "a five kilometers run", "24 HR service" "twenty four hours service"
    assert normalize_text("A 5 km run, a 2 hr drive, an 8 GB card and 24 HR service.") == (
        "A five kilometer run, a two hour drive, an eight gigabyte card and twenty four hour service.")
    # a count stays plural: before a function word, at the end, or with no article
    assert normalize_text("It took 2 hrs to drive 5 km, 30 min later, a 5 km.") == (
        "It took two hours to drive five kilometers, thirty minutes later, a five kilometers.")
