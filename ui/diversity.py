"""The card's diversity feature visualizations: a batch of images that each excite the unit yet differ (rendered
on demand in the background, cached on disk), downloadable as a PNG carrying its provenance."""
from __future__ import annotations

import base64
import html

import streamlit as st

from core.featurevis import diverse
from ui import resources, urlstate, widgets
from ui.resources import jobs
from ui.state import Context
from ui.url import bind_url, remember

IMAGES = 4


def _sheet_png(loaded, res) -> bytes:
    """The batch side by side, one PNG with the render's provenance."""
    from PIL import Image

    from core.featurevis.png import png_bytes, provenance

    images = res.to_pil()
    sheet = Image.new("RGB", (sum(im.width for im in images), images[0].height), (255, 255, 255))
    for i, im in enumerate(images):
        sheet.paste(im, (i * im.width, 0))
    return png_bytes(sheet, provenance(loaded, res.objective, res.seed, steps=res.steps_done, batch=len(images)))


def diversity_section(ctx: Context, unit: int) -> dict:
    """A toggle (URL ``div=1``, weight ``divw``) opening the diversity renders of ``unit``; returns its URL params."""
    from core.featurevis.png import result_png
    from core.featurevis.strip import RenderCancelled, strip_steps

    bind_url("card_div", "div", lambda raw: urlstate.Parsed(raw == "1"), lambda v: isinstance(v, bool))
    on = st.toggle("Diverse feature visualizations (several images pushed apart from each other)", key="card_div")
    remember("card_div")
    if not on:
        return {"div": None, "divw": None}
    bind_url("card_divw", "divw", lambda raw: urlstate.parse_int("divw", raw, 1, 20, int(diverse.DEFAULT_WEIGHT)),
             lambda v: isinstance(v, int) and 1 <= v <= 20)
    weight = int(st.slider("Diversity weight", 1, 20, key="card_divw", help="How hard the images are pushed "
                           "apart (their Gram matrices' similarity, subtracted from the unit's activation)."))
    remember("card_divw")
    loaded = resources.get_model(ctx.model_id)
    steps = strip_steps()
    res = diverse.lookup_diverse(loaded, ctx.layer, unit, images=IMAGES, weight=weight, steps=steps)
    key = jobs.diversity_job_key(ctx.model_id, ctx.layer, unit, IMAGES, weight, steps)
    if res is not None:
        cells = "".join(f'<img alt="diverse {i}" width="128" height="128" src="data:image/png;base64,'
                        f'{base64.b64encode(result_png(loaded, res, i)).decode()}"/>' for i in range(len(res.images)))
        st.html(f'<div data-diverse style="display:flex;gap:8px;flex-wrap:wrap">{cells}</div>'
                f'<p style="font-size:0.8rem;opacity:0.7">{html.escape(res.objective)} · {steps} steps</p>')
        st.download_button("Download (PNG with provenance)", _sheet_png(loaded, res), f"unit{unit}_diverse.png",
                           "image/png", key="card_div_png", icon=":material/download:")
        return {"div": 1, "divw": weight}
    job = resources.get_job(key)
    if job is not None and not job.finished.is_set():
        widgets.watch_cancellable(job)
    elif job is not None and job.error is not None and not isinstance(job.error, RenderCancelled):
        st.error(f"Rendering failed: {job.error}")
    if st.button(f"Render {IMAGES} diverse images ({steps} steps)", key="card_div_render"):
        jobs.diversity_job(ctx.model_id, ctx.layer, unit, IMAGES, weight, steps)
        st.rerun()
    return {"div": 1, "divw": weight}
