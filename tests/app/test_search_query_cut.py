"""The search page says when the model's text context cut the query (tiny-rn's context: 16 tokens)."""
from __future__ import annotations

from tests.app.conftest import app


def test_tokens_fit_counts_start_and_end_tokens(tiny_rn):
    from core.analyses.search import check_query

    check = check_query(tiny_rn, "a red cat")
    assert check.context == 16 and check.tokens == 3 + 2 and not check.truncated
    assert check_query(tiny_rn, "cat " * 40).tokens == 42


def test_search_page_says_when_the_query_was_cut(app_env):
    at = app("pages/neuron_search.py")
    at.query_params.update({"q": "cat " * 60})  # 240 characters: the link's cut (200), then the context's (16 tokens)
    at.run()
    assert not at.exception
    assert any("longer than 200 characters" in w.value for w in at.warning)
    cut = [i.value for i in at.info if "tokens long" in i.value]
    assert cut and "52 tokens" in cut[0] and "only 16" in cut[0]
    short = app("pages/neuron_search.py")
    short.query_params.update({"q": "a red cat"})
    short.run()
    assert not short.exception and not [i for i in short.info if "tokens long" in i.value]
