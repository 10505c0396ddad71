"""Attack lab: the article's automated typographic attack over a whole labelled collection (article §7.2)."""
from __future__ import annotations

import streamlit as st

import ui
from core.analyses import attacks
from core.analyses.zeroshot import default_template, parse_class_list
from ui import downloads, panels, resources, urlstate

STYLE_NAMES = {"both": "both styles", "article": "the article's pattern (8 copies)", "sticker": "one sticker"}
TOP = 8


def class_list(ctx: ui.Context, labels: list[str]) -> tuple[list[str], dict]:
    """The zero-shot classes: the demo model's evaluated ones (when the collection has them) or all its labels."""
    evaluated = [c for c in panels.evaluated_classes(ctx) if c in labels]
    if len(evaluated) < 2 or len(evaluated) == len(labels):
        panels.class_list_note(ctx, labels, labels)
        return labels, {}
    ui.bind_url("al_all", "labels", lambda raw: urlstate.Parsed(raw == "all"), lambda v: isinstance(v, bool))
    use_all = st.toggle(f"Use all {len(labels)} collection labels", key="al_all", help="Off: only pictures of the "
                        f"{len(evaluated)} evaluated classes are attacked, zero-shot over those classes.")
    ui.remember("al_all")  # its URL value is "all", not a flag
    classes = labels if use_all else evaluated
    panels.class_list_note(ctx, classes, labels)
    return classes, {"labels": "all" if use_all else None}


def inputs(ctx: ui.Context, classes: list[str]) -> tuple[tuple[str, ...], tuple[str, ...], int, int, str, dict]:
    """Attack words, styles, sticker size, number of pictures and prompt (all URL-bound)."""
    measured = panels.demo_defaults(ctx, "attack_lab").get("words", [])
    default_words = ", ".join(measured if measured and set(measured) <= set(classes) else classes[:6])
    words = ui.url_text(st.text_input, "Attack words (a class name, or word=class)", "words", default_words,
                        key="al_words", max_chars=500, help=f"Classes: {ui.md_escape(', '.join(classes[:40]))}"
                        f"{' ...' if len(classes) > 40 else ''}")
    settings = st.popover("Styles, size, pictures, prompt", icon=":material/tune:")  # drawn only when opened
    c1, c2, c3 = settings.columns(3)
    style = ui.url_choice(c1.selectbox, "Style", "styles", STYLE_NAMES, "both", key="al_styles",
                          format_func=STYLE_NAMES.get)
    area = ui.url_int(c2.slider, "Sticker size (% of picture)", "area", 2, 40, 8, key="al_area")
    limit = ui.url_int(c3.slider, "Pictures (seeded sample)", "n", 4, 500, 50, key="al_n")
    prompt = ui.url_text(settings.text_input, "Prompt", "prompt", default_template(ctx.model_id), key="al_prompt",
                         max_chars=120, empty_is_default=True)
    run = ui.url_flag(st.toggle, "Run the evaluation", "run", key="al_run", help="Attacks every correctly classified "
                      "picture with every word in every style; on CPU a real CLIP takes about a second per attacked "
                      "picture.")
    styles = attacks.STYLES if style == "both" else (style,)
    params = {"words": words, "styles": style, "area": area, "n": limit, "prompt": prompt,
              "run": "1" if run else None}
    return tuple(parse_class_list(words, minimum=1)), tuple(styles), area, limit, prompt, params


def main() -> None:
    st.title("Attack lab")
    st.caption("The article's automated attack: every picture that CLIP classifies correctly zero-shot gets each "
               "attack word (8 copies at fixed spots, or one sticker). Success = the prediction becomes the written "
               "class; any-flip = it leaves the true class; cover = share of pixels changed.")
    ctx = ui.page_context()
    ui.show_url_problems()
    if ctx.path is None:
        st.info("Index a labelled collection first (sidebar **Index a folder**: sub-folders are the classes), or "
                "run `python -m core attack-eval --model MODEL` on the demo corpus from a shell.")
        st.stop()
    labels = resources.collection_classes(ctx.artifact)
    if len(labels) < 2:
        st.info(f"Collection '{ui.md_escape(ctx.collection)}' has no class labels; the attack evaluation needs pictures "
                "in class sub-folders.")
        st.stop()
    classes, cparams = class_list(ctx, labels)
    words, styles, area, limit, prompt, params = inputs(ctx, classes)
    params = ctx.params(**params, **cparams)
    ui.show_url_problems()
    ui.write_url(params)
    if not params["run"]:
        st.info("Switch on **Run the evaluation** to attack the collection.")
        ui.share_link(params)
        st.stop()
    job = resources.attack_eval_job(ctx.artifact, words, styles, area / 100, limit, tuple(classes), prompt)
    ui.watch_job(job, unit="attacks")  # progress while it runs (any session may watch it), then its result
    res = job.result
    m = res.meta
    st.markdown(f"**{m['correct']} of {m['images']}** pictures classified correctly before the attack "
                f"({m['clean_accuracy']:.0%}, zero-shot over {len(classes)} classes); only those are attacked.")
    panels.demo_accuracy_note(ctx, classes)
    for col, (style, r) in zip(st.columns(max(1, len(res.summary()))), res.summary().items()):
        col.metric(f"Success, {STYLE_NAMES[style]}", f"{r['success']:.1%}")
        col.caption(f"chance {r['chance']:.1%} · any-flip {r['any_flip']:.1%} · pixel cover {r['cover']:.1%} · "
                    f"{r['n']} attacks")
    ui.altair("attack_rates_chart", res.table)
    st.dataframe(res.table, hide_index=True, column_config={c: st.column_config.NumberColumn(format="percent")
                                                             for c in ("success", "any_flip", "chance", "cover")})
    downloads.attack_lab_buttons(ctx, res, {"words": list(words), "styles": list(styles), "area": area / 100,
                                            "pictures": limit, "classes": classes, "prompt": prompt}, TOP)
    with st.expander("The article's table (RN50x4, linear probe, 1000 ImageNet pictures)"):
        st.dataframe(res.to_dict()["article"]["table"], hide_index=True)
    st.subheader("Neurons that rose and fell most under the attacks")
    rise, fall = res.top_units(top=TOP)
    ui.altair("neuron_delta_chart", attacks.top_changes(res.unit_deltas(), TOP))
    left, right = st.columns(2)
    with left:
        ui.neuron_result_list(ctx, rise, "delta", 3, key="risers")
    with right:
        ui.neuron_result_list(ctx, fall, "delta", 3, key="fallers")
    ui.share_link(params)


with ui.error_box():
    main()
