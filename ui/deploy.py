"""Serving many people (``CLIP_EXPLORER_SHARED=1``, ``docs/deploying.md``): which models the picker offers and links
may load, which folders "Index a folder" offers and whether it takes uploads, whose session a job is, and the
optional login gate.

Open mode (the default, one person on their own machine): the picker takes any typed id, as it always did; links
load menu ids and the listed ones (``CLIP_EXPLORER_MODELS``). Shared mode: only the listed ids, nothing typed.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.config import Settings, get_settings

UPLOADS = "uploads"  # the prefix of an uploaded collection's name in "Index a folder"


def link_ids(menu_ids: list[str], settings: Settings) -> list[str]:
    """The model ids a link may load: the menu's (which holds the listed ones). A file path from a link is never
    opened unless the server lists it."""
    return list(dict.fromkeys([*menu_ids, *settings.listed_models]))


def link_note(model_id: str, menu_ids: list[str], settings: Settings) -> str | None:
    """Why a link to a view of ``model_id`` would not reproduce it (``None`` when it would)."""
    if model_id in link_ids(menu_ids, settings):
        return None
    return (f"This link will not reproduce this view: links may only load the models this server lists, so it opens "
            f"with '{menu_ids[0]}'. To share a model typed by hand, list it in CLIP_EXPLORER_MODELS "
            "(docs/deploying.md).")


def index_folders(settings: Settings | None = None) -> dict[str, Path]:
    """The folders "Index a folder" offers, by the name shown: the sub-folders of each index root
    (``Settings.index_roots``: the collections dir when open and unset, none when shared and unset). With one root
    a folder's name is its own; with several, ``ROOT/FOLDER``. Where uploads are on (``Settings.uploads``), the
    uploaded collections too, as ``uploads/NAME``; the uploads folder itself is never one. Hidden folders and
    symlinks leading out of the root are left out."""
    settings = settings or get_settings()
    uploads = settings.uploads_dir.resolve()
    roots = [r for r in settings.index_roots if r.is_dir()]
    out: dict[str, Path] = {}
    for root in roots:
        for name, real in _sub_folders(root):
            if real != uploads:
                out[name if len(settings.index_roots) == 1 else f"{root.name}/{name}"] = real
    if settings.uploads and uploads.is_dir():
        for name, real in _sub_folders(uploads):
            out.setdefault(f"{UPLOADS}/{name}", real)
    return out


def _sub_folders(root: Path):
    for sub in sorted(root.iterdir()):
        real = sub.resolve()
        if not sub.name.startswith(".") and real.is_dir() and real.is_relative_to(root):
            yield sub.name, real


def uploads_allowed(settings: Settings | None = None) -> bool:
    """Whether "Index a folder" takes uploads: ``CLIP_EXPLORER_UPLOADS`` (on when open, off when shared)."""
    return (settings or get_settings()).uploads


def session_id() -> str:
    """The id of the visitor's session running this script ("" outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def login_gate(settings: Settings) -> None:
    """With ``CLIP_EXPLORER_LOGIN=1``, stop the page until the visitor has logged in with Streamlit's ``st.login``
    (the OIDC provider in ``.streamlit/secrets.toml [auth]``); a logged-in visitor gets a Log out button."""
    if not settings.login:
        return
    if not st.user.get("is_logged_in", False):
        st.info("This explorer is shared with a group of people. Log in to use it.")
        st.button("Log in", key="login_button", on_click=st.login, icon=":material/login:")
        st.stop()
    with st.sidebar:
        st.button("Log out", key="logout_button", on_click=st.logout, icon=":material/logout:")
