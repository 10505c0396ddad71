"""What every page works on (``Context``: model, layer, collection) and the shared sidebar that chooses it."""
from __future__ import annotations

import streamlit as st

from core.config import get_settings
from ui import deploy, errors, index_panel, resources, url, urlstate, widgets
from ui.html import md_code, md_escape
from ui.state import Context

SHELL_CTX = "_shell_ctx"
DEMO_PENDING = "demo (not indexed yet: built on first use)"
MODEL_HELP_OPEN = ("The embedded demo model runs offline. Real open_clip models need their weights on this machine; "
                   "type any id, e.g. RN50x4@/models/RN50x4.pt. Links load only the menu's and the listed models "
                   "(CLIP_EXPLORER_MODELS).")
MODEL_HELP_SHARED = "The models this server offers."


def page_context() -> Context:
    """The context chosen in the shell's sidebar, or the sidebar rendered here when the page runs alone."""
    ctx = st.session_state.get(SHELL_CTX)
    return ctx if isinstance(ctx, Context) and st.session_state.get("_shell_run") else sidebar_context()


def shell_context() -> Context:
    """Render the shared sidebar pickers from the entrypoint and publish the context to the page."""
    st.session_state["_shell_run"] = True
    st.session_state[SHELL_CTX] = None
    ctx = sidebar_context()
    st.session_state[SHELL_CTX] = ctx
    return ctx


def sidebar_context() -> Context:
    """Model, collection and layer pickers (URL-bound) in the sidebar; loads the model (cached)."""
    with errors.error_box():  # a bad CLIP_EXPLORER_* value: one line naming it
        settings = get_settings()
    deploy.login_gate(settings)
    menu = resources.model_menu(settings.default_model, settings.models, settings.shared)
    ids = menu["id"].tolist()
    avail = dict(zip(menu["id"], menu["available"]))
    linkable = deploy.link_ids(ids, settings)
    with st.sidebar:
        summary = st.empty()  # what is picked, in one line (filled below, once the layer is known)
        # The pickers sit in a popover: the front end mounts its content only when it is opened, so a first load
        # does not fetch and run the select boxes' code (docs/performance.md, "First render"); the widgets exist on
        # every run all the same (URL-bound, in the session state), only their drawing waits for the click.
        pickers = st.popover("Model, collection, layer", icon=":material/tune:", width="stretch")
        with pickers:
            # Links may only name menu and listed models (never another file); an id typed into the picker (open
            # mode only) is the user's own choice.
            url.bind_url("model", "model", lambda raw: urlstate.parse_choice("model", raw, linkable, ids[0]),
                         lambda v: isinstance(v, str) and bool(v.strip()) and (not settings.shared or v in ids))
            model_id = st.selectbox("Model", ids, key="model", accept_new_options=not settings.shared,
                                    help=MODEL_HELP_SHARED if settings.shared else MODEL_HELP_OPEN,
                                    format_func=lambda m: m if avail.get(m, True) else f"{m} (weights not here)")
        url.write_url({"model": model_id})
        if model_id == "demo":  # drawn only once opened: its markdown would cost every first load
            info = st.expander("What the demo model can and cannot show", icon=":material/info:", key="demo_info",
                               on_change="rerun")
            if info.open:
                info.markdown(resources.demo_capabilities())
    with errors.error_box():  # in the main area: a model that cannot load explains why there
        resources.get_model(model_id)
    with st.sidebar:
        index_panel.select_finished(model_id)  # an index job of this session is done: its collection and layer
        coll = _collection_picker(model_id, settings, pickers)
        if coll is not None and not coll.get("pending") and (
                note := resources.pictures_note(resources.artifact_key(coll["path"], model_id))):
            st.warning(md_escape(note), icon=":material/hide_image:")
        layers = resources.layers(model_id)
        layer_ids = layers["id"].tolist()
        default_layer = resources.article_layer(model_id)
        if st.session_state.get("_layer_model", model_id) != model_id:  # another model: its article layer, even
            st.session_state.pop("layer", None)  # where a layer of the same name exists (unless the link names one)
        st.session_state["_layer_model"] = model_id
        url.bind_url("layer", "layer", lambda raw: urlstate.parse_choice("layer", raw, layer_ids, default_layer),
                     lambda v: v in layer_ids)
        with pickers:
            layer = st.selectbox("Layer", layer_ids, key="layer",
                                 help=f"Default: the article's layer ({default_layer}).")
        url.write_url({"collection": coll["name"] if coll else None, "layer": layer})  # one URL update for both
        units = int(layers.set_index("id").at[layer, "units"])
        summary.markdown(_summary(model_id, coll, layer, units))
        index_panel.done_message(coll["name"] if coll else None)
        index_panel.index_panel(model_id, coll, layer, layer_ids)
    if coll is not None and coll.get("pending"):  # first use of the demo model: index its corpus, with progress
        st.info("First start: indexing the demo collection with the demo model. Other visitors are not blocked; "
                "this page fills in when it is done.")
        widgets.watch_job(resources.demo_index_job(model_id))
        st.stop()
    if coll is None:
        return Context(model_id, layer, units)
    return Context(model_id, layer, units, coll["name"], resources.artifact_key(coll["path"], model_id),
                   int(coll["rows"]), coll["layer"])


def _summary(model_id: str, coll: dict | None, layer: str, units: int) -> str:
    """The sidebar's line of what is picked: model, collection (with its size) and layer (with its units)."""
    if coll is None:
        where = "no collection"
    elif coll.get("pending"):
        where = "collection **demo** (being indexed)"
    else:
        where = f"collection **{md_escape(coll['name'])}** ({int(coll['rows']):,} images)"
    return (f"Model **{md_escape(model_id)}** · {where}  \nLayer {md_code(layer)}  \n"
            f"{units} units in this layer")


def _collection_picker(model_id: str, settings, pickers) -> dict | None:
    """The collection select box (in ``pickers``), or a note in the sidebar where none is indexed yet."""
    found = resources.collections(model_id, str(settings.artifacts_dir))
    names = found["name"].tolist()
    pending = model_id == "demo" and "demo" not in names
    options = names + (["demo"] if pending else [])
    if not options:
        command = f"python -m core index --model {model_id} --images DIR --out artifacts/indexes/NAME"
        st.info(f"No collection is indexed for {md_escape(model_id)} yet. Index one below, or from a shell: "
                f"{md_code(command)}.")
        return None
    labels = {r["name"]: f"{r['name']} ({int(r['rows']):,} images, {r['model_id']})" for r in found.to_dict("records")}
    if pending:
        labels["demo"] = DEMO_PENDING
    url.bind_url("collection", "collection", lambda raw: urlstate.parse_choice("collection", raw, options, options[0]),
             lambda v: v in options)
    name = pickers.selectbox("Collection", options, key="collection", format_func=lambda n: labels.get(n, n))
    if pending and name == "demo":
        return {"pending": True, "name": "demo"}
    return found.set_index("name").loc[name].to_dict() | {"name": name}
