""""Index a folder" with an upload (AppTest, the embedded demo model, a real zip of demo-corpus pictures): the zip is
saved as a folder, indexed by the background job at the layer picked in the expander (by default the sidebar's),
and when the job is done the page says what was indexed and shows the new collection, selected with its layer.
A corrupt zip gets one clear line; a shared server takes uploads only when CLIP_EXPLORER_UPLOADS=1."""
from __future__ import annotations

import io
import os
import re
import time
import zipfile

import pytest

from tests.app.conftest import _restore, _set_env, app, index_panel_open, query_param, tile_grids
from tests.conftest import make_image_folder

ARTICLE_LAYER = "visual.layer4.0.act3@in"  # the demo model's article layer (the sidebar's default)
PICKED = "visual.layer2.0.act3@in"


@pytest.fixture
def demo_small(tmp_path):
    """The dashboard as shipped (the demo model) over an artifacts dir with a small indexed collection (so the demo
    corpus is not indexed on first use)."""
    import streamlit as st

    from core.model.loading import load_model
    from core.pipeline.extract import run_extraction

    root = tmp_path / "artifacts"
    folder = make_image_folder(root / "collections" / "shapes", n_per_class=2, size=64)
    run_extraction(load_model("demo"), folder, root / "indexes" / "shapes", workers=0, topk=4)
    old = {k: os.environ.pop(k, None) for k in ("CLIP_EXPLORER_MODEL", "CLIP_EXPLORER_COLLECTIONS",
                                                "CLIP_EXPLORER_SHARED", "CLIP_EXPLORER_UPLOADS")}
    old |= _set_env({"CLIP_EXPLORER_ARTIFACTS": str(root)})
    st.cache_data.clear()
    yield root
    _restore(old)
    st.cache_data.clear()


def corpus_zip() -> bytes:
    """A zip of 12 demo-corpus pictures in two labelled sub-folders under one top folder, and a note."""
    from core.pipeline.demo import load_corpus_image, load_corpus_index

    df = load_corpus_index()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for label in ("flag", "vehicle"):
            for image_id in df[df["label"] == label]["id"].head(6):
                png = io.BytesIO()
                load_corpus_image(image_id).save(png, format="PNG")
                zf.writestr(f"my pictures/{label}/{image_id}.png", png.getvalue())
        zf.writestr("my pictures/readme.txt", "twelve pictures")
    return buf.getvalue()


