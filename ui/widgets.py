"""Reusable dashboard widgets: the unit picker, example grids, HTML blocks, charts, uploads, ranked-neuron lists,
progress of background jobs."""
from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from core.analyses.tiles import SIGMA, Grid, captions, sigma_titles
from core.config import UPLOAD_MAX_BYTES, UPLOAD_MAX_PIXELS, get_settings
from core.errors import BadInputError, CoreError
from ui import deploy, html, resources, url, urlstate
from ui.jobs import Job, cancel_job, get_job

if TYPE_CHECKING:
    from ui.state import Context

UPLOAD_MAX_MB = UPLOAD_MAX_BYTES // 2**20  # an image uploader's own limit (the server's is larger: collections)
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]
LOOKUP_PAGE = "pages/neuron_lookup.py"
OPEN_CARD = "_open_card"  # the unit whose card a result list's link asked to open (set by its click callback)
NEXT_RANDOM = "_next_random_unit"
JOB_WAIT_S = 2.0  # how long a page waits for a job before it shows the job's progress instead


def unit_picker(ctx: Context) -> int:
    """Unit number input with previous / next / random buttons, bound to the URL's ``unit``."""
    hi = ctx.units - 1
    url.bind_url("unit", "unit", lambda raw: urlstate.parse_int("unit", raw, 0, hi, 0),
             lambda v: isinstance(v, int) and 0 <= v <= hi)
    row = st.container(horizontal=True, vertical_alignment="bottom")  # one block, not five: a cheaper rerender
    unit = int(row.number_input(f"Unit (0..{hi})", min_value=0, max_value=hi, step=1, key="unit", width=260))
    row.button("prev", icon=":material/chevron_left:", key="unit_prev", on_click=_step_unit, args=(-1, hi))
    row.button("next", icon=":material/chevron_right:", key="unit_next", on_click=_step_unit, args=(1, hi))
    row.button("random", icon=":material/casino:", key="unit_random", on_click=_random_unit, args=(hi,))
    url.remember("unit")
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
    chips = "".join(html.chips_html(label, detail, df["unit"], df[score], score) for label, detail, df, score in rows)
    html_block("similar", html.tagged(unit, chips), on_open=set_unit)


def html_block(key: str, markup: str, *, on_open: Callable[[int], None] | None = None) -> None:
    """Trusted HTML (built by ``ui.html``, every text escaped) drawn straight into the page by the
    ``card_view`` component: unlike ``st.html`` no sanitiser pass and no React element per part, so a neuron
    switch repaints it cheaply. A click on an element with ``data-unit`` calls ``on_open(unit)``."""
    callback = None
    if on_open is not None:
        def callback() -> None:
            picked = (st.session_state.get(key) or {}).get("open")
            if picked is not None:
                on_open(int(picked))
    _card_view()(key=key, data={"html": markup}, on_open_change=callback)


@functools.cache
def _card_view():
    web = Path(__file__).resolve().parent / "web"
    return st.components.v2.component("clip_explorer.card_view", js=(web / "card_view.js").read_text(),
                                      css=(web / "card_view.css").read_text())


def image_grid(ctx: Context, df: pd.DataFrame, *, outline: bool = True, caption: str = "value",
               width: int = 110, sigma: bool = False) -> None:
    """Dataset-example tiles of ``df`` (columns row, ``caption``, label; argmax when outlined) as one element.
    ``sigma``: ``caption`` is in std-devs from zero: captions end in σ and the raw ``value`` shows on hover."""
    if df.empty:
        st.caption("No examples.")
        return
    st.html(html.grid_html(_tile_grid(ctx, df, outline=outline, caption=caption, width=width, sigma=sigma)))


