"""Evaluation of a CLIP on the demo corpus's held-out data (``python -m core eval-demo``).

Every figure comes with its chance level. Held-out pictures (the corpus's ``test`` split) and
held-out fonts (``core.analyses.raster.HELDOUT_FONTS``) only. Works for any loaded model (the demo model or
real weights); the unit analyses need a ModifiedResNet image tower (attention pool). Nothing here
imports streamlit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from core.analyses import raster
from core.analyses.attacks import flip_rates
from core.analyses.stroop import stroop_figure
from core.model.embed import encode_text
from core.model.hooks import article_layer, capture
from core.pipeline.demo import CATEGORIES, load_corpus_image, load_corpus_index

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

PROMPT = "a drawing of a {}"
NEUTRAL_WORDS = ("hello", "sale", "open", "text", "ok")
ATTACK_AREA = 0.08  # label box area: the article's automated attacks cover 6-10 % of pixels
ATTACKS_PER_PICTURE = 3
WORD_VARIANTS = 3  # per word and held-out font: one clean rendering + randomised ones


@dataclass
class _Encoded:
    emb: torch.Tensor  # (N, D) L2-normalised
    units: torch.Tensor | None  # (N, C) spatial mean at the article layer, or None


def _encode(loaded: LoadedModel, images: list[Image.Image], layer: str | None, batch: int = 64) -> _Encoded:
    """Embed PIL images with the model's preprocessing; optionally capture the layer."""
    embs, units = [], []
    for i in range(0, len(images), batch):
        x = torch.stack([loaded.preprocess(im) for im in images[i:i + batch]]).to(loaded.device)
        with torch.inference_mode():
            if layer is None:
                embs.append(torch.nn.functional.normalize(loaded.model.encode_image(x).float(), dim=-1).cpu())
                continue
            with capture(loaded, [layer]) as acts:
                feats = loaded.model.encode_image(x)
            embs.append(torch.nn.functional.normalize(feats.float(), dim=-1).cpu())
            act = acts[layer].float()  # (B, C, H, W)
            units.append(act.mean(dim=(2, 3)).cpu() if act.ndim == 4 else act.mean(dim=1).cpu())
    return _Encoded(torch.cat(embs), torch.cat(units) if units else None)


def _sized(img: Image.Image, size: int) -> Image.Image:
    return img.resize((size, size), Image.Resampling.LANCZOS)


def _word_images(size: int, seed: int) -> tuple[list[Image.Image], list[int]]:
    """Every category word in every held-out font: one clean and some randomised renderings."""
    images, truth = [], []
    for f_idx, font in enumerate(raster.HELDOUT_FONTS):
        for k, word in enumerate(CATEGORIES):
            images.append(raster.render_word(word, size=size, font=font))
            truth.append(k)
            for v in range(WORD_VARIANTS - 1):
                rng = np.random.default_rng([seed, f_idx, k, v])
                images.append(raster.render_word(word, size=size, font=font, rng=rng))
                truth.append(k)
    return images, truth


def _zero_shot(scores: torch.Tensor, truth: torch.Tensor) -> dict:
    k = scores.shape[1]
    top5 = scores.topk(min(5, k), dim=1).indices
    top1 = top5[:, 0] == truth
    per_cat = {CATEGORIES[c]: round(float(top1[truth == c].float().mean()), 3)
               for c in range(k) if (truth == c).any()}
    return {
        "zero_shot_top1": {"value": round(float(top1.float().mean()), 4), "chance": round(1 / k, 4),
                           "n": int(len(truth)), "prompt": PROMPT.format("{category}")},
        "zero_shot_top1_balanced": {"value": round(float(np.mean(list(per_cat.values()))), 4),
                                    "chance": round(1 / k, 4), "n": int(len(truth))},
        "zero_shot_top5": {"value": round(float((top5 == truth[:, None]).any(1).float().mean()), 4),
                           "chance": round(min(5, k) / k, 4), "n": int(len(truth))},
        "per_category_top1": per_cat,
    }