def plain(markdown: str) -> str:
    """A message's text without the backslashes that escape a visitor's text (``ui.md_escape``)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def until(at, done, timeout: float = 180.0):
    """Rerun ``at`` (what the progress fragment's timer does in a browser) until ``done(at)``."""
    t0 = time.time()
    while not done(at):
        assert not at.exception, [e.value for e in at.exception]
        assert time.time() - t0 < timeout, ([e.value for e in (*at.error, *at.info, *at.success)],
                                            [(s.key, s.value) for s in at.selectbox])
        time.sleep(0.5)
        at.run()
    return at


def test_an_uploaded_zip_is_indexed_at_the_picked_layer_then_selected(demo_small):
    from core.pipeline.store import open_artifact

    at = index_panel_open(app("pages/neuron_lookup.py")).run()
    assert not at.exception
    assert [e.label for e in at.sidebar.expander if "Index" in e.label] == ["Index a folder"]  # no "first use"
    assert at.selectbox(key="collection").value == "shapes" and at.selectbox(key="layer").value == ARTICLE_LAYER
    assert at.selectbox(key="index_layer").value == ARTICLE_LAYER  # by default the sidebar's layer ...
    at.selectbox(key="layer").set_value(PICKED).run()
    assert at.selectbox(key="index_layer").value == PICKED  # ... which it follows
    at.selectbox(key="layer").set_value(ARTICLE_LAYER).run()
    at.selectbox(key="index_layer").set_value(PICKED).run()  # picked here: kept
    assert at.selectbox(key="layer").value == ARTICLE_LAYER and at.selectbox(key="index_layer").value == PICKED

    uploader = at.file_uploader(key="index_upload:0")
    assert ".zip" in uploader.allowed_type and uploader.accept_multiple_files and "200 MB in all" in uploader.help
    uploader.set_value(("my pictures.zip", corpus_zip(), "application/zip")).run()
    at.button(key="upload_button").click().run()
    assert not at.exception and not at.error
    until(at, lambda a: any("Indexed" in s.value for s in a.success))

    name = "uploads-my-pictures--demo--visual.layer2.0.act3-in"
    done = [plain(s.value) for s in at.success]
    assert done == ["Indexed 12 images from uploads/my-pictures at layer `visual.layer2.0.act3@in`. 1 file(s) "
                    "were skipped (not images, or unreadable). It is selected above."], done
    assert at.selectbox(key="collection").value == name  # the new collection, selected ...
    assert at.selectbox(key="layer").value == PICKED  # ... at the layer it was indexed at
    assert query_param(at, "collection") == name and query_param(at, "layer") == PICKED  # and in the link
    assert len(tile_grids(at)) == 3 and not at.exception  # the card shows its examples right away
    art = open_artifact(demo_small / "indexes" / name)
    assert art.rows == 12 and art.layer == PICKED and sorted(set(art.labels)) == ["flag", "vehicle"]
    assert sorted(p.name for p in (demo_small / "collections" / "uploads").iterdir()) == ["my-pictures"]
    assert at.file_uploader(key="index_upload:1").value in (None, [])  # emptied for the next upload
    assert "uploads/my-pictures" in at.selectbox(key="index_folder").options  # can be indexed again at another layer


def test_several_image_files_are_indexed_at_the_sidebar_layer(demo_small):
    from core.pipeline.demo import load_corpus_image, load_corpus_index

    files = []
    for image_id in load_corpus_index()["id"].head(4):
        png = io.BytesIO()
        load_corpus_image(image_id).save(png, format="PNG")
        files.append((f"{image_id}.png", png.getvalue(), "image/png"))
    at = index_panel_open(app("pages/neuron_lookup.py")).run()
    at.file_uploader(key="index_upload:0").set_value(files).run()
    at.button(key="upload_button").click().run()
    until(at, lambda a: any("Indexed" in s.value for s in a.success))
    assert [plain(s.value) for s in at.success] == [
        f"Indexed 4 images from uploads/images at layer `{ARTICLE_LAYER}`. It is selected above."]
    assert at.selectbox(key="collection").value == "uploads-images--demo"
    assert at.selectbox(key="layer").value == ARTICLE_LAYER and not at.exception


def test_a_corrupt_zip_gets_one_clear_line(demo_small):
    at = index_panel_open(app("pages/neuron_lookup.py")).run()
    at.file_uploader(key="index_upload:0").set_value(("broken.zip", b"PK\x03\x04 not really", "application/zip"))
    at.run()
    at.button(key="upload_button").click().run()
    assert not at.exception
    errors = [plain(e.value) for e in at.sidebar.error]
    assert len(errors) == 1 and "broken.zip is not a readable zip archive" in errors[0], errors
    assert at.selectbox(key="collection").value == "shapes" and at.title  # the page goes on
    assert not list((demo_small / "collections" / "uploads").iterdir())


def test_a_shared_server_takes_uploads_only_when_told(demo_small, monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_SHARED", "1")
    at = index_panel_open(app("pages/neuron_lookup.py")).run()
    assert not at.exception and not any(e.label == "Index a folder" for e in at.sidebar.expander)
    monkeypatch.setenv("CLIP_EXPLORER_UPLOADS", "1")
    at = index_panel_open(app("pages/neuron_lookup.py")).run()
    assert not at.exception and any(e.label == "Index a folder" for e in at.sidebar.expander)
    assert [u.key for u in at.file_uploader] == ["index_upload:0"]  # no folder to offer: the uploader alone
    assert not [s for s in at.selectbox if s.key == "index_folder"]


def test_the_server_takes_a_collection_while_image_uploaders_keep_their_limit(demo_small):
    """``server.maxUploadSize`` (the repo's config) lets a zipped collection through; the image uploaders say 8 MB to
    the browser (and ``ui.read_upload`` checks it), the collection uploader the collection cap."""
    import tomllib

    from core.config import DEFAULT_UPLOAD_MAX_MB
    from tests.app.conftest import REPO

    server = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] >= DEFAULT_UPLOAD_MAX_MB
    at = index_panel_open(app("pages/neuron_search.py")).run()
    assert not at.exception
    assert at.file_uploader(key="upload").proto.max_upload_size_mb == 8
    assert at.file_uploader(key="index_upload:0").proto.max_upload_size_mb == min(server["maxUploadSize"],
                                                                                   DEFAULT_UPLOAD_MAX_MB)


def test_the_panel_draws_its_content_only_while_open(app_env):
    """With a collection shown, "Index a folder" starts closed and sends none of its widgets (the uploader and the
    buttons would cost every page's first load in the browser); opened, it draws them."""
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception and [e.label for e in at.sidebar.expander if e.label == "Index a folder"]
    assert not at.file_uploader and not [b for b in at.button if b.key in ("index_button", "upload_button")]
    at.session_state["index_panel"] = True  # what a click on its header does
    at.run()
    assert [u.key for u in at.file_uploader] == ["index_upload:0"]
    assert [b.key for b in at.sidebar.button if b.key in ("index_button", "upload_button")]
