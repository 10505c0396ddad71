"""AppTest: every view offers its data for download (CSV, JSON, PNG) beside what it shows, and the payloads hold
the numbers the page shows."""
from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest

from core.pipeline.demo import CATEGORIES
from tests.app.conftest import app, attack_figures, html_blocks, svg_bars


def test_card_json_download(app_env):
    at = app("pages/neuron_lookup.py")
    at.query_params["unit"] = "5"
    at.run()
    assert not at.exception, at.exception
    assert any("card (JSON)" in b.proto.label for b in at.get("download_button"))


def test_card_json_content(monkeypatch):
    """The JSON holds the labels and similar neurons the card shows, NaN as null."""
    from types import SimpleNamespace

    import pandas as pd

    import ui.article
    from ui import downloads

    monkeypatch.setattr(ui.article, "model_match", lambda c: None)
    ctx = SimpleNamespace(model_id="m", layer="L", collection=None, has_examples=False)
    card = downloads.card_json(ctx, 5, pd.DataFrame({"label": ["a"], "score": [0.5]}),
                               pd.DataFrame({"unit": [1], "cosine": [float("nan")]}), None)
    text = json.dumps(card)
    assert card["unit"] == 5 and card["article"] is None and card["similar_by_direction"] == [{"unit": 1, "cosine": None}]
    assert "NaN" not in text


def test_search_condprob_and_codes_offer_csv(app_env):
    at = app("pages/neuron_search.py")
    at.query_params["q"] = "a boat"
    at.run()
    assert not at.exception and any("CSV" in b.proto.label for b in at.get("download_button"))
    at = app("pages/conditional_probability.py").run()
    assert not at.exception and any("buckets (CSV)" in b.proto.label for b in at.get("download_button"))
    at = app("pages/concept_codes.py")
    at.query_params["concept"] = "happy"
    at.run()
    assert not at.exception and any("CSV" in b.proto.label for b in at.get("download_button"))


# ---------------------------------------------------------------- typographic attack, attack lab, interventions

