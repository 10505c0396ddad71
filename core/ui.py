"""Reusable Streamlit widgets and renderers: sidebar pickers, URL state, error box, image grids, uploads.

Pages call these; they in turn call ``core.resources`` (cached) and pure ``core`` functions. URL values
are validated by ``core.urlstate`` before they reach any widget, and collections are picked by name
from the discovered list, so a link can never name a file.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import random
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from core import card, resources, urlstate
from core.config import get_settings
from core.errors import BadInputError, CoreError

logger = logging.getLogger(__name__)

SHELL_CTX = "_shell_ctx"
PROBLEMS = "_url_problems"
DEMO_PENDING = "demo (not indexed yet: built on first use)"
UPLOAD_MAX_BYTES = 8 * 1024 * 1024
UPLOAD_MAX_PIXELS = 25_000_000
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]
LOOKUP_PAGE = "pages/neuron_lookup.py"
OPEN_CARD = "_open_card"  # the unit whose card a result list's link asked to open (set by its click callback)
NEXT_RANDOM = "_next_random_unit"


@dataclass(frozen=True)
class Context:
    """What every page works on: the model, its layer, and the (optional) indexed collection."""

    model_id: str
    layer: str
    units: int
    collection: str | None = None  # the collection's name (never a path from the URL)
    path: str | None = None  # the artifact directory of the collection
    rows: int = 0
    collection_layer: str | None = None
    mtime: float = 0.0

    @property
    def art(self) -> tuple[str, str, float]:
        """(artifact path, model id, mtime): the leading arguments of the artifact-cached resources."""
        return self.path, self.model_id, self.mtime

    @property
    def has_examples(self) -> bool:
        """Whether dataset examples exist for the selected layer."""
        return self.path is not None and self.collection_layer == self.layer

    def params(self, **extra) -> dict:
        """The shared URL state of this context plus page-specific ``extra`` values."""
        return {"model": self.model_id, "collection": self.collection, "layer": self.layer, **extra}


# ---------------------------------------------------------------- errors ---------------------------------------------
@contextlib.contextmanager
def error_box() -> Iterator[None]:
    """Show ``CoreError`` as ``st.error`` (its message says what to do) and stop the page; never a traceback.

    Anything else is a bug: a short error plus the details in a collapsed expander.
    """
    try:
        yield
    except CoreError as err:
        st.error(str(err))
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
        st.info(str(err))


# ---------------------------------------------------------------- URL state ------------------------------------------
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
    created above the inputs, so the message sits at the top even though inputs are parsed later)."""
    target = where if where is not None else st
    for problem in st.session_state.pop(PROBLEMS, []):
        target.warning(problem, icon=":material/link_off:")


def share_link(params: dict) -> None:
    """A copyable link to the current view, with a copy button (a ``card_view`` block: no code highlighter
    to load, which ``st.code`` costs a page's first load)."""
    html_block("share_link", card.share_html((st.context.url or "") + urlstate.query_string(params)))


