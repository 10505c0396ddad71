"""Checks of the region maps: against the article's published responses, against themselves, and what the demo
model shows (its collection's flags are labelled by continent). No streamlit.
"""
from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from core.analyses import geo
from core.analyses.regions import LayerRegions
from core.errors import BadInputError, WeightsUnavailableError

MIN_RHO = 0.3  # a unit passes when its country-name responses rank the 175 countries like the article's (Spearman)
CONTINENTS = ("africa", "america", "asia", "europe", "oceania")


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale each row to 0..254 as the article's files (``geo.normalize`` then rounding)."""
    return np.round(geo.normalize(values, axis=-1) * 254).astype(np.uint8)


def compare(lr: LayerRegions, units: list[int], ref_country: np.ndarray, ref_city: np.ndarray,
            ref_spatial: np.ndarray, *, min_rho: float = MIN_RHO) -> pd.DataFrame:
    """Spearman correlation of the product's responses of ``units`` with reference rows (one row per unit).

    Returns:
        DataFrame[unit, rho_country, rho_city, rho_spatial, own_rank, passed]: ``own_rank`` is the rank (1 = best) of
        the unit's own reference row among all reference rows by country correlation; a unit passes when
        ``rho_country >= min_rho`` and its own row ranks first (country-name responses of different units correlate
        through what every unit sees in a word, such as its length, so the correlation alone is not enough).
    """
    rows = []
    for i, u in enumerate(units):
        u = lr.check(u)
        mine = lr.country[:, u]
        rhos = [geo.spearman(mine, ref) for ref in ref_country]
        rows.append({"unit": u, "rho_country": rhos[i], "rho_city": geo.spearman(lr.city[:, u], ref_city[i]),
                     "rho_spatial": geo.spearman(lr.spatial[u].ravel(), np.asarray(ref_spatial[i]).ravel()),
                     "own_rank": (own := 1 + int(sum(r > rhos[i] for r in rhos))), "passed": rhos[i] >= min_rho and own == 1})
    return pd.DataFrame(rows, columns=["unit", "rho_country", "rho_city", "rho_spatial", "own_rank", "passed"])


def check_published(loaded, lr: LayerRegions, *, min_rho: float = MIN_RHO) -> pd.DataFrame:
    """The product's country/city/map responses against the article's ``country.npy`` etc. for each of the
    article's units of this model (RN50x4 or RN50, real weights only).

    Raises:
        WeightsUnavailableError: not one of the article's models, or random weights.
    """
    slug = geo.slug_for_arch(loaded.spec.arch)
    if slug is None or loaded.spec.kind == "random":
        raise WeightsUnavailableError(
            f"check-paper --regions compares against the article's published RN50x4 and RN50 maps; {loaded.id} "
            + ("has random weights." if slug else "is neither.")
            + " Load real weights with --model RN50x4/openai (cached) or --checkpoint FILE --arch RN50x4, "
              "or run --regions --self-consistency to test the machinery on this model.")
    pub = geo.published()
    rows = pub.rows(slug)
    units = [pub.units[r][1] for r in rows]
    table = compare(lr, units, pub.country[rows], pub.city[rows], pub.spatial[rows], min_rho=min_rho)
    table.insert(1, "article_top_words", [", ".join(pub.top_words[r][:3]) for r in rows])
    return table


