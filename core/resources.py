"""Streamlit caching adapter: the ONLY module with ``st.cache_*`` decorators (style §4).

``cache_resource`` holds the expensive, shared, read-only objects (a ``LoadedModel``, an opened
artifact with its FAISS index), keyed by id strings; ``cache_data`` holds derived numpy/pandas
values keyed by (model id, artifact path + mtime, unit, ...). Every decorated function is a thin
wrapper over a pure core function. Long work (indexing a collection, rendering) runs in a background
thread (``core.jobs.start_job``) that any number of sessions can watch; it never blocks another session.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core import card, neuron_card
from core.config import get_settings
from core.jobs import Job, cancel_event, get_job, start_job  # noqa: F401 - the pages' job API lives here too
from core.prefetch import FutureCache

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- models ---------------------------------------------
@st.cache_resource(max_entries=2, show_spinner="Loading the model (once per server process) ...")
def get_model(model_id: str):
    """The shared, frozen ``LoadedModel`` for ``model_id`` (at most two stay in memory). Sets torch's intra-op
    threads for this server process first (``Settings.server_threads``: the cores but one)."""
    import torch

    from core.models import load_model

    torch.set_num_threads(get_settings().server_threads)
    return load_model(model_id)


@st.cache_data(show_spinner=False)
def demo_capabilities() -> str:
    """What the shipped demo model can and cannot show (from its metrics.json)."""
    from core.demo import capabilities_note

    return capabilities_note()


@st.cache_data(ttl=60, show_spinner=False)
def model_menu(default_model: str) -> pd.DataFrame:
    """Model picker rows: id, title, available (weights here, offline); the default model first."""
    from core.models import list_menu

    rows = [dict(r) for r in list_menu()]
    ids = [r["id"] for r in rows]
    if default_model not in ids:
        from core.models import weights_available

        rows.insert(0, {"id": default_model, "title": "configured default (CLIP_EXPLORER_MODEL)",
                        "available": weights_available(default_model)})
    rows.sort(key=lambda r: r["id"] != default_model)
    return pd.DataFrame(rows)[["id", "title", "available"]]


@st.cache_data(show_spinner=False)
def layers(model_id: str) -> pd.DataFrame:
    """The model's hookable layers: id, units, kind (forward order)."""
    from core.hooks import list_layers

    return pd.DataFrame([{"id": li.id, "units": li.units, "kind": li.kind} for li in list_layers(get_model(model_id))])


@st.cache_data(show_spinner=False)
def article_layer(model_id: str) -> str:
    """The article's layer for the model (last pre-ReLU residual sum; last MLP for ViTs)."""
    from core.hooks import article_layer as _article_layer

    return _article_layer(get_model(model_id))


# ---------------------------------------------------------------- collections ----------------------------------------
@st.cache_data(ttl=5, show_spinner=False)
def collections(model_id: str, artifacts_dir: str) -> pd.DataFrame:
    """Indexed collections made with this model: name, path, rows, model_id, layer (sorted by name)."""
    from core.collections import discover_collections

    infos = discover_collections(Path(artifacts_dir), model=get_model(model_id))
    return pd.DataFrame([{"name": i.name, "path": str(i.path), "rows": int(i.rows), "model_id": i.model_id,
                          "layer": i.layer} for i in infos], columns=["name", "path", "rows", "model_id", "layer"])


@st.cache_resource(max_entries=4, show_spinner="Opening the collection ...")
def get_artifact(path: str, model_id: str, mtime: float):
    """The opened, checked artifact (memory-mapped) with its FAISS index; ``mtime`` keys rebuilds."""
    from core.index import ensure_index
    from core.store import open_artifact

    art = open_artifact(path, expect=get_model(model_id))
    return art, ensure_index(art)


def artifact_mtime(path: str) -> float:
    """Modification time of an artifact's manifest (cache key; 0 when missing)."""
    try:
        return (Path(path) / "manifest.json").stat().st_mtime
    except OSError:
        return 0.0


# ---------------------------------------------------------------- neuron card ----------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def unit_values(path: str, model_id: str, mtime: float, unit: int) -> np.ndarray:
    """(N,) one unit's per-image spatial max (pre-ReLU) over the collection, float32."""
    art, _ = get_artifact(path, model_id, mtime)
    return card.unit_values(art, unit)


