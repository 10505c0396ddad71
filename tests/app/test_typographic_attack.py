"""AppTest of the typographic-attack page (attack + Stroop) on the tiny model and the 'shapes' collection."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.app.conftest import app, attack_figures, html_blocks, svg_bars
from tests.app.conftest import charts as _charts
from tests.app.conftest import query_param as _qp

PAGE = "pages/typographic_attack.py"


def _images(at):
    """The page's pictures (before, after, the Stroop picture): PNG data URIs in its HTML blocks."""
    import re

    blocks = html_blocks(at)
    return [src for key in ("ta_pictures", "st_picture")
            for src in re.findall(r'<img data-picture [^>]*src="(data:image/png;base64,[^"]+)"', blocks.get(key, ""))]


def _errors(at):
    return [e.value for e in at.error]


def _png(w=80, h=60, color=(30, 160, 60)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), color, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_attack_on_a_collection_image(app_env):
    at = app(PAGE).run()
    assert not at.exception and not _errors(at)
    assert at.radio(key="ta_source").value == "collection"
    assert at.text_area(key="ta_classes").value == "boat, cat, dog"  # the collection's categories
    assert at.text_input(key="ta_prompt").value == "a photo of a {}"
    text = at.text_input(key="ta_text").value
    assert text == "cat"  # the first class other than image 0's label (boat/0.png sorts first)
    metrics = attack_figures(at)
    before, after = metrics["Prediction before → after"].split(" → ")
    assert {before, after} <= {"boat", "cat", "dog"}
    assert metrics["Prediction flipped"] in {"yes", "no"} and metrics["Pixels changed"].endswith("%")
    # before / after pictures, the Stroop image, probability + neuron + Stroop charts
    assert len(_images(at)) >= 3
    blocks = html_blocks(at)  # the charts are SVG in the page's own blocks
    kinds = {b["kind"] for b in svg_bars(blocks["ta_probs"])}
    assert kinds == {"before", "after"} and "rose" in {b["kind"] for b in svg_bars(blocks["ta_deltas"])}
    from core.analyses.stroop import COLORS

    assert {b["label"] for b in svg_bars(blocks["st_probs"])} == set(COLORS)  # the Stroop picture's colours
    # the neurons that rose and fell most, each linked to its card
    assert blocks["risers"].count("Open card") == blocks["fallers"].count("Open card") > 0
    assert _qp(at, "text") == text and _qp(at, "src") == "collection" and _qp(at, "row") == "0"


def test_widgets_change_the_attack_and_the_url(app_env):
    at = app(PAGE).run()
    at.text_input(key="ta_text").input("cat").run()
    at.radio(key="ta_style").set_value("article").run()
    at.slider(key="ta_size").set_value(12).run()
    at.color_picker(key="ta_color").pick("#ff0000").run()
    at.number_input(key="ta_row").set_value(5).run()
    assert not at.exception and not _errors(at)
    assert (_qp(at, "text"), _qp(at, "style"), _qp(at, "size"), _qp(at, "color"), _qp(at, "row")) == \
        ("cat", "article", "12", "ff0000", "5")
    after = _images(at)[1]
    assert after is not None
    at.text_area(key="ta_classes").input("cat, pizza, iPod").run()
    assert not at.exception and _qp(at, "classes") == "cat, pizza, iPod"
    assert {"pizza", "iPod"} <= {b["label"] for b in svg_bars(html_blocks(at)["ta_probs"])}
    at.text_input(key="ta_text").input("hello").run()
    assert any("names none of the classes" in c.value for c in at.caption)


def test_link_restores_the_view_and_bad_values_fall_back(app_env):
    at = app(PAGE)
    at.query_params.update({"src": "collection", "row": "7", "text": "dog", "style": "article", "size": "20",
                            "color": "00ff00", "sword": "blue", "ink": "red"})
    at.run()
    assert not at.exception and not _errors(at)
    assert at.number_input(key="ta_row").value == 7 and at.text_input(key="ta_text").value == "dog"
    assert at.radio(key="ta_style").value == "article" and at.color_picker(key="ta_color").value == "#00ff00"
    assert at.selectbox(key="st_word").value == "blue" and at.selectbox(key="st_ink").value == "red"
    bad = app(PAGE)
    bad.query_params.update({"row": "100000", "style": "graffiti", "color": "#zzz", "ink": "../../etc/passwd",
                             "src": "/etc/passwd"})
    bad.run()
    assert not bad.exception and not _errors(bad)
    warnings = " ".join(w.value for w in bad.warning)
    assert "out of range" in warnings and "not a colour" in warnings and "not available" in warnings
    assert bad.number_input(key="ta_row").value == 0 and bad.selectbox(key="st_ink").value == "green"


def test_upload_empty_state_good_and_bad_uploads(app_env):
    at = app(PAGE).run()
    at.radio(key="ta_source").set_value("upload").run()
    assert not at.exception and any("Upload a picture" in i.value for i in at.info)
    at.file_uploader(key="ta_upload").set_value(("pic.png", _png(), "image/png")).run()
    assert not at.exception and not _errors(at)
    assert "Pixels changed" in attack_figures(at)
    at.file_uploader(key="ta_upload").set_value(("x.png", b"definitely not an image", "image/png")).run()
    assert not at.exception and any("not an image" in e for e in _errors(at))
    at.file_uploader(key="ta_upload").set_value(("huge.png", _png(6000, 5000), "image/png")).run()
    assert not at.exception and any("MP" in e for e in _errors(at))


def test_stroop_panel_single_and_full_experiment(app_env):
    at = app(PAGE).run()
    at.selectbox(key="st_word").set_value("blue").run()
    at.selectbox(key="st_ink").set_value("yellow").run()
    assert not at.exception and (_qp(at, "sword"), _qp(at, "ink")) == ("blue", "yellow")
    assert any("CLIP" in m.value or "agree" in m.value for m in at.markdown)
    at.toggle(key="st_full").set_value(True).run()
    assert not at.exception and _qp(at, "stroop") == "1"
    assert any("the word wins" in m.value and "49/49" in m.value for m in at.markdown)
    assert any("winner" in c.spec for c in _charts(at))


def test_without_a_collection_the_page_asks_for_an_upload(empty_env):
    at = app(PAGE).run()
    assert not at.exception and not _errors(at)
    assert at.radio(key="ta_source").value == "upload"
    assert any("Upload a picture" in i.value for i in at.info)
    assert at.text_area(key="ta_classes").value.startswith("bird, fish")  # the demo categories


def test_a_run_updates_the_url_once(app_env, monkeypatch):
    """The page's view state goes to the browser as one URL update per run (each update is a message the front
    end applies with a history change and a render), and none when nothing changed."""
    from streamlit.runtime.state.query_params import QueryParams

    sent: list[str] = []
    real = QueryParams._send_query_param_msg

    def counting(self):
        sent.append("msg")
        real(self)

    monkeypatch.setattr(QueryParams, "_send_query_param_msg", counting)
    at = app(PAGE).run()
    assert not at.exception and not _errors(at)
    # the sidebar's model, then its collection and layer together, then the page's dozen parameters (picture,
    # text, style, colours, classes, Stroop, ...) at once: 14 updates before
    assert len(sent) == 3
    assert _qp(at, "text") == "cat" and _qp(at, "style") == "sticker" and _qp(at, "color") == "000000"
    sent.clear()
    at.run()
    assert sent == []  # the same view: the URL is left alone
    at.text_input(key="ta_text").set_value("dog").run()
    assert len(sent) == 1 and _qp(at, "text") == "dog"
    assert _qp(at, "style") == "sticker"  # the other parameters stay
