"""Cached analyses: conditional probability, typographic attacks and the attack lab, Stroop, concept codes,
interventions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui.jobs import Job
from ui.resources.artifacts import ArtifactKey, collection_classes, get_artifact, unit_values
from ui.resources.jobs import heavy_job
from ui.resources.models import get_model


@st.cache_data(max_entries=16, show_spinner=False)
def class_embeddings(model_id: str, classes: tuple[str, ...], template: str) -> np.ndarray:
    """(K, D) zero-shot class embeddings for ``classes`` with ``template``."""
    from core.analyses.zeroshot import class_embeddings as _class_embeddings

    return _class_embeddings(get_model(model_id), list(classes), template)


@st.cache_data(max_entries=16, show_spinner="Labelling the collection zero-shot ...")
def row_labels(key: ArtifactKey, classes: tuple[str, ...] | None, template: str | None) -> list[str] | None:
    """One category per row: the collection's labels (``classes`` None) or zero-shot over ``classes``."""
    from core.analyses.condprob import label_rows
    from core.analyses.zeroshot import logit_scale

    art = get_artifact(key)[0]
    if classes is None:
        return art.labels
    return label_rows(np.asarray(art.embeddings, dtype=np.float32),
                            class_embeddings(key.model_id, classes, template), classes,
                            scale=logit_scale(get_model(key.model_id)))["label"].tolist()


@st.cache_resource(max_entries=8, show_spinner=False)
def row_categories(key: ArtifactKey, classes: tuple[str, ...] | None, template: str | None, keep: int | None):
    """``condprob.categories`` of ``row_labels``: the labels coded once per collection (shared read-only), so a
    unit's sample looks up only its sampled rows."""
    from core.analyses.condprob import categories

    return categories(row_labels(key, classes, template), get_artifact(key)[0].rows, keep)


@st.cache_data(max_entries=32, show_spinner=False)
def condprob_sample(key: ArtifactKey, unit: int, buckets: int, per_bucket: int, classes: tuple[str, ...] | None,
                    template: str | None, keep: int | None = None) -> pd.DataFrame:
    """``condprob.sample_buckets`` for a unit of a collection, plus key and argmax for the image tiles."""
    from core.analyses import neuron_card
    from core.analyses.condprob import sample_buckets

    art = get_artifact(key)[0]
    df = sample_buckets(unit_values(key, unit), row_categories(key, classes, template, keep), buckets=buckets,
                        per_bucket=per_bucket, std=float(art.unit_std[unit]), keep=keep)
    rows = df["row"].to_numpy()
    return df.assign(key=[art.keys[r] for r in rows],
                     argmax=neuron_card.unit_at(art, unit, rows, "argmax").astype(np.int64))


@st.cache_data(max_entries=32, show_spinner=False)
def condprob_fractions(key: ArtifactKey, unit: int, buckets: int, per_bucket: int, classes: tuple[str, ...] | None,
                       template: str | None, keep: int | None = None) -> pd.DataFrame:
    """``condprob.category_fractions`` of ``condprob_sample`` with the same arguments: the stacked bars, kept so a
    rerun of the page (a bar clicked) does not repeat the pandas pipeline."""
    from core.analyses.condprob import category_fractions

    return category_fractions(condprob_sample(key, unit, buckets, per_bucket, classes, template, keep))


@st.cache_data(max_entries=32, show_spinner=False)
def condprob_distributions(key: ArtifactKey, unit: int, classes: tuple[str, ...] | None, template: str | None,
                           keep: int | None = None) -> pd.DataFrame:
    """``condprob.category_boxes`` of a unit of a collection (std-devs from zero): one row per category, so the
    cache and the chart hold a few rows whatever the collection's size."""
    from core.analyses.condprob import category_boxes, category_distributions

    art = get_artifact(key)[0]
    return category_boxes(category_distributions(unit_values(key, unit), row_categories(key, classes, template, keep),
                                                 std=float(art.unit_std[unit]), keep=keep))


@st.cache_data(max_entries=32, show_spinner="Attacking the picture ...")
def attack_image(model_id: str, image_bytes: bytes, spec, classes: tuple[str, ...], template: str, layer: str):
    """``attacks.attack_image`` on an (already validated) image; ``spec`` is an ``AttackSpec``."""
    from core.analyses.attacks import attack_image as _attack
    from core.analyses.zeroshot import build_classifier
    from core.pipeline.images import open_image

    loaded = get_model(model_id)
    return _attack(loaded, open_image(image_bytes), spec, build_classifier(loaded, classes, template), layer=layer)


