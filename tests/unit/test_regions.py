"""Region-neuron maps: the shipped data, the colouring rule, the cached layer computation on a tiny real model, the
geographic ranking, the checks and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.analyses import geo, region_checks, regions
from core.cli import main
from core.errors import BadInputError, UnitOutOfRangeError, WeightsUnavailableError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
LAYER = "visual.layer4.0.act3@in"


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


@pytest.fixture(scope="module")
def tiny_regions(tiny_rn, tmp_path_factory):
    """The tiny model's region responses at LAYER (computed once for the module, in its own artifacts dir)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path_factory.mktemp("regions") / "artifacts"))
    calls = []
    lr = regions.layer_regions(tiny_rn, LAYER, progress=lambda d, t: calls.append((d, t)))
    yield lr, calls
    mp.undo()


def test_shipped_data_and_attribution():
    assert len(geo.country_names()) == 175 and len(geo.city_names()) == 620
    pub = geo.published()
    assert pub.country.shape == (66, 175) and pub.city.shape == (66, 620) and pub.spatial.shape == (66, 40, 80)
    assert len(pub.rows("contrastive_4x")) == 19 and len(pub.rows("contrastive_rn50")) == 10
    readme = (geo.REGION_DIR / "README.md").read_text()
    assert "CC-BY 4.0" in readme or "Creative Commons Attribution 4.0" in readme
    assert geo.slug_for_arch("RN50x4") == "contrastive_4x" and geo.slug_for_arch("RN50-quickgelu") == "contrastive_rn50"
    assert geo.slug_for_arch("ViT-B-32") is None
    assert {geo.continent_of(c) for c in ("France", "Kenya", "Japan", "Brazil", "Canada", "Fiji")} == {
        "europe", "africa", "asia", "south america", "north america", "oceania"}


def test_geographic_vocabulary():
    for w in ("france", "french", "paris", "africa", "tokyo", "new york", "German"):
        assert geo.is_geographic(w), w
    for w in ("cat", "pizza", "the", "music"):
        assert not geo.is_geographic(w), w


def test_world_map_is_unlabelled_land_and_sea():
    img = np.asarray(geo.world_map(640))
    assert img.shape == (320, 640, 3)
    land = (img == geo.LAND).all(-1).mean()
    sea = (img == geo.SEA).all(-1).mean()
    assert 0.15 < land < 0.45 and sea > 0.45  # about 29 % of the Earth is land; the poles stretch the sea here
    assert (img[160, 100] == geo.SEA).all()  # the eastern Pacific at the equator is sea


def test_colouring_rule():
    one = geo.hue_colours(np.array([[0.0, 0.5, 1.0]]))
    assert one[0] == "#ffffff" and one[1] != one[2]  # nothing responds: white
    # two units with opposite hues, equally active: grey (no saturation)
    grey = geo.hue_colours(np.array([[1.0], [1.0]]), hues=np.array([0.0, 0.5]))[0]
    r, g, b = (int(grey[i:i + 2], 16) for i in (1, 3, 5))
    assert max(r, g, b) - min(r, g, b) <= 2
    # the stronger unit wins the hue
    red = geo.hue_colours(np.array([[1.0], [0.2]]), hues=np.array([0.0, 0.33]))[0]
    assert int(red[1:3], 16) > int(red[3:5], 16)
    assert np.allclose(geo.normalize(np.array([[2.0, 4.0, 3.0]])), [[0, 1, 0.5]])


def test_spearman():
    x = np.arange(10.0)
    assert geo.spearman(x, x ** 3) == pytest.approx(1.0)
    assert geo.spearman(x, -x) == pytest.approx(-1.0)
    assert geo.spearman(x, np.ones(10)) == 0.0
    assert geo.rank(np.array([3.0, 1.0, 3.0])).tolist() == [1.5, 0.0, 1.5]


def test_layer_regions_shapes_cache_and_progress(tiny_rn, tiny_regions):
    lr, calls = tiny_regions
    units = lr.spatial.shape[0]
    assert lr.country.shape == (175, units) and lr.city.shape == (620, units)
    assert lr.spatial.shape == (units, 40, 80) and np.isfinite(lr.spatial).all()
    assert calls[-1][0] == calls[-1][1] == 795 + len(regions.crops())
    assert regions.is_computed(tiny_rn, LAYER)
    again = regions.layer_regions(tiny_rn, LAYER)  # from disk: same numbers (float16 map)
    assert np.allclose(again.country, lr.country) and np.allclose(again.spatial, lr.spatial, atol=1e-2)
    assert lr.spatial.std() > 0  # the map is not constant


def test_crops_cover_the_whole_map():
    cover = np.zeros(geo.GRID)
    for r, c, s in regions.crops():
        cover[r:r + s, c:c + s] += 1
    assert cover.min() >= 1 and len(regions.crops()) == 126


