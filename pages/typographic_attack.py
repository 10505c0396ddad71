"""Typographic attacks: write a word on a picture and see whether CLIP reads it (article §7), plus Stroop."""
from __future__ import annotations

import streamlit as st

from core import attacks, resources, ui, urlstate
from core.demo import CATEGORIES
from core.errors import CoreError
from core.stroop import COLORS, STROOP_TEMPLATE
from core.zeroshot import default_template, parse_class_list

SOURCES = {"collection": "a collection image", "upload": "my own image"}
STYLE_NAMES = {"sticker": "one sticker", "article": "the article's pattern (8 copies)"}
TOP = 6


def _color(name: str, default: str):
    def parse(raw: str | None) -> urlstate.Parsed:
        try:
            return urlstate.Parsed("#%02x%02x%02x" % attacks.parse_color(raw) if raw else default)
        except CoreError:
            return urlstate.Parsed(default, f"The link's {name} '{str(raw)[:20]}' is not a colour like ff0000; "
                                            f"showing {default}.")
    return parse


def _bind(key: str, param: str, parse, valid=lambda v: True) -> None:
    ui.bind_url(key, param, parse, valid)


def pick_picture(ctx: ui.Context) -> tuple[bytes | None, dict, str | None]:
    """The picture's bytes (None until an upload), its URL params and its label (collection images)."""
    options = list(SOURCES) if ctx.path else ["upload"]
    _bind("ta_source", "src", lambda raw: urlstate.parse_choice("src", raw, options, options[0]), lambda v: v in options)
    source = st.radio("Picture", options, format_func=SOURCES.get, key="ta_source", horizontal=True)
    ui.remember("ta_source")
    if source == "upload":
        up = st.file_uploader("Upload a picture", type=ui.UPLOAD_TYPES, key="ta_upload",
                              help=f"Up to {ui.UPLOAD_MAX_BYTES // 2**20} MB and {ui.UPLOAD_MAX_PIXELS // 10**6} MP.")
        return (ui.read_upload(up) if up is not None else None), {"src": source}, None
    hi = ctx.rows - 1
    _bind("ta_row", "row", lambda raw: urlstate.parse_int("row", raw, 0, hi, 0), lambda v: isinstance(v, int) and v <= hi)
    row = int(st.number_input(f"Collection image (0..{hi})", 0, hi, step=1, key="ta_row"))
    ui.remember("ta_row")
    labels = resources.row_labels(*ctx.art, None, None)
    return resources.collection_image_bytes(*ctx.art, row), {"src": source, "row": row}, labels[row] if labels else None


def attack_inputs(classes: list[str], label: str | None) -> tuple[attacks.AttackSpec, dict]:
    """Attack text, style, position, size and colours (URL-bound)."""
    suggestion = next((c for c in classes if c != label), classes[0])
    _bind("ta_text", "text", lambda raw: urlstate.parse_text("text", suggestion if raw is None else raw, 40))
    text = st.text_input("Attack text", key="ta_text", max_chars=40)
    _bind("ta_style", "style", lambda raw: urlstate.parse_choice("style", raw, list(STYLE_NAMES), "sticker"),
          lambda v: v in STYLE_NAMES)
    style = st.radio("Style", list(STYLE_NAMES), format_func=STYLE_NAMES.get, key="ta_style", horizontal=True)
    c1, c2, c3, c4 = st.columns(4)
    _bind("ta_pos", "pos", lambda raw: urlstate.parse_choice("pos", raw, list(attacks.POSITIONS), "center"))
    pos = c1.selectbox("Position", attacks.POSITIONS, key="ta_pos", disabled=style == "article")
    _bind("ta_size", "size", lambda raw: urlstate.parse_int("size", raw, 2, 40, 8))
    size = int(c2.slider("Size (% of picture)", 2, 40, key="ta_size", help="Sticker area; for the article's "
                         "pattern, the text height."))
    _bind("ta_color", "color", _color("color", "#000000"))
    ink = c3.color_picker("Text colour", key="ta_color")
    _bind("ta_bg", "bg", _color("bg", "#ffffff"))
    bg = c4.color_picker("Sticker colour", key="ta_bg", disabled=style == "article")
    for key in ("ta_text", "ta_style", "ta_pos", "ta_size", "ta_color", "ta_bg"):
        ui.remember(key)
    spec = attacks.AttackSpec(text, style=style, area=size / 100, position=pos, fg=attacks.parse_color(ink),
                              bg=attacks.parse_color(bg), text_height=min(0.3, max(0.03, size / 100)))
    return spec, {"text": text, "style": style, "pos": pos, "size": size, "color": ink[1:], "bg": bg[1:]}


def class_inputs(ctx: ui.Context, default: list[str]) -> tuple[list[str], str, dict]:
    """The zero-shot class list (default: the collection's categories) and the prompt."""
    joined = ", ".join(default)
    _bind("ta_classes", "classes", lambda raw: urlstate.parse_text("classes", joined if raw is None else raw, 3000))
    text = st.text_area("Zero-shot classes (comma-separated)", key="ta_classes", height=80)
    tpl = default_template(ctx.model_id)
    _bind("ta_prompt", "prompt", lambda raw: urlstate.parse_text("prompt", raw or tpl, 120))
    prompt = st.text_input("Prompt", key="ta_prompt", help="One {} where the class name goes.")
    ui.remember("ta_classes")
    ui.remember("ta_prompt")
    return parse_class_list(text), prompt, {"classes": None if text == joined else text, "prompt": prompt}