# ---------------------------------------------------------------- sidebar --------------------------------------------
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
    settings = get_settings()
    menu = resources.model_menu(settings.default_model)
    ids = menu["id"].tolist()
    avail = dict(zip(menu["id"], menu["available"]))
    with st.sidebar:
        # Links may only name menu models (never a file); an id typed into the picker is the user's own choice.
        bind_url("model", "model", lambda raw: urlstate.parse_choice("model", raw, ids, ids[0]),
                 lambda v: isinstance(v, str) and bool(v.strip()))
        model_id = st.selectbox("Model", ids, key="model", accept_new_options=True,
                                help="The embedded demo model runs offline. Real open_clip models need their "
                                "weights on this machine; type any id, e.g. RN50x4@/models/RN50x4.pt.",
                                format_func=lambda m: m if avail.get(m, True) else f"{m} (weights not here)")
        write_url({"model": model_id})
        if model_id == "demo":  # the text is drawn only once opened: otherwise it costs every first load ≈ 0.1 s
            info = st.expander("What the demo model can and cannot show", icon=":material/info:", key="demo_info",
                               on_change="rerun")
            if info.open:
                info.markdown(resources.demo_capabilities())
    with error_box():  # in the main area: a model that cannot load explains why there
        resources.get_model(model_id)
    with st.sidebar:
        coll = _collection_picker(model_id, settings)
        layers = resources.layers(model_id)
        layer_ids = layers["id"].tolist()
        default_layer = resources.article_layer(model_id)
        bind_url("layer", "layer", lambda raw: urlstate.parse_choice("layer", raw, layer_ids, default_layer),
                 lambda v: v in layer_ids)
        layer = st.selectbox("Layer", layer_ids, key="layer", help=f"Default: the article's layer ({default_layer}).")
        write_url({"collection": coll["name"] if coll else None, "layer": layer})  # one URL update for both
        units = int(layers.set_index("id").at[layer, "units"])
        st.caption(f"{units} units in this layer")
        _index_folder_expander(model_id, coll)
    if coll is not None and coll.get("pending"):  # first use of the demo model: index its corpus, with progress
        st.info("First start: indexing the demo collection with the demo model. Other visitors are not blocked; "
                "this page fills in when it is done.")
        watch_job(resources.demo_index_job(model_id))
        st.stop()
    if coll is None:
        return Context(model_id, layer, units)
    return Context(model_id, layer, units, coll["name"], coll["path"], int(coll["rows"]), coll["layer"],
                   resources.artifact_mtime(coll["path"]))


def _collection_picker(model_id: str, settings) -> dict | None:
    found = resources.collections(model_id, str(settings.artifacts_dir))
    names = found["name"].tolist()
    pending = model_id == "demo" and "demo" not in names
    options = names + (["demo"] if pending else [])
    if not options:
        st.info(f"No collection is indexed for {model_id} yet. Index one below, or from a shell: "
                f"`python -m core extract --model {model_id} --images DIR`.")
        return None
    labels = {r["name"]: f"{r['name']} ({r['rows']} images, {r['model_id']})" for r in found.to_dict("records")}
    if pending:
        labels["demo"] = DEMO_PENDING
    bind_url("collection", "collection", lambda raw: urlstate.parse_choice("collection", raw, options, options[0]),
             lambda v: v in options)
    name = st.selectbox("Collection", options, key="collection", format_func=lambda n: labels.get(n, n))
    if pending and name == "demo":
        return {"pending": True, "name": "demo"}
    return found.set_index("name").loc[name].to_dict() | {"name": name}


def _index_folder_expander(model_id: str, coll: dict | None) -> None:
    folders = resources.collection_folders()
    with st.expander("Index a folder", expanded=coll is None):
        root = get_settings().collections_dir
        if not folders:
            st.caption(f"Put a folder of images (sub-folders = labels) under `{root}` to index it here.")
            return
        folder = st.selectbox("Folder", folders, key="index_folder", help=f"Sub-folders of {root}")
        if st.button("Index it", key="index_button"):
            with error_box():
                st.session_state["_index_job"] = resources.folder_index_job(model_id, folder).key
        job = resources.get_job(st.session_state.get("_index_job", ""))
        if job is not None and not job.finished.is_set():
            watch_job(job)


def watch_job(job: resources.Job) -> None:
    """Show a background job's progress until it finishes, then rerun (other sessions are never blocked)."""
    if job.finished.is_set():
        if job.error is not None:
            if isinstance(job.error, CoreError):
                st.error(f"{job.title} failed: {job.error}")
            else:
                st.error(f"{job.title} failed ({type(job.error).__name__}: {job.error}); see the server log.")
            st.stop()
        return
    with st.status(f"{job.title} (first use; runs once) ...", expanded=True) as status:
        bar = st.progress(0.0, text="starting ...")
        while not job.finished.wait(0.5):
            bar.progress(job.fraction, text=f"{job.done} / {job.total or '?'} images")
        status.update(label=f"{job.title}: done", state="complete")
    st.rerun()


