"""Pure parsing and validation of dashboard URL (query-parameter) values.

Every value that arrives in a URL is untrusted: each parser returns a valid value plus an optional
human-readable problem (shown by the page as a warning) and never raises. Collections are chosen by
*name* from a discovered list, so a URL can never name a file path. Nothing here imports streamlit.
"""
from __future__ import annotations

import logging
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


def _clip(raw: str) -> str:
    raw = str(raw)
    return raw if len(raw) <= 40 else raw[:37] + "..."


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
    if len(raw) <= MAX_PARAM_CHARS and raw in options:
        return Parsed(raw)
    msg = with_suggestions(f"The link's {name} '{_clip(raw)}' is not available here; showing "
                           f"'{default}' instead.", raw[:MAX_PARAM_CHARS], list(options), limit=8)
    return Parsed(default, msg)


def parse_int(name: str, raw: str | None, lo: int, hi: int, default: int) -> Parsed:
    """Validate an integer in ``lo..hi`` (inclusive).

    Returns:
        ``Parsed(int)``; out-of-range or non-numeric values fall back to ``default`` with a problem.
    """
    if raw is None or str(raw).strip() == "":
        return Parsed(default)
    text = str(raw).strip()
    if len(text) > 12 or not text.lstrip("-").isdigit():
        return Parsed(default, f"The link's {name} '{_clip(text)}' is not a whole number; showing {default}.")
    value = int(text)
    if not lo <= value <= hi:
        return Parsed(default, f"The link's {name} {value} is out of range (valid: {lo}..{hi}); showing {default}.")
    return Parsed(value)


def parse_text(name: str, raw: str | None, max_chars: int = MAX_QUERY_CHARS) -> Parsed:
    """Validate free text (a search query): stripped, control characters removed, length-capped."""
    if raw is None:
        return Parsed("")
    text = "".join(ch for ch in str(raw) if ch.isprintable()).strip()
    if len(text) > max_chars:
        return Parsed(text[:max_chars], f"The link's {name} was longer than {max_chars} characters and was cut.")
    return Parsed(text)


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
