"""AppTest of the attack-lab page (dataset-level typographic attack) on the tiny model and 'shapes'."""
from __future__ import annotations

import time

from tests.app.conftest import app
from tests.app.conftest import charts as _charts
from tests.app.conftest import query_param as _qp

PAGE = "pages/attack_lab.py"


def test_lab_waits_for_run_then_reports_the_table(app_env):
    at = app(PAGE).run()
    assert not at.exception and not at.error
    assert at.text_input(key="al_words").value == "boat, cat, dog"
    assert any("Run the evaluation" in i.value for i in at.info)
    at.slider(key="al_n").set_value(6).run()
    at.text_input(key="al_words").input("cat, meow=dog").run()
    at.toggle(key="al_run").set_value(True).run()
    for _ in range(120):  # the page shows the job's progress until it is done (a browser reruns it every second)
        if at.dataframe or at.exception:
            break
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error
    assert (_qp(at, "run"), _qp(at, "n"), _qp(at, "words")) == ("1", "6", "cat, meow=dog")
    table = at.dataframe[0].value
    assert list(table["word"]) == ["cat", "cat", "meow", "meow"] and list(table["target"]) == ["cat", "cat", "dog", "dog"]
    assert set(table["style"]) == {"article", "sticker"}
    assert any("classified correctly" in m.value for m in at.markdown)
    assert {m.label for m in at.metric} == {"Success, the article's pattern (8 copies)", "Success, one sticker"}
    specs = [c.spec for c in _charts(at)]
    assert any("success" in s for s in specs) and any("rose" in s for s in specs)
    assert at.dataframe[1].value is not None  # the article's table
    at.selectbox(key="al_styles").set_value("article").run()
    assert set(at.dataframe[0].value["style"]) == {"article"}


def test_lab_bad_words_and_bad_link_values(app_env):
    at = app(PAGE)
    at.query_params.update({"run": "1", "words": "kat", "n": "9999", "styles": "graffiti"})
    at.run()
    assert not at.exception
    assert any("out of range" in w.value for w in at.warning) and any("not available" in w.value for w in at.warning)
    assert any("Did you mean" in e.value and "cat" in e.value for e in at.error)


def test_lab_without_a_collection(empty_env):
    at = app(PAGE).run()
    assert not at.exception and any("attack-eval" in i.value for i in at.info)