@st.cache_data(max_entries=64, show_spinner=False)
def examples(path: str, model_id: str, mtime: float, unit: int, k: int, bottom: bool) -> pd.DataFrame:
    """Top (or most negative) examples: row, key, label, value, argmax."""
    art, _ = get_artifact(path, model_id, mtime)
    return card.examples_frame(art, unit, k, bottom)


@st.cache_data(max_entries=256, show_spinner=False)
def tiles(path: str, model_id: str, mtime: float, rows: tuple[int, ...], argmax: tuple[int, ...] | None,
          size: int = neuron_card.TILE_PX) -> list[bytes]:
    """``size``-px dataset-example tiles (JPEG bytes), the most-activating cell outlined when ``argmax`` is given."""
    art, _ = get_artifact(path, model_id, mtime)
    return card.render_tiles(art, rows, argmax, size)


# The neuron card's collection part: not ``st.cache_data`` but an explicit LRU of futures (``core.prefetch``),
# because a background thread fills it with the cards a person is likely to open next (prefetch_cards), and
# a request for a card still being built waits for that build instead of repeating it. Values are frozen
# dataclasses shared read-only by all sessions; 128 cards of the demo take about 20 MB.
CARDS = FutureCache(max_entries=128, workers=1, max_pending=4, name="card-prefetch")


def _card_key(path: str, model_id: str, mtime: float, unit: int, layout: dict) -> tuple:
    return path, model_id, mtime, int(unit), tuple(sorted(layout.items()))


def neuron_card_data(path: str, model_id: str, mtime: float, unit: int, **layout) -> card.CardData:
    """The collection part of ``unit``'s card (``core.card.build_card``; ``layout`` = its keyword args)."""
    art, _ = get_artifact(path, model_id, mtime)
    z = standardized_activations(path, model_id, mtime)
    return CARDS.get(_card_key(path, model_id, mtime, unit, layout),
                     lambda: card.build_card(art, unit, standardized=z, **layout))


def prefetch_cards(path: str, model_id: str, mtime: float, units, **layout) -> None:
    """Build the cards of ``units`` in the background, ``prefetch_delay_s`` (settings) from now, so they do not
    slow the drawing of the card just sent; a switch sooner builds its card in its own run (``FutureCache.get``).
    Hints are dropped when enough builds already wait."""
    art, _ = get_artifact(path, model_id, mtime)
    z = standardized_activations(path, model_id, mtime)
    delay = get_settings().prefetch_delay_s
    for unit in units:
        if 0 <= int(unit) < art.units:
            CARDS.prefetch(_card_key(path, model_id, mtime, unit, layout),
                           lambda unit=int(unit): card.build_card(art, unit, standardized=z, **layout),
                           delay=delay)


@st.cache_resource(show_spinner=False)
def chart_template(kind: str) -> dict:
    """A chart's data-free Vega-Lite spec, built once per process (see ``charts.spec_template``).

    Args:
        kind: ``histogram`` or ``labels``.
    """
    from core import charts

    if kind == "histogram":
        chart = charts.activation_histogram_chart(neuron_card.activation_histogram(np.arange(3.0), bins=2))
    else:
        chart = charts.zero_shot_labels_chart(neuron_card.zero_shot_labels(np.ones(2), np.eye(2), ["a", "b"], top=1))
    return charts.spec_template(chart)


@st.cache_data(max_entries=64, show_spinner=False)
def chart_spec(builder: str, df: pd.DataFrame, options: tuple = ()) -> dict:
    """``core.charts.<builder>(df, **dict(options))`` as a Vega-Lite spec (``charts.to_spec``), built once per
    distinct input: building and validating an Altair chart costs 10-30 ms here, on every rerun of a page (a widget
    change elsewhere on it, a chart click, a new visitor opening the same link). ``cache_data``, not
    ``cache_resource``: each caller gets its own copy, which ``st.vega_lite_chart`` consumes (it moves the datasets
    out of the spec)."""
    from core import charts

    return charts.to_spec(getattr(charts, builder)(df, **dict(options)))


@st.cache_resource(max_entries=2, show_spinner=False)
def standardized_activations(path: str, model_id: str, mtime: float) -> np.ndarray:
    """(N, C) float32 z-scored spatial max of the artifact (``neuron_card.standardize``), shared read-only by
    all sessions: similar-by-activation lists are then one product each."""
    art, _ = get_artifact(path, model_id, mtime)
    return neuron_card.standardize(art.max)