def _attack(loaded: LoadedModel, pics: list[Image.Image], truth: torch.Tensor, pred: torch.Tensor,
            text: torch.Tensor, seed: int) -> dict:
    """Another category's word on correctly classified pictures; a neutral word as control."""
    k = len(CATEGORIES)
    rng = np.random.default_rng([seed, 7])
    attacked, control, targets, origin, covers, article, art_covers = [], [], [], [], [], [], []
    for i in np.flatnonzero((pred == truth).numpy()):
        others = [c for c in range(k) if c != int(truth[i])]
        for t in rng.choice(others, size=ATTACKS_PER_PICTURE, replace=False):
            font = str(rng.choice(raster.HELDOUT_FONTS))
            pos = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
            img, cover = raster.overlay_label(pics[i], CATEGORIES[t], area_frac=ATTACK_AREA, position=pos, font=font)
            neutral = str(rng.choice(NEUTRAL_WORDS))
            ctrl, _ = raster.overlay_label(pics[i], neutral, area_frac=ATTACK_AREA, position=pos, font=font)
            art, art_cover = raster.overlay_article_pattern(pics[i], CATEGORIES[t], font=font)
            attacked.append(img), control.append(ctrl), article.append(art)
            targets.append(int(t)), origin.append(int(truth[i])), covers.append(cover), art_covers.append(art_cover)
    if not attacked:
        return {"value": None, "chance": None, "n": 0, "note": "no correctly classified held-out picture"}
    targets_t, origin_t = torch.tensor(targets), torch.tensor(origin)

    def _rates(images: list[Image.Image]) -> tuple[float, float]:
        p = (_encode(loaded, images, None).emb @ text.T).argmax(1)
        rates = flip_rates(origin_t.numpy(), p.numpy(), targets_t.numpy())  # core.analyses.attacks: one definition
        return rates["success"], rates["any_flip"]

    success, flips = _rates(attacked)
    ctrl_success, ctrl_flips = _rates(control)
    art_success, art_flips = _rates(article)
    return {
        "value": round(success, 4),
        "chance": round(flips / (k - 1), 4),
        "chance_note": "success if the flips landed on a random other category: flip_rate / (K-1)",
        "flip_rate": round(flips, 4),
        "control_flip_rate": round(ctrl_flips, 4),
        "control_success": round(ctrl_success, 4),
        "control_words": list(NEUTRAL_WORDS),
        "pixel_cover": round(float(np.mean(covers)), 4),
        "n": len(targets),
        "pictures": len(targets) // ATTACKS_PER_PICTURE,
        "article_pattern": {"value": round(art_success, 4), "flip_rate": round(art_flips, 4),
                            "chance": round(art_flips / (k - 1), 4),
                            "pixel_cover": round(float(np.mean(art_covers)), 4)},
    }


