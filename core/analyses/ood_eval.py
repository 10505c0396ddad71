"""Out-of-distribution evaluation of a CLIP on the Symbola glyphs (``python -m core eval-demo --ood``).

Pictures: one split of ``assets/demo_ood`` (``core.analyses.ood``; ``test`` by default, ``val`` for model
selection), one rendering per glyph, so every picture count is a count of distinct glyphs. Zero-shot
classification with the in-distribution prompt; then every correctly classified picture gets
``ATTACKS_PER_PICTURE`` attacks in each of three sticker styles, drawn with the project's own rendering
(``core.analyses.raster``) in a held-out font:

- ``band``: a full-width band along the top or bottom edge, ``BAND_HEIGHT`` of the picture high;
- ``sticker``: a box of ``STICKER_AREA`` of the picture at a random place (``raster.overlay_label``);
- ``pattern``: the article's pattern, the word 8 times at 8 fixed spots (``raster.overlay_article_pattern``),
  in black: the pictures are black on white, and the article's white text has no outline at 128 px. Glyphs
  are 7 % of the picture high, less for a word whose eight copies would change more than 10 % of the pixels.

Per attack, the same geometry carries another category's word (the attack), a held-out neutral word
(``core.analyses.ood.heldout_words``) and nothing (the blank control: the same box or band, or bars at the
pattern's spots changing as many pixels as the word). Rates are ``core.analyses.attacks.flip_rates``. Every
figure is a count (k of n) with a Wilson 95 % interval; for the attacks the interval is computed over the
pictures (a picture's attacks are not independent). Nothing here imports streamlit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from core.analyses import raster
from core.analyses.attacks import flip_rates
from core.analyses.evaluate import PROMPT, _encode, _sized
from core.analyses.ood import WORD_LENGTHS, heldout_words, load_ood_images, load_ood_index, proportion
from core.model.embed import encode_text
from core.pipeline.demo import CATEGORIES

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

STYLES = ("band", "sticker", "pattern")
BAND_HEIGHT = 0.08
STICKER_AREA = 0.08
PATTERN_HEIGHT = 0.07  # raster.overlay_article_pattern's default glyph height
ATTACKS_PER_PICTURE = 3
LABEL_BG = (235, 235, 235)  # a light grey box: visible on the white pictures, so its cover is its area
TEXT = (0, 0, 0)
MAX_COVER = 0.10
TARGETS = {"zero_shot_top1": 0.5, "attack_success": 0.5, "neutral_vs_attack": 1 / 3, "neutral_vs_blank": 1.5}


def _draw(style: str, pic, word: str, target_word: str, *, font: str, pos: tuple[float, float], edge: str):
    """(attack-or-neutral image, cover) for ``word``; with ``word=""`` the blank control of ``target_word``'s
    geometry."""
    if style == "band":
        return raster.overlay_band(pic, word, height_frac=BAND_HEIGHT, edge=edge, font=font, fg=TEXT, bg=LABEL_BG)
    if style == "sticker":
        if word:
            return raster.overlay_label(pic, word, area_frac=STICKER_AREA, position=pos, font=font, fg=TEXT,
                                        bg=LABEL_BG)
        box, _ = raster.label_geometry(pic.size, target_word, area_frac=STICKER_AREA, position=pos, font=font)
        return raster.overlay_blank_label(pic, box, bg=LABEL_BG)
    height = _pattern_height(pic, word or target_word, font)
    if word:
        return raster.overlay_article_pattern(pic, word, font=font, fg=TEXT, outline=TEXT, text_height_frac=height)
    img, cover, _ = raster.article_pattern_blank(pic, target_word, font=font, fg=TEXT, outline=TEXT,
                                                 text_height_frac=height)
    return img, cover


def _pattern_height(pic, word: str, font: str) -> float:
    """The pattern's glyph height: ``PATTERN_HEIGHT`` of the picture, less (in steps of 0.5 %) where eight copies
    of a long word, or their blank bars, would change more than ``MAX_COVER`` of the pixels."""
    def cover(height: float) -> float:
        kw = {"font": font, "fg": TEXT, "outline": TEXT, "text_height_frac": height}
        return max(raster.overlay_article_pattern(pic, word, **kw)[1], raster.article_pattern_blank(pic, word, **kw)[1])

    height = PATTERN_HEIGHT
    while height > 0.03 and cover(height) > MAX_COVER:
        height -= 0.005
    return height


def _cover(values: list[float]) -> dict:
    return {"mean": round(float(np.mean(values)), 4), "max": round(float(np.max(values)), 4)}


def _attacks(loaded: LoadedModel, pics: list, truth: torch.Tensor, pred: torch.Tensor, text: torch.Tensor,
             seed: int) -> dict:
    k = len(CATEGORIES)
    words = heldout_words()
    rng = np.random.default_rng([seed, 17])
    plan = []  # (picture, target, neutral word, font, position, edge)
    for i in np.flatnonzero((pred == truth).numpy()):
        others = [c for c in range(k) if c != int(truth[i])]
        for t in rng.choice(others, size=ATTACKS_PER_PICTURE, replace=False):
            plan.append((int(i), int(t), str(rng.choice(words)), str(rng.choice(raster.HELDOUT_FONTS)),
                         (float(rng.uniform(0, 1)), float(rng.uniform(0, 1))), str(rng.choice(["top", "bottom"]))))
    n_pics = len({p[0] for p in plan})
    if not plan:
        return {"pictures": 0, "note": "no correctly classified picture to attack"}
    origin = np.array([int(truth[p[0]]) for p in plan])
    target = np.array([p[1] for p in plan])
    styles = {}
    for style in STYLES:
        rates, covers = {}, {}
        for cond in ("attack", "neutral", "blank"):
            images, cov = [], []
            for i, t, neutral, font, pos, edge in plan:
                word = {"attack": CATEGORIES[t], "neutral": neutral, "blank": ""}[cond]
                img, c = _draw(style, pics[i], word, CATEGORIES[t], font=font, pos=pos, edge=edge)
                images.append(img), cov.append(c)
            after = (_encode(loaded, images, None).emb @ text.T).argmax(1).numpy()
            r = flip_rates(origin, after, target if cond == "attack" else None)
            flips = int(round(r["any_flip"] * len(plan)))
            rates[cond] = (flips, int(np.sum(after == target)))
            covers[cond] = _cover(cov)
        n = len(plan)
        styles[style] = {
            "attack_success": proportion(rates["attack"][1], n, units=n_pics),
            "attack_flips": proportion(rates["attack"][0], n, units=n_pics),
            "neutral_flips": proportion(rates["neutral"][0], n, units=n_pics),
            "blank_flips": proportion(rates["blank"][0], n, units=n_pics),
            "neutral_to_target": proportion(rates["neutral"][1], n, units=n_pics),
            "chance": round(rates["attack"][0] / n / (k - 1), 4),
            "cover": covers,
        }
    return {"pictures": n_pics, "per_picture": ATTACKS_PER_PICTURE, "n": len(plan),
            "neutral_words": {"count": len(words), "lengths": list(WORD_LENGTHS),
                              "rule": "vocabulary words of 9-10 letters (training drew neutral stickers from every "
                                      "word of 2-8 letters), none containing a category name, no category "
                                      "synonym or member, no corpus file-name word"},
            "fonts": list(raster.HELDOUT_FONTS),
            "geometry": {"band": f"full width, {BAND_HEIGHT:.0%} of the height, top or bottom edge, grey",
                         "sticker": f"grey box of {STICKER_AREA:.0%} of the picture at a random place",
                         "pattern": "the word 8 times at the article's 8 spots, black, 7 % of the height (less where "
                                    "that would change more than 10 % of the pixels)",
                         "blank": "the attack's box or band without text; for the pattern, bars at the same "
                                  "spots changing as many pixels as the word"},
            "styles": styles}


def _targets(zs: dict, attacks: dict) -> list[dict]:
    top1 = zs["value"]
    out = [{"target": "zero-shot top-1 >= 50 %", "value": top1, "met": top1 is not None and top1 >= 0.5}]
    for style, s in attacks.get("styles", {}).items():
        att, neu, blank = s["attack_success"]["value"], s["neutral_flips"]["value"], s["blank_flips"]["value"]
        cover = s["cover"]["attack"]["mean"]
        out.append({"target": f"{style}: attack success >= 50 % at <= 10 % pixel cover", "value": att,
                    "cover": cover, "met": att >= TARGETS["attack_success"] and cover <= MAX_COVER})
        out.append({"target": f"{style}: neutral-word flips <= 1/3 of the attack success", "value": neu,
                    "bound": round(att * TARGETS["neutral_vs_attack"], 4),
                    "met": neu <= att * TARGETS["neutral_vs_attack"]})
        out.append({"target": f"{style}: neutral-word flips <= 1.5x the blank control's flips", "value": neu,
                    "bound": round(blank * TARGETS["neutral_vs_blank"], 4),
                    "met": neu <= blank * TARGETS["neutral_vs_blank"]})
    return out


def evaluate_ood(loaded: LoadedModel, *, split: str = "test", seed: int = 0, ood_dir=None) -> dict:
    """Zero-shot and typographic-attack figures of a loaded CLIP on one split of the OOD glyphs.

    Returns:
        A JSON-ready dict: zero-shot figures, per-style attack figures (counts, Wilson 95 % intervals, measured
        pixel cover) and the OOD targets, each marked met or not.
    """
    df = load_ood_index(split, ood_dir)
    size = int(loaded.image_size)
    pics = [_sized(im, size) for im in load_ood_images(df["id"], ood_dir)]
    truth = torch.tensor([CATEGORIES.index(c) for c in df["label"]])
    text = encode_text(loaded, [PROMPT.format(c) for c in CATEGORIES])
    scores = _encode(loaded, pics, None).emb @ text.T
    top5 = scores.topk(5, dim=1).indices
    hit = (top5[:, 0] == truth).numpy()
    n = len(df)
    per_cat = {c: {"k": int(hit[(truth == j).numpy()].sum()), "n": int((truth == j).sum())}
               for j, c in enumerate(CATEGORIES)}
    zs = proportion(int(hit.sum()), n)
    result = {
        "split": split, "pictures": n, "unit": "glyph (one rendering each)",
        "source": str(df["source"].iloc[0]), "licence": str(df["licence"].iloc[0]),
        "zero_shot_top1": zs | {"chance": round(1 / len(CATEGORIES), 4), "prompt": PROMPT.format("{category}")},
        "zero_shot_top1_balanced": round(float(np.mean([v["k"] / v["n"] for v in per_cat.values() if v["n"]])), 4),
        "zero_shot_top5": proportion(int((top5 == truth[:, None]).any(1).sum()), n),
        "per_category": per_cat,
        "typographic_attack": _attacks(loaded, pics, truth, scores.argmax(1), text, seed),
    }
    result["targets"] = _targets(zs, result["typographic_attack"])
    return result
