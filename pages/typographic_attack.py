"""Typographic attacks: write a word on a picture and see whether CLIP reads it (article §7), plus Stroop."""
from __future__ import annotations

import streamlit as st

import ui
from core.analyses import attacks
from core.analyses.zeroshot import default_template, parse_class_list
from core.pipeline.demo import CATEGORIES
from ui import downloads, panels, resources, urlstate

SOURCES = {"collection": "a collection image", "upload": "my own image"}
STYLE_NAMES = {"sticker": "one sticker", "article": "the article's pattern (8 copies)"}


def pick_picture(ctx: ui.Context, default_row: int) -> tuple[bytes | None, dict, str | None]:
    """The picture's bytes (None until an upload), its URL params and its label (collection images)."""
    options = list(SOURCES) if ctx.path else ["upload"]
    ui.bind_url("ta_source", "src", lambda raw: urlstate.parse_choice("src", raw, options, options[0]), lambda v: v in options)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    own = right.popover("Picture source", icon=":material/upload:")  # drawn only when opened (a lighter first load)
    source = own.radio("Picture", options, format_func=SOURCES.get, key="ta_source", horizontal=True)
    ui.remember("ta_source")
    if source == "upload":
        up = left.file_uploader("Upload a picture", type=ui.UPLOAD_TYPES, key="ta_upload",
                              max_upload_size=ui.UPLOAD_MAX_MB,
                              help=f"Up to {ui.UPLOAD_MAX_BYTES // 2**20} MB and {ui.UPLOAD_MAX_PIXELS // 10**6} MP.")
        return (ui.read_upload(up) if up is not None else None), {"src": source}, None
    hi = ctx.rows - 1
    row = ui.url_int(left.number_input, f"Collection image (0..{hi})", "row", 0, hi, min(default_row, hi), key="ta_row",
                     step=1)
    labels = resources.row_labels(ctx.artifact, None, None)
    return resources.collection_image_bytes(ctx.artifact, row), {"src": source, "row": row}, labels[row] if labels else None


def attack_inputs(classes: list[str], label: str | None, measured: dict) -> tuple[attacks.AttackSpec, dict]:
    """Attack text (default: the measured word on the measured picture), style, position, size, colours (URL-bound)."""
    suggestion = next((c for c in classes if c != label), classes[0])
    if label is not None and label == measured.get("label") and measured.get("text") in classes:
        suggestion = measured["text"]
    text = ui.url_text(st.text_input, "Attack text", "text", suggestion, key="ta_text", max_chars=40)
    look = st.popover("Sticker style", icon=":material/tune:")  # drawn only when opened (a lighter first load)
    style = ui.url_choice(look.radio, "Style", "style", STYLE_NAMES, "sticker", key="ta_style",
                          format_func=STYLE_NAMES.get, horizontal=True)
    c1, c2, c3, c4 = look.columns(4)
    pos = ui.url_choice(c1.selectbox, "Position", "pos", attacks.POSITIONS, "center", key="ta_pos",
                        disabled=style == "article")
    size = ui.url_int(c2.slider, "Size (% of picture)", "size", 2, 40, 8, key="ta_size",
                      help="Sticker area; for the article's pattern, the text height.")
    ui.bind_url("ta_color", "color", lambda raw: urlstate.parse_color("color", raw, "#000000"))
    ink = c3.color_picker("Text colour", key="ta_color")
    ui.bind_url("ta_bg", "bg", lambda raw: urlstate.parse_color("bg", raw, "#ffffff"))
    bg = c4.color_picker("Sticker colour", key="ta_bg", disabled=style == "article")
    ui.remember("ta_color")
    ui.remember("ta_bg")
    spec = attacks.AttackSpec(text, style=style, area=size / 100, position=pos, fg=attacks.parse_color(ink),
                              bg=attacks.parse_color(bg), text_height=min(0.3, max(0.03, size / 100)))
    return spec, {"text": text, "style": style, "pos": pos, "size": size, "color": ink[1:], "bg": bg[1:]}


def class_inputs(ctx: ui.Context, default: list[str], labels: list[str]) -> tuple[list[str], str, dict]:
    """The zero-shot class list (default: the demo model's evaluated classes, else the collection's) and the prompt."""
    joined = ", ".join(default)
    box = st.popover("Classes and prompt", icon=":material/list:")  # drawn only when opened (a lighter first load)
    text = ui.url_text(box.text_area, "Zero-shot classes (comma-separated)", "classes", joined, key="ta_classes",
                       max_chars=3000, height=80)
    classes = parse_class_list(text)
    panels.class_list_note(ctx, classes, labels, "ta_classes")
    prompt = ui.url_text(box.text_input, "Prompt", "prompt", default_template(ctx.model_id), key="ta_prompt",
                         max_chars=120, empty_is_default=True, help="One {} where the class name goes.")
    return classes, prompt, {"classes": None if text == joined else text, "prompt": prompt}


def main() -> None:
    st.title("Typographic attacks")
    st.caption("Write a word on a picture and watch CLIP's zero-shot prediction and its neurons: the article found "
               "that a written 'iPod' turns an apple into an iPod. The demo model falls for stickers too (sidebar: what it "
               "can and cannot show, with its measured rates).")
    ctx = ui.page_context()
    ui.show_url_problems()
    measured = panels.demo_defaults(ctx, "typographic_attack")
    data, params, label = pick_picture(ctx, panels.demo_row(ctx, measured.get("image")) or 0)
    labels = resources.collection_classes(ctx.artifact) if ctx.path else []
    classes, prompt, cparams = class_inputs(ctx, panels.evaluated_classes(ctx) or labels or list(CATEGORIES), labels)
    spec, aparams = attack_inputs(classes, label, measured)
    params = ctx.params(**params, **aparams, **cparams)
    ui.show_url_problems()
    if data is None:
        st.info("Upload a picture (PNG/JPEG, up to 8 MB), or pick a collection image above.")
    elif not spec.text.strip():
        st.info("Type the attack text, e.g. one of the class names.")
    else:
        res = resources.attack_image(ctx.model_id, data, spec, tuple(classes), prompt, ctx.layer)
        panels.attack_result(ctx, res)
        downloads.attack_buttons(ctx, res, spec, classes, prompt,
                                 downloads.collection_picture(ctx, data, params.get("row"), label))
    params |= panels.stroop_panel(ctx)
    ui.show_url_problems()
    ui.write_url(params)
    ui.share_link(params)


with ui.error_box():
    main()