@pytest.fixture
def media(monkeypatch):
    """Read a download button's payload: AppTest drops its media files (where downloads keep their bytes) after
    each run, so this keeps each run's store to look the button's file up in."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    stores = []

    class Kept(MemoryMediaFileStorage):
        def __init__(self, endpoint: str):
            super().__init__(endpoint)
            stores.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Kept)

    def payload(at, key: str) -> bytes:
        url = at.download_button(key=f"dl_{key}").proto.url
        return stores[-1].get_file(url.rsplit("/", 1)[-1]).content

    return payload


def _same(a: pd.DataFrame, b: pd.DataFrame, atol: float = 1e-6) -> bool:
    """The same rows and columns, numbers equal to ``atol`` (a CSV writes float32 values to their own precision)."""
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False,
                                  check_exact=False, atol=atol, rtol=0)
    return True


def test_typographic_attack_downloads_what_the_page_shows(demo_env, media):
    from core.featurevis.png import read_provenance
    from core.model.loading import load_model
    from core.pipeline.demo import page_defaults

    at = app("pages/typographic_attack.py").run(timeout=180)
    assert not at.exception and not at.error
    shown = attack_figures(at)["Prediction before → after"]
    probs = pd.read_csv(io.BytesIO(media(at, "attack_csv")))
    assert list(probs.columns) == ["class", "before", "after", "change"] and len(probs) == 16
    top = probs.set_index("class")
    assert f"{top['before'].idxmax()} → {top['after'].idxmax()}" == shown
    bars = svg_bars(html_blocks(at)["ta_probs"])  # the class-probability bars (SVG)
    assert len(bars) == 20  # the chart's 10 classes, before and after
    for bar in bars:  # the bars: the same probabilities
        assert abs(top.at[bar["label"], bar["kind"]] - bar["value"]) < 1e-6, bar

    data = json.loads(media(at, "attack_json"))
    d = page_defaults()["typographic_attack"]
    assert data["model"] == "demo" and data["fingerprint"] == load_model("demo").fingerprint
    assert data["layer"] == at.selectbox(key="layer").value
    assert data["attack"]["text"] == at.text_input(key="ta_text").value == d["text"]
    assert data["attack"]["style"] == "sticker" and data["attack"]["position"] == "center"
    assert data["attack"]["area"] == 0.08
    pic = data["picture"]
    assert pic["source"] == "collection" and pic["collection"] == "demo"
    assert pic["row"] == at.number_input(key="ta_row").value and pic["key"].endswith(f"/{d['image']}.png")
    assert len(pic["sha256"]) == 64
    assert f"{data['prediction']['before']} → {data['prediction']['after']}" == shown
    assert data["prediction"]["flipped"] is True and data["prediction"]["success"] is True
    assert data["top_before"][0]["class"] == d["label"] and data["top_after"][0]["class"] == d["text"]
    assert data["top_before"][0]["before"] == pytest.approx(top.at[d["label"], "before"], abs=1e-6)
    assert data["top_after"][0]["after"] == pytest.approx(top.at[d["text"], "after"], abs=1e-6)
    assert len(data["top_after"]) == 5 and _same(pd.DataFrame(data["probabilities"]), probs)
    assert data["neurons_rose"] and all(r["delta"] > 0 for r in data["neurons_rose"])

    png = media(at, "attack_png")
    info = read_provenance(png)
    assert info["model"] == "demo" and info["fingerprint"] == data["fingerprint"] and info["layer"] == data["layer"]
    assert info["attack_text"] == d["text"] and info["attack_style"] == "sticker"
    assert f"sha256={pic['sha256']}" in info["picture"] and info["prediction_after"] == d["text"]
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:  # the attacked picture, at the model's view size
        assert im.size == (load_model("demo").image_size,) * 2


def test_attack_lab_downloads_its_table_and_summary(demo_env, media):
    at = app("pages/attack_lab.py")
    at.query_params.update({"n": "8", "run": "1"})
    at.run(timeout=300)
    for _ in range(240):  # the evaluation runs as a background job; the page shows its progress meanwhile
        if at.dataframe or at.exception:
            break
        time.sleep(0.5)
        at.run(timeout=300)
    assert not at.exception and not at.error
    table = pd.read_csv(io.BytesIO(media(at, "attack_lab_csv")))
    shown = at.dataframe[0].value
    assert list(table.columns) == list(shown.columns) and len(table) == len(shown)
    assert _same(table, shown)
    data = json.loads(media(at, "attack_lab_json"))
    assert data["model"] == "demo" and data["collection"] == "demo" and data["settings"]["pictures"] == 8
    assert data["settings"]["words"] == at.text_input(key="al_words").value.split(", ")
    metrics = {m.label: m.value for m in at.metric}
    assert {f"Success, {s}" for s in ("the article's pattern (8 copies)", "one sticker")} == set(metrics)
    assert metrics["Success, one sticker"] == f"{data['summary']['sticker']['success']:.1%}"
    assert metrics["Success, the article's pattern (8 copies)"] == f"{data['summary']['article']['success']:.1%}"
    assert report_count(at) == (data["correct"], data["images"])
    assert len(data["table"]) == len(table) and set(data["neurons"]) == {"risers", "fallers"}


def report_count(at) -> tuple[int, int]:
    import re

    text = next(m.value for m in at.markdown if "classified correctly" in m.value)
    correct, images = re.match(r"\*\*(\d+) of (\d+)\*\*", text).groups()
    return int(correct), int(images)


def test_interventions_download_the_before_after_table_and_settings(demo_env, media):
    from core.pipeline.demo import page_defaults

    at = app("pages/interventions.py").run(timeout=180)
    at.button(key="iv_try").click().run(timeout=180)  # the measured unit: its ablation changes the picture's class
    assert not at.exception and not at.error
    d = page_defaults()["interventions"]
    table = pd.read_csv(io.BytesIO(media(at, "intervention_csv")))
    assert list(table.columns) == ["label", "prob_before", "prob_after", "delta", "logit_before", "logit_after"]
    row = table.set_index("label").loc[d["label"]]
    assert abs(row["prob_before"] - d["p_label"]) < 1e-3 and abs(row["prob_after"] - d["p_label_ablated"]) < 1e-3
    bars = svg_bars(html_blocks(at)["iv_probs"])  # the class-probability bars (SVG)
    assert len(bars) == 20
    for bar in bars:
        column = {"before": "prob_before", "after": "prob_after"}[bar["kind"]]
        assert abs(table.set_index("label").at[bar["label"], column] - bar["value"]) < 1e-6, bar

    data = json.loads(media(at, "intervention_json"))
    assert data["model"] == "demo" and data["layer"] == d["layer"] and len(data["fingerprint"]) == 16
    assert data["settings"] == {"unit": d["unit"], "op": "zero", "value": None, "classes": list(CATEGORIES),
                                "prompt": at.text_input(key="iv_template").value}
    assert data["picture"]["source"] == "demo picture" and data["picture"]["id"] == d["image"]
    shown = next(m.value for m in at.markdown if m.value.startswith("Top class"))
    assert shown == f"Top class: **{data['result']['top_before']}** → **{data['result']['top_after']}**"
    unit_line = next(m.value for m in at.markdown if "(spatial max)" in m.value)
    assert f"**{data['result']['unit_after'][str(d['unit'])]:.3f}**" in unit_line and "**0.000**" in unit_line
    assert _same(pd.DataFrame(data["result"]["table"]), table, atol=2e-6)
    causal = pd.read_csv(io.BytesIO(media(at, "causal_csv")))
    assert "concept" in causal.columns and len(causal) == len(CATEGORIES)
