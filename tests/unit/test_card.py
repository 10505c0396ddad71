"""The neuron card's collection part in one call, on a real tiny artifact (tiny ResNet, 12 images)."""
from __future__ import annotations

import base64
import html
import io
import re

import numpy as np
import pytest
from PIL import Image

from core.analyses import neuron_card, tiles
from core.errors import UnitOutOfRangeError
from core.pipeline.extract import run_extraction
from core.pipeline.store import open_artifact
from tests.conftest import make_image_folder
from ui import html as card


@pytest.fixture(scope="module")
def art(tiny_rn, tmp_path_factory):
    base = tmp_path_factory.mktemp("card")
    images = make_image_folder(base / "images")
    return open_artifact(run_extraction(tiny_rn, images, base / "art", workers=0, topk=4).path)


def test_build_card_matches_the_separate_analyses(art):
    unit = 3
    data = neuron_card.build_card(art, unit, top_k=5, bottom_k=3, buckets=4, per_bucket=1, similar=4, width=64)
    values = np.asarray(art.max[:, unit], dtype=np.float32)
    assert data.unit == unit
    assert list(data.top.rows) == [int(r) for r in art.top_rows(unit, 5)]  # beyond the stored top-4: recomputed
    assert values[list(data.top.rows)].tolist() == sorted(values.tolist(), reverse=True)[:5]
    assert list(data.bottom.rows) == [int(r) for r in art.bottom_rows(unit, 3)]
    assert data.top.captions[0].startswith(art.labels[data.top.rows[0]])
    assert all(len(g.tiles) == len(g.rows) == len(g.captions) for g in (data.top, data.bottom, data.across))
    for t in data.top.tiles + data.across.tiles:
        assert Image.open(io.BytesIO(t)).size == (64, 64)
    assert data.histogram["count"].sum() == art.rows
    expected = neuron_card.similar_by_correlation(art.max, unit, top=4)  # the unstandardized path
    assert data.similar["unit"].tolist() == expected["unit"].tolist()
    assert data.similar["correlation"].to_numpy() == pytest.approx(expected["correlation"].to_numpy(), abs=1e-4)


def test_build_card_with_a_precomputed_standardization_is_identical(art):
    z = neuron_card.standardize(art.max)
    a = neuron_card.build_card(art, 1, similar=5)
    b = neuron_card.build_card(art, 1, similar=5, standardized=z)
    assert a.top == b.top and a.across == b.across and a.similar.equals(b.similar)


def test_standardized_correlation_equals_numpy(art):
    acts = np.asarray(art.max, dtype=np.float64)
    z = neuron_card.standardize(art.max)
    for unit in (0, 5):
        df = neuron_card.similar_by_correlation(z, unit, top=6, standardized=True)
        ref = np.nan_to_num(np.corrcoef(acts.T)[unit])
        assert df["correlation"].to_numpy() == pytest.approx(ref[df["unit"].to_numpy()], abs=1e-4)


def test_unknown_unit_is_a_clear_error(art):
    with pytest.raises(UnitOutOfRangeError, match=f"0..{art.units - 1}"):
        neuron_card.build_card(art, art.units)


