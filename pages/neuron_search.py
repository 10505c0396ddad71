"""Zero-shot neuron search: text (or an image) in, ranked neurons and the nearest collection images out."""
from __future__ import annotations

import streamlit as st

import ui
from core import svg_charts
from ui import resources, urlstate
from ui.downloads import csv_button

THUMBS = 4


def query_inputs() -> tuple[str, bytes | None, int, bool]:
    """The query text (URL ``q``), an optional upload, how many neurons, and the scale correction."""
    text = ui.url_text(st.text_input, "Concept", "q", key="query", max_chars=urlstate.MAX_QUERY_CHARS,
                       placeholder="e.g. spider, Christmas, a flag of France", help="Press Enter to search.")
    options, own = st.columns(2)
    with options.popover("Options", icon=":material/tune:"):  # drawn only when opened (a lighter first load)
        top = ui.url_int(st.slider, "Neurons", "top", 1, 30, 8, key="top")
        scaled = ui.url_flag(st.toggle, "Scale by each neuron's std over the collection", "scaled", key="scaled",
                             help="Rank by v(t)·σ: units with larger activations count more (article §5.1).")
    with own.popover("Search with an image", icon=":material/image_search:"):
        upload = st.file_uploader("Image", type=ui.UPLOAD_TYPES, key="upload", max_upload_size=ui.UPLOAD_MAX_MB,
                                  help=f"Up to {ui.UPLOAD_MAX_BYTES // 2**20} MB and {ui.UPLOAD_MAX_PIXELS // 10**6} MP.")
    image = ui.read_upload(upload) if upload is not None else None
    return text.strip(), image, top, scaled


def neuron_results(ctx: ui.Context, text: str, image: bytes | None, top: int, scaled: bool) -> None:
    if image is not None:
        ranked = resources.image_to_neurons(ctx.model_id, ctx.layer, image, top)
        score = "activation"
    else:
        scale_by = ctx.artifact if scaled and ctx.has_examples else None
        ranked = resources.text_to_neurons(ctx.model_id, ctx.layer, text, top, scale_by)
        score = "score"
    ui.html_block("scores", svg_charts.neuron_scores_svg(ranked, score=score))
    ui.neuron_result_list(ctx, ranked, score, THUMBS)
    csv_button(ranked, f"neurons_{text or 'image'}", "neuron_search")


def main() -> None:
    st.title("Zero-shot neuron search")
    st.caption("Type a concept and press Enter: neurons are ranked by how well their direction in CLIP's joint "
               "space matches the text (the article's zero-shot neuron search). One click opens a neuron's card.")
    ctx = ui.page_context()
    problems = st.container()
    text, image, top, scaled = query_inputs()
    ui.show_url_problems(problems)
    ui.write_url(ctx.params(q=text or None, top=top, scaled="1" if scaled else None))
    if not text and image is None:
        st.info("Type a concept (e.g. *flower*, *boat*, *Christmas*) and press Enter, or upload an image.")
        st.stop()
    tokens, context = resources.query_tokens(ctx.model_id, text) if image is None else (0, 0)
    if tokens > context:
        st.info(f"The query is {tokens} tokens long, but this model reads only {context} (with its start and end "
                "tokens): the end of the query was cut and is not part of the search.", icon=":material/content_cut:")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Neurons")
        neuron_results(ctx, text, image, top, scaled)
    with right:
        st.subheader("Nearest images in the collection")
        if ctx.path is None:
            st.info("Index a collection (sidebar) to see the images nearest the query.")
        else:
            ui.image_grid(ctx, resources.nearest_images(ctx.artifact, text if image is None else None, image, 12),
                          outline=False, caption="score")
    ui.share_link(ctx.params(q=text or None, top=top, scaled="1" if scaled else None))


with ui.error_box():
    main()
