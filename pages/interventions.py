"""Interventions: ablate or amplify one neuron on an image and watch the zero-shot probabilities; the causal check."""
from __future__ import annotations

import streamlit as st

import ui
from core import svg_charts
from core.analyses import interventions
from core.analyses.zeroshot import default_template, parse_class_list
from core.pipeline.demo import CATEGORIES
from ui import downloads, panels, resources

OPS = {"zero": "ablate to zero", "mean": "ablate to its mean", "scale": "amplify ×k", "set": "set to a value",
       "add": "add a value"}


def image_input(measured: dict) -> tuple[bytes, str | None]:
    """An uploaded image, or a held-out demo-corpus picture (default: one the demo model classifies correctly),
    and the demo picture's id."""
    left, right = st.columns(2)
    with right.popover("Use my own image", icon=":material/upload:"):  # drawn only when opened (a lighter first load)
        upload = st.file_uploader("Image", type=ui.UPLOAD_TYPES, key="iv_upload", max_upload_size=ui.UPLOAD_MAX_MB,
                                  help=f"Up to {ui.UPLOAD_MAX_BYTES // 2**20} MB; it replaces the demo picture.")
    if upload is not None:
        return ui.read_upload(upload), None
    ids = interventions.demo_image_ids()
    first = ids.index(measured["image"]) if measured.get("image") in ids else 0
    pick = left.selectbox("Demo picture", ids, key="iv_demo", index=first)
    return interventions.demo_image_bytes(pick), pick


def edit_inputs(ctx: ui.Context) -> tuple[str, float | None]:
    """The intervention (URL ``op``) and its operand; ablate-to-mean takes the collection's mean."""
    ops = list(OPS)
    op = ui.url_choice(st.selectbox, "Intervention", "op", ops, "zero", key="iv_op", format_func=OPS.get)
    if op == "zero":
        return op, None
    if op == "mean":
        if not ctx.has_examples:
            st.info("Ablate-to-mean takes the unit's mean over an indexed collection of this layer; type it instead.")
            return op, st.number_input("Mean value", value=0.0, key="iv_mean")
        return op, None
    default = {"scale": 10.0, "set": 0.0, "add": 5.0}[op]
    return op, float(st.number_input("k" if op == "scale" else "Value", value=default, key=f"iv_value_{op}"))


def effect_section(ctx: ui.Context, image: bytes, unit: int, op: str, value: float | None, tip: dict,
                   picture: dict) -> None:
    with st.popover("Classes and prompt", icon=":material/tune:"):
        labels = parse_class_list(st.text_input("Classes", ", ".join(CATEGORIES), key="iv_labels"))
        template = st.text_input("Prompt", default_template(ctx.model_id), key="iv_template")
    panels.class_list_note(ctx, labels, [], "iv_labels")
    if op == "mean" and value is None:
        value = resources.unit_mean(ctx.artifact, unit)
    res = resources.intervention(ctx.model_id, ctx.layer, image, unit, op, value, tuple(labels), template)
    d = res.to_dict()
    left, right = st.columns([1, 2])
    left.image(image, caption="input", width=200)
    left.markdown(f"Unit {unit} (spatial max): **{d['unit_after'][unit]:.3f}** "
                  f"({d['unit_after'][unit] - d['unit_before'][unit]:+.3f})")
    left.markdown(f"Top class: **{ui.md_escape(d['top_before'])}** → **{ui.md_escape(d['top_after'])}**")
    if tip and unit != tip["unit"] and op == "zero":
        left.caption(f"Measured on this picture: ablating unit {tip['unit']} drops P({ui.md_escape(tip['label'])}) from "
                     f"{tip['p_label']:.0%} to {tip['p_label_ablated']:.0%}.")
        left.button(f"Try unit {tip['unit']}", key="iv_try", on_click=ui.set_unit, args=(tip["unit"],))
    with right:
        ui.html_block("iv_probs", svg_charts.class_probs_svg(res.probs()))
    downloads.intervention_buttons(ctx, res, {"unit": unit, "op": op, "value": value, "classes": labels,
                                              "prompt": template}, picture)


def causal_section(ctx: ui.Context, unit: int) -> None:
    st.subheader("Causal check on a blank image")
    st.caption("The article's check (§5.1): raise the unit on a blank image; the logit of the concept whose text "
               "direction best matches the unit should rise.")
    with st.popover("Concepts and blank image", icon=":material/tune:"):
        concepts = tuple(parse_class_list(st.text_input("Concepts", ", ".join(CATEGORIES), key="iv_concepts")))
        template = st.text_input("Concept prompt", default_template(ctx.model_id), key="iv_causal_template")
        blank = st.radio("Blank image", ["white", "mean"], key="iv_blank", horizontal=True)
    res = resources.causal_check(ctx.model_id, ctx.layer, unit, concepts, template, None, blank)
    d = res.to_dict()
    verdict = st.success if res.passed else st.warning
    verdict(f"Best-matching concept **{ui.md_escape(res.target)}**: logit {d['target_logit_change']:+.3f} "
            f"({'rose' if res.passed else 'did not rise'}); measured sign agrees with the bilinear prediction for "
            f"{d['sign_agreement']:.0%} of the concepts.")
    ui.html_block("iv_causal", svg_charts.causal_check_svg(res.table))
    downloads.csv_button(res.table, f"causal_check_unit{unit}", "causal_csv", "Causal check (CSV)")


def main() -> None:
    st.title("Interventions")
    st.caption("Ablate or amplify one neuron at the hooked layer and see how the zero-shot probabilities change.")
    ctx = ui.page_context()
    problems = st.container()
    unit = ui.unit_picker(ctx)
    op, value = edit_inputs(ctx)
    ui.show_url_problems(problems)
    params = ctx.params(unit=unit, op=op)
    ui.write_url(params)
    measured = panels.demo_defaults(ctx, "interventions")
    image, picked = image_input(measured)
    tip = measured if picked == measured.get("image") and ctx.layer == measured.get("layer") else {}
    with ui.section_errors():
        effect_section(ctx, image, unit, op, value, tip, downloads.picture_identity(
            image, source="demo picture" if picked else "upload", id=picked))
    with ui.section_errors():
        causal_section(ctx, unit)
    ui.share_link(params)


with ui.error_box():
    main()