def show_result(ctx: ui.Context, res: attacks.AttackResult) -> None:
    before, after = st.columns(2)
    before.image(res.before, caption=f"before: {res.pred_before}", width=256)
    after.image(res.after, caption=f"after: {res.pred_after}", width=256)
    m1, m2, m3 = st.columns(3)
    m1.metric("Prediction before → after", f"{res.pred_before} → {res.pred_after}")
    m2.metric("Prediction flipped", "yes" if res.flipped else "no")
    m3.metric("Pixels changed", f"{res.cover:.1%}")
    if res.target is None:
        st.caption("The text names none of the classes, so there is no 'success' to measure: add it to the list.")
    elif res.success:
        st.success(f"The attack worked: CLIP now reads the picture as **{res.target}**.")
    else:
        st.warning(f"The attack did not make CLIP say **{res.target}**.")
    ui.altair("class_probs_chart", res.probs)
    st.subheader("Neurons that rose and fell most")
    ui.altair("neuron_delta_chart", attacks.top_changes(res.deltas, TOP),
              title=f"Activation change (spatial max) at {res.layer}")
    rise, fall = attacks.risers_fallers(res.deltas, TOP)
    left, right = st.columns(2)
    with left:
        ui.neuron_result_list(ctx, rise, "delta", 3, key="risers")
    with right:
        ui.neuron_result_list(ctx, fall, "delta", 3, key="fallers")


def stroop_panel(ctx: ui.Context) -> dict:
    st.divider()
    st.subheader("Stroop test: does CLIP read the word or the ink?")
    colors = list(COLORS)
    w, i, full = st.columns([2, 2, 3], vertical_alignment="bottom")
    _bind("st_word", "sword", lambda raw: urlstate.parse_choice("sword", raw, colors, "red"), lambda v: v in colors)
    word = w.selectbox("Word", colors, key="st_word")
    _bind("st_ink", "ink", lambda raw: urlstate.parse_choice("ink", raw, colors, "green"), lambda v: v in colors)
    ink = i.selectbox("Ink", colors, key="st_ink")
    _bind("st_full", "stroop", lambda raw: urlstate.Parsed(raw == "1"), lambda v: isinstance(v, bool))
    run_all = full.toggle("All word × ink pairs", key="st_full", help="Run the whole experiment: every colour "
                          "word in every ink, plus one control word per ink.")
    for key in ("st_word", "st_ink", "st_full"):
        ui.remember(key)
    img, probs, winner = resources.stroop_single(ctx.model_id, word, ink, tuple(colors), STROOP_TEMPLATE)
    left, right = st.columns([1, 2])
    left.image(img, caption=f"'{word}' in {ink} ink", width=192)
    with right:
        ui.altair("probs_chart", probs, title=f"“{STROOP_TEMPLATE.format('…')}”")
    st.markdown({"word": "CLIP **reads the word**.", "ink": "CLIP **sees the ink**.", "both": "Word and ink agree.",
                 "other": "CLIP picks **neither** the word nor the ink."}[winner])
    if run_all:
        scored, s = resources.stroop(ctx.model_id, tuple(colors), STROOP_TEMPLATE)
        ui.altair("stroop_chart", scored)
        a = s["article"]
        st.markdown(f"Mismatched pairs: the word wins **{s['word_wins']}/{s['incongruent']}**, the ink wins "
                    f"**{s['ink_wins']}/{s['incongruent']}** (chance {s['chance']:.0%} each). The article "
                    f"({a['model']}): the word wins {a['word_wins']}/{a['incongruent']}.")
    return {"sword": word, "ink": ink, "stroop": "1" if run_all else None}


def main() -> None:
    st.title("Typographic attacks")
    st.caption("Write a word on a picture and watch CLIP's zero-shot prediction and its neurons: the article found "
               "that a written 'iPod' turns an apple into an iPod. The demo model falls for stickers too (sidebar: what it "
               "can and cannot show, with its measured rates).")
    ctx = ui.page_context()
    ui.show_url_problems()
    data, params, label = pick_picture(ctx)
    default = (resources.collection_classes(*ctx.art) if ctx.path else []) or list(CATEGORIES)
    classes, prompt, cparams = class_inputs(ctx, default)
    spec, aparams = attack_inputs(classes, label)
    params = ctx.params(**params, **aparams, **cparams)
    ui.show_url_problems()
    if data is None:
        st.info("Upload a picture (PNG/JPEG, up to 8 MB), or pick a collection image above.")
    elif not spec.text.strip():
        st.info("Type the attack text, e.g. one of the class names.")
    else:
        show_result(ctx, resources.attack_image(ctx.model_id, data, spec, tuple(classes), prompt, ctx.layer))
    params |= stroop_panel(ctx)
    ui.show_url_problems()
    ui.write_url(params)
    ui.share_link(params)


with ui.error_box():
    main()
