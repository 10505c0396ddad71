"""AppTest: every page standalone and under the shell, plus interactions by widget key (tiny real model)."""
from __future__ import annotations

import html
import io
import re
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import MODEL_ID, PAGES, app, html_blocks, tile_grids, trigger

ALL = ["dashboard.py"] + [f"pages/{p.name}" for p in sorted(PAGES.glob("*.py"))]


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def _chips(html: str, score: str) -> list[int]:
    """The units of one row of similar-neuron chips (``ui.html.chips_html``)."""
    import re

    row = html.split(f'data-chips="{score}"', 1)[1].split("</div>", 1)[0]
    return [int(u) for u in re.findall(r'data-unit="(\d+)"', row)]


@pytest.mark.parametrize("path", ALL)
def test_every_page_renders_without_exception(app_env, path):
    at = app(path).run()
    assert not at.exception, at.exception
    assert at.title, "every page opens with a title"


def test_lookup_card_shows_examples_chart_labels_and_link(app_env):
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception and not _errors(at)
    assert at.number_input(key="unit").value == 0
    assert at.query_params["unit"] == "0" and at.query_params["collection"] == "shapes"
    assert at.query_params["model"] == MODEL_ID
    grids = tile_grids(at)
    assert len(grids) == 3  # top, most negative, across the range
    assert len(grids[0]) == 12 and all(cap for _, cap in grids[0])
    assert all(uri.startswith("data:image/jpeg;base64,/9j/") for uri, _ in grids[0])  # JPEG bytes inline
    import base64
    import io

    from PIL import Image
    tile = Image.open(io.BytesIO(base64.b64decode(grids[0][0][0].split(",", 1)[1])))
    assert tile.size == (110, 110)  # encoded at the size it is shown: fewer bytes per neuron switch
    assert not at.get("vega_lite_chart")  # the card's charts are SVG in its own blocks: no chart library to load
    blocks = html_blocks(at)
    assert blocks["histogram"].count('<rect data-bar="1"') >= 1 and "Activation histogram" in blocks["histogram"]
    assert 'data-bar="excites"' in blocks["labels"] and 'data-bar="inhibits"' in blocks["labels"]
    assert all('data-card-unit="0"' in blocks[k] for k in ("histogram", "labels"))
    assert "unit=0" in blocks["share_link"] and "collection=shapes" in blocks["share_link"]
    assert "data-copy" in blocks["share_link"] and not at.code  # a copy button; no code highlighter to load
    assert all('data-card-unit="0"' in blocks[k] for k in ("grids", "similar", "fv_strip"))
    by_dir, by_corr = _chips(blocks["similar"], "cosine"), _chips(blocks["similar"], "correlation")
    assert len(by_dir) == 8 and len(by_corr) == 8 and 0 not in by_dir + by_corr


def test_lookup_unit_switching(app_env):
    at = app("pages/neuron_lookup.py").run()
    units = at.number_input(key="unit").max + 1
    at.number_input(key="unit").set_value(5).run()
    assert at.header[0].value == "Unit 5" and at.query_params["unit"] == "5"
    at.button(key="unit_next").click().run()
    assert at.number_input(key="unit").value == 6
    at.button(key="unit_prev").click().run()
    at.button(key="unit_prev").click().run()
    assert at.number_input(key="unit").value == 4
    at.button(key="unit_random").click().run()
    assert 0 <= at.number_input(key="unit").value < units
    target = _chips(html_blocks(at)["similar"], "cosine")[0]
    trigger(at, "similar", "open", target)  # a click on the chip
    assert at.number_input(key="unit").value == target and at.header[0].value == f"Unit {target}"
    assert f'data-card-unit="{target}"' in html_blocks(at)["grids"]
    at.run()  # a later rerun (another widget) does not replay the click
    assert at.number_input(key="unit").value == target
    assert not at.exception and not _errors(at)