@st.cache_data(max_entries=8, show_spinner="Computing neuron directions ...")
def directions(model_id: str, layer: str) -> np.ndarray:
    """(C, D) each neuron's direction in the joint space (the article's W_img columns)."""
    from core.search import neuron_directions

    return np.asarray(neuron_directions(get_model(model_id), layer), dtype=np.float32)


@st.cache_data(max_entries=4, show_spinner="Embedding the labelling vocabulary (once per model) ...")
def vocabulary_embeddings(model_id: str) -> tuple[list[str], np.ndarray]:
    """The zero-shot vocabulary and its (P, D) text embeddings with the model's default template."""
    from core.zeroshot import class_embeddings, default_template

    phrases = neuron_card.load_vocabulary()
    return phrases, np.asarray(class_embeddings(get_model(model_id), phrases, default_template(model_id)))


@st.cache_data(max_entries=128, show_spinner=False)
def zero_shot_labels(model_id: str, layer: str, unit: int, top: int = 8) -> pd.DataFrame:
    """Phrases that excite / inhibit the neuron's direction most."""
    phrases, emb = vocabulary_embeddings(model_id)
    return neuron_card.zero_shot_labels(directions(model_id, layer)[unit], emb, phrases, top=top)


@st.cache_data(max_entries=128, show_spinner=False)
def similar_by_direction(model_id: str, layer: str, unit: int, top: int = 8) -> pd.DataFrame:
    """Neurons whose joint-space directions are closest to ``unit``'s."""
    return neuron_card.similar_by_direction(directions(model_id, layer), unit, top=top)


# ---------------------------------------------------------------- search ---------------------------------------------
@st.cache_data(max_entries=256, show_spinner=False)
def text_embedding(model_id: str, text: str) -> np.ndarray:
    """The query's (D,) embedding (the int8 text tower where there is one, as ``core.search.text_to_neurons``):
    encoded once for both the neuron ranking and the nearest images."""
    from core.embed import encode_text

    return encode_text(get_model(model_id), [text], fast=True)[0].numpy()


@st.cache_data(max_entries=256, show_spinner=False)
def text_to_neurons(model_id: str, layer: str, text: str, top: int, unit_std: tuple | None = None) -> pd.DataFrame:
    """Neurons ranked by their direction's match with the text (zero-shot neuron search)."""
    from core.search import neurons_for_embedding

    std = np.asarray(unit_std, dtype=np.float32) if unit_std is not None else None
    return neurons_for_embedding(get_model(model_id), text_embedding(model_id, text), layer, top, std)


@st.cache_data(max_entries=64, show_spinner=False)
def image_to_neurons(model_id: str, layer: str, image_bytes: bytes, top: int) -> pd.DataFrame:
    """Neurons most activated by an (already validated) uploaded image."""
    from core.images import open_image
    from core.search import image_to_neurons as _search

    return _search(get_model(model_id), open_image(image_bytes), layer=layer, top=top)


@st.cache_data(max_entries=256, show_spinner=False)
def nearest_images(path: str, model_id: str, mtime: float, text: str | None, image_bytes: bytes | None,
                   top: int) -> pd.DataFrame:
    """Collection images nearest the text or image query (FAISS kNN over the image embeddings)."""
    from core.images import open_image
    from core.search import images_for_embedding, query_images

    art, index = get_artifact(path, model_id, mtime)
    if text and not image_bytes:
        return images_for_embedding(get_model(model_id), art, index, text_embedding(model_id, text), top)
    image = open_image(image_bytes) if image_bytes else None
    return query_images(get_model(model_id), art, index, text=text or None, image=image, top=top)


def unit_std_key(path: str, model_id: str, mtime: float) -> tuple:
    """The artifact's per-unit std as a hashable tuple (cache key for scale-corrected search)."""
    art, _ = get_artifact(path, model_id, mtime)
    return tuple(float(x) for x in np.asarray(art.unit_std, dtype=np.float32))


# ---------------------------------------------------------------- background jobs ------------------------------------
# Batch jobs (indexing, word scoring: big batches through the model) run with every core, where the server otherwise
# keeps one for its event loop (Settings.server_threads): the vocabulary took ≈ 58 s with both cores of the test
# machine and ≈ 80-90 s with one. Feature-visualization renders keep the server's setting: their many small ops ran
# faster on one thread there (demo: 14 against 18-23 ms per step).
BATCH_JOB_THREADS = os.cpu_count() or 1


