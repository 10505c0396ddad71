"""Dashboard entrypoint: ``streamlit run dashboard.py`` (or ``./run.sh dashboard``).

Page config, logging, navigation over ``pages/`` and the shared sidebar (model, collection, layer
pickers, all bound to the URL). Pages do the rest; each also runs on its own.

The file has two roles. ``streamlit run`` finds the server definition below (``app = st.App(...)``) and imports
this file as a module to build the server; every visitor's run then executes it as ``__main__``: the app.
"""
from __future__ import annotations

import logging

import streamlit as st


def main() -> None:
    shell().run()


def shell():
    """Page config, logging, the navigation and the shared sidebar; returns the page to run.

    ``benchmarks/shell_app.py`` shows exactly this with no page, to time the shell's own first load."""
    from pathlib import Path

    import ui

    here = Path(__file__).resolve().parent  # pages by absolute path: the same whichever script calls this
    # page_icon: without one, each page's :material/...: icon becomes the tab's favicon, which Streamlit's front end
    # fetches from fonts.gstatic.com on every page view; an emoji is drawn inline (a data: URI), from no host
    st.set_page_config(page_title="CLIP neuron explorer", page_icon="🔬", layout="wide")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    lookup = st.Page(here / "pages/neuron_lookup.py", title="Neuron lookup", icon=":material/person_search:",
                     default=True, url_path="lookup")  # served at "/"; "/neuron_lookup" and "/lookup" links reach it too

    def lookup_alias() -> None:
        """/neuron_lookup?... (the default page's own name) shows the lookup page with the link's state."""
        st.switch_page(lookup, query_params=st.query_params.to_dict())

    pages = [
        lookup,
        st.Page(here / "pages/neuron_search.py", title="Zero-shot neuron search", icon=":material/manage_search:"),
        st.Page(here / "pages/conditional_probability.py", title="Conditional probability",
                icon=":material/stacked_bar_chart:"),
        st.Page(here / "pages/typographic_attack.py", title="Typographic attacks", icon=":material/text_fields:"),
        st.Page(here / "pages/attack_lab.py", title="Attack lab", icon=":material/science:"),
        st.Page(here / "pages/concept_codes.py", title="Sparse concept codes", icon=":material/extension:"),
        st.Page(here / "pages/interventions.py", title="Interventions", icon=":material/build:"),
        st.Page(here / "pages/region_maps.py", title="Region maps", icon=":material/public:"),
        st.Page(here / "pages/layer_grid.py", title="Layer grid", icon=":material/grid_view:"),
        st.Page(here / "pages/article_units.py", title="The article's units", icon=":material/menu_book:"),
        st.Page(lookup_alias, title="Neuron lookup", url_path="neuron_lookup", visibility="hidden"),
    ]
    page = st.navigation(pages)
    with st.sidebar:
        st.markdown("**CLIP neuron explorer** · [Multimodal Neurons](https://distill.pub/2021/multimodal-neurons/)")
    ui.shell_context()
    return page


def server_middleware() -> list:
    """What ``streamlit run`` wraps Streamlit's server in: the front end's files answered from memory
    (``ui.static_cache``) unless ``CLIP_EXPLORER_STATIC_FROM_MEMORY=0``."""
    from starlette.middleware import Middleware
    from streamlit.file_util import get_static_dir

    from core.config import get_settings
    from core.errors import CoreError
    from ui.static_cache import MemoryStatic

    try:
        settings = get_settings()  # a bad CLIP_EXPLORER_* value stops the server here, in one line naming it
    except CoreError as err:
        raise SystemExit(f"error: {err}") from None
    return [Middleware(MemoryStatic, directory=get_static_dir())] if settings.static_from_memory else []


if __name__ == "__main__":  # a visitor's run
    main()
else:  # `streamlit run dashboard.py` building its server: Streamlit's, plus the middleware above
    app = st.App(__file__, middleware=server_middleware())