# ---------------------------------------------------------------- widgets --------------------------------------------
def unit_picker(ctx: Context) -> int:
    """Unit number input with previous / next / random buttons, bound to the URL's ``unit``."""
    hi = ctx.units - 1
    bind_url("unit", "unit", lambda raw: urlstate.parse_int("unit", raw, 0, hi, 0),
             lambda v: isinstance(v, int) and 0 <= v <= hi)
    row = st.container(horizontal=True, vertical_alignment="bottom")  # one block, not five: a cheaper rerender
    unit = int(row.number_input(f"Unit (0..{hi})", min_value=0, max_value=hi, step=1, key="unit", width=260))
    row.button("prev", icon=":material/chevron_left:", key="unit_prev", on_click=_step_unit, args=(-1, hi))
    row.button("next", icon=":material/chevron_right:", key="unit_next", on_click=_step_unit, args=(1, hi))
    row.button("random", icon=":material/casino:", key="unit_random", on_click=_random_unit, args=(hi,))
    remember("unit")
    return unit


def set_unit(unit: int) -> None:
    """Widget callback: show another neuron."""
    st.session_state["unit"] = int(unit)


def _step_unit(delta: int, hi: int) -> None:
    st.session_state["unit"] = (int(st.session_state.get("unit", 0)) + delta) % (hi + 1)


def _random_unit(hi: int) -> None:
    drawn = st.session_state.pop(NEXT_RANDOM, None)
    st.session_state["unit"] = drawn if isinstance(drawn, int) and 0 <= drawn <= hi else random.randint(0, hi)


def likely_next_units(unit: int, hi: int) -> list[int]:
    """The units a person most likely opens next from ``unit``'s card: the next, the previous, and the next
    "random" pick (drawn now, so its card can be built ahead; the random button then opens it)."""
    drawn = st.session_state.get(NEXT_RANDOM)
    if not (isinstance(drawn, int) and 0 <= drawn <= hi and drawn != unit):
        drawn = st.session_state[NEXT_RANDOM] = random.randint(0, hi)
    return [(unit + 1) % (hi + 1), (unit - 1) % (hi + 1), drawn]


def similar_chips(unit: int, rows: list[tuple[str, str, pd.DataFrame, str]]) -> None:
    """Rows of chips for the neurons similar to ``unit``, (label, detail, frame with columns unit and ``score``,
    score) each, as one light element (``html_block``); a click on a chip opens that neuron's card."""
    html = "".join(card.chips_html(label, detail, df["unit"], df[score], score) for label, detail, df, score in rows)
    html_block("similar", card.tagged(unit, html), on_open=set_unit)


def html_block(key: str, html: str, *, on_open: Callable[[int], None] | None = None) -> None:
    """Trusted HTML (built by ``core.card``, every text escaped) drawn straight into the page by the
    ``card_view`` component: unlike ``st.html`` no sanitiser pass and no React element per part, so a neuron
    switch repaints it cheaply. A click on an element with ``data-unit`` calls ``on_open(unit)``."""
    callback = None
    if on_open is not None:
        def callback() -> None:
            picked = (st.session_state.get(key) or {}).get("open")
            if picked is not None:
                on_open(int(picked))
    _card_view()(key=key, data={"html": html}, on_open_change=callback)


@functools.cache
def _card_view():
    web = Path(__file__).resolve().parent / "web"
    return st.components.v2.component("clip_explorer.card_view", js=(web / "card_view.js").read_text(),
                                      css=(web / "card_view.css").read_text())


def image_grid(ctx: Context, df: pd.DataFrame, *, outline: bool = True, caption: str = "value",
               width: int = 110) -> None:
    """Dataset-example tiles of ``df`` (columns row, ``caption``, label; argmax when outlined) as one element."""
    if df.empty:
        st.caption("No examples.")
        return
    st.html(card.grid_html(_tile_grid(ctx, df, outline=outline, caption=caption, width=width)))


