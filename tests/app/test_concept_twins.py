"""Concept codes that the model cannot tell apart are flagged: on the demo model every emotion's code is
near-identical (the emotion prompts' shared wording dominates), and the page says so."""
from __future__ import annotations

from core.analyses.concepts import INDISTINCT_COSINE, code_cosine
from tests.app.conftest import app


def _twins_warning(at) -> list[str]:
    return [w.value for w in at.warning if "does not separate these concepts" in w.value]


def test_demo_emotion_codes_are_flagged_as_indistinct(demo_env):
    at = app("pages/concept_codes.py")
    at.query_params.update({"concept": "surprised", "kind": "emotion"})
    at.run(timeout=180)
    assert not at.exception and not at.error
    (warning,) = _twins_warning(at)
    assert "*surprised*" in warning and "*happy*" in warning and "cosine 0.9" in warning
    at.radio(key="cc_kind").set_value("plain").run(timeout=180)  # plain words: distinct codes, no warning
    at.text_input(key="cc_concept").set_value("dog").run(timeout=180)
    assert not at.exception and not _twins_warning(at)


def test_code_cosine_is_one_for_the_same_code_and_zero_for_disjoint_ones():
    import pandas as pd

    from core.analyses.concepts import SparseCode

    def code(units, weights):
        return SparseCode("c", pd.DataFrame({"unit": units, "weight": weights}), 1.0, 0.3, len(units))

    assert abs(code_cosine(code([1, 2], [0.5, 0.2]), code([2, 1], [0.4, 1.0])) - 1.0) < 1e-9
    assert code_cosine(code([1], [1.0]), code([2], [1.0])) == 0.0 and code_cosine(code([], []), code([1], [1.0])) == 0.0
    assert 0 < INDISTINCT_COSINE < 1
