"""AppTest: every view offers its data for download (CSV, JSON) beside what it shows."""
from __future__ import annotations

import json

from tests.app.conftest import app


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
