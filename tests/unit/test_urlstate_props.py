"""Property-based tests (Hypothesis) of every URL-value parser in ``ui.urlstate``: whatever a link holds (Unicode
digits, huge numbers, NaN, 10 kB strings, null bytes, bidi marks, markdown), a parser never raises, returns a valid
value, and its problem text is short and printable. A fixed number of examples, derandomized: the same cases every
run."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ui import urlstate
from ui.html import md_escape

HOSTILE = ["²", "¹²", "١٢٣", "٣", "𝟗", "Ⅻ", "NaN", "nan", "inf", "-inf", "1e5", "0x10", "1_000", " 7 ", "+3", "--1",
           "9" * 13, "-" + "9" * 40, "\x00", "%00", "1\x00", "\u202e12", "12\u200f", "\u061c1", "", " ", "\t\n",
           "![t](http://127.0.0.1:9/track.png)", "[Log in again](http://ev.il/x)", "<img src=x onerror=alert(1)>",
           "$\\frac{1}{2}$", ":red[x]", "x" * 10_000, "é" * 5000]
TEXT = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=400), st.text(alphabet=st.characters(codec="utf-8"),
                                                                            min_size=300, max_size=12_000))
RUN = settings(max_examples=150, derandomize=True, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _problem_ok(problem) -> None:
    assert problem is None or (isinstance(problem, str) and problem.isprintable() and len(problem) < 2000)


@RUN
@given(raw=st.one_of(st.none(), TEXT), lo=st.integers(-5, 5), span=st.integers(0, 10**6))
@example(raw="²", lo=0, span=100)
@example(raw="9" * 13, lo=0, span=100)
def test_parse_int_never_raises_and_stays_in_range(raw, lo, span):
    hi = lo + span
    got = urlstate.parse_int("unit", raw, lo, hi, lo)
    assert isinstance(got.value, int) and lo <= got.value <= hi
    _problem_ok(got.problem)
    if raw is not None and got.problem is None and str(raw).strip():
        assert re.fullmatch(r"-?[0-9]+", str(raw).strip())  # only ASCII digits are ever read as a number


@pytest.mark.parametrize("raw", ["²", "١٢", "𝟗", "NaN", "inf", "1e3", "\u202e5", "5\x00", "+5", " 5 "])
def test_parse_int_refuses_everything_but_ascii_digits(raw):
    got = urlstate.parse_int("top", raw, 0, 30, 8)
    if raw.strip() == "5":
        assert got == urlstate.Parsed(5)
    else:
        assert got.value == 8 and "not a whole number" in got.problem


@RUN
@given(raw=st.one_of(st.none(), TEXT), options=st.lists(st.text(max_size=30), min_size=1, max_size=20))
def test_parse_choice_returns_an_option(raw, options):
    got = urlstate.parse_choice("collection", raw, options, options[0])
    assert got.value in options
    _problem_ok(got.problem)


@RUN
@given(raw=st.one_of(st.none(), TEXT), limit=st.integers(1, 3000))
@example(raw="x" * 10_000, limit=200)
def test_parse_text_is_printable_and_bounded(raw, limit):
    got = urlstate.parse_text("q", raw, limit)
    assert isinstance(got.value, str) and len(got.value) <= limit and got.value.isprintable()
    _problem_ok(got.problem)
    if raw is not None and len(raw) > 4 * limit:
        assert "was cut" in got.problem


@RUN
@given(raw=st.one_of(st.none(), TEXT, st.from_regex(r"#?[0-9a-fA-F]{6}", fullmatch=True)))
def test_parse_color_gives_a_hex_colour(raw):
    got = urlstate.parse_color("color", raw, "#000000")
    assert re.fullmatch(r"#[0-9a-f]{6}", got.value)
    _problem_ok(got.problem)


@RUN
@given(raw=st.one_of(st.none(), TEXT))
def test_parse_flag_and_clean(raw):
    assert urlstate.parse_flag(raw).value is (raw == "1")
    if raw is not None:
        text = urlstate.clean(raw, 100)
        assert len(text) <= 100 and text.isprintable()


@RUN
@given(text=TEXT)
def test_md_escape_leaves_no_markdown_syntax(text):
    out = md_escape(text)
    assert out.replace("\u2060", "").isprintable() and "\n" not in out
    shown = re.sub(r"\\(.)", r"\1", out)  # the text after markdown resolves the escapes
    assert not re.search(r"(?i)https?://|www\.|[\w.+-]@[\w-]", shown)  # GFM finds no bare link or e-mail in it
    # every ASCII punctuation character is preceded by an odd number of backslashes: none starts markup
    for m in re.finditer(r"(\\*)([!-/:-@\[-`{-~])", out):
        assert len(m.group(1)) % 2 == 1, (text[:80], out[:80])