def _tile_grid(ctx: Context, df: pd.DataFrame, *, outline: bool = True, caption: str = "value",
               width: int = 110, sigma: bool = False) -> Grid:
    """``core.analyses.tiles.grid`` with the process-wide tile cache (``resources.tiles``)."""
    rows = tuple(int(r) for r in df["row"])
    argmax = tuple(int(a) for a in df["argmax"]) if outline else None
    tiles = resources.tiles(ctx.artifact, rows, argmax, width)
    if sigma:
        return Grid(rows, tuple(tiles), tuple(captions(df, caption, SIGMA)), width,
                    tuple(sigma_titles(df, caption)))
    return Grid(rows, tuple(tiles), tuple(captions(df, caption)), width)


def table(df: pd.DataFrame, title: str, *, key: str, floats: str = "{:.2f}") -> None:
    """A small read-only table as a ``card_view`` block (``ui.html.table_html``): cheaper for a page's first load
    than ``st.dataframe``, whose grid code is the largest a page fetches."""
    html_block(key, html.table_html(df, title, floats=floats))


def grid_sections(key: str, unit: int, *sections: tuple[str, str | None, Grid]) -> None:
    """``unit``'s headed dataset-example grids ((heading, note, grid) triples) as one element
    (``ui.html.sections_html``)."""
    html_block(key, html.tagged(unit, html.sections_html(sections)))


def card_chart(key: str, unit: int, svg: str) -> None:
    """One of the card's charts (``core.svg_charts``), drawn as SVG in an ``html_block`` tagged with ``unit``: no
    chart library for the browser to fetch on a first load, a small repaint on a neuron switch."""
    html_block(key, html.tagged(unit, svg))


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
    from core.pipeline.images import open_image

    data = uploaded.getvalue()
    if len(data) > UPLOAD_MAX_BYTES:
        raise BadInputError(f"'{uploaded.name}' is {len(data) / 1e6:.1f} MB; the limit is "
                            f"{UPLOAD_MAX_BYTES // (1024 * 1024)} MB. Use a smaller image.")
    open_image(data, max_pixels=UPLOAD_MAX_PIXELS)  # raises BadImageError (a BadInputError) with the reason
    return data