def self_consistency(lr: LayerRegions, *, units: int = 8, seed: int = 0, min_rho: float = MIN_RHO
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The check's machinery on any model: the ``units`` most place-selective units against their own responses
    written in the article's uint8 format (should all pass) and against a shuffled assignment (should mostly fail).
    """
    if lr.units < 2:
        raise BadInputError("The self-consistency check needs a layer with at least 2 units.")
    picked = [int(u) for u in np.argsort(-lr.country.std(axis=0), kind="stable")[: min(units, lr.units)]]
    ref_c, ref_t = to_uint8(lr.country[:, picked].T), to_uint8(lr.city[:, picked].T)
    ref_s = to_uint8(lr.spatial[picked].reshape(len(picked), -1)).reshape(len(picked), *geo.GRID)
    true = compare(lr, picked, ref_c, ref_t, ref_s, min_rho=min_rho)
    rng = np.random.default_rng(seed)
    perm = np.roll(np.arange(len(picked)), 1 + int(rng.integers(0, max(1, len(picked) - 1))))
    fake = compare(lr, picked, ref_c[perm], ref_t[perm], ref_s[perm], min_rho=min_rho)
    return true, fake


# ---------------------------------------------------------------- the demo model: flags by continent ---------------
def flag_continents(art) -> pd.Series:
    """The continent of each flag picture of the demo collection, indexed by artifact row (others left out)."""
    from core.pipeline.demo import load_corpus_index

    idx = load_corpus_index()
    cont = dict(zip(idx["id"], idx["continent"]))
    label = dict(zip(idx["id"], idx["label"]))
    rows = {}
    for row, key in enumerate(art.keys):
        image_id = PurePosixPath(key).stem
        if label.get(image_id) == "flag" and cont.get(image_id) in CONTINENTS:
            rows[row] = cont[image_id]
    return pd.Series(rows, dtype=object)


def continent_preference(art, *, permutations: int = 500, seed: int = 0, min_flags: int = 5) -> dict:
    """Does any unit prefer one continent's flags? For every unit and continent, the mean z-score (over the
    flags) of that continent's flags; the best unit-continent pair is tested against the same maximum under
    shuffled continent labels (a family-wise p-value over all units and continents).

    Returns:
        {flags, per_continent, unit, continent, effect (std-devs), p_value, prefers (p < 0.05), top (DataFrame)}.
    """
    cont = flag_continents(art)
    counts = cont.value_counts()
    keep = [c for c in CONTINENTS if counts.get(c, 0) >= min_flags]
    cont = cont[cont.isin(keep)]
    if len(keep) < 2:
        return {"flags": int(len(cont)), "per_continent": counts.to_dict(), "unit": None, "continent": None,
                "effect": 0.0, "p_value": 1.0, "prefers": False, "top": pd.DataFrame()}
    acts = np.asarray(art.max[cont.index.to_numpy()], dtype=np.float32)  # (F, C)
    z = (acts - acts.mean(0)) / (acts.std(0) + 1e-6)
    labels = np.asarray([keep.index(c) for c in cont])
    onehot = np.eye(len(keep))[labels]  # (F, K)

    def means(lab_onehot):
        return (lab_onehot.T @ z) / lab_onehot.sum(0)[:, None]  # (K, C)

    real = means(onehot)
    rng = np.random.default_rng(seed)
    null = np.array([means(onehot[rng.permutation(len(labels))]).max() for _ in range(permutations)])
    k, unit = np.unravel_index(int(np.argmax(real)), real.shape)
    p = float((1 + (null >= real[k, unit]).sum()) / (1 + permutations))
    best = real.max(0)
    order = np.argsort(-best, kind="stable")[:8]
    top = pd.DataFrame({"unit": order, "continent": [keep[int(i)] for i in real[:, order].argmax(0)],
                        "effect": best[order]})
    return {"flags": int(len(cont)), "per_continent": {c: int(counts[c]) for c in keep}, "unit": int(unit),
            "continent": keep[int(k)], "effect": float(real[k, unit]), "p_value": p, "prefers": p < 0.05, "top": top}


def continent_note(result: dict) -> str:
    """One sentence for the page's sidebar: what the demo model shows about continents, either way."""
    if result["unit"] is None:
        return "The demo collection has too few flags labelled by continent to test region neurons."
    per = ", ".join(f"{c} {n}" for c, n in result["per_continent"].items())
    head = (f"Demo model: {result['flags']} flags labelled by continent ({per}). Best unit {result['unit']} "
            f"prefers {result['continent']}'s flags by {result['effect']:.2f} std-devs (family-wise p = "
            f"{result['p_value']:.3f} over all units and continents)")
    return head + (": a unit does prefer one continent's flags." if result["prefers"] else
                   ": no unit prefers one continent's flags beyond chance. The demo model has no region neurons; "
                   "its maps show the machinery, not geography.")