def test_html_escapes_every_text_and_keeps_the_tiles():
    g = tiles.Grid((0, 1), (b"\xff\xd8a", b"\xff\xd8b"), ("<b>cat</b> +1", 'dog "x"'), 32)
    out = card.tagged(7, card.sections_html([("Top <examples>", "note & more", g), ("Empty", None, tiles.Grid((), (), (), 32))]))
    assert out.startswith('<div data-card-unit="7">')
    assert "<b>cat</b>" not in out and "&lt;b&gt;cat&lt;/b&gt;" in out and "Top &lt;examples&gt;" in out
    uris = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', out)
    assert [base64.b64decode(u) for u in uris] == list(g.tiles)
    assert "No examples." in out
    chips = card.chips_html("Similar <by> direction", "(cosine)", [4, 9], [0.5, -0.25], "cosine")
    assert re.findall(r'data-unit="(\d+)"', chips) == ["4", "9"] and "4 (0.50)" in chips and "&lt;by&gt;" in chips
    figs = card.figures_html([("seed 0", None, ""), ("seed 1", b"\x89PNG", "channel(l:1)")])
    assert "not rendered yet" in figs and figs.count("data:image/png;base64,") == 1
    import pandas as pd
    table = card.table_html(pd.DataFrame({"word": ["<script>"], "score": [1.23456]}), "Top words")
    assert "&lt;script&gt;" in table and "1.235" in table and "<script>" not in table
    assert html.unescape(re.search(r"<caption[^>]*>(.*?)</caption>", table).group(1)) == "Top words"
    results = card.results_html([(4, 0.5, "lookup?unit=4&q=<x>", g, True), (9, -0.25, "lookup?unit=9", None, False)],
                                "score <s>")
    assert re.findall(r'data-unit="(\d+)"', results) == ["4"]  # only in-app links open the card in place
    assert "&lt;x&gt;" in results and "&lt;s&gt;" in results and "<x>" not in results
    assert results.count("Open card") == 2 and results.count("<div data-grid") == 1 and "-0.250" in results
    link = "http://host/?q=<b>a</b>&unit=3"
    share = card.share_html(link)
    assert "<b>a</b>" not in share and "data-copy" in share
    assert html.unescape(re.search(r"<code data-share>(.*?)</code>", share).group(1)) == link


def test_settings_follow_the_environment_although_memoized(monkeypatch, tmp_path):
    from core.config import get_settings

    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "a"))
    first = get_settings()
    assert first.artifacts_dir == (tmp_path / "a").resolve() and get_settings() is first  # resolved once
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "b"))
    assert get_settings().artifacts_dir == (tmp_path / "b").resolve()  # a changed variable takes effect at once
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", "rel")
    assert get_settings().artifacts_dir == tmp_path.resolve() / "rel"


def test_prefetch_delay_setting_reads_seconds_and_refuses_bad_values(monkeypatch):
    from core.config import DEFAULT_PREFETCH_DELAY_S, get_settings
    from core.errors import BadInputError

    monkeypatch.delenv("CLIP_EXPLORER_PREFETCH_DELAY", raising=False)
    assert get_settings().prefetch_delay_s == DEFAULT_PREFETCH_DELAY_S
    monkeypatch.setenv("CLIP_EXPLORER_PREFETCH_DELAY", "0")
    assert get_settings().prefetch_delay_s == 0.0
    for bad in ("soon", "-1", "nan", "1e9"):
        monkeypatch.setenv("CLIP_EXPLORER_PREFETCH_DELAY", bad)
        with pytest.raises(BadInputError, match="CLIP_EXPLORER_PREFETCH_DELAY must be a number of seconds"):
            get_settings()


def test_server_threads_setting_is_applied_when_the_server_loads_a_model(monkeypatch):
    """The dashboard's server gives torch all cores but one (``Settings.server_threads``), set by
    ``resources.get_model``; bad values are refused with the variable's name."""
    import os

    import torch

    from core.config import get_settings
    from core.errors import BadInputError
    from tests.conftest import TINY_RN, register_tiny_configs
    from ui import resources

    register_tiny_configs()
    monkeypatch.delenv("CLIP_EXPLORER_SERVER_THREADS", raising=False)
    assert get_settings().server_threads == max(1, (os.cpu_count() or 1) - 1)
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv("CLIP_EXPLORER_SERVER_THREADS", bad)
        with pytest.raises(BadInputError, match="CLIP_EXPLORER_SERVER_THREADS must be a whole number"):
            get_settings()
    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    monkeypatch.setenv("CLIP_EXPLORER_SERVER_THREADS", str(want))
    resources.get_model.clear()
    try:
        resources.get_model(f"{TINY_RN}/random")
        assert torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)
        resources.get_model.clear()


def test_static_from_memory_setting(monkeypatch):
    from core.config import get_settings
    from core.errors import BadInputError

    monkeypatch.delenv("CLIP_EXPLORER_STATIC_FROM_MEMORY", raising=False)
    assert get_settings().static_from_memory is True
    monkeypatch.setenv("CLIP_EXPLORER_STATIC_FROM_MEMORY", "0")
    assert get_settings().static_from_memory is False
    monkeypatch.setenv("CLIP_EXPLORER_STATIC_FROM_MEMORY", "maybe")
    with pytest.raises(BadInputError, match="must be 1 or 0"):
        get_settings()
