"""Pure parsing and validation of dashboard URL (query-parameter) values.

Every value that arrives in a URL is untrusted: each parser returns a valid value plus an optional
human-readable problem (shown by the page as a warning, markdown-escaped) and never raises, whatever the value:
Unicode digits, huge numbers, NaN, 10 kB strings, null bytes, bidi marks (``tests/unit/test_urlstate_props.py``
checks this with Hypothesis). Collections are chosen by
*name* from a discovered list, so a URL can never name a file path. Nothing here imports streamlit.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from core.errors import with_suggestions

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_PARAM_CHARS = 300  # anything longer is refused before it is looked at


@dataclass(frozen=True)
class Parsed:
    """A validated URL value: ``value`` is always usable; ``problem`` says what was wrong, if anything."""

    value: object
    problem: str | None = None


MAX_RAW_CHARS = 4000  # a longer value is cut before any work is done on it (a 10 MB link costs nothing)
_INT = re.compile(r"-?[0-9]{1,12}")  # ASCII digits only: "²".isdigit() is true and int("²") raises
_COLOR = re.compile(r"#?([0-9a-fA-F]{6})")


def clean(raw: object, limit: int = MAX_RAW_CHARS) -> str:
    """``raw`` as text of at most ``limit`` characters with every non-printable character (control characters,
    null bytes, line breaks, bidi marks such as RTL overrides, other format characters) removed."""
    return "".join(ch for ch in str(raw)[:limit] if ch.isprintable())


def _clip(raw: object) -> str:
    text = clean(raw, 60)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_choice(name: str, raw: str | None, options: Sequence[str], default: str | None) -> Parsed:
    """Validate ``raw`` against a closed list of ``options``.

    Args:
        name: the parameter name (for the message).
        raw: the URL value, or None when absent.
        options: the valid values (model ids, collection names, layer ids, ...).
        default: the fallback; must be in ``options`` or None when there are no options.

    Returns:
        ``Parsed(raw)`` when valid, else ``Parsed(default, problem)``.
    """
    if raw is None or raw == "":
        return Parsed(default)
    raw = str(raw)
    if len(raw) <= MAX_PARAM_CHARS and raw in options:
        return Parsed(raw)
    msg = with_suggestions(f"The link's {name} '{_clip(raw)}' is not available here; showing "
                           f"'{default}' instead.", clean(raw, MAX_PARAM_CHARS), list(options), limit=8)
    return Parsed(default, clean(msg, 2000))  # option names (folder names) may hold control characters too


def parse_int(name: str, raw: str | None, lo: int, hi: int, default: int) -> Parsed:
    """Validate an integer in ``lo..hi`` (inclusive): an optional minus and 1 to 12 ASCII digits (no Unicode
    digits, no exponent, no NaN or infinity, no spaces inside).

    Returns:
        ``Parsed(int)``; out-of-range or non-numeric values fall back to ``default`` with a problem.
    """
    if raw is None:
        return Parsed(default)
    text = str(raw)[:MAX_PARAM_CHARS].strip()
    if text == "":
        return Parsed(default)
    if not _INT.fullmatch(text):
        return Parsed(default, f"The link's {name} '{_clip(text)}' is not a whole number; showing {default}.")
    value = int(text)
    if not lo <= value <= hi:
        return Parsed(default, f"The link's {name} {value} is out of range (valid: {lo}..{hi}); showing {default}.")
    return Parsed(value)


def parse_text(name: str, raw: str | None, max_chars: int = MAX_QUERY_CHARS) -> Parsed:
    """Validate free text (a search query): stripped, control characters removed, length-capped."""
    if raw is None:
        return Parsed("")
    raw = str(raw)
    text = clean(raw, max_chars * 4).strip()
    if len(text) > max_chars or len(raw) > max_chars * 4:
        return Parsed(text[:max_chars].strip(),
                      f"The link's {name} was longer than {max_chars} characters and was cut.")
    return Parsed(text)


def parse_flag(raw: str | None) -> Parsed:
    """An on/off switch: on only for exactly ``1``."""
    return Parsed(raw == "1")


def parse_color(name: str, raw: str | None, default: str) -> Parsed:
    """A colour ``rrggbb`` or ``#rrggbb`` (ASCII hex digits) as ``#rrggbb``; anything else falls back to
    ``default`` with a problem."""
    if raw is None or raw == "":
        return Parsed(default)
    m = _COLOR.fullmatch(str(raw)[:MAX_PARAM_CHARS].strip())
    if m is None:
        return Parsed(default, f"The link's {name} '{_clip(raw)}' is not a colour like ff0000; showing {default}.")
    return Parsed("#" + m.group(1).lower())


def query_string(params: Mapping[str, object]) -> str:
    """``?a=1&b=x`` for the non-empty params (keys sorted for stable links); '' when none."""
    items = sorted((k, str(v)) for k, v in params.items() if v is not None and str(v) != "")
    return "?" + urlencode(items) if items else ""


def share_url(base_url: str, page_path: str, params: Mapping[str, object]) -> str:
    """The shareable link of a view: ``base_url/page_path?params``.

    Args:
        base_url: scheme://host[:port][/base path] of the app, with or without a trailing slash.
        page_path: the page's url path (``neuron_lookup``); '' for the default page.
        params: the view's state.
    """
    base = base_url.rstrip("/")
    path = page_path.strip("/")
    return f"{base}/{path}{query_string(params)}" if path else f"{base}/{query_string(params)}"
