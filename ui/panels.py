"""Larger page sections that draw a whole analysis result: a typographic attack's outcome, the Stroop panel."""
from __future__ import annotations

import streamlit as st

from core import svg_charts
from core.analyses import attacks
from core.analyses.stroop import COLORS, STROOP_TEMPLATE
from core.pipeline.demo import CATEGORIES, DEMO_NAME, page_defaults
from ui import html, resources, url, urlstate, widgets
from ui.html import md_escape as esc
from ui.state import Context

TOP = 6


def demo_defaults(ctx: Context, page: str) -> dict:
    """A page's measured defaults (``assets/demo/defaults.json``: a picture that the model gets right, a word that
    flips it) when the demo model is in use, else {}."""
    return page_defaults().get(page, {}) if ctx.model_id == "demo" else {}


def evaluated_classes(ctx: Context) -> list[str]:
    """The categories the demo model was trained and evaluated on, when it is the model in use (else [])."""
    return list(CATEGORIES) if ctx.model_id == "demo" else []


def demo_row(ctx: Context, image_id: str | None) -> int | None:
    """The demo collection's row of a demo-corpus picture (None elsewhere or when it is not there)."""
    if not image_id or ctx.collection != DEMO_NAME or ctx.artifact is None:
        return None
    suffix = f"/{image_id}.png"
    return next((i for i, k in enumerate(resources.get_artifact(ctx.artifact)[0].keys) if str(k).endswith(suffix)),
                None)


def demo_accuracy_note(ctx: Context, classes: list[str]) -> None:
    """Where the demo model's published accuracy comes from, beside an accuracy measured on the demo collection."""
    fig = page_defaults().get("heldout_top1") if ctx.model_id == "demo" else None
    if fig and classes == evaluated_classes(ctx) and ctx.collection == DEMO_NAME:
        st.caption(f"The demo model's published {fig['value']:.1%} top-1 is on its {fig['n']} held-out pictures of "
                   f"these {len(classes)} classes; the demo collection also holds the pictures it was trained on, so "
                   "a sample of it scores higher.")


def _set(key: str, value) -> None:
    st.session_state[key] = value


def class_list_note(ctx: Context, classes: list[str], labels: list[str], key: str | None = None) -> None:
    """Say which zero-shot class list is in use and list it. With ``key`` (the class-list text area), buttons
    switch it between the demo model's evaluated classes and all the collection's labels."""
    evaluated = evaluated_classes(ctx)
    if evaluated and classes == evaluated:
        what = (f"the **{len(evaluated)} classes the demo model was evaluated on** (its README figures are on "
                "these; pictures of other labels have no right answer here)")
    elif labels and sorted(classes) == sorted(labels):
        what = f"**all {len(labels)} labels** of the collection '{esc(ctx.collection)}'"
    else:
        what = f"**{len(classes)} classes** typed above"
    st.caption(f"Zero-shot over {what}.")
    with st.expander(f"The {len(classes)} classes in use", icon=":material/list:"):
        st.markdown(esc(", ".join(classes)))
    row = st.container(horizontal=True)
    if key is None:
        return
    if labels and sorted(classes) != sorted(labels):
        row.button(f"Use all {len(labels)} collection labels", key=f"{key}_all", on_click=_set,
                   args=(key, ", ".join(labels)))
    if evaluated and classes != evaluated:
        row.button(f"Use the {len(evaluated)} evaluated classes", key=f"{key}_eval", on_click=_set,
                   args=(key, ", ".join(evaluated)))


def attack_result(ctx: Context, res: attacks.AttackResult) -> None:
    """One typographic attack: the picture before and after, the prediction, class probabilities, and the neurons
    that rose and fell most."""
    widgets.html_block("ta_pictures", html.pictures_html([(f"before: {res.pred_before}", res.before),
                                                          (f"after: {res.pred_after}", res.after)]))
    st.markdown(f"Prediction before → after: **{esc(res.pred_before)} → {esc(res.pred_after)}** · "
                f"prediction flipped: **{'yes' if res.flipped else 'no'}** · pixels changed: **{res.cover:.1%}**")
    if res.target is None:
        st.caption("The text names none of the classes, so there is no 'success' to measure: add it to the list.")
    elif res.success:
        st.success(f"The attack worked: CLIP now reads the picture as **{esc(res.target)}**.")
    else:
        st.warning(f"The attack did not make CLIP say **{esc(res.target)}**.")
    widgets.html_block("ta_probs", svg_charts.class_probs_svg(res.probs))
    st.subheader("Neurons that rose and fell most")
    widgets.html_block("ta_deltas", svg_charts.neuron_delta_svg(attacks.top_changes(res.deltas, TOP),
                                                                title=f"Activation change (spatial max) at {res.layer}"))
    rise, fall = attacks.risers_fallers(res.deltas, TOP)
    left, right = st.columns(2)
    with left:
        widgets.neuron_result_list(ctx, rise, "delta", 3, key="risers")
    with right:
        widgets.neuron_result_list(ctx, fall, "delta", 3, key="fallers")


def stroop_panel(ctx: Context) -> dict:
    """The Stroop test (URL-bound word, ink, whole experiment); returns its URL parameters."""
    st.divider()
    st.subheader("Stroop test: does CLIP read the word or the ink?")
    colors = list(COLORS)
    pick = st.popover("Word and ink", icon=":material/palette:")  # drawn only when opened (a lighter first load)
    w, i, full = pick.columns([2, 2, 3], vertical_alignment="bottom")
    url.bind_url("st_word", "sword", lambda raw: urlstate.parse_choice("sword", raw, colors, "red"), lambda v: v in colors)
    word = w.selectbox("Word", colors, key="st_word")
    url.bind_url("st_ink", "ink", lambda raw: urlstate.parse_choice("ink", raw, colors, "green"), lambda v: v in colors)
    ink = i.selectbox("Ink", colors, key="st_ink")
    url.bind_url("st_full", "stroop", lambda raw: urlstate.Parsed(raw == "1"), lambda v: isinstance(v, bool))
    run_all = full.toggle("All word × ink pairs", key="st_full", help="Run the whole experiment: every colour "
                          "word in every ink, plus one control word per ink.")
    for key in ("st_word", "st_ink", "st_full"):
        url.remember(key)
    img, probs, winner = resources.stroop_single(ctx.model_id, word, ink, tuple(colors), STROOP_TEMPLATE)
    left, right = st.columns([1, 2])
    with left:
        widgets.html_block("st_picture", html.pictures_html([(f"'{word}' in {ink} ink", img)], width=192))
    with right:
        widgets.html_block("st_probs", svg_charts.probs_svg(probs, title=f"“{STROOP_TEMPLATE.format('…')}”"))
    st.markdown({"word": "CLIP **reads the word**.", "ink": "CLIP **sees the ink**.", "both": "Word and ink agree.",
                 "other": "CLIP picks **neither** the word nor the ink."}[winner])
    if run_all:
        scored, s = resources.stroop(ctx.model_id, tuple(colors), STROOP_TEMPLATE)
        widgets.altair("stroop_chart", scored)
        a = s["article"]
        st.markdown(f"Mismatched pairs: the word wins **{s['word_wins']}/{s['incongruent']}**, the ink wins "
                    f"**{s['ink_wins']}/{s['incongruent']}** (chance {s['chance']:.0%} each). The article "
                    f"({a['model']}): the word wins {a['word_wins']}/{a['incongruent']}.")
    return {"sword": word, "ink": ink, "stroop": "1" if run_all else None}