def _tile_grid(ctx: Context, df: pd.DataFrame, *, outline: bool = True, caption: str = "value",
               width: int = 110) -> card.Grid:
    """``core.card.grid`` with the process-wide tile cache (``resources.tiles``)."""
    rows = tuple(int(r) for r in df["row"])
    argmax = tuple(int(a) for a in df["argmax"]) if outline else None
    tiles = resources.tiles(*ctx.art, rows, argmax, width)
    return card.Grid(rows, tuple(tiles), tuple(card.captions(df, caption)), width)


def table(df: pd.DataFrame, title: str, *, key: str, floats: str = "{:.2f}") -> None:
    """A small read-only table as a ``card_view`` block (``core.card.table_html``): cheaper for a page's first load
    than ``st.dataframe``, whose grid code is the largest a page fetches."""
    html_block(key, card.table_html(df, title, floats=floats))


def grid_sections(key: str, unit: int, *sections: tuple[str, str | None, card.Grid]) -> None:
    """``unit``'s headed dataset-example grids ((heading, note, grid) triples) as one element
    (``core.card.sections_html``)."""
    html_block(key, card.tagged(unit, card.sections_html(sections)))


def chart(kind: str, df: pd.DataFrame) -> None:
    """Render ``df`` with a cached chart template (``core.charts`` builder, data-free) at full width."""
    st.vega_lite_chart(df, resources.chart_template(kind), width="stretch")


def altair(builder: str, df: pd.DataFrame, *, key: str | None = None, on_select="ignore",
           selection_mode: str | None = None, **options):
    """``st.altair_chart(core.charts.<builder>(df, **options), width="stretch")`` with the spec built once per
    distinct input (``resources.chart_spec``). Returns the chart's selection state like ``st.altair_chart``."""
    spec = resources.chart_spec(builder, df, tuple(sorted(options.items())))
    return st.vega_lite_chart(spec, width="stretch", key=key, on_select=on_select, selection_mode=selection_mode)


def read_upload(uploaded) -> bytes:
    """Validate an ``st.file_uploader`` file: size, type, pixel count, decodability.

    Returns:
        The file's bytes (hashable for the cached search functions).

    Raises:
        BadInputError: too large, not an image, or too many pixels; the message says the limits.
    """
    from core.images import open_image

    data = uploaded.getvalue()
    if len(data) > UPLOAD_MAX_BYTES:
        raise BadInputError(f"'{uploaded.name}' is {len(data) / 1e6:.1f} MB; the limit is "
                            f"{UPLOAD_MAX_BYTES // (1024 * 1024)} MB. Use a smaller image.")
    open_image(data, max_pixels=UPLOAD_MAX_PIXELS)  # raises BadImageError (a BadInputError) with the reason
    return data


def neuron_result_list(ctx: Context, ranked: pd.DataFrame, score: str, thumbs: int, key: str = "results") -> None:
    """Ranked neurons, each with its score, its top dataset examples and an "Open card" link, as one light
    element (``core.card.results_html``). Inside the dashboard a plain click on a link opens the card without
    reloading the app (the block's trigger, then ``st.switch_page``); the link's address serves new tabs."""
    in_shell = bool(st.session_state.get("_shell_run"))
    picked = st.session_state.pop(OPEN_CARD, None)
    if in_shell and picked is not None:
        st.switch_page(LOOKUP_PAGE, query_params=_str_params(ctx.params(unit=int(picked))))
    results = []
    for rec in ranked.to_dict("records"):
        unit = int(rec["unit"])
        g = None
        if ctx.has_examples:
            g = _tile_grid(ctx, resources.examples(*ctx.art, unit, thumbs, False), width=72)
        results.append((unit, rec[score], "lookup" + urlstate.query_string(ctx.params(unit=unit)), g, in_shell))
    html_block(key, card.results_html(results, score),
               on_open=(lambda unit: st.session_state.__setitem__(OPEN_CARD, unit)) if in_shell else None)


def _str_params(params: dict) -> dict[str, str]:
    return {k: str(v) for k, v in params.items() if v is not None}


