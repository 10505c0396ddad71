"""Text embedding with the trimmed context equals open_clip's full-context encode_text."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.errors import BadInputError
from core.model.embed import encode_text


def test_trimmed_text_encoding_matches_open_clip(tiny_rn):
    texts = ["a drawing of a cat", "dog", "a sign that says stop"]
    ours = encode_text(tiny_rn, texts)
    with torch.no_grad():
        ref = F.normalize(tiny_rn.model.encode_text(tiny_rn.tokenizer(texts)).float(), dim=-1)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)
    assert ours.shape == (3, tiny_rn.model.text_projection.shape[1])


def test_empty_queries_rejected(tiny_rn):
    with pytest.raises(BadInputError, match="Empty"):
        encode_text(tiny_rn, ["  "])
    with pytest.raises(BadInputError):
        encode_text(tiny_rn, [])
