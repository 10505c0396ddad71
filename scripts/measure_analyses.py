"""Figures of docs/analyses.md: sparse codes, atlas, ablation, causal check, check-paper self-consistency.

    python scripts/measure_analyses.py [MODEL_ID]        # default: demo; prints JSON

Set DEMO_DIR to measure another export of the demo model (e.g. an intermediate training checkpoint).
"""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch

torch.set_num_threads(1)
from core import config as _cfg

if os.environ.get("DEMO_DIR"):
    _cfg.DEMO_MODEL_DIR = Path(os.environ["DEMO_DIR"])
from core.analyses import concepts as cc
from core.analyses import interventions as iv
from core.analyses import paper
from core.model.hooks import article_layer, resolve_layer
from core.model.loading import load_model
from core.pipeline.demo import CATEGORIES

out = {}
m = load_model(sys.argv[1] if len(sys.argv) > 1 else "demo")
out["model"] = {"id": m.id, "units": resolve_layer(m, article_layer(m)).units, "layer": article_layer(m)}
t0 = time.time()
codes = {c: cc.code_concept(m, c, kind="plain", alpha=0.3) for c in ["dog", "flag", "clock", "smiley"]}
out["codes_plain"] = {c: {"nnz": k.nnz, "fit": round(k.fit_cosine, 3),
                          "top": [(int(r.unit), round(r.relative, 2)) for r in k.table.head(4).itertuples()]}
                      for c, k in codes.items()}
emo = {c: cc.code_concept(m, c, kind="emotion", alpha=0.3) for c in ["happy", "surprised", "sad"]}
out["codes_emotion"] = {c: {"nnz": k.nnz, "fit": round(k.fit_cosine, 3)} for c, k in emo.items()}
out["code_seconds_each"] = round((time.time() - t0) / 7, 3)
# concept code of a category word: does the top unit's top zero-shot class agree?
at = cc.atlas_for(m, list(CATEGORIES), 4, kind="plain")
out["atlas_categories_k4"] = {"error": round(at.error, 3), "names": at.names}
at2 = cc.atlas_for(m, list(cc.ARTICLE_EMOTIONS), 2)
out["atlas_emotions_k2_error"] = round(at2.error, 3)
# causal survey over the categories
t0 = time.time()
surv = iv.causal_survey(m, list(CATEGORIES), template="a drawing of a {}")
out["causal_survey"] = {"units": len(surv), "passed": int(surv["passed"].sum()),
                        "mean_sign_agreement": round(float(surv["sign_agreement"].mean()), 3),
                        "seconds": round(time.time() - t0, 1)}
rng = np.random.default_rng(0)
rand_units = rng.choice(out["model"]["units"], 30, replace=False).tolist()
surv_r = iv.causal_survey(m, list(CATEGORIES), units=rand_units, template="a drawing of a {}")
out["causal_random_units"] = {"units": len(surv_r), "passed": int(surv_r["passed"].sum()),
                              "mean_sign_agreement": round(float(surv_r["sign_agreement"].mean()), 3)}
# ablation: most active unit vs random unit on held-out pictures
from core.pipeline.demo import load_corpus_image

ids = iv.demo_image_ids(32)
flip_top, flip_rand, dp_top, dp_rand = 0, 0, [], []
layer = article_layer(m)
for i, pid in enumerate(ids):
    img = load_corpus_image(pid)
    _, act = iv.image_features(m, m.preprocess(img).unsqueeze(0), layer=layer, watch=layer)
    top_u = int(act[0].flatten(1).amax(1).argmax())
    r_u = int(rng.integers(out["model"]["units"]))
    for u, bucket in ((top_u, "top"), (r_u, "rand")):
        res = iv.intervention_effect(m, img, [iv.make_edit(u, "zero")], list(CATEGORIES))
        d = res.to_dict()
        flipped = d["top_before"] != d["top_after"]
        pmax = float(res.table["prob_before"].iloc[0])
        after_same = float(res.table.set_index("label").at[res.table["label"].iloc[0], "prob_after"])
        if bucket == "top":
            flip_top += flipped; dp_top.append(pmax - after_same)
        else:
            flip_rand += flipped; dp_rand.append(pmax - after_same)
out["ablation"] = {"images": len(ids), "top_unit_flips": flip_top, "random_unit_flips": flip_rand,
                   "top_unit_mean_drop_of_top_prob": round(float(np.mean(dp_top)), 4),
                   "random_unit_mean_drop_of_top_prob": round(float(np.mean(dp_rand)), 4)}
t0 = time.time()
true, fake = paper.self_check(m)
out["self_consistency"] = {"true": true.summary, "shuffled": fake.summary, "seconds": round(time.time() - t0, 1)}
print(json.dumps(out, indent=1))
