"""AppTest: the layer grid (tiles, paging, query, URL, CSV) and the card's 48 argmax-centred examples."""
from __future__ import annotations

import re

from tests.app.conftest import app, html_blocks, query_param


def _tiles(at) -> list[int]:
    return [int(u) for u in re.findall(r'data-tile="(\d+)"', html_blocks(at)["layer_tiles"])]


def test_layer_grid_pages_and_filters(app_env):
    at = app("pages/layer_grid.py").run()
    assert not at.exception, at.exception
    assert _tiles(at) == list(range(48))
    assert "data:image/jpeg;base64," in html_blocks(at)["layer_tiles"] and "href=\"./?" in html_blocks(at)["layer_tiles"]
    assert query_param(at, "page") == "1" and query_param(at, "per") == "48"
    at.number_input(key="lg_page").set_value(2).run()
    assert _tiles(at) == list(range(48, 96)) and query_param(at, "page") == "2"
    at.text_input(key="lg_query").input("17").run()
    assert _tiles(at) == [17] and at.number_input(key="lg_page").value == 1
    at.text_input(key="lg_query").input("a red circle").run()
    assert not at.exception and 0 < len(_tiles(at)) <= 48 and query_param(at, "q") == "a red circle"
    assert at.get("download_button")


def test_layer_grid_from_a_link_and_feature_visualization_tiles(app_env):
    at = app("pages/layer_grid.py")
    at.query_params.update({"per": "24", "page": "3", "zoom": "4", "show": "fv"})
    at.run()
    assert not at.exception, at.exception
    assert _tiles(at) == list(range(48, 72)) and at.select_slider(key="lg_zoom").value == 4
    assert "data:image" not in html_blocks(at)["layer_tiles"]  # nothing rendered yet: blank tiles


def test_card_more_examples_with_zoom(app_env):
    at = app("pages/neuron_lookup.py").run()
    assert "more_examples" not in html_blocks(at)
    at.toggle(key="card_more").set_value(True).run()
    assert not at.exception, at.exception
    block = html_blocks(at)["more_examples"]
    assert block.count("<figure") == 12  # the tiny collection has 12 images (48 on a bigger one)
    assert query_param(at, "more") == "1" and query_param(at, "zoom") == "2"
    at.select_slider(key="card_zoom").set_value(4).run()
    assert html_blocks(at)["more_examples"] != block and query_param(at, "zoom") == "4"
    at.toggle(key="card_more").set_value(False).run()
    assert "more" not in at.query_params


def test_card_diversity_renders_in_the_background_and_downloads_with_provenance(app_env, monkeypatch):
    from core.featurevis.png import read_provenance

    monkeypatch.setenv("CLIP_EXPLORER_FV_STEPS", "3")
    at = app("pages/neuron_lookup.py")
    at.query_params.update({"unit": "4", "div": "1", "divw": "3"})
    at.run()
    assert not at.exception, at.exception
    assert at.toggle(key="card_div").value and at.slider(key="card_divw").value == 3
    at.button(key="card_div_render").click().run(timeout=120)
    for _ in range(5):  # the job's watcher reruns the page when the render is done
        if not at.exception and any("data-diverse" in h.value for h in at.get("html")):
            break
        at.run(timeout=120)
    assert not at.exception, at.exception
    assert any(h.value.count("data:image/png") == 4 for h in at.get("html") if "data-diverse" in h.value)
    assert any("PNG with provenance" in str(b.proto.label) for b in at.get("download_button"))
    from core.featurevis import diverse
    from core.model.hooks import article_layer
    from ui.diversity import _sheet_png  # the download's bytes: the same function the button got them from
    from ui.resources import get_model

    loaded = get_model(at.query_params["model"][0] if isinstance(at.query_params["model"], list)
                       else at.query_params["model"])
    res = diverse.lookup_diverse(loaded, article_layer(loaded), 4, images=4, weight=3, steps=3)
    info = read_provenance(_sheet_png(loaded, res))
    assert info["unit"] == "4" and "diversity(" in info["objective"] and info["batch"] == "4"
    assert "div=1" in html_blocks(at)["share_link"] and "divw=3" in html_blocks(at)["share_link"]
