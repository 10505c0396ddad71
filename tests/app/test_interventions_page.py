"""AppTest of the interventions page (tiny real model, real indexed collection, no mocks)."""
from __future__ import annotations

import io

from PIL import Image

from tests.app.conftest import app, html_blocks, svg_bars


def _unit_line(at) -> str:
    return next(m.value for m in at.markdown if "(spatial max)" in m.value)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (80, 80), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_interventions_page_ablates_and_runs_the_causal_check(app_env):
    at = app("pages/interventions.py").run()
    assert not at.exception and not at.error and at.title[0].value == "Interventions"
    assert at.selectbox(key="iv_op").value == "zero" and at.query_params["op"] == "zero"
    assert any("Top class" in m.value for m in at.markdown)
    assert "(spatial max): **0.000**" in _unit_line(at)  # ablated to zero
    blocks = html_blocks(at)  # probabilities (SVG bars, before and after) + causal check (one point per concept)
    probs = svg_bars(blocks["iv_probs"])
    assert {b["kind"] for b in probs} == {"before", "after"} and all(0 <= b["value"] <= 1 for b in probs)
    assert blocks["iv_causal"].count("<circle data-label=") == 16
    assert not at.get("arrow_vega_lite_chart") and not at.get("vega_lite_chart")
    assert at.success or at.warning  # the causal verdict


def test_interventions_page_amplify_mean_and_url(app_env):
    at = app("pages/interventions.py")
    at.query_params.update({"unit": "4", "op": "scale"})
    at.run()
    assert at.number_input(key="unit").value == 4 and at.selectbox(key="iv_op").value == "scale"
    at.number_input(key="iv_value_scale").set_value(3.0).run()
    assert not at.exception and not at.error
    at.selectbox(key="iv_op").set_value("mean").run()  # the collection is indexed: its mean is used
    assert not at.exception and not at.error and at.query_params["op"] == "mean"
    at.text_input(key="iv_labels").set_value("cat").run()
    assert not at.exception and any("at least 2" in i.value for i in at.info)



def test_interventions_page_uploaded_and_bad_images(app_env):
    at = app("pages/interventions.py").run()
    at.file_uploader(key="iv_upload").set_value(("red.png", _png(), "image/png")).run()
    assert not at.exception and not at.error and _unit_line(at)
    at.file_uploader(key="iv_upload").set_value(("fake.png", b"not an image", "image/png")).run()
    assert not at.exception and at.error  # the upload's problem, not a traceback


def test_both_analysis_pages_run_inside_the_dashboard_shell(app_env):
    at = app("dashboard.py").run()
    assert not at.exception
    at.switch_page("pages/interventions.py").run()
    assert not at.exception and at.title[0].value == "Interventions" and _unit_line(at)
    at.switch_page("pages/concept_codes.py").run()
    at.text_input(key="cc_concept").set_value("sad").run()
    assert not at.exception and not at.error and at.title[0].value == "Sparse concept codes"
    assert at.query_params["concept"] == "sad"
