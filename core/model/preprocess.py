"""A model's image preprocessing: open_clip's eval transform (from the model's own preprocess config), with
transparency composited onto white first."""
from __future__ import annotations

import torch

from core.pipeline.images import to_rgb_on_white


def eval_transform(model: torch.nn.Module):
    from open_clip import transform as oct

    pp = getattr(model.visual, "preprocess_cfg", None)
    if pp:
        return oct.image_transform_v2(oct.PreprocessCfg(**oct.merge_preprocess_dict(oct.PreprocessCfg(), pp)),
                                      is_train=False)
    return oct.image_transform(model.visual.image_size, is_train=False)


class WhiteBackground:
    """Preprocess wrapper: transparency onto white, then open_clip's eval transform."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, img):
        return self.transform(to_rgb_on_white(img))

    def __repr__(self) -> str:
        return f"WhiteBackground({self.transform!r})"
