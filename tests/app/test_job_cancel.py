"""Cancelling the dashboard's background jobs (AppTest, tiny real model): a feature-visualization render, word
scoring, and an indexing job stuck on a named pipe (reported as stalled, then cancelled). The script never waits on
a job, so a run returns at once and the Cancel button is live while the job works."""
from __future__ import annotations

import os
import time

import pytest

from tests.app.conftest import app, index_panel_open
from tests.conftest import make_image_folder


@pytest.fixture(autouse=True)
def stop_jobs_after():
    """Whatever a test leaves running is cancelled (old code's shared flags too), so no render keeps a core busy."""
    yield
    from ui import jobs

    for job in list(jobs._JOBS.values()):
        getattr(job, "cancel", None) and job.cancel.set()
    for flag in jobs._CANCELS.values():
        flag.set()


def _until(at, done, timeout: float = 20.0):
    """Rerun ``at`` (what the progress fragment's timer does in a browser) until ``done(at)``; returns the seconds."""
    t0 = time.time()
    while not done(at):
        assert time.time() - t0 < timeout, ("timed out", [e.value for k in (at.exception, at.error, at.warning, at.info) for e in k],
                                            [b.key for b in at.button], [(s.key, s.value) for s in at.selectbox])
        time.sleep(0.3)
        at.run()
    return time.time() - t0


def _cancel_button(at, prefix: str):
    found = [b for b in at.button if str(b.key).startswith(f"cancel:{prefix}")]
    assert found, [b.key for b in at.button]
    return found[0]


def test_cancel_stops_a_running_render(app_env, monkeypatch):
    from core.featurevis import strip

    monkeypatch.setattr(strip, "STRIP_STEPS", 100_000)  # a render far longer than the test
    at = app("pages/neuron_lookup.py").run()
    at.number_input(key="fv_seeds").set_value(1)
    at.multiselect(key="fv_facets").set_value([])
    at.run()
    t0 = time.time()
    at.button(key="fv_render").click().run()
    assert time.time() - t0 < 30 and not at.exception  # the run returned while the render goes on
    _until(at, lambda a: any(str(b.key).startswith("cancel:featurevis") for b in a.button))
    _cancel_button(at, "featurevis").click().run()
    took = _until(at, lambda a: any("Rendering cancelled" in i.value for i in a.info))
    assert took < 10 and not at.exception
    assert [b for b in at.button if b.key == "fv_render"]  # rendering can be started again
    assert not [b for b in at.button if str(b.key).startswith("cancel:")]


def test_cancel_stops_word_scoring(app_env, monkeypatch):
    from core.analyses import words

    slow = words.score_words

    def score_slowly(*args, **kwargs):
        time.sleep(0.5)
        return slow(*args, **kwargs)

    monkeypatch.setattr(words, "_vocabulary", lambda: tuple(f"w{i}" for i in range(60)))
    monkeypatch.setattr(words, "CHUNK", 1)  # 60 chunks of half a second: about 30 s of scoring
    monkeypatch.setattr(words, "score_words", score_slowly)
    at = app("pages/neuron_lookup.py").run()
    at.button(key="words_score").click().run()
    _until(at, lambda a: any(str(b.key).startswith("cancel:words") for b in a.button))
    _cancel_button(at, "words").click().run()
    took = _until(at, lambda a: any("Word scoring cancelled" in i.value for i in a.info))
    assert took < 10 and not at.exception
    assert [b for b in at.button if b.key == "words_score"]


def test_words_scoring_stops_when_cancelled(tiny_rn, tmp_path, monkeypatch):
    from core.analyses import words
    from core.errors import Cancelled

    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    monkeypatch.setattr(words, "CHUNK", 2)
    seen = []
    with pytest.raises(Cancelled):
        words.word_activations(tiny_rn, words=("cat", "dog", "boat", "tree"), progress=lambda d, t: seen.append(d),
                               cancelled=lambda: len(seen) >= 1)
    assert seen == [2]  # the first chunk was scored (and kept), the second never started


@pytest.fixture
def piped_env(empty_env, monkeypatch):
    """The app's collections dir with a folder of 20 images and a named pipe named like an image."""
    from ui import jobs

    folder = make_image_folder(empty_env / "collections" / "piped", n_per_class=5, classes=("cat", "dog"), size=48)
    fifo = folder / "cat" / "0a.png"
    os.mkfifo(fifo)
    monkeypatch.setattr(jobs, "STALL_S", 2.0)
    yield folder
    try:  # a reader blocked on the pipe wakes up (and reads nothing)
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def test_an_index_job_stuck_on_a_named_pipe_is_reported_and_cancelled(piped_env):
    at = index_panel_open(app("pages/neuron_lookup.py")).run()
    at.sidebar.selectbox(key="index_folder").set_value("piped")
    at.sidebar.button(key="index_button").click().run()
    assert not at.exception

    def settled(a) -> bool:
        text = " ".join(w.value for w in a.warning)
        return "looks stuck" in text or not [b for b in a.button if str(b.key).startswith("cancel:index")]

    _until(at, settled, 60)
    if any("looks stuck" in w.value for w in at.warning):  # the listing still yields the pipe: cancel it
        _cancel_button(at, "index").click().run()
        _until(at, lambda a: any("cancelled" in i.value or "stopped after" in i.value for i in a.info), 10)
        assert not [b for b in at.button if str(b.key).startswith("cancel:")]
    assert not at.exception
    assert [b for b in at.sidebar.button if b.key == "index_button"]  # another run can be started


@pytest.mark.parametrize("layer", [None, "visual.layer3.0.act3@in"])
def test_an_interrupted_index_run_is_shown_unfinished_and_resumes(empty_env, tiny_rn, layer):
    """At the article's layer (None) or another one: the run is listed with its layer and resumes at it."""
    from core.model.hooks import article_layer
    from core.pipeline.collection import slug
    from core.pipeline.extract import run_extraction
    from core.pipeline.store import PARTIAL_DIR, open_artifact
    from tests.app.conftest import MODEL_ID

    class Crash(Exception):
        pass

    def crash(done, total):
        raise Crash()

    folder = make_image_folder(empty_env / "collections" / "halfway", n_per_class=5, classes=("cat", "dog"), size=48)
    out = empty_env / "indexes" / (f"{slug('halfway')}--{slug(MODEL_ID)}" + (f"--{slug(layer)}" if layer else ""))
    with pytest.raises(Crash):  # what the dashboard's job runs, stopped by a crash (or a restart) after a batch
        run_extraction(tiny_rn, folder.resolve(), out, layer=layer, workers=0, progress=crash)
    assert (out / PARTIAL_DIR / "state.json").is_file()
    layer = layer or article_layer(tiny_rn)
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception
    assert any("halfway" in c.value and "unfinished" in c.value and layer in c.value for c in at.sidebar.caption), \
        [c.value for c in at.sidebar.caption]
    at.sidebar.button(key=f"resume:halfway@{layer}").click().run()
    _until(at, lambda a: any(s.key == "collection" and str(s.value).startswith("halfway") for s in a.sidebar.selectbox), 60)
    assert not at.exception and not (out / PARTIAL_DIR).exists() and open_artifact(out).layer == layer
    assert not any("unfinished" in c.value for c in at.sidebar.caption)
