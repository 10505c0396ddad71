"""Every page on a collection larger than a chart may hold: a synthetic artifact of 6,000 images
(``benchmarks/make_synthetic_artifact.py``, stamped with the tiny model's id, fingerprint and article layer; its
pictures do not exist). Altair refuses a chart of more than 5,000 rows, so any view that charts one row per image
fails here; the conditional-probability page's box plot did, at a million images. The CI-sized run of
``benchmarks/open_pages.py`` on the million-image artifact (docs/performance.md)."""
from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from tests.app.conftest import MODEL_ID, PAGES, REPO, app, dashboard_env, html_blocks, html_table

ALL = ["dashboard.py"] + [f"pages/{p.name}" for p in sorted(PAGES.glob("*.py"))]
ROWS = 6_000  # above Altair's 5,000-row limit
LABELS = 6


@pytest.fixture(scope="module")
def large_artifacts(tmp_path_factory, tiny_rn):
    from core.model.hooks import article_layer, resolve_layer

    sys.path.insert(0, str(REPO))
    from benchmarks.make_synthetic_artifact import make_artifact

    root = tmp_path_factory.mktemp("large") / "artifacts"
    layer = article_layer(tiny_rn)
    make_artifact(root / "indexes" / "large", ROWS, resolve_layer(tiny_rn, layer).units,
                  int(tiny_rn.config["embed_dim"]), labels=LABELS, topk=16, block_rows=1024, model_id=MODEL_ID,
                  fingerprint=tiny_rn.fingerprint, layer=layer, log=lambda m: None)
    return root


@pytest.fixture
def large_env(large_artifacts):
    with dashboard_env(large_artifacts) as artifacts:
        yield artifacts


@pytest.mark.parametrize("path", ALL)
def test_every_page_renders_on_a_collection_above_the_chart_row_limit(large_env, path):
    at = app(path).run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error if "Something went wrong" in str(e.value)]


def test_condprob_box_plot_holds_one_row_per_category(large_env):
    from core.pipeline.store import open_artifact

    at = app("pages/conditional_probability.py").run()
    assert not at.exception and not at.error
    boxes = html_blocks(at)["cp_boxes"]  # the box plot: SVG drawn from one row of statistics per category
    summary = html_table(at, "cp_summary")
    assert 2 <= len(summary) <= LABELS + 1 and summary["n"].astype(int).sum() == ROWS
    assert boxes.count("<g data-box=") == len(summary)  # one box per category, not one mark per image
    assert len(boxes) < 20_000  # a few kB whatever the collection's size
    # the statistics are the exact per-category statistics of the unit's values
    art = open_artifact(large_env / "indexes" / "large")
    unit = int(at.number_input(key="unit").value)
    x = np.asarray(art.unit_column(unit), np.float64) / float(art.unit_std[unit])
    labels = np.asarray([str(v) for v in art.labels])
    first = summary.iloc[0]
    sel = x[labels == first["label"]]
    assert int(first["n"]) == sel.size
    assert float(first["median"]) == pytest.approx(np.median(sel), abs=0.01)
    assert float(first["max"]) == pytest.approx(sel.max(), abs=0.01)
    quartiles = re.search(rf'data-box="{re.escape(first["label"])}"><title>[^<]*q1 ([-\d.]+), median [-\d.]+, '
                          r'q3 ([-\d.]+)', boxes)
    assert float(quartiles.group(1)) == pytest.approx(np.quantile(sel, 0.25), abs=0.01)
    assert float(quartiles.group(2)) == pytest.approx(np.quantile(sel, 0.75), abs=0.01)


def test_image_counts_have_thousands_separators(large_env):
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception
    assert at.selectbox(key="collection").options == [f"large (6,000 images, {MODEL_ID})"]
    assert any("large (6,000 images)" in str(c.value).replace("\\", "") for c in at.caption)
