"""How the dashboard shows errors: a ``CoreError`` is the user's to fix and says how; anything else is a bug."""
from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator

import streamlit as st

from core.errors import CoreError
from ui.html import md_escape

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def error_box() -> Iterator[None]:
    """Show ``CoreError`` as ``st.error`` (its message says what to do) and stop the page; never a traceback.

    Anything else is a bug: a short error plus the details in a collapsed expander.
    """
    try:
        yield
    except CoreError as err:
        st.error(md_escape(err))  # it may quote a visitor's input (a file name, a typed id): plain text
        st.stop()
    except Exception as err:  # noqa: BLE001 - last-resort guard for bugs; script-control exceptions pass through
        logger.exception("unexpected error")
        st.error(f"Something went wrong inside the app ({type(err).__name__}). This is a bug, not your input; "
                 "please report it with the details below.")
        with st.expander("Details"):
            st.code("".join(traceback.format_exception(err)), language=None)
        st.stop()


@contextlib.contextmanager
def section_errors() -> Iterator[None]:
    """For one optional section of a page: a ``CoreError`` becomes an info note and the page goes on."""
    try:
        yield
    except CoreError as err:
        st.info(md_escape(err))
