"""URL values are untrusted: every parser returns a usable value and a message, never raises."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from ui import urlstate


def test_choice_valid_and_absent():
    assert urlstate.parse_choice("model", "demo", ["demo", "RN50/openai"], "demo") == urlstate.Parsed("demo")
    assert urlstate.parse_choice("model", None, ["demo"], "demo") == urlstate.Parsed("demo")


@pytest.mark.parametrize("raw", ["../../etc/passwd", "/etc/passwd", "demo2", "x" * 5000, "RN50/openai\x00"])
def test_choice_rejects_unknown_and_paths(raw):
    got = urlstate.parse_choice("collection", raw, ["demo", "flowers"], "demo")
    assert got.value == "demo"
    assert "not available" in got.problem and "Available: demo, flowers" in got.problem
    assert len(got.problem) < 600


def test_choice_suggests_close_match():
    got = urlstate.parse_choice("model", "RN50x4/opneai", ["demo", "RN50x4/openai"], "demo")
    assert got.value == "demo" and "Did you mean: RN50x4/openai" in got.problem


@pytest.mark.parametrize("raw,value,bad", [("5", 5, False), ("0", 0, False), ("9", 9, False), (None, 3, False),
                                           ("10", 3, True), ("-1", 3, True), ("abc", 3, True), ("1e3", 3, True),
                                           ("99999999999999999999", 3, True), (" 7 ", 7, False)])
def test_int_range(raw, value, bad):
    got = urlstate.parse_int("unit", raw, 0, 9, 3)
    assert got.value == value
    assert (got.problem is not None) == bad
    if bad:
        assert "unit" in got.problem


def test_text_cleaned_and_capped():
    assert urlstate.parse_text("q", "  spider\x07 web ").value == "spider web"
    long = urlstate.parse_text("q", "a" * 500)
    assert len(long.value) == urlstate.MAX_QUERY_CHARS and "cut" in long.problem
    assert urlstate.parse_text("q", None).value == ""


def test_share_url_round_trips():
    url = urlstate.share_url("http://localhost:8501/", "neuron_lookup",
                             {"model": "RN50x4/openai", "unit": 89, "q": "a b&c", "empty": ""})
    parts = urlsplit(url)
    assert parts.path == "/neuron_lookup"
    assert parse_qs(parts.query) == {"model": ["RN50x4/openai"], "unit": ["89"], "q": ["a b&c"]}
    assert urlstate.share_url("http://h", "", {}) == "http://h/"