def demo_index_job(model_id: str) -> Job:
    """Index the shipped demo corpus with ``model_id`` in the background (once per artifacts dir)."""
    from core.collections import demo_index_dir, ensure_demo_index

    settings = get_settings()
    loaded = get_model(model_id)  # resolved in the session's thread; the job only uses it read-only
    key = f"demo-index:{demo_index_dir(model_id, settings.artifacts_dir)}"
    return start_job(key, "Indexing the demo collection",
                     lambda progress: ensure_demo_index(progress, loaded=loaded, artifacts_dir=settings.artifacts_dir),
                     on_finish=collections.clear, threads=BATCH_JOB_THREADS)


def folder_index_job(model_id: str, folder: str) -> Job:
    """Index ``<collections_dir>/<folder>`` (a name from ``collection_folders``) in the background."""
    from core.collections import slug
    from core.extract import run_extraction
    from core.index import ensure_index

    settings = get_settings()
    src = (settings.collections_dir / folder).resolve()
    if folder not in collection_folders() or not src.is_relative_to(settings.collections_dir):
        from core.errors import BadInputError

        raise BadInputError(f"'{folder}' is not a folder under {settings.collections_dir}.")
    out = settings.artifacts_dir / "indexes" / f"{slug(folder)}--{slug(model_id)}"

    loaded = get_model(model_id)

    def work(progress):
        art = run_extraction(loaded, src, out, workers=0, progress=progress)
        ensure_index(art)
        return art

    return start_job(f"index:{out}", f"Indexing {folder}", work, on_finish=collections.clear,
                     threads=BATCH_JOB_THREADS)


def collection_folders() -> list[str]:
    """Sub-folders of the collections dir that could be indexed from the UI (names only)."""
    root = get_settings().collections_dir
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))



# ---------------------------------------------------------------- conditional probability, attacks, Stroop -----------
@st.cache_data(max_entries=16, show_spinner=False)
def class_embeddings(model_id: str, classes: tuple[str, ...], template: str) -> np.ndarray:
    """(K, D) zero-shot class embeddings for ``classes`` with ``template``."""
    from core.zeroshot import class_embeddings as _class_embeddings

    return _class_embeddings(get_model(model_id), list(classes), template)


@st.cache_data(max_entries=16, show_spinner="Labelling the collection zero-shot ...")
def row_labels(path: str, model_id: str, mtime: float, classes: tuple[str, ...] | None,
               template: str | None) -> list[str] | None:
    """One category per row: the collection's labels (``classes`` None) or zero-shot over ``classes``."""
    from core.condprob import zero_shot_labels
    from core.zeroshot import logit_scale

    art, _ = get_artifact(path, model_id, mtime)
    if classes is None:
        return art.labels
    return zero_shot_labels(np.asarray(art.embeddings, dtype=np.float32), class_embeddings(model_id, classes, template),
                            classes, scale=logit_scale(get_model(model_id)))["label"].tolist()


@st.cache_data(max_entries=32, show_spinner=False)
def condprob_sample(path: str, model_id: str, mtime: float, unit: int, buckets: int, per_bucket: int,
                    classes: tuple[str, ...] | None, template: str | None, keep: int | None = None) -> pd.DataFrame:
    """``condprob.sample_buckets`` for a unit of a collection, plus key and argmax for the image tiles."""
    from core.condprob import sample_buckets

    art, _ = get_artifact(path, model_id, mtime)
    df = sample_buckets(unit_values(path, model_id, mtime, unit), row_labels(path, model_id, mtime, classes, template),
                        buckets=buckets, per_bucket=per_bucket, std=float(art.unit_std[unit]), keep=keep)
    rows = df["row"].to_numpy()
    return df.assign(key=[art.keys[r] for r in rows], argmax=np.asarray(art.argmax[rows, unit], dtype=np.int64))


@st.cache_data(max_entries=32, show_spinner=False)
def condprob_fractions(path: str, model_id: str, mtime: float, unit: int, buckets: int, per_bucket: int,
                       classes: tuple[str, ...] | None, template: str | None, keep: int | None = None) -> pd.DataFrame:
    """``condprob.category_fractions`` of ``condprob_sample`` with the same arguments: the stacked bars (a pandas
    pipeline of ≈ 25 ms on the demo collection, which every rerun of the page would otherwise repeat)."""
    from core.condprob import category_fractions

    return category_fractions(condprob_sample(path, model_id, mtime, unit, buckets, per_bucket, classes, template,
                                              keep))


