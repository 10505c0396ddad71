"""A collection whose pictures were moved away after indexing (an artifact copied without its images, a folder
renamed): every page still renders, tiles are grey placeholders, the sidebar says why, and a page that needs one
picture says which and what to do, never "something went wrong" (tiny real model, real extraction)."""
from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import PAGES, app, dashboard_env, tile_grids
from tests.conftest import make_image_folder

ALL = ["dashboard.py"] + [f"pages/{p.name}" for p in sorted(PAGES.glob("*.py"))]
BUG = "Something went wrong"


@pytest.fixture(scope="module")
def moved_artifacts(tmp_path_factory, tiny_rn):
    """<tmp>/artifacts with collection 'shapes' indexed, then its picture folder renamed."""
    from core.pipeline.extract import run_extraction
    from core.pipeline.index import ensure_index

    root = tmp_path_factory.mktemp("moved") / "artifacts"
    folder = make_image_folder(root / "collections" / "shapes", n_per_class=4, size=64)
    ensure_index(run_extraction(tiny_rn, folder, root / "indexes" / "shapes", workers=0, topk=8))
    shutil.move(folder, folder.with_name("shapes-moved"))
    return root


@pytest.fixture
def moved_env(moved_artifacts):
    with dashboard_env(moved_artifacts) as artifacts:
        yield artifacts


def _messages(at) -> list[str]:
    return [str(e.value) for e in [*at.error, *at.warning, *at.info]]


@pytest.mark.parametrize("path", ALL)
def test_every_page_renders_when_the_pictures_are_gone(moved_env, path):
    at = app(path).run()
    assert not at.exception, at.exception
    assert not any(BUG in m for m in _messages(at)), _messages(at)
    assert any("pictures are not found under" in str(w.value) for w in at.sidebar.warning)


def test_card_draws_grey_tiles_and_keeps_its_values(moved_env):
    at = app("pages/neuron_lookup.py").run()
    grids = tile_grids(at)
    assert len(grids) == 3 and len(grids[0]) == 12
    for uri, caption in grids[0]:
        tile = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))
        assert tile.shape[0] == tile.shape[1] >= 64
        assert abs(tile[2:10, 40:90].mean() - 224) < 6  # the placeholder's grey, not a picture
        assert "σ" in caption  # the value is still there


def test_attack_page_names_the_missing_picture(moved_env):
    at = app("pages/typographic_attack.py").run()
    assert not at.exception
    errors = [str(e.value) for e in at.error]
    assert any("cannot be read" in e and "upload your own" in e for e in errors), errors
    assert not any(BUG in e for e in errors)
