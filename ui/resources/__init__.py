"""The dashboard's caches: the only home of ``st.cache_*`` (and of the card cache and background jobs).

``cache_resource`` holds expensive, shared, read-only objects (a ``LoadedModel``, an opened artifact with its
FAISS index), keyed by id strings or an ``ArtifactKey``; ``cache_data`` holds derived numpy/pandas values. Every
cached function is a thin wrapper over a pure ``core`` function, which is what the unit tests call. Split by
concern; pages use the names re-exported here. ``docs/caches.md`` lists every cache with its key and bound.
"""
from ui.resources.analyses import (
                                   attack_eval_job,
                                   attack_image,
                                   causal_check,
                                   class_embeddings,
                                   concept_atlas,
                                   condprob_distributions,
                                   condprob_fractions,
                                   condprob_sample,
                                   intervention,
                                   row_labels,
                                   sparse_code,
                                   stroop,
                                   stroop_single,
                                   unit_mean,
)
from ui.resources.artifacts import (
                                   ArtifactKey,
                                   artifact_key,
                                   collection_classes,
                                   collection_folders,
                                   collection_image_bytes,
                                   collections,
                                   get_artifact,
                                   pictures_note,
                                   standardized_activations,
                                   unit_values,
)
from ui.resources.card import (
                                   CARDS,
                                   chart_spec,
                                   directions,
                                   examples,
                                   neuron_card_data,
                                   neuron_words,
                                   prefetch_cards,
                                   similar_by_direction,
                                   tiles,
                                   unit_labels,
                                   vocabulary_embeddings,
                                   word_table,
)
from ui.resources.jobs import (
                                   BATCH_JOB_THREADS,
                                   Job,
                                   cancel_event,
                                   cancel_job,
                                   demo_index_job,
                                   featurevis_job,
                                   featurevis_job_key,
                                   folder_index_job,
                                   get_job,
                                   index_job_key,
                                   index_out_dir,
                                   unfinished_index_runs,
                                   words_job,
                                   words_job_key,
)
from ui.resources.models import article_layer, demo_capabilities, get_model, layers, model_menu
from ui.resources.search import image_to_neurons, nearest_images, query_tokens, text_embedding, text_to_neurons

__all__ = [
    "ArtifactKey", "BATCH_JOB_THREADS", "CARDS", "Job", "article_layer", "artifact_key", "attack_eval_job",
    "attack_image", "cancel_event", "cancel_job", "causal_check", "chart_spec", "class_embeddings",
    "collection_classes", "collection_folders", "collection_image_bytes", "collections", "concept_atlas", "pictures_note",
    "condprob_distributions", "condprob_fractions", "condprob_sample", "demo_capabilities", "demo_index_job",
    "directions", "examples", "featurevis_job", "featurevis_job_key", "folder_index_job", "get_artifact", "get_job",
    "get_model", "image_to_neurons", "index_job_key", "index_out_dir", "intervention", "layers", "model_menu", "nearest_images", "neuron_card_data",
    "neuron_words", "prefetch_cards", "query_tokens", "row_labels", "similar_by_direction", "sparse_code", "standardized_activations",
    "stroop", "stroop_single", "text_embedding", "text_to_neurons", "tiles", "unit_mean", "unit_values",
    "vocabulary_embeddings", "word_table", "unfinished_index_runs", "words_job", "words_job_key", "unit_labels",
]
