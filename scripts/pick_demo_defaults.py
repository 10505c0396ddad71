"""Measure the pages' default pictures and words on the embedded demo model and write assets/demo/defaults.json.

    python scripts/pick_demo_defaults.py            # writes assets/demo/defaults.json (and prints it)
    python scripts/pick_demo_defaults.py --check    # exits 1 if the shipped file differs from a fresh measurement

A page's default state must show its phenomenon on the default model, so the defaults are measured, not guessed:

* typographic attack: among the held-out pictures of the 16 evaluated categories that the model classifies
  correctly zero-shot ("a drawing of a {}", the 16 categories), attack each with every other category's name as
  the page's default sticker (8 % of the picture, centre, black on white). A white sticker alone can look like
  a "sign" or a "card", so each picture also gets the same sticker with a neutral non-word (``CONTROL``): words
  whose class that control sticker produces on any picture are not chosen, and neither are pictures the control
  flips. The default word is the remaining word with the highest success (ties: the categories' order), and the
  default picture the one it sends to its class with the largest probability, among pictures classified with at
  least 50 % confidence before the attack and left alone by the control.
* interventions: among the page's demo pictures (``interventions.demo_image_ids``) classified correctly, ablate
  (to zero) each picture's ``TRY_UNITS`` most active units at the article's layer; among pictures classified with at
  least 50 % confidence, the default picture is the one whose best ablation lowers the probability of its class most
  (a flip of the top class first), and that unit is the one the page suggests trying.
* attack lab: the six attack words (control-produced classes left out) with the highest sticker success.

Deterministic (the model and corpus are shipped; no sampling).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.analyses import attacks, interventions  # noqa: E402
from core.analyses.zeroshot import build_classifier, classify_images, default_template  # noqa: E402
from core.config import ASSETS_DIR  # noqa: E402
from core.model.hooks import article_layer  # noqa: E402
from core.model.loading import load_model  # noqa: E402
from core.pipeline.demo import CATEGORIES, PLACEHOLDER_IDS, load_corpus_image, load_corpus_index  # noqa: E402

OUT = ASSETS_DIR / "demo" / "defaults.json"
STICKER = {"style": "sticker", "area": 0.08, "position": "center"}  # the typographic-attack page's defaults
MIN_CONFIDENCE = 0.5
LAB_WORDS = 6
CONTROL = "qxz"
TRY_UNITS = 8


def _r(x: float) -> float:
    return round(float(x), 4)


def measure() -> dict:
    torch.set_num_threads(1)
    loaded = load_model("demo")
    template = default_template(loaded)
    clf = build_classifier(loaded, CATEGORIES, template)
    df = load_corpus_index()
    test = df[(df["split"] == "test") & df["evaluated"] & ~df["id"].isin(PLACEHOLDER_IDS)].reset_index(drop=True)
    images = [load_corpus_image(i) for i in test["id"]]
    views = [attacks.model_view(im, loaded.image_size) for im in images]
    p_clean = classify_images(loaded, views, clf)
    names = list(clf.classes)
    correct = [i for i in range(len(test)) if names[int(p_clean[i].argmax())] == test["label"][i]]

    controls = classify_images(loaded, [attacks.apply_attack(views[i], attacks.AttackSpec(CONTROL, **STICKER))[0]
                                        for i in correct], clf)
    control_pred = {i: names[int(row.argmax())] for i, row in zip(correct, controls)}
    lookalikes = sorted({c for i, c in control_pred.items() if c != test["label"][i]})
    pairs, per_word = [], {w: [0, 0] for w in CATEGORIES}
    for i in correct:
        label = test["label"][i]
        words = [w for w in CATEGORIES if w != label]
        attacked = [attacks.apply_attack(views[i], attacks.AttackSpec(w, **STICKER))[0] for w in words]
        p = classify_images(loaded, attacked, clf)
        for w, row in zip(words, p):
            ok = names[int(row.argmax())] == w
            per_word[w][0] += ok
            per_word[w][1] += 1
            pairs.append({"image": test["id"][i], "label": label, "text": w, "success": bool(ok),
                          "p_label_before": _r(p_clean[i][names.index(label)]), "p_text_after": _r(row[names.index(w)])})
    steady = {test["id"][i] for i in correct if control_pred[i] == test["label"][i]}
    rates = {w: (s / n if n else 0.0) for w, (s, n) in per_word.items()}
    lab_words = sorted((w for w in CATEGORIES if w not in lookalikes),
                       key=lambda w: (-rates[w], CATEGORIES.index(w)))[:LAB_WORDS]
    wins = [p for p in pairs if p["success"] and p["p_label_before"] >= MIN_CONFIDENCE and p["image"] in steady
            and p["text"] == lab_words[0]]
    best = max(wins, key=lambda p: (p["p_text_after"], p["p_label_before"], p["image"]))

    ids = interventions.demo_image_ids()
    demo_views = [attacks.model_view(load_corpus_image(i), loaded.image_size) for i in ids]
    p_demo = classify_images(loaded, demo_views, clf)
    labels = df.set_index("id").loc[ids, "label"].tolist()
    ok = [k for k in range(len(ids)) if names[int(p_demo[k].argmax())] == labels[k]]
    layer = article_layer(loaded)
    tries = []
    for k in ok:
        image = load_corpus_image(ids[k])
        units = attacks.forward_units(loaded, [attacks.model_view(image, loaded.image_size)], layer=layer)[1][0]
        for u in np.argsort(-units)[:TRY_UNITS]:
            res = interventions.intervention_effect(loaded, image, [interventions.make_edit(int(u), "zero")],
                                                    list(CATEGORIES), template=template, layer=layer).to_dict()
            row = next(r for r in res["table"] if r["label"] == labels[k])
            if res["top_before"] != labels[k]:  # the page's own preprocessing must get it right too
                break
            tries.append({"image": ids[k], "label": labels[k], "p_label": _r(row["prob_before"]), "unit": int(u),
                          "p_label_ablated": _r(row["prob_after"]), "top_ablated": res["top_after"]})
    iv = max((t for t in tries if t["p_label"] >= MIN_CONFIDENCE),
             key=lambda t: (t["top_ablated"] != t["label"], t["p_label"] - t["p_label_ablated"], t["image"]))

    return {
        "about": "Measured by scripts/pick_demo_defaults.py on the demo model and its corpus; read by the pages.",
        "model": "demo",
        "fingerprint": json.loads((ASSETS_DIR / "demo" / "metrics.json").read_text()).get("fingerprint"),
        "template": template,
        "classes": list(CATEGORIES),
        "heldout_top1": {"value": _r(len(correct) / len(test)), "correct": len(correct), "n": len(test)},
        "typographic_attack": best | {"word_success": _r(rates[best["text"]]),
            "sticker": STICKER,
            "heldout_pictures": len(test), "classified_correctly": len(correct),
            "attacks": len(pairs), "attacks_succeeded": sum(p["success"] for p in pairs),
            "control_text": CONTROL, "control_flipped": len(correct) - len(steady), "control_classes": lookalikes},
        "interventions": iv | {"op": "zero", "layer": layer, "demo_pictures": len(ids),
                               "classified_correctly": len(ok), "units_tried_each": TRY_UNITS},
        "attack_lab": {"words": lab_words, "sticker_success": {w: _r(rates[w]) for w in lab_words}},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = ap.parse_args()
    text = json.dumps(measure(), indent=2) + "\n"
    if args.check:
        same = OUT.is_file() and OUT.read_text() == text
        print("defaults.json is up to date" if same else "defaults.json differs from a fresh measurement:\n" + text)
        return 0 if same else 1
    OUT.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
