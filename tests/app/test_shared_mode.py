"""AppTest: the shared-server mode (``CLIP_EXPLORER_SHARED=1``) against the open default: which models the picker
and links load, one neutral refusal whatever file a typed id names, "Index a folder" limited to listed roots, the
memory guard, and the share box's note for a link that would not reproduce the view (tiny real models)."""
from __future__ import annotations

import os
import re

import pytest

from tests.app.conftest import MODEL_ID, app, index_panel_open
from tests.conftest import TINY_VIT, make_image_folder

OTHER = f"{TINY_VIT}/random"


@pytest.fixture
def env(app_env):
    """Set deployment variables for one test (restored after it)."""
    import streamlit as st

    names = ("CLIP_EXPLORER_SHARED", "CLIP_EXPLORER_MODELS", "CLIP_EXPLORER_INDEX_ROOTS", "CLIP_EXPLORER_MAX_MODEL_GB",
             "CLIP_EXPLORER_SESSION_JOBS", "CLIP_EXPLORER_MAX_JOBS")
    old = {k: os.environ.get(k) for k in names}

    def set_env(**values):
        for k, v in values.items():
            os.environ[f"CLIP_EXPLORER_{k.upper()}"] = v
        st.cache_data.clear()

    yield set_env
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    st.cache_data.clear()


def shown(markdown: str) -> str:
    """The text a visitor reads: the markdown source without ``ui.md_escape``'s backslashes and word joiners."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def _warnings(at) -> list[str]:
    return [shown(w.value) for w in at.warning]


def test_shared_mode_a_link_loads_a_listed_model_and_the_picker_offers_only_those(env, tiny_vit):
    env(shared="1", models=OTHER)
    at = app("pages/neuron_lookup.py")
    at.query_params["model"] = OTHER
    at.run()
    assert not at.exception and not at.error and not _warnings(at)
    picker = at.selectbox(key="model")
    assert picker.value == OTHER and picker.options == [MODEL_ID, OTHER]
    assert not picker.proto.accept_new_options  # nothing typed on a shared server


@pytest.mark.parametrize("typed", ["RN50@/etc/passwd", "RN50@/etc/nonexistent-file"])
def test_shared_mode_refuses_unlisted_ids_with_one_message_whatever_the_file(env, typed):
    from core.model.guard import NOT_OFFERED, ModelNotOfferedError
    from ui import resources

    env(shared="1", models=OTHER)
    with pytest.raises(ModelNotOfferedError) as err:
        resources.get_model(typed)
    assert str(err.value) == NOT_OFFERED  # the same text for a file that exists and one that does not
    link = app("pages/neuron_lookup.py")
    link.query_params["model"] = typed
    link.run()
    assert not link.exception and link.selectbox(key="model").value == MODEL_ID
    (warning,) = _warnings(link)
    assert warning.replace(typed, "ID") == ("The link's model 'ID' is not available here; showing "
                                            f"'{MODEL_ID}' instead. Available: {MODEL_ID}, {OTHER}.")


def test_open_mode_typed_ids_work_links_load_listed_ids_and_the_share_box_says_when_not(env, tiny_vit):
    at = app("pages/neuron_lookup.py")
    at.session_state["model"] = OTHER  # typed by hand (AppTest cannot type a new option): loads; no link may load it
    at.run()
    assert at.selectbox(key="model").proto.accept_new_options
    assert not at.exception and not at.error and at.selectbox(key="model").value == OTHER
    assert any("will not reproduce this view" in c.value for c in at.caption)
    env(models=OTHER)  # now listed: a link loads it and the share box has nothing to add
    link = app("pages/neuron_lookup.py")
    link.query_params["model"] = OTHER
    link.run()
    assert not link.exception and link.selectbox(key="model").value == OTHER and not _warnings(link)
    assert not any("will not reproduce" in c.value for c in link.caption)


def test_index_a_folder_is_hidden_when_shared_and_limited_to_listed_roots(env, tmp_path):
    make_image_folder(tmp_path / "root" / "pics", n_per_class=1, size=32)
    make_image_folder(tmp_path / "elsewhere" / "secret", n_per_class=1, size=32)
    env(shared="1", models="")
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception and not any(e.label == "Index a folder" for e in at.sidebar.expander)
    env(index_roots=str(tmp_path / "root"))
    at = index_panel_open(app("pages/neuron_lookup.py")).run()
    assert not at.exception and at.selectbox(key="index_folder").options == ["pics"]


def test_the_memory_guard_refuses_a_model_over_budget_without_creating_it(env, monkeypatch):
    from core.model import loading

    created = []
    real = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: created.append(a) or real(*a, **k))
    env(max_model_gb="0.1")  # RN50: 102 M parameters = 0.41 GB in float32
    at = app("pages/neuron_lookup.py")
    at.session_state["model"] = "RN50/random"  # typed into the picker
    at.run()
    assert not at.exception
    assert any("needs about 0.4 GB" in shown(e.value) and "0.1 GB" in shown(e.value) for e in at.error), \
        [e.value for e in at.error]
    assert ("RN50/random",) not in created


def test_login_gate_stops_every_page_until_the_visitor_logs_in(env):
    os.environ["CLIP_EXPLORER_LOGIN"] = "1"
    try:
        at = app("pages/neuron_lookup.py").run()
    finally:
        os.environ.pop("CLIP_EXPLORER_LOGIN")
    assert not at.exception and at.button(key="login_button").label == "Log in"
    assert not at.selectbox  # nothing else is drawn, no model is loaded


def test_a_second_heavy_job_in_one_session_is_refused_with_a_message(env, monkeypatch):
    import threading

    from ui import deploy
    from ui.resources import jobs

    env(shared="1", models="", session_jobs="1")
    monkeypatch.setattr(deploy, "session_id", lambda: "one-visitor")  # the AppTest session and the job below
    gate = threading.Event()
    first = jobs.heavy_job("test:first-heavy-job", "Scoring the rastered-word vocabulary", lambda progress: gate.wait(30))
    try:
        at = app("pages/neuron_lookup.py").run()
        at.button(key="fv_render").click()
        at.run()
        assert not at.exception and not at.error
        (note,) = [shown(i.value) for i in at.info if "heavy job" in i.value]
        assert note.startswith("You already have 1 heavy job(s) running or queued (Scoring the rastered-word")
        from ui.jobs import owned_jobs

        assert owned_jobs("one-visitor") == [first]  # the render was not started
    finally:
        gate.set()
    assert first.finished.wait(10)