def neuron_result_list(ctx: Context, ranked: pd.DataFrame, score: str, thumbs: int, key: str = "results") -> None:
    """Ranked neurons, each with its score, its top dataset examples and an "Open card" link, as one light
    element (``ui.html.results_html``). Inside the dashboard a plain click on a link opens the card without
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
            g = _tile_grid(ctx, resources.examples(ctx.artifact, unit, thumbs, False), width=72, caption="z",
                           sigma=True)
        results.append((unit, rec[score], "lookup" + urlstate.query_string(ctx.params(unit=unit)), g, in_shell))
    html_block(key, html.results_html(results, score),
               on_open=(lambda unit: st.session_state.__setitem__(OPEN_CARD, unit)) if in_shell else None)


def _str_params(params: dict) -> dict[str, str]:
    return {k: str(v) for k, v in params.items() if v is not None}


def share_link(params: dict) -> None:
    """A copyable link to the current view, with a copy button (a ``card_view`` block: no code highlighter
    to load, which ``st.code`` costs a page's first load)."""
    html_block("share_link", html.share_html((st.context.url or "") + urlstate.query_string(params)))
    note = _share_note(params.get("model"))  # a model typed by hand that links may not load (ui.deploy)
    if note:
        st.caption(note)


# ---------------------------------------------------------------- background jobs ------------------------------------
def watch_job(job: Job, *, unit: str = "images", cancel: bool = False, stop: bool = True) -> None:
    """A background job's progress (``done / total unit``) while it runs, with a Cancel button if ``cancel``; then
    (``stop``) the page stops, so the caller goes on only once the job is done. The script never waits on the job:
    the progress is a fragment redrawn every second, which reruns the page when the job ends, so other widgets
    (Cancel among them) stay live. A failed job shows its error and stops the page; a cancelled one says so. With
    ``stop``, a job that ends within ``JOB_WAIT_S`` shows its result at once, without a progress bar (without it, the
    page never waits: its other parts go on)."""
    if stop:
        job.finished.wait(JOB_WAIT_S)
    if job.finished.is_set():
        if job.cancelled:
            st.info(html.md_escape(job.error), icon=":material/cancel:")
            if stop:
                st.stop()
        elif job.error is not None:
            if isinstance(job.error, CoreError):
                st.error(f"{html.md_escape(job.title)} failed: {html.md_escape(job.error)}")
            else:
                st.error(f"{html.md_escape(job.title)} failed ({type(job.error).__name__}: {html.md_escape(job.error)}); "
                         "see the server log.")
            st.stop()
        return
    _job_progress(job.key, f"{job.title} ...", unit, cancel)
    if stop:
        st.stop()


def watch_cancellable(job: Job, what: str = "") -> None:
    """A running job's progress (``what``, else the job's title as it changes phase; ``done / total``) with a Cancel
    button; the page goes on."""
    _job_progress(job.key, what, "", True)


@st.fragment(run_every=1.0)
def _job_progress(key: str, title: str, unit: str, cancel: bool) -> None:
    job = get_job(key)
    if job is None or job.finished.is_set():
        st.rerun()  # the whole page: it shows the result (or the error, or that it was cancelled)
    with st.status(html.md_escape(title or job.title), expanded=True):
        st.progress(job.fraction, text=f"{job.done} / {job.total or '?'} {unit}".rstrip())
        if job.stalled():
            st.warning(f"No progress for {time.time() - job.touched:.0f} s: the job looks stuck (for instance on a "
                       "file it cannot read, such as a named pipe). Cancel it; a new run resumes where it stopped.",
                       icon=":material/hourglass_disabled:")
        if cancel:
            st.button("Cancel", key=f"cancel:{key}", icon=":material/cancel:", on_click=cancel_job, args=(job,),
                      disabled=job.cancel.is_set() and not job.stalled(), help="Stop the job; work done is kept.")


def unfinished_index_runs(model_id: str) -> tuple[str, str] | None:
    """The folders whose indexing was interrupted (a restart, a crash, a cancel), each marked "unfinished" with its
    layer and a Resume button: the extraction resumes where it stopped. Returns the (folder, layer) whose button was
    clicked."""
    for run in resources.unfinished_index_runs(model_id):
        row = st.container(horizontal=True, vertical_alignment="center")
        row.caption(f"**{html.md_escape(run['folder'])}** at {html.md_code(run['layer'])}: unfinished — "
                    f"{run['done']} of {run['chunks']} chunks indexed")
        if row.button("Resume", key=f"resume:{run['folder']}@{run['layer']}", icon=":material/play_arrow:"):
            return run["folder"], run["layer"]
    return None


def has_examples(ctx: Context, what: str) -> bool:
    """Whether ``ctx`` has dataset examples at its layer; if not, an info saying how to get ``what`` (e.g. "dataset
    examples"): index a collection (sidebar or CLI), or pick the layer the collection was indexed at."""
    if ctx.artifact is None:
        st.info(f"No collection is indexed for this model yet, so there are no {what}: index one in the sidebar "
                f"(**Index a folder**), or run {html.md_code(f'python -m core index --model {ctx.model_id} --help')}.")
        return False
    if not ctx.has_examples:
        st.info(f"Collection '{html.md_escape(ctx.collection)}' was indexed at layer "
                f"{html.md_code(ctx.collection_layer)}, not {html.md_code(ctx.layer)}: pick that layer in the sidebar "
                f"to see {what}, or index the collection at this layer.")
        return False
    return True


def _share_note(model_id: str | None) -> str | None:
    """``deploy.link_note`` for the share box, with this server's menu."""
    if not model_id:
        return None
    settings = get_settings()
    ids = resources.model_menu(settings.default_model, settings.models, settings.shared)["id"].tolist()
    return deploy.link_note(model_id, ids, settings)