def test_lookup_prefetches_the_cards_likely_opened_next(app_env):
    """While a card is read, the next, the previous and the next "random" card are built in the background
    (after the settings' ``prefetch_delay_s``); "random" then opens the one drawn, whose card is ready."""
    import time

    from ui import resources

    at = app("pages/neuron_lookup.py").run()
    deadline = time.time() + 20
    while resources.CARDS.pending and time.time() < deadline:  # the first card's own hints are done
        time.sleep(0.05)
    resources.CARDS.clear()  # other tests' cards are process-wide: count only what this card starts
    at.number_input(key="unit").set_value(5).run()
    units = at.number_input(key="unit").max + 1
    drawn = at.session_state["_next_random_unit"]
    expected = {4, 6, drawn}
    built = lambda: {k[1] for k, fut in list(resources.CARDS._items.items())
                     if k[0].path.endswith("shapes") and fut.done() and not fut.cancelled()}
    deadline = time.time() + 20
    while not expected <= built() and time.time() < deadline:
        time.sleep(0.05)
    assert expected <= built() and 0 <= drawn < units
    at.button(key="unit_random").click().run()
    assert at.number_input(key="unit").value == drawn and not at.exception


def test_lookup_opens_from_url(app_env):
    at = app("pages/neuron_lookup.py")
    at.query_params.update({"unit": "7", "collection": "shapes", "model": MODEL_ID})
    at.run()
    assert at.number_input(key="unit").value == 7 and at.header[0].value == "Unit 7"
    assert not at.warning