def attack_eval_job(key: ArtifactKey, words: tuple[str, ...], styles: tuple[str, ...], area: float, limit: int,
                    classes: tuple[str, ...] | None, template: str) -> Job:
    """``attack_lab.attack_eval`` over a labelled collection as a background job (its result, an ``AttackEval``,
    stays with the job: a reload or a shared link of a finished evaluation shows it at once, and a running one is
    watched, never started twice)."""
    from core.analyses.attack_lab import attack_eval, from_artifact, parse_attack_words
    from core.analyses.zeroshot import build_classifier

    art, loaded = get_artifact(key)[0], get_model(key.model_id)
    parse_attack_words(words, list(classes or collection_classes(key)))  # a bad word is the visitor's to fix: now
    job_key = f"attack-eval:{key}:{words}:{styles}:{area}:{limit}:{classes}:{template}"

    def work(progress):
        pics = from_artifact(art, limit=limit, classes=classes)
        clf = build_classifier(loaded, classes or pics.classes, template)
        return attack_eval(loaded, pics.images, pics.labels, clf, parse_attack_words(words, clf.classes),
                           styles=styles, area=area, progress=progress)

    return heavy_job(job_key, "Attacking the collection", work)  # capped like every heavy job (ui.resources.jobs)


@st.cache_data(max_entries=16, show_spinner="Running the Stroop test ...")
def stroop(model_id: str, colors: tuple[str, ...], template: str) -> tuple[pd.DataFrame, dict]:
    """``stroop.run_stroop`` over ``colors``: (scored trials, summary)."""
    from core.analyses.stroop import run_stroop
    from core.analyses.zeroshot import build_classifier

    loaded = get_model(model_id)
    return run_stroop(loaded, build_classifier(loaded, colors, template))


@st.cache_data(max_entries=64, show_spinner=False)
def stroop_single(model_id: str, word: str, ink: str, colors: tuple[str, ...], template: str):
    """One Stroop image, its probabilities over ``colors`` and who won: (image, DataFrame, winner)."""
    from core.analyses.stroop import judge, stroop_image
    from core.analyses.zeroshot import build_classifier, classify_images

    loaded = get_model(model_id)
    img = stroop_image(word, ink, size=loaded.image_size)
    p = classify_images(loaded, [img], build_classifier(loaded, colors, template))[0]
    return img, pd.DataFrame({"class": list(colors), "probability": p}), judge(word, ink, colors[int(p.argmax())])


@st.cache_data(max_entries=128, show_spinner="Fitting the sparse code ...")
def sparse_code(model_id: str, layer: str, concept: str, kind: str, alpha: float, max_terms: int | None,
                exclude: tuple[int, ...] = ()):
    """``concepts.code_concept`` (a ``SparseCode``: table, fit_cosine, alpha, nnz)."""
    from core.analyses.concepts import code_concept

    return code_concept(get_model(model_id), concept, kind=kind, alpha=alpha, max_terms=max_terms, exclude=exclude,
                        layer=layer)


@st.cache_data(max_entries=32, show_spinner="Factorising the concepts ...")
def concept_atlas(model_id: str, layer: str, concepts: tuple[str, ...], k: int, kind: str):
    """``concepts.atlas_for`` (an ``Atlas``: loadings, factors, names, error)."""
    from core.analyses.concepts import atlas_for

    return atlas_for(get_model(model_id), list(concepts), k, kind=kind, layer=layer)


@st.cache_data(max_entries=64, show_spinner="Running the intervention ...")
def intervention(model_id: str, layer: str, image_bytes: bytes, unit: int, op: str, value: float | None,
                 labels: tuple[str, ...], template: str):
    """``interventions.intervention_effect`` of one edit on an (already validated) image."""
    from core.analyses.interventions import intervention_effect, make_edit
    from core.pipeline.images import open_image

    return intervention_effect(get_model(model_id), open_image(image_bytes), [make_edit(unit, op, value)],
                               list(labels), template=template, layer=layer)


@st.cache_data(max_entries=64, show_spinner="Raising the unit on a blank image ...")
def causal_check(model_id: str, layer: str, unit: int, concepts: tuple[str, ...], template: str,
                 delta: float | None, blank: str):
    """``interventions.causal_check`` (a ``CausalResult``)."""
    from core.analyses.interventions import causal_check as _check

    return _check(get_model(model_id), unit, list(concepts), template=template, delta=delta, blank=blank, layer=layer)


@st.cache_data(max_entries=64, show_spinner=False)
def unit_mean(key: ArtifactKey, unit: int) -> float:
    """The unit's mean (spatial mean, averaged over the collection) for ablate-to-mean."""
    from core.analyses.interventions import unit_mean as _mean

    return _mean(get_artifact(key)[0], unit)
