"""Larger page sections that draw a whole analysis result: a typographic attack's outcome, the Stroop panel."""
from __future__ import annotations

import streamlit as st

from core.analyses import attacks
from core.analyses.stroop import COLORS, STROOP_TEMPLATE
from ui import resources, url, urlstate, widgets
from ui.html import md_escape as esc
from ui.context import Context

TOP = 6


def attack_result(ctx: Context, res: attacks.AttackResult) -> None:
    """One typographic attack: the picture before and after, the prediction, class probabilities, and the neurons
    that rose and fell most."""
    before, after = st.columns(2)
    before.image(res.before, caption=f"before: {esc(res.pred_before)}", width=256)  # class names: a visitor's text
    after.image(res.after, caption=f"after: {esc(res.pred_after)}", width=256)
    m1, m2, m3 = st.columns(3)
    m1.metric("Prediction before → after", f"{esc(res.pred_before)} → {esc(res.pred_after)}")
    m2.metric("Prediction flipped", "yes" if res.flipped else "no")
    m3.metric("Pixels changed", f"{res.cover:.1%}")
    if res.target is None:
        st.caption("The text names none of the classes, so there is no 'success' to measure: add it to the list.")
    elif res.success:
        st.success(f"The attack worked: CLIP now reads the picture as **{esc(res.target)}**.")
    else:
        st.warning(f"The attack did not make CLIP say **{esc(res.target)}**.")
    widgets.altair("class_probs_chart", res.probs)
    st.subheader("Neurons that rose and fell most")
    widgets.altair("neuron_delta_chart", attacks.top_changes(res.deltas, TOP),
              title=f"Activation change (spatial max) at {res.layer}")
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
    w, i, full = st.columns([2, 2, 3], vertical_alignment="bottom")
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
    left.image(img, caption=f"'{esc(word)}' in {esc(ink)} ink", width=192)
    with right:
        widgets.altair("probs_chart", probs, title=f"“{STROOP_TEMPLATE.format('…')}”")
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
