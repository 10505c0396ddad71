"""Each page's default state shows its phenomenon on the shipped demo model and demo collection (no URL
parameters, no settings): the defaults come from assets/demo/defaults.json (scripts/pick_demo_defaults.py)."""
from __future__ import annotations

from core.pipeline.demo import CATEGORIES, page_defaults
from tests.app.conftest import app, attack_figures, query_param


def _metrics(at) -> dict[str, str]:
    return attack_figures(at)


def test_typographic_attack_default_flips_a_correctly_classified_picture(demo_env):
    at = app("pages/typographic_attack.py").run(timeout=180)
    assert not at.exception and not at.error
    d = page_defaults()["typographic_attack"]
    assert at.text_input(key="ta_text").value == d["text"]
    assert at.text_area(key="ta_classes").value == ", ".join(CATEGORIES)
    before, after = _metrics(at)["Prediction before → after"].split(" → ")
    assert (before, after) == (d["label"], d["text"])  # right before the attack, the written word after
    assert any("The attack worked" in s.value for s in at.success)
    notes = " ".join(c.value for c in at.caption)
    assert "16 classes the demo model was evaluated on" in notes
    assert any(e.label == "The 16 classes in use" for e in at.expander)
    at.button(key="ta_classes_all").click().run(timeout=180)  # the way to every collection label
    assert not at.exception and len(at.text_area(key="ta_classes").value.split(", ")) > 16
    assert any("all " in c.value and "labels" in c.value for c in at.caption)


def test_interventions_default_picture_is_classified_correctly(demo_env):
    at = app("pages/interventions.py").run(timeout=180)
    assert not at.exception and not at.error
    d = page_defaults()["interventions"]
    assert at.selectbox(key="iv_demo").value == d["image"]
    top = next(m.value for m in at.markdown if m.value.startswith("Top class"))
    assert top.startswith(f"Top class: **{d['label']}** →"), top
    assert any("16 classes the demo model was evaluated on" in c.value for c in at.caption)
    at.button(key="iv_try").click().run(timeout=180)  # the measured unit whose ablation matters on this picture
    assert not at.exception and at.number_input(key="unit").value == d["unit"]
    assert any(m.value.startswith(f"Unit {d['unit']} (spatial max): **0.000**") for m in at.markdown)
    assert not [b for b in at.button if b.key == "iv_try"]
    from core.analyses.interventions import demo_image_bytes, intervention_effect, make_edit
    from core.model.loading import load_model
    from core.pipeline.images import open_image

    res = intervention_effect(load_model("demo"), open_image(demo_image_bytes(d["image"])),
                              [make_edit(d["unit"], "zero")], list(CATEGORIES), layer=d["layer"]).table
    row = res.set_index("label").loc[d["label"]]  # what the page now shows: the class's probability falls
    assert abs(row["prob_before"] - d["p_label"]) < 1e-3 and abs(row["prob_after"] - d["p_label_ablated"]) < 1e-3
    assert d["p_label"] - d["p_label_ablated"] > 0.1


def test_attack_lab_reports_the_accuracy_on_the_evaluated_classes(demo_env):
    from core.analyses.attack_lab import from_artifact
    from core.analyses.attacks import model_view
    from core.analyses.zeroshot import build_classifier, classify_images, default_template
    from core.model.loading import load_model
    from core.pipeline.demo import demo_index_dir
    from core.pipeline.store import open_artifact

    at = app("pages/attack_lab.py").run(timeout=180)
    assert not at.exception and not at.error
    assert at.toggle(key="al_all").value is False
    assert at.text_input(key="al_words").value == ", ".join(page_defaults()["attack_lab"]["words"])
    assert any("16 classes the demo model was evaluated on" in c.value for c in at.caption)
    assert any(e.label == "The 16 classes in use" for e in at.expander)
    at.slider(key="al_n").set_value(12).run()
    at.toggle(key="al_run").set_value(True).run(timeout=300)
    assert not at.exception and not at.error
    # the figure is the zero-shot accuracy over the 16 evaluated classes, on pictures of those classes only
    loaded = load_model("demo")
    pics = from_artifact(open_artifact(demo_index_dir("demo", demo_env)), limit=12, classes=CATEGORIES)
    assert set(pics.labels) <= set(CATEGORIES)
    views = [model_view(im, loaded.image_size) for im in pics.images]  # the square the lab classifies
    probs = classify_images(loaded, views, build_classifier(loaded, CATEGORIES, default_template(loaded)))
    correct = sum(CATEGORIES[int(p.argmax())] == lab for p, lab in zip(probs, pics.labels))
    report = next(m.value for m in at.markdown if "classified correctly" in m.value)
    assert report.startswith(f"**{correct} of 12** pictures") and "over 16 classes" in report, report
    assert any("held-out pictures" in c.value for c in at.caption)
    at.toggle(key="al_all").set_value(True).run(timeout=300)  # every collection label: a visible choice
    assert not at.exception and query_param(at, "labels") == "all"
    assert any("all " in c.value and "labels" in c.value for c in at.caption)