@st.cache_data(max_entries=32, show_spinner=False)
def condprob_distributions(path: str, model_id: str, mtime: float, unit: int, classes: tuple[str, ...] | None,
                           template: str | None, keep: int | None = None) -> pd.DataFrame:
    """``condprob.category_distributions`` for a unit of a collection (std-devs from zero)."""
    from core.condprob import category_distributions

    art, _ = get_artifact(path, model_id, mtime)
    labels = row_labels(path, model_id, mtime, classes, template)
    return category_distributions(unit_values(path, model_id, mtime, unit), labels, std=float(art.unit_std[unit]),
                                  keep=keep)


@st.cache_data(max_entries=16, show_spinner=False)
def collection_classes(path: str, model_id: str, mtime: float) -> list[str]:
    """The collection's distinct non-empty labels, sorted ([] when it has none)."""
    return sorted({str(x) for x in (row_labels(path, model_id, mtime, None, None) or []) if str(x).strip()})


@st.cache_data(max_entries=64, show_spinner=False)
def collection_image_bytes(path: str, model_id: str, mtime: float, row: int) -> bytes:
    """The file bytes of one collection image (the path comes from the artifact, never from the URL)."""
    art, _ = get_artifact(path, model_id, mtime)
    return art.image_path(int(row)).read_bytes()


@st.cache_data(max_entries=32, show_spinner="Attacking the picture ...")
def attack_image(model_id: str, image_bytes: bytes, spec, classes: tuple[str, ...], template: str, layer: str):
    """``attacks.attack_image`` on an (already validated) image; ``spec`` is an ``AttackSpec``."""
    from core.attacks import attack_image as _attack
    from core.images import open_image
    from core.zeroshot import build_classifier

    loaded = get_model(model_id)
    return _attack(loaded, open_image(image_bytes), spec, build_classifier(loaded, classes, template), layer=layer)


@st.cache_data(max_entries=8, show_spinner=False)
def attack_eval(path: str, model_id: str, mtime: float, words: tuple[str, ...], styles: tuple[str, ...],
                area: float, limit: int, classes: tuple[str, ...] | None, template: str, _progress=None):
    """``attack_lab.attack_eval`` over a labelled collection (``AttackEval``); ``_progress`` is not hashed."""
    from core.attack_lab import attack_eval as _eval
    from core.attack_lab import from_artifact, parse_attack_words
    from core.zeroshot import build_classifier

    art, _ = get_artifact(path, model_id, mtime)
    pics = from_artifact(art, limit=limit)
    clf = build_classifier(get_model(model_id), classes or pics.classes, template)
    return _eval(get_model(model_id), pics.images, pics.labels, clf, parse_attack_words(words, clf.classes),
                 styles=styles, area=area, progress=_progress)


@st.cache_data(max_entries=16, show_spinner="Running the Stroop test ...")
def stroop(model_id: str, colors: tuple[str, ...], template: str) -> tuple[pd.DataFrame, dict]:
    """``stroop.run_stroop`` over ``colors``: (scored trials, summary)."""
    from core.stroop import run_stroop
    from core.zeroshot import build_classifier

    loaded = get_model(model_id)
    return run_stroop(loaded, build_classifier(loaded, colors, template))


@st.cache_data(max_entries=64, show_spinner=False)
def stroop_single(model_id: str, word: str, ink: str, colors: tuple[str, ...], template: str):
    """One Stroop image, its probabilities over ``colors`` and who won: (image, DataFrame, winner)."""
    from core.stroop import judge, stroop_image
    from core.zeroshot import build_classifier, classify_images

    loaded = get_model(model_id)
    img = stroop_image(word, ink, size=loaded.image_size)
    p = classify_images(loaded, [img], build_classifier(loaded, colors, template))[0]
    return img, pd.DataFrame({"class": list(colors), "probability": p}), judge(word, ink, colors[int(p.argmax())])


