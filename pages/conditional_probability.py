"""Conditional probability: which categories fill each activation range of a neuron (article §6)."""
from __future__ import annotations

import streamlit as st

import ui
from core import svg_charts
from core.analyses import condprob
from core.analyses.zeroshot import default_template, parse_class_list
from ui import downloads, resources, urlstate

SOURCES = {"collection": "the collection's labels", "zeroshot": "zero-shot labels from categories I type"}


def label_inputs(ctx: ui.Context, has_labels: bool, box) -> tuple[tuple[str, ...] | None, str | None, str]:
    """Where the categories come from: (classes or None for the collection's labels, prompt, source); the inputs
    in ``box``, what is missing said in the page."""
    default = "collection" if has_labels else "zeroshot"
    source = ui.url_choice(box.radio, "Categories from", "labels", SOURCES, default, key="cp_source",
                           format_func=SOURCES.get, horizontal=True)
    ui.show_url_problems()
    if source == "collection":
        if not has_labels:
            st.warning("This collection has no labels (its images are not in class sub-folders): type categories "
                       "and label the images zero-shot instead.")
            st.stop()
        return None, None, source
    text = ui.url_text(box.text_input, "Categories (comma-separated)", "classes", key="cp_classes", max_chars=500,
                       placeholder="e.g. animal, plant, text, flag, person")
    prompt = ui.url_text(box.text_input, "Prompt", "prompt", default_template(ctx.model_id), key="cp_prompt",
                         max_chars=120, empty_is_default=True, help="One {} where the category goes.")
    ui.show_url_problems()
    if not text.strip():
        st.info("Type two or more categories under **Categories** above (e.g. *animal, plant, text*): every image of the collection is "
                "labelled with the one CLIP finds most likely, blinded to the neuron's activations.")
        st.stop()
    return tuple(parse_class_list(text)), prompt, source


def bucket_inputs() -> tuple[int, int, int]:
    """Number of buckets, images per bucket (N) and categories shown, URL-bound."""
    left, right, third = st.columns(3)
    buckets = ui.url_int(left.slider, "Buckets", "buckets", 2, 30, 10, key="cp_buckets")
    per = ui.url_int(right.slider, "Images per bucket (N)", "per", 1, 200, 50, key="cp_per",
                     help="Sampled at random (seeded) from each bucket; sparse buckets keep all their images.")
    top = ui.url_int(third.slider, "Categories shown", "top", 2, 30, 10, key="cp_top",
                     help="The most frequent categories; the rest are grouped as (other).")
    return buckets, per, top


def click_bucket(bucket: int) -> None:
    """A click on a bar of the chart (``ui.html_block``'s ``on_open``): that bucket, checked by ``pick_bucket``."""
    st.session_state["cp_bucket"] = int(bucket)


def pick_bucket(frac, box) -> int:
    """The bucket to show: the URL/selectbox value, or the bar last clicked (default: the top bucket)."""
    present = sorted(int(b) for b in frac["bucket"].unique())
    ui.bind_url("cp_bucket", "bucket", lambda raw: urlstate.parse_int("bucket", raw, min(present), max(present),
                                                                      present[-1]), lambda v: v in present)
    if st.session_state.get("cp_bucket") not in present:
        st.session_state["cp_bucket"] = present[-1]
    spans = frac.drop_duplicates("bucket").set_index("bucket")
    return int(box.selectbox("Bucket (or click a bar)", present, key="cp_bucket", format_func=lambda b: (
        f"{b}: {spans.at[b, 'left']:+.2f} to {spans.at[b, 'right']:+.2f} std ({spans.at[b, 'n']} images)")))


def main() -> None:
    st.title("Conditional probability")
    st.caption("Uniform buckets between a neuron's most negative and most positive activation over the collection; "
               "bars show which categories fill each bucket. Every number here is in standard deviations (σ) from "
               "zero; hover a picture for its raw activation. Below, each category's activation distribution.")
    ctx = ui.page_context()
    ui.show_url_problems()
    if not ui.has_examples(ctx, "conditional-probability plots"):
        st.stop()
    unit = ui.unit_picker(ctx)
    # the settings sit in popovers, drawn only when opened (a lighter first load); a bar's click picks the bucket
    opts, cats, picker = st.columns(3)
    with opts.popover("Buckets", icon=":material/tune:"):
        buckets, per, top = bucket_inputs()
    has_labels = any(str(x).strip() for x in (resources.row_labels(ctx.artifact, None, None) or []))
    classes, prompt, source = label_inputs(ctx, has_labels, cats.popover("Categories", icon=":material/list:"))
    sample = resources.condprob_sample(ctx.artifact, unit, buckets, per, classes, prompt, top)
    frac = resources.condprob_fractions(ctx.artifact, unit, buckets, per, classes, prompt, top)
    chart = st.container()  # drawn above the bucket picker, once the bucket is known
    bucket = pick_bucket(frac, picker.popover("Bucket", icon=":material/filter_list:"))
    with chart:
        ui.html_block("cp_chart", svg_charts.condprob_svg(frac, selected=bucket), on_open=click_bucket)
    ui.show_url_problems()
    params = ctx.params(unit=unit, buckets=buckets, per=per, top=top, labels=source, bucket=bucket,
                        classes=",".join(classes) if classes else None, prompt=prompt)
    ui.write_url(params)
    ui.image_grid(ctx, condprob.bucket_members(sample, bucket), caption="x", sigma=True)
    boxes = resources.condprob_distributions(ctx.artifact, unit, classes, prompt, top)
    ui.html_block("cp_boxes", svg_charts.category_boxes_svg(boxes))
    ui.table(boxes[list(condprob.SUMMARY_COLUMNS)], "Per category (std units), by median", key="cp_summary")
    downloads.csv_button(frac, f"condprob_unit{unit}", "condprob", "Download the buckets (CSV)")
    ui.share_link(params)


with ui.error_box():
    main()
