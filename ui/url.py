"""URL state: widgets seeded from the link's parameters (validated by ``ui.urlstate``), the view written back into
the URL, and the share link. A widget's session key is bound to one URL parameter.
"""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui import urlstate
from ui.html import md_escape

PROBLEMS = "_url_problems"


def _problems() -> list[str]:
    return st.session_state.setdefault(PROBLEMS, [])


def bind_url(key: str, param: str, parse: Callable[[str | None], urlstate.Parsed],
             valid: Callable[[object], bool] = lambda v: True) -> None:
    """Seed widget ``key`` from URL ``param`` before the widget is created.

    A URL value that differs from what this session last wrote (a fresh link, a page link) wins and is
    validated (problems are shown by ``show_url_problems``); otherwise the widget keeps its value, or a
    remembered one after a page switch, or the parser's default.
    """
    raw = st.query_params.get(param)
    written = st.session_state.get(f"_url:{param}")
    keep = f"_keep:{key}"
    if raw is not None and raw != written:
        parsed = parse(raw)
        st.session_state[key] = parsed.value
        st.session_state[f"_url:{param}"] = raw
        if parsed.problem:
            _problems().append(parsed.problem)
    elif key not in st.session_state or not valid(st.session_state[key]):
        kept = st.session_state.get(keep)
        st.session_state[key] = kept if kept is not None and valid(kept) else parse(None).value


def write_url(params: dict) -> None:
    """Write the view state into the URL (empty values removed), in one update and only if it changed.

    Each assignment to ``st.query_params`` sends the browser its own message, which the front end applies with a
    history update and a render: a page's first run writes a dozen parameters."""
    old = st.query_params.to_dict()
    new = dict(old)
    for param, value in params.items():
        text = "" if value is None else str(value)
        if text:
            new[param] = text
        else:
            new.pop(param, None)
        st.session_state[f"_url:{param}"] = text or None
    if new != old:
        st.query_params.from_dict(new)


def remember(key: str) -> None:
    """Keep a page widget's value across page switches (Streamlit drops state of unrendered widgets)."""
    st.session_state[f"_keep:{key}"] = st.session_state.get(key)


def show_url_problems(where=None) -> None:
    """Show (once) what was wrong with the link's values, as warnings (in ``where``, e.g. a container
    created above the inputs, so the message sits at the top even though inputs are parsed later). A problem quotes
    the link's value, so it is shown as plain text (``ui.html.md_escape``)."""
    target = where if where is not None else st
    for problem in st.session_state.pop(PROBLEMS, []):
        target.warning(md_escape(problem), icon=":material/link_off:")  # it quotes the link: never markdown


# ---------------------------------------------------------------- one call: bind, draw, remember ----------------------
def _bound(key: str, param: str, parse, valid, draw: Callable):
    bind_url(key, param, parse, valid)
    value = draw()
    remember(key)
    return value


def url_int(draw: Callable, label: str, param: str, lo: int, hi: int, default: int, *, key: str, **kw) -> int:
    """A number widget (``st.slider``, ``st.number_input`` or a column's) bound to URL ``param``: seeded from the
    link (validated to ``lo..hi``), drawn as ``draw(label, lo, hi, key=key, **kw)``, kept across page switches."""
    return int(_bound(key, param, lambda raw: urlstate.parse_int(param, raw, lo, hi, default),
                      lambda v: isinstance(v, int) and lo <= v <= hi,
                      lambda: draw(label, lo, hi, key=key, **kw)))


def url_choice(draw: Callable, label: str, param: str, options, default, *, key: str, **kw):
    """A choice widget (``st.radio``, ``st.selectbox``) bound to URL ``param`` (one of ``options``)."""
    options = list(options)
    return _bound(key, param, lambda raw: urlstate.parse_choice(param, raw, options, default),
                  lambda v: v in options, lambda: draw(label, options, key=key, **kw))


def url_text(draw: Callable, label: str, param: str, default: str = "", *, key: str, max_chars: int = 200,
             empty_is_default: bool = False, **kw) -> str:
    """A text widget (``st.text_input``, ``st.text_area``) bound to URL ``param`` (cleaned, at most ``max_chars``;
    ``default`` when the link has no value, or an empty one with ``empty_is_default``)."""
    def parse(raw: str | None) -> urlstate.Parsed:
        return urlstate.parse_text(param, default if raw is None or (empty_is_default and not raw) else raw,
                                   max_chars)

    return _bound(key, param, parse, lambda v: isinstance(v, str),
                  lambda: draw(label, key=key, max_chars=max_chars, **kw))


def url_flag(draw: Callable, label: str, param: str, *, key: str, **kw) -> bool:
    """An on/off widget (``st.toggle``, ``st.checkbox``) bound to URL ``param`` (``1`` = on)."""
    return bool(_bound(key, param, urlstate.parse_flag, lambda v: isinstance(v, bool),
                       lambda: draw(label, key=key, **kw)))