@pytest.mark.parametrize("params,needle", [
    ({"unit": "99999"}, "out of range"),
    ({"unit": "abc"}, "not a whole number"),
    ({"collection": "../../etc/passwd"}, "not available"),
    ({"collection": "/etc"}, "not available"),
    ({"model": "evil/../../x"}, "not available"),
    ({"layer": "visual.nope"}, "not available"),
])
def test_invalid_url_values_fall_back_with_a_message(app_env, params, needle):
    at = app("pages/neuron_lookup.py")
    at.query_params.update(params)
    at.run()
    assert not at.exception and not _errors(at)
    assert any(needle in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.number_input(key="unit").value == 0
    assert at.selectbox(key="collection").value == "shapes" and at.selectbox(key="model").value == MODEL_ID


def test_search_ranks_neurons_with_thumbnails_and_nearest_images(app_env):
    at = app("pages/neuron_search.py").run()
    assert not at.exception and any("Type a concept" in i.value for i in at.info)
    at.text_input(key="query").input("a red cat").run()
    assert not at.exception and not _errors(at)
    assert at.query_params["q"] == "a red cat"
    assert not at.get("vega_lite_chart")  # the ranking is SVG: no chart library for the page to load
    assert html_blocks(at)["scores"].count('<rect data-bar="score"') == 8
    grids = tile_grids(at)
    assert len(grids) == 8 + 1  # thumbnails of each of the 8 default neurons + nearest images
    assert len(grids[-1]) == 12
    at.slider(key="top").set_value(3).run()
    assert len(tile_grids(at)) == 3 + 1 and at.query_params["top"] == "3"
    at.toggle(key="scaled").set_value(True).run()
    assert not at.exception and at.query_params["scaled"] == "1"


def test_charts_are_built_once_per_input(app_env, monkeypatch):
    """Pages draw Altair charts through ``ui.altair``: a rerun with the same data reuses the built spec (building
    and validating a chart costs 10-30 ms per rerun), new data builds a new one."""
    import json

    from core import charts

    built = []
    real = charts.atlas_loadings_chart
    monkeypatch.setattr(charts, "atlas_loadings_chart", lambda df, **kw: built.append(len(df)) or real(df, **kw))
    at = app("pages/concept_codes.py").run()
    at.text_area(key="cc_atlas_concepts").set_value("happy, sad, angry, calm, scared, bored")
    at.number_input(key="cc_atlas_k").set_value(3)
    at.toggle(key="cc_atlas_on").set_value(True).run()
    assert built == [18] and not at.exception  # one row per concept and factor
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["y"]["field"] == "concept"
    at.run()  # same data: drawn again from the cached spec
    assert built == [18]
    at.text_area(key="cc_atlas_concepts").set_value("happy, sad, angry, calm, scared").run()  # new data: built again
    assert built == [18, 15] and not at.exception


def test_a_search_encodes_its_query_once(app_env, monkeypatch):
    """The ranked neurons and the nearest images come from one encoding of the query (``resources.text_embedding``);
    a rerun with the same query encodes nothing."""
    from core.model import embed

    encoded = []
    real = embed.encode_text
    monkeypatch.setattr(embed, "encode_text", lambda loaded, texts, **kw: encoded.append(list(texts)) or real(
        loaded, texts, **kw))
    at = app("pages/neuron_search.py")
    at.query_params.update({"q": "a striped boat"})  # a query no other test searches (the cache is per process)
    at.run()
    assert encoded == [["a striped boat"]] and not at.exception
    assert len(tile_grids(at)) >= 2  # neuron thumbnails and the nearest images were both drawn
    at.run()
    assert encoded == [["a striped boat"]]


def test_search_empty_and_whitespace_query_is_not_an_error(app_env):
    at = app("pages/neuron_search.py").run()
    at.text_input(key="query").input("   ").run()
    assert not at.exception and not _errors(at)
    assert at.info


def _png(size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), 200, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_search_by_uploaded_image_and_bad_uploads(app_env):
    at = app("pages/neuron_search.py").run()
    at.file_uploader(key="upload").set_value(("pic.png", _png(), "image/png")).run()
    assert not at.exception and not _errors(at)
    assert "<svg" in html_blocks(at)["scores"] and tile_grids(at)
    at.file_uploader(key="upload").set_value(("fake.png", b"not an image at all", "image/png")).run()
    assert not at.exception and any("not an image" in e for e in _errors(at))


def test_read_upload_limits():
    import ui
    from core.errors import BadInputError

    big = SimpleNamespace(name="big.png", getvalue=lambda: b"0" * (ui.UPLOAD_MAX_BYTES + 1))
    with pytest.raises(BadInputError, match="limit"):
        ui.read_upload(big)
    huge = SimpleNamespace(name="huge.png", getvalue=lambda: _png((6000, 5000)))
    with pytest.raises(BadInputError, match="MP"):
        ui.read_upload(huge)
    assert ui.read_upload(SimpleNamespace(name="ok.png", getvalue=_png)) == _png()


def test_shell_navigates_and_keeps_sidebar_state(app_env):
    at = app("dashboard.py").run()
    assert not at.exception and at.header[0].value == "Unit 0"
    at.number_input(key="unit").set_value(3).run()
    at.switch_page("pages/neuron_search.py").run()
    assert not at.exception and at.title[0].value == "Zero-shot neuron search"
    at.text_input(key="query").input("boat").run()
    results = html_blocks(at)["results"]
    links = re.findall(r'<a class="open" href="([^"]+)" data-unit="(\d+)">Open card</a>', results)
    assert len(links) == 8 and all(html.unescape(href).startswith("lookup?") and f"unit={u}&" in html.unescape(href)
                                   + "&" for href, u in links)
    at.switch_page("pages/neuron_lookup.py").run()
    assert at.number_input(key="unit").value == 3  # remembered across the page switch
    assert not at.exception
    at.switch_page("pages/neuron_search.py").run()
    picked = int(links[1][1])
    trigger(at, "results", "open", picked)  # a click on the second result's "Open card" link
    assert not at.exception and at.header[0].value == f"Unit {picked}" and at.query_params["unit"] == str(picked)


def test_empty_state_explains_how_to_index(empty_env):
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception and not _errors(at)
    text = " ".join(i.value for i in at.info)
    assert "python -m core index" in text
    from core.cli import COMMANDS

    named = re.findall(r"python -m core ([\w-]+)", text + " ".join(i.value for i in at.sidebar.info))
    assert named and set(named) <= set(COMMANDS), f"the page names commands the CLI does not have: {named}"
    blocks = html_blocks(at)  # zero-shot labels still work without a collection (no histogram: no collection)
    assert "Zero-shot labels" in blocks["labels"] and "histogram" not in blocks


def test_index_a_folder_from_the_ui_shows_progress_then_the_collection(empty_env):
    from tests.conftest import make_image_folder

    make_image_folder(empty_env / "collections" / "pics", n_per_class=3, size=64)
    at = app("pages/neuron_lookup.py").run()
    assert at.selectbox(key="index_folder").options == ["pics"]
    at.button(key="index_button").click().run()
    assert not at.exception and not _errors(at)
    import time

    deadline = time.time() + 120  # the job runs in the background: the page never waits for it
    while time.time() < deadline:
        at.run()
        if any(s.key == "collection" for s in at.selectbox):
            break
        time.sleep(0.5)
    assert at.selectbox(key="collection").value.startswith("pics")
    assert len(tile_grids(at)) == 3 and not at.exception
    assert (empty_env / "indexes").is_dir()


def test_a_link_cannot_name_a_model_file(app_env):
    link = app("pages/neuron_lookup.py")
    link.query_params["model"] = "RN50@/etc/passwd"
    link.run()
    assert not link.exception and not _errors(link)
    assert link.selectbox(key="model").value == MODEL_ID and any("not available" in w.value for w in link.warning)
