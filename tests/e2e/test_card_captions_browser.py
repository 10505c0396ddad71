"""The card's feature-visualization captions and word tables, laid out by the real browser: a long objective
string stays under its own picture (cut with an ellipsis, the full text on hover) instead of overprinting its
neighbours, and a long word is shown whole."""
from __future__ import annotations

import pandas as pd
import pytest

from ui import html

pytestmark = pytest.mark.e2e

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8"
                    "cfc000000301010018dd8db00000000049454e44ae426082")  # 1x1 px
OBJECTIVE = "channel(visual.layer4.0.act3@in:417) + 0.5 * text_facet(visual.layer3.2.act3@in, 'text')"
LONG_WORD = "telecommunications"  # the shipped vocabulary's longest word


def _boxes(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(selector, "els => els.map(e => {const r = e.getBoundingClientRect(); "
                                               "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, "
                                               "scroll: e.scrollWidth, client: e.clientWidth, title: e.title}})")


def test_long_objectives_stay_under_their_picture(browser):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    figures = [(f"text · seed {i}", PNG if i else None, OBJECTIVE) for i in range(4)]
    page.set_content(f"<body style='font-family:sans-serif'>{html.figures_html(figures)}</body>")
    figs, codes = _boxes(page, "figure"), _boxes(page, "figure code")
    assert len(figs) == len(codes) == 4
    for fig, code in zip(figs, codes):
        assert fig["left"] - 0.5 <= code["left"] and code["right"] <= fig["right"] + 0.5, (fig, code)
        assert code["title"] == OBJECTIVE  # the whole objective on hover
    for a, b in zip(codes, codes[1:]):  # neighbours on one row never overlap
        if abs(a["top"] - b["top"]) < 1:
            assert a["right"] <= b["left"], (a, b)
    page.close()


def test_word_tables_show_long_words_whole(browser):
    df = pd.DataFrame({"rank": [1, 2], "word": [LONG_WORD, "a"], "activation": [1.5, 1.0], "score": [4.0, 3.0]})
    for width in (1400, 420):
        page = browser.new_page(viewport={"width": width, "height": 700})
        page.set_content(f"<body>{html.table_html(df, 'Top words')}</body>")
        cells = [c for c in _boxes(page, "td") if c["scroll"] > 0]
        assert cells and all(c["scroll"] <= c["client"] for c in cells), cells
        assert LONG_WORD in page.inner_text("table")
        page.close()
