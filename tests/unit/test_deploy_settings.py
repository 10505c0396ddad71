"""Deployment settings (``CLIP_EXPLORER_*`` and the TOML file), the model guard (listed ids, memory estimate from the
architecture alone) and the caps on heavy jobs (per visitor: refused; per server: queued, cancellable)."""
from __future__ import annotations

import threading

import pytest

from core import config
from core.errors import BadInputError


@pytest.fixture
def clean_env(monkeypatch):
    for name in (*config._ENV, config.CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_open_by_default_and_shared_defaults(clean_env, tmp_path):
    s = config.get_settings()
    assert not s.shared and s.models == () and s.index_roots == (s.collections_dir,)
    assert (s.session_jobs, s.max_jobs, s.max_model_gb, s.login) == (0, 0, None, False)
    clean_env.setenv("CLIP_EXPLORER_SHARED", "1")
    clean_env.setenv("CLIP_EXPLORER_MODELS", " RN50x4@/models/RN50x4.pt , demo ")
    s = config.get_settings()
    assert s.shared and s.index_roots == () and (s.session_jobs, s.max_jobs) == (1, 2)
    assert s.listed_models == ("demo", "RN50x4@/models/RN50x4.pt")


def test_uploads_are_on_when_open_off_when_shared_unless_told(clean_env):
    s = config.get_settings()
    assert s.uploads and s.upload_max_mb == 200 and s.uploads_dir == s.collections_dir / "uploads"
    clean_env.setenv("CLIP_EXPLORER_SHARED", "1")
    assert not config.get_settings().uploads
    clean_env.setenv("CLIP_EXPLORER_UPLOADS", "1")
    clean_env.setenv("CLIP_EXPLORER_UPLOAD_MAX_MB", "50")
    s = config.get_settings()
    assert s.uploads and s.upload_max_mb == 50


def test_the_uploads_folder_is_never_offered_itself_and_uploads_only_when_on(clean_env, tmp_path):
    """"Index a folder" offers the collections' sub-folders and, where uploads are on, each upload as uploads/NAME;
    the uploads folder itself (a sub-folder of the collections dir) is never one folder to index."""
    from ui.deploy import index_folders

    clean_env.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    for sub in ("collections/pics/cat", "collections/uploads/cats/a", "collections/uploads/.upload-x"):
        (tmp_path / sub).mkdir(parents=True)
    assert list(index_folders()) == ["pics", "uploads/cats"]
    clean_env.setenv("CLIP_EXPLORER_UPLOADS", "0")
    assert list(index_folders()) == ["pics"]


@pytest.mark.parametrize("name, value", [
    ("CLIP_EXPLORER_SHARED", "maybe"), ("CLIP_EXPLORER_MODELS", "demo,,RN50/openai"),
    ("CLIP_EXPLORER_INDEX_ROOTS", "relative/dir"), ("CLIP_EXPLORER_SESSION_JOBS", "-1"),
    ("CLIP_EXPLORER_MAX_JOBS", "two"), ("CLIP_EXPLORER_MAX_MODEL_GB", "0"), ("CLIP_EXPLORER_LOGIN", "2"),
    ("CLIP_EXPLORER_UPLOADS", "perhaps"), ("CLIP_EXPLORER_UPLOAD_MAX_MB", "lots")])
def test_a_bad_value_is_one_line_naming_its_variable(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(BadInputError) as err:
        config.get_settings()
    assert str(err.value).startswith(name) and "\n" not in str(err.value)


def test_a_toml_file_sets_values_and_a_variable_wins(clean_env, tmp_path):
    file = tmp_path / "explorer.toml"
    file.write_text('shared = true\nmodels = ["demo", "RN50@/m/RN50.pt"]\nmax_jobs = 3\nindex_roots = ["/srv/img"]\n')
    clean_env.setenv(config.CONFIG_ENV, str(file))
    clean_env.setenv("CLIP_EXPLORER_MAX_JOBS", "1")
    s = config.get_settings()
    assert s.shared and s.models == ("demo", "RN50@/m/RN50.pt") and s.max_jobs == 1
    assert s.index_roots == (config.Path("/srv/img"),)
    file.write_text("sharde = true\n")
    with pytest.raises(BadInputError, match="unknown key 'sharde'"):
        config.get_settings()


def test_allowed_models_compare_strings_and_never_touch_the_file(clean_env):
    from core.model.guard import NOT_OFFERED, ModelNotOfferedError, check_allowed

    check_allowed("RN50@/etc/shadow")  # open mode: anything (loading decides)
    clean_env.setenv("CLIP_EXPLORER_SHARED", "1")
    clean_env.setenv("CLIP_EXPLORER_MODELS", "RN50@/models/RN50.pt")
    check_allowed("RN50@/models/RN50.pt")
    messages = set()
    for typed in ("RN50@/etc/shadow", "RN50@/etc/nonexistent", "ViT-L-14/random", "RN50/openai"):
        with pytest.raises(ModelNotOfferedError) as err:
            check_allowed(typed)
        messages.add(str(err.value))
    assert messages == {NOT_OFFERED}


def test_the_estimate_comes_from_the_architecture_on_the_meta_device():
    import time

    from core.model.guard import estimate

    t = time.perf_counter()
    big = estimate("ViT-bigG-14/random")
    assert time.perf_counter() - t < 20  # creating it for real takes a minute and ~10 GB
    assert 2.5e9 < big.params < 2.6e9 and big.peak_bytes == big.params * 4
    assert estimate("RN50@/nonexistent/file.pt").peak_bytes == 2 * estimate("RN50/random").peak_bytes


def test_memory_budget_from_setting_or_meminfo(clean_env, tmp_path):
    from core.model.guard import ModelTooLargeError, available_bytes, check_memory, meminfo_available

    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal:       16000000 kB\nMemAvailable:    2000000 kB\n")
    assert meminfo_available(str(fake)) == 2_048_000_000 and meminfo_available(str(tmp_path / "none")) is None
    clean_env.setenv("CLIP_EXPLORER_MAX_MODEL_GB", "0.3")
    assert available_bytes() == (300_000_000, "CLIP_EXPLORER_MAX_MODEL_GB")
    with pytest.raises(ModelTooLargeError, match=r"about 0\.4 GB to load \(102 M parameters"):
        check_memory("RN50/random")
    clean_env.setenv("CLIP_EXPLORER_MAX_MODEL_GB", "1")
    assert check_memory("RN50/random").params > 100e6


def test_a_second_heavy_job_in_one_session_is_refused_and_beyond_the_server_cap_waits(clean_env, monkeypatch):
    from ui import deploy, jobs
    from ui.resources import jobs as rjobs

    clean_env.setenv("CLIP_EXPLORER_SESSION_JOBS", "1")
    clean_env.setenv("CLIP_EXPLORER_MAX_JOBS", "1")
    gate = threading.Event()
    monkeypatch.setattr(deploy, "session_id", lambda: "visitor-a")
    first = rjobs.heavy_job("cap:first", "First render", lambda progress: gate.wait(10) and "first")
    assert rjobs.heavy_job("cap:first", "First render", lambda progress: None) is first  # watching it is free
    with pytest.raises(BadInputError, match=r"already have 1 heavy job\(s\) running or queued \(First render\)"):
        rjobs.heavy_job("cap:second", "Second render", lambda progress: None)
    monkeypatch.setattr(deploy, "session_id", lambda: "visitor-b")
    waiting = rjobs.heavy_job("cap:other", "Other render", lambda progress: "other")
    monkeypatch.setattr(deploy, "session_id", lambda: "visitor-c")
    dropped = rjobs.heavy_job("cap:cancel", "Dropped render", lambda progress: "never")
    _wait_for(lambda: jobs.queue_position("cap:cancel") == 1)
    assert jobs.queue_position("cap:other") == 0 and not waiting.finished.is_set()  # queued behind the cap
    _wait_for(lambda: "queued: 1 job(s) ahead" in waiting.title)  # what its watchers see
    rjobs.cancel_event("cap:cancel").set()  # Cancel while queued: it leaves the queue, never runs
    assert dropped.finished.wait(10) and isinstance(dropped.error, rjobs.JobCancelled) and dropped.result is None
    gate.set()
    assert first.finished.wait(10) and first.result == "first"
    assert waiting.finished.wait(10) and waiting.result == "other"


def _wait_for(condition, timeout: float = 10.0) -> None:
    import time

    end = time.time() + timeout
    while not condition():
        assert time.time() < end, "timed out"
        time.sleep(0.02)


def test_a_bad_setting_stops_the_server_in_one_line(clean_env):
    import importlib

    dashboard = importlib.import_module("dashboard")
    clean_env.setenv("CLIP_EXPLORER_MAX_JOBS", "lots")
    with pytest.raises(SystemExit) as err:
        dashboard.server_middleware()
    assert str(err.value).startswith("error: CLIP_EXPLORER_MAX_JOBS must be a whole number")
