"""The sidebar's "Index a folder": a folder under the index roots, or an uploaded zip or image files
(``core.pipeline.uploads``), indexed at a chosen layer by a background job; when the job is done, the new
collection and its layer are selected in the sidebar's pickers with a message saying what was indexed."""
from __future__ import annotations

import streamlit as st

from core.config import get_settings
from core.errors import CoreError
from ui import deploy, resources, widgets
from ui.html import md_code, md_escape

TARGET = "_index_target"  # what the session's latest index job makes: {"key", "model", "folder", "layer", ...}
DONE = "_index_done"  # the message of the finished job whose collection is selected
UPLOADER = "_index_uploader"  # a counter in the uploader's key: a new key empties it once its files are saved
PANEL = "index_panel"  # the expander's open state


def select_finished(model_id: str) -> None:
    """Before the sidebar's pickers are drawn: once the session's index job is done, select its collection and its
    layer (once) and keep its message for ``done_message``."""
    target = st.session_state.get(TARGET)
    if not target or target["model"] != model_id or target.get("selected"):
        return
    job = resources.get_job(target["key"])
    if job is None or not job.finished.is_set() or job.error is not None:
        return
    art = job.result
    target["selected"] = True
    st.session_state["collection"] = target["collection"]
    st.session_state["layer"] = target["layer"]
    skipped = len(art.skipped) + len(target.get("skipped", []))
    note = f" {skipped} file(s) were skipped (not images, or unreadable)." if skipped else ""
    st.session_state[DONE] = {"collection": target["collection"],
                              "text": f"Indexed {art.rows:,} images from {md_escape(target['folder'])} at layer "
                                      f"{md_code(target['layer'])}.{note} It is selected above."}


def done_message(collection: str | None) -> None:
    """The finished job's message while its collection is the one shown."""
    done = st.session_state.get(DONE)
    if done and done["collection"] == collection:
        st.success(done["text"], icon=":material/check_circle:")
    elif done:
        st.session_state.pop(DONE, None)


def index_panel(model_id: str, coll: dict | None, layer: str, layer_ids: list[str]) -> None:
    """The "Index a folder" expander: the layer to index at (default: the sidebar's), the folders, an upload."""
    settings = get_settings()
    uploads = deploy.uploads_allowed(settings)
    if settings.shared and not settings.index_roots and not uploads:
        return  # a shared server indexes only under the roots it lists (CLIP_EXPLORER_INDEX_ROOTS), or uploads
    # Drawn only while open (its uploader, buttons and pickers would cost every page's first load in the browser);
    # open by itself when there is nothing to show yet, a job of this session is not settled, or runs wait to resume.
    target = st.session_state.get(TARGET)
    busy = bool(target) and not target.get("selected")
    panel = st.expander("Index a folder", expanded=coll is None or busy or bool(resources.unfinished_index_runs(
        model_id)), key=PANEL, on_change="rerun")
    if not panel.open:
        return
    folders = list(deploy.index_folders(settings))
    with panel:
        at = _layer_choice(layer, layer_ids)
        resume = widgets.unfinished_index_runs(model_id)  # runs a restart or a cancel left unfinished
        roots = ", ".join(f"`{r.name if settings.shared else r}`" for r in settings.index_roots)
        if folders:
            folder = st.selectbox("Folder", folders, key="index_folder",
                                  help=f"Sub-folders of {roots}" + (" and earlier uploads" if uploads else ""))
            if st.button("Index it", key="index_button"):
                _start(model_id, folder, at)
        elif roots:
            st.caption(f"Put a folder of images (sub-folders = labels) under {roots} to index it here.")
        if resume:
            _start(model_id, *resume)
        if uploads:
            _upload(model_id, at, settings)
        _watch(model_id)


def _layer_choice(layer: str, layer_ids: list[str]) -> str:
    """The layer to index at: follows the sidebar's layer until picked here."""
    if st.session_state.get("_index_layer_follows") != layer or st.session_state.get("index_layer") not in layer_ids:
        st.session_state["index_layer"] = layer
        st.session_state["_index_layer_follows"] = layer
    return st.selectbox("Layer to index at", layer_ids, key="index_layer",
                        help="Dataset examples exist at the layer a collection is indexed at. Default: the layer "
                             "picked above.")


def _upload(model_id: str, layer: str, settings) -> None:
    from core.pipeline.collection import slug
    from core.pipeline.uploads import UploadLimits, save_upload

    cap = min(settings.upload_max_mb, int(st.get_option("server.maxUploadSize")))
    n = st.session_state.setdefault(UPLOADER, 0)
    files = st.file_uploader(
        "…or upload a zip or images", type=[*widgets.UPLOAD_TYPES, "zip"], accept_multiple_files=True,
        key=f"index_upload:{n}", max_upload_size=cap,
        help=f"A zip of images (sub-folders = labels) or image files: up to {cap} MB in all, each image up to "
             f"{widgets.UPLOAD_MAX_MB} MB and {widgets.UPLOAD_MAX_PIXELS // 10**6} MP. Other files are skipped.")
    if not st.button("Upload and index", key="upload_button", disabled=not files, icon=":material/upload:"):
        return
    indexes = settings.artifacts_dir / "indexes"
    known = {slug(f) for f in deploy.index_folders(settings)}

    def taken(name: str) -> bool:  # another folder's indexes would have the same names
        prefix = slug(f"{deploy.UPLOADS}/{name}")
        return prefix in known or (indexes.is_dir() and any(p.name.startswith(f"{prefix}--")
                                                             for p in indexes.iterdir()))

    try:
        with st.spinner("Saving the upload ..."):
            saved = save_upload([(f.name, f) for f in files], settings.uploads_dir,
                                UploadLimits(total_bytes=cap * 2**20), taken=taken)
    except CoreError as err:
        st.error(md_escape(err))
        return
    st.session_state[UPLOADER] = n + 1  # the next run shows an empty uploader
    if saved.skipped:
        st.caption(md_escape(f"{len(saved.skipped)} file(s) skipped: " + "; ".join(
            f"{s['name']} ({s['reason']})" for s in saved.skipped[:5]) + (" ..." if len(saved.skipped) > 5 else "")))
    _start(model_id, f"{deploy.UPLOADS}/{saved.name}", layer, skipped=saved.skipped,
           saved=f"The upload was saved as {deploy.UPLOADS}/{saved.name}: index it from the folder list later.")


def _start(model_id: str, folder: str, layer: str, *, skipped=(), saved: str = "") -> None:
    try:
        job = resources.folder_index_job(model_id, folder, layer)
    except CoreError as err:
        st.error(md_escape(f"{err} {saved}".strip()))
        return
    st.session_state[TARGET] = {"key": job.key, "model": model_id, "folder": folder, "layer": layer,
                                "collection": resources.index_out_dir(folder, model_id, layer).name,
                                "skipped": list(skipped)}


def _watch(model_id: str) -> None:
    """The session's index job: its progress while it runs (cancellable; the page goes on), or why it stopped; a
    job done before its progress was drawn reruns the page at once, which selects its collection."""
    target = st.session_state.get(TARGET)
    job = resources.get_job(target["key"]) if target else None
    if job is None:
        return
    if job.finished.is_set() and job.error is None and target["model"] == model_id and not target.get("selected"):
        st.rerun()
    if not job.finished.is_set() or job.cancelled:
        widgets.watch_job(job, cancel=True, stop=False)
    elif job.error is not None:
        what = md_escape(job.error) if isinstance(job.error, CoreError) else \
            f"{type(job.error).__name__}; see the server log"
        st.error(f"{md_escape(job.title)} failed: {what}")