# ---------------------------------------------------------------- feature visualization and words --------------------
def _watch_cancellable(job: resources.Job, what: str, cancel_key: str | None) -> None:
    """Progress of a running job with a Cancel button (a click reruns the script and sets the flag)."""
    if cancel_key is not None and st.button("Cancel", key=f"cancel_{cancel_key}"):
        resources.cancel_event(cancel_key).set()
    bar = st.progress(job.fraction, text=what)
    while not job.finished.wait(0.5):
        bar.progress(job.fraction, text=f"{what}: {job.done} / {job.total or '?'}")
    st.rerun()


def feature_visualization_card(ctx: Context, unit: int) -> None:
    """Feature visualizations (rendered on demand, then cached) and the unit's top/bottom rastered words.

    Pictures, headings and word tables are one light element each (``html_block``); the render options sit in a
    popover (mounted only when opened), so a neuron switch re-renders few elements.
    """
    from core import words
    from core.featurevis.facets import facet_names
    from core.featurevis import strip
    from core.featurevis.strip import RenderCancelled, cached_strip, strip_items

    loaded = resources.get_model(ctx.model_id)
    names = facet_names()
    st.session_state.setdefault("fv_seeds", 2)
    st.session_state.setdefault("fv_facets", ["text"] if "text" in names else [])
    seeds = min(max(int(st.session_state["fv_seeds"] or 1), 1), 4)
    facets = tuple(f for f in st.session_state["fv_facets"] if f in names)
    items = strip_items(seeds, facets)
    results = cached_strip(loaded, ctx.layer, unit, items)
    note = (f"Images optimised to excite the unit (Fourier parametrization with decorrelated colour, random "
            f"jitter/scale/rotation, {strip.STRIP_STEPS} steps). Facets add a linear-probe prior on an earlier layer "
            "(paper §2.2): text = rendered words vs pictures, the others = demo-corpus categories.")
    figures = [(item.label, None if res is None else _png(res.to_pil()[0]), "" if res is None else str(res.objective))
               for item, res in zip(items, results)]
    html_block("fv_strip", card.tagged(unit, card.heading_html("Feature visualization", note)
                                       + card.figures_html(figures)))
    row = st.container(horizontal=True, vertical_alignment="center")
    with row.popover("Render options", icon=":material/tune:", key="fv_options",
                     help=f"Now: {seeds} seed(s); facets: {', '.join(facets) or 'none'}"):
        st.number_input("Seeds", min_value=1, max_value=4, key="fv_seeds")
        st.multiselect("Facets", names, key="fv_facets")
    key = resources.featurevis_job_key(ctx.model_id, ctx.layer, unit, seeds, facets)
    job = resources.get_job(key)
    if any(r is None for r in results) and row.button("Render feature visualizations", key="fv_render"):
        resources.featurevis_job(ctx.model_id, ctx.layer, unit, seeds, facets)
        st.rerun()
    if job is not None and not job.finished.is_set():
        _watch_cancellable(job, "Rendering (optimisation steps)", key)
    elif job is not None and job.error is not None and not isinstance(job.error, RenderCancelled):
        st.error(f"Rendering failed: {job.error}")
    heading = card.heading_html("Top rastered words", "The 12,000 most common English words drawn as images; a "
                                "word's value is the unit's spatial max, averaged over two fonts/sizes; score = "
                                "std-devs from the vocabulary mean.")
    if not words.is_scored(loaded, ctx.layer):
        html_block("fv_words", card.tagged(unit, heading))
        wjob = resources.get_job(resources.words_job_key(ctx.model_id, ctx.layer))
        if wjob is not None and not wjob.finished.is_set():
            _watch_cancellable(wjob, "Scoring words", None)
        elif st.button("Score the word vocabulary (once per model and layer)", key="words_score"):
            resources.words_job(ctx.model_id, ctx.layer)
            st.rerun()
        return
    top, bottom = resources.neuron_words(ctx.model_id, ctx.layer, unit, 15)
    tables = (f'<div style="display:flex;flex-wrap:wrap;gap:24px">{card.table_html(top, "Top words")}'
              f'{card.table_html(bottom, "Bottom words")}</div>')
    html_block("fv_words", card.tagged(unit, heading + tables))


def _png(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