# ---------------------------------------------------------------- concept codes & interventions ----------------------
@st.cache_data(max_entries=128, show_spinner="Fitting the sparse code ...")
def sparse_code(model_id: str, layer: str, concept: str, kind: str, alpha: float, max_terms: int | None,
                exclude: tuple[int, ...] = ()):
    """``concepts.code_concept`` (a ``SparseCode``: table, fit_cosine, alpha, nnz)."""
    from core.concepts import code_concept

    return code_concept(get_model(model_id), concept, kind=kind, alpha=alpha, max_terms=max_terms, exclude=exclude,
                        layer=layer)


@st.cache_data(max_entries=32, show_spinner="Factorising the concepts ...")
def concept_atlas(model_id: str, layer: str, concepts: tuple[str, ...], k: int, kind: str):
    """``concepts.atlas_for`` (an ``Atlas``: loadings, factors, names, error)."""
    from core.concepts import atlas_for

    return atlas_for(get_model(model_id), list(concepts), k, kind=kind, layer=layer)


@st.cache_data(max_entries=64, show_spinner="Running the intervention ...")
def intervention(model_id: str, layer: str, image_bytes: bytes, unit: int, op: str, value: float | None,
                 labels: tuple[str, ...], template: str):
    """``interventions.intervention_effect`` of one edit on an (already validated) image."""
    from core.images import open_image
    from core.interventions import intervention_effect, make_edit

    return intervention_effect(get_model(model_id), open_image(image_bytes), [make_edit(unit, op, value)],
                               list(labels), template=template, layer=layer)


@st.cache_data(max_entries=64, show_spinner="Raising the unit on a blank image ...")
def causal_check(model_id: str, layer: str, unit: int, concepts: tuple[str, ...], template: str,
                 delta: float | None, blank: str):
    """``interventions.causal_check`` (a ``CausalResult``)."""
    from core.interventions import causal_check as _check

    return _check(get_model(model_id), unit, list(concepts), template=template, delta=delta, blank=blank, layer=layer)


@st.cache_data(max_entries=64, show_spinner=False)
def unit_mean(path: str, model_id: str, mtime: float, unit: int) -> float:
    """The unit's mean (spatial mean, averaged over the collection) for ablate-to-mean."""
    from core.interventions import unit_mean as _mean

    art, _ = get_artifact(path, model_id, mtime)
    return _mean(art, unit)


# ---------------------------------------------------------------- feature visualization and words --------------------
def featurevis_job_key(model_id: str, layer: str, unit: int, seeds: int, facets: tuple[str, ...]) -> str:
    return f"featurevis:{get_settings().artifacts_dir}:{model_id}:{layer}:{unit}:{seeds}:{','.join(facets)}"


def words_job_key(model_id: str, layer: str) -> str:
    return f"words:{get_settings().artifacts_dir}:{model_id}:{layer}"


def featurevis_job(model_id: str, layer: str, unit: int, seeds: int, facets: tuple[str, ...]) -> Job:
    """Render the card's feature-visualization strip in the background (cancellable; results cached on disk)."""
    from core.featurevis.strip import render_strip, strip_items

    key = featurevis_job_key(model_id, layer, unit, seeds, facets)
    old, flag = get_job(key), cancel_event(key)
    if old is None or (old.finished.is_set() and old.error is not None):
        flag.clear()
    return start_job(key, f"Rendering feature visualizations of unit {unit}", lambda progress: render_strip(
        get_model(model_id), layer, unit, strip_items(seeds, facets), progress=progress, cancelled=flag.is_set))


def words_job(model_id: str, layer: str) -> Job:
    """Score the shipped word vocabulary at ``layer`` in the background (once per model and layer)."""
    from core.words import word_activations

    return start_job(words_job_key(model_id, layer), "Scoring the rastered-word vocabulary",
                     lambda progress: word_activations(get_model(model_id), layer, progress=progress).layer,
                     threads=BATCH_JOB_THREADS)


@st.cache_resource(max_entries=2, show_spinner=False)
def word_table(model_id: str, layer: str):
    """The scored vocabulary (``core.words.WordActivations``); call only once ``words.is_scored``."""
    from core.words import word_activations

    return word_activations(get_model(model_id), layer)


@st.cache_data(max_entries=64, show_spinner=False)
def neuron_words(model_id: str, layer: str, unit: int, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(top, bottom) rastered words of a unit: rank, word, activation, score (std-devs from the vocab mean)."""
    from core.words import top_words

    table = word_table(model_id, layer)
    return top_words(table, unit, k), top_words(table, unit, k, bottom=True)
