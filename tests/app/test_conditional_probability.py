"""AppTest of the conditional-probability page on the tiny model and the indexed 'shapes' collection."""
from __future__ import annotations

import re

from tests.app.conftest import app, html_blocks, html_table, tile_grids, trigger
from tests.app.conftest import charts as _charts
from tests.app.conftest import query_param as _qp


def _rects(markup: str) -> list[tuple[int, str, float]]:
    """The stacked chart's rectangles: (bucket, category, opacity)."""
    return [(int(b), lab, float(o)) for b, lab, o in
            re.findall(r'<rect data-unit="(\d+)" data-bar="([^"]*)" data-value="[^"]*" [^>]*fill-opacity="([^"]+)"',
                       markup)]


def _images(at):
    return tile_grids(at)


def _errors(at):
    return [e.value for e in at.error]


def test_page_shows_fractions_bucket_images_and_reverse_view(app_env):
    at = app("pages/conditional_probability.py").run()
    assert not at.exception and not _errors(at)
    assert at.radio(key="cp_source").value == "collection"  # the collection has labels
    assert at.slider(key="cp_buckets").value == 10 and at.slider(key="cp_per").value == 50
    assert not _charts(at)  # stacked fractions and per-category boxes are SVG: no chart library to load
    blocks = html_blocks(at)
    rects = _rects(blocks["cp_chart"])
    bucket = at.selectbox(key="cp_bucket").value
    assert rects and {lab for _, lab, _ in rects} <= {"cat", "dog", "boat"}
    assert all((o == 1.0) == (b == bucket) for b, _, o in rects)  # the shown bucket solid, the others faded
    assert blocks["cp_boxes"].count("<g data-box=") == 3
    assert _qp(at, "bucket") == str(bucket) and _qp(at, "labels") == "collection"
    images = _images(at)
    assert len(images) == 1 and images[0]  # the bucket's images
    summary = html_table(at, "cp_summary")
    assert set(summary["label"]) == {"cat", "dog", "boat"} and summary["n"].astype(int).sum() == 12
    medians = summary["median"].astype(float)
    assert list(medians) == sorted(medians, reverse=True)


def test_buckets_per_bucket_and_bucket_choice_change_the_view(app_env):
    at = app("pages/conditional_probability.py").run()
    at.slider(key="cp_buckets").set_value(3).run()
    at.slider(key="cp_per").set_value(2).run()
    assert not at.exception and _qp(at, "buckets") == "3" and _qp(at, "per") == "2"
    options = at.selectbox(key="cp_bucket").options
    assert 1 <= len(options) <= 3
    first = int(options[0].split(":")[0])
    at.selectbox(key="cp_bucket").set_value(first).run()
    assert _qp(at, "bucket") == str(first)
    assert 1 <= len(_images(at)[0]) <= 2  # N per bucket caps the images shown


def test_zero_shot_labelling_with_typed_categories(app_env):
    at = app("pages/conditional_probability.py").run()
    at.radio(key="cp_source").set_value("zeroshot").run()
    assert not at.exception and any("Type two or more" in i.value for i in at.info)
    at.text_input(key="cp_classes").input("red thing, green thing, blue thing").run()
    assert not at.exception and not _errors(at)
    assert at.text_input(key="cp_prompt").value == "a photo of a {}"
    labels = set(html_table(at, "cp_summary")["label"])
    assert labels <= {"red thing", "green thing", "blue thing"} and labels
    assert _qp(at, "classes") == "red thing,green thing,blue thing"
    at.text_input(key="cp_classes").input("only-one").run()
    assert not at.exception and any("at least 2" in e for e in _errors(at))


def test_opens_from_a_link_and_rejects_bad_values(app_env):
    at = app("pages/conditional_probability.py")
    at.query_params.update({"unit": "3", "buckets": "4", "per": "5", "labels": "zeroshot", "classes": "cat,boat"})
    at.run()
    assert not at.exception and not _errors(at)
    assert at.number_input(key="unit").value == 3 and at.slider(key="cp_buckets").value == 4
    assert at.radio(key="cp_source").value == "zeroshot" and at.text_input(key="cp_classes").value == "cat,boat"
    bad = app("pages/conditional_probability.py")
    bad.query_params.update({"buckets": "999", "per": "x", "labels": "../etc", "bucket": "77"})
    bad.run()
    assert not bad.exception and not _errors(bad)
    text = " ".join(w.value for w in bad.warning)
    assert "out of range" in text and "not a whole number" in text and "not available" in text
    assert bad.slider(key="cp_buckets").value == 10 and bad.radio(key="cp_source").value == "collection"


def test_empty_state_without_a_collection(empty_env):
    at = app("pages/conditional_probability.py").run()
    assert not at.exception and not _errors(at)
    assert any("No collection is indexed" in i.value for i in at.info)


def test_fractions_are_computed_once_per_input(app_env, monkeypatch):
    """The stacked fractions come from ``resources.condprob_fractions`` (cached): a rerun with the same inputs,
    e.g. a bucket picked, does not repeat the pandas pipeline; new inputs compute it again."""
    from core.analyses import condprob

    computed = []
    real = condprob.category_fractions
    monkeypatch.setattr(condprob, "category_fractions", lambda df: computed.append(len(df)) or real(df))
    at = app("pages/conditional_probability.py")
    at.query_params.update({"buckets": "7", "per": "13"})  # inputs no other test uses (the cache is per process)
    at.run()
    assert len(computed) == 1 and not at.exception
    options = at.selectbox(key="cp_bucket").options
    at.selectbox(key="cp_bucket").set_value(int(options[0].split(":")[0])).run()  # same inputs, another bucket
    assert len(computed) == 1 and not at.exception and "cp_chart" in html_blocks(at)
    at.slider(key="cp_per").set_value(12).run()  # new inputs: computed again
    assert len(computed) == 2 and not at.exception


def test_a_click_on_a_bar_picks_its_bucket(app_env):
    at = app("pages/conditional_probability.py").run()
    shown = at.selectbox(key="cp_bucket").value
    other = next(b for b, _, _ in _rects(html_blocks(at)["cp_chart"]) if b != shown)
    trigger(at, "cp_chart", "open", other)  # what a click on one of that bucket's rectangles sends
    assert not at.exception and at.selectbox(key="cp_bucket").value == other and _qp(at, "bucket") == str(other)
    assert all((o == 1.0) == (b == other) for b, _, o in _rects(html_blocks(at)["cp_chart"]))
    trigger(at, "cp_chart", "open", 999)  # not a bucket of this chart: the top bucket, no error
    assert not at.exception and at.selectbox(key="cp_bucket").value in {b for b, _, _ in _rects(
        html_blocks(at)["cp_chart"])}