def _profiles(units: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Per-category mean of z-scored unit activations: (K, C)."""
    z = (units - units.mean(0)) / (units.std(0) + 1e-6)  # (N, C)
    return torch.stack([z[labels == c].mean(0) for c in range(k)])


def _rank_of(profile: torch.Tensor, unit: int, category: int) -> int:
    """1-based rank of ``category`` among all categories for one unit's profile column."""
    col = profile[:, unit]
    return int((col > col[category]).sum()) + 1


def _search_figure(loaded: LoadedModel, text: torch.Tensor, pic_prof: torch.Tensor, layer: str) -> dict:
    """Zero-shot neuron search as the dashboard runs it: ``core.analyses.search.text_to_neurons`` ranks units by the
    article's ``v(t)_n`` (columns of ``c_proj.weight @ v_proj.weight`` dotted with the unit-norm prompt
    embedding, paper-methods 5.1). A hit when the top unit has the category among its top-3 picture
    categories. The same with each column L2-normalised (cosine; this evaluation's rule before 2026-11-29)
    is reported beside it as ``cosine_value``."""
    from core.analyses.search import neuron_directions, text_to_neurons

    k = len(CATEGORIES)
    top_units = [int(text_to_neurons(loaded, PROMPT.format(c), layer, top=1, exact=True)["unit"].iloc[0])
                 for c in CATEGORIES]
    found = [c for c in range(k) if _rank_of(pic_prof, top_units[c], c) <= 3]
    cos_top = (torch.nn.functional.normalize(text, dim=-1) @ neuron_directions(loaded, layer).T.cpu()).argmax(1)
    cos_found = [c for c in range(k) if _rank_of(pic_prof, int(cos_top[c]), c) <= 3]
    return {"value": len(found), "chance": 3, "of": k, "rate": round(len(found) / k, 4),
            "chance_rate": round(3 / k, 4), "prompt": PROMPT.format("{category}"),
            "method": "top unit of core.analyses.search.text_to_neurons (the article's v(t) = (c_proj.weight @ "
                      "v_proj.weight)^T t/|t|, what the dashboard's neuron search ranks by); a hit when the "
                      "category is among its top-3 picture categories",
            "hits": [{"category": CATEGORIES[c], "unit": top_units[c]} for c in found],
            "cosine_value": len(cos_found)}


def _units(loaded: LoadedModel, pic_units: torch.Tensor, truth: torch.Tensor, word_units: torch.Tensor,
           word_truth: torch.Tensor, text: torch.Tensor, layer: str) -> tuple[dict, dict]:
    k = len(CATEGORIES)
    pic_prof = _profiles(pic_units, truth, k)  # (K, C)
    word_prof = _profiles(word_units, word_truth, k)  # (K, C)
    hits, examples, pic_top3 = 0, [], 0
    for c in range(k):
        u = int(pic_prof[c].argmax())
        p_rank, w_rank = _rank_of(pic_prof, u, c), _rank_of(word_prof, u, c)
        pic_top3 += p_rank <= 3
        if p_rank <= 3 and w_rank <= 3:
            hits += 1
            examples.append({"unit": u, "category": CATEGORIES[c], "picture_rank": p_rank, "word_rank": w_rank,
                             "text": f"unit {u}: {CATEGORIES[c]} pictures (rank {p_rank}) and the word "
                                     f"'{CATEGORIES[c]}' (rank {w_rank})"})
    mm = {"value": hits, "chance": round(pic_top3 * 3 / k, 2), "of": k, "layer": layer,
          "method": "per category, the unit with the highest mean z-scored activation on its held-out "
                    "pictures; a hit when that unit ranks the category top-3 among picture categories "
                    "and top-3 among the written words (held-out fonts)",
          "examples": examples}
    search = {"value": None, "chance": 3, "of": k, "note": "needs an attention-pool (ModifiedResNet) image tower"}
    attnpool = getattr(loaded.model.visual, "attnpool", None)
    if attnpool is not None:
        search = _search_figure(loaded, text, pic_prof, layer)
    return mm, search


def evaluate(loaded: LoadedModel, *, seed: int = 0) -> dict:
    """Evaluate a loaded CLIP on the demo corpus's held-out pictures and held-out fonts.

    Args:
        loaded: a ``core.model.loading.LoadedModel``.
        seed: seed of the randomised word renderings and attack placements.

    Returns:
        A JSON-ready dict; each figure is ``{"value": ..., "chance": ..., ...}``.
    """
    size = int(loaded.image_size)
    k = len(CATEGORIES)
    df = load_corpus_index()
    test = df[(df["split"] == "test") & df["label"].isin(CATEGORIES)].reset_index(drop=True)
    text = encode_text(loaded, [PROMPT.format(c) for c in CATEGORIES])  # (K, D)
    layer = article_layer(loaded)
    pics = [_sized(load_corpus_image(i), size) for i in test["id"]]
    truth = torch.tensor([CATEGORIES.index(c) for c in test["label"]])
    enc = _encode(loaded, pics, layer)
    scores = enc.emb @ text.T  # (N, K)
    result = {"model": loaded.id, "fingerprint": loaded.fingerprint, "categories": list(CATEGORIES),
              "n_categories": k, "heldout_pictures": len(pics)}
    result.update(_zero_shot(scores, truth))
    words, word_truth = _word_images(size, seed)
    wenc = _encode(loaded, words, layer)
    wtruth = torch.tensor(word_truth)
    result["reading"] = {"value": round(float(((wenc.emb @ text.T).argmax(1) == wtruth).float().mean()), 4),
                         "chance": round(1 / k, 4), "n": len(words), "fonts": list(raster.HELDOUT_FONTS),
                         "prompt": PROMPT.format("{category}")}
    result["typographic_attack"] = _attack(loaded, pics, truth, scores.argmax(1), text, seed)
    mm, search = _units(loaded, enc.units, truth, wenc.units, wtruth, text, layer)
    result["multimodal_units"] = mm
    result["neuron_search"] = search
    result["stroop"] = stroop_figure(loaded)  # core.analyses.stroop: the same run as `python -m core stroop`
    return result