def test_unit_frames_and_map_spec(tiny_regions):
    from core.region_charts import region_map_spec

    lr, _ = tiny_regions
    frames = regions.unit_frames(lr, [1, 5])
    assert len(frames["countries"]) == 175 and len(frames["cities"]) == 620 and len(frames["cells"]) == 3200
    assert {"u1", "u5", "n1", "n5", "colour"} <= set(frames["countries"].columns)
    assert frames["countries"]["n1"].max() == pytest.approx(1.0)
    spec = region_map_spec(frames, [1, 5])
    assert spec["layer"][1]["mark"]["type"] == "geoshape" and spec["projection"]["type"] == "equirectangular"
    feats = spec["datasets"]["countries"]
    assert len(feats) == 175 and {"name", "u1", "u5", "colour"} <= set(feats[0]["properties"])
    assert {"name", "lon", "lat", "u1"} <= set(spec["datasets"]["cities"][0])
    tips = {t["field"] for t in spec["layer"][-1]["encoding"]["tooltip"]}
    assert {"name", "u1", "u5"} <= tips
    assert "http" not in json.dumps(spec["datasets"])  # the map needs no network
    with pytest.raises(UnitOutOfRangeError):
        regions.unit_frames(lr, [999])
    with pytest.raises(BadInputError):
        regions.unit_frames(lr, [])


def test_geographic_ranking_finds_a_planted_region_unit():
    words = ["cat", "dog", "pizza", "house", "music", "france", "paris", "french", "africa", "tokyo", "tree", "car"]
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(len(words), 6)).astype(np.float32)
    acts[[5, 6, 7, 8, 9], 4] += 10  # unit 4: all top-5 words geographic
    ranking = regions.geographic_ranking(acts, words, k=5)
    assert ranking.iloc[0]["unit"] == 4 and ranking.iloc[0]["geographic"] == 5 and ranking.iloc[0]["all_geographic"]
    assert regions.summary(ranking)["all_geographic"] >= 1
    assert set(ranking.iloc[0]["top_words"].split(", ")) == {"france", "paris", "french", "africa", "tokyo"}


def test_self_consistency_passes_true_and_fails_shuffled(tiny_regions):
    lr, _ = tiny_regions
    true, fake = region_checks.self_consistency(lr, units=6)
    assert true["passed"].all() and (true["rho_country"] > 0.99).all()
    assert not fake["passed"].all()


def test_check_published_refuses_other_or_random_models(tiny_rn, tiny_regions):
    with pytest.raises(WeightsUnavailableError, match="RN50x4"):
        region_checks.check_published(tiny_rn, tiny_regions[0])


def test_continent_preference_on_a_planted_artifact():
    import pandas as pd

    class Art:  # the parts of an Artifact the check reads
        pass

    rng = np.random.default_rng(0)
    conts = ["europe"] * 12 + ["africa"] * 8 + ["asia"] * 6
    art = Art()
    art.max = rng.normal(size=(len(conts), 5)).astype(np.float16)
    art.max[:12, 2] += 3.0  # unit 2 prefers European flags
    cont = pd.Series(dict(enumerate(conts)), dtype=object)
    orig = region_checks.flag_continents
    region_checks.flag_continents = lambda a: cont
    try:
        res = region_checks.continent_preference(art, permutations=200)
    finally:
        region_checks.flag_continents = orig
    assert res["unit"] == 2 and res["continent"] == "europe" and res["prefers"] and res["p_value"] < 0.05
    assert "does prefer" in region_checks.continent_note(res)


def test_cli_regions_json(tiny_rn, tiny_regions, capsys):  # the module's cache: the layer is not recomputed
    code = main(["regions", "--model", "tiny-rn/random", "--neuron", f"{LAYER}:3", "--top", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["neuron"] == f"{LAYER}:3" and len(out["top"]) == 4
    assert len(out["countries"]) == 175 and len(out["cities"]) == 620 and -90 <= out["map_peak"]["lat"] <= 90
    code = main(["regions", "--model", "tiny-rn/random", "--neuron", f"{LAYER}:999"])
    assert code == 2 and "out of range" in capsys.readouterr().err
    assert main(["regions", "--model", "tiny-rn/random"]) == 2


def test_check_paper_regions_refuses_without_the_article_weights(tiny_rn, capsys):
    assert main(["check-paper", "--regions", "--model", "tiny-rn/random"]) == 2
    err = capsys.readouterr().err
    assert "RN50x4" in err and "--self-consistency" in err


def test_check_paper_regions_self_consistency(tiny_rn, tiny_regions, capsys):
    code = main(["check-paper", "--regions", "--self-consistency", "--model", "tiny-rn/random", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["true"]) == 8 and all(r["passed"] for r in out["true"])
    assert not all(r["passed"] for r in out["shuffled"])
