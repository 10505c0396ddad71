"""Train the embedded demo CLIP (model id ``demo``) on the demo corpus, on CPU.

Usage::

    python scripts/train_demo_model.py [--steps 1500] [--workdir artifacts/demo_train] [--out assets/demo]

Recipe (docs/demo-model.md, docs/demo-research-log.md): an open_clip
CLIP with a ModifiedResNet [1,1,1,1] width-16 image tower at 64 px and a 3-layer text transformer,
trained from scratch with a symmetric InfoNCE loss whose positives are all batch items of the same
concept. Half of every batch is freshly rendered words (training fonts only), half clip art, of
which half of the labelled pictures carry their own category word as a sticker. Seeded and
resumable: the data of step ``s`` depends only on (seed, s), and a checkpoint is written every
``--ckpt-every`` steps; rerunning the same command resumes from the last one.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.analyses import raster  # noqa: E402
from core.pipeline.demo import CATEGORIES, load_corpus_index, load_corpus_rgba  # noqa: E402

logger = logging.getLogger("train_demo_model")

MODEL_CONFIG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 3},
}
PICTURE_TEMPLATES = ("a drawing of a {}", "clip art of a {}", "a picture of a {}",
                     "an illustration of a {}", "a {}", "a cartoon {}")
WORD_TEMPLATES = ("{}", "the word {}", "a sign that says {}", "the text {}", "a label that says {}")
MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)


def model_config(image_size: int = 64) -> dict:
    """The open_clip config of the demo CLIP at ``image_size`` px (the attention pool's grid follows it)."""
    cfg = json.loads(json.dumps(MODEL_CONFIG))
    cfg["vision_cfg"]["image_size"] = int(image_size)
    return cfg


def build_model(seed: int, image_size: int = 64) -> tuple[torch.nn.Module, object]:
    """Create the demo CLIP (random init, seeded) and its tokenizer through open_clip."""
    import open_clip
    from open_clip import factory

    factory._MODEL_CONFIGS["demo"] = model_config(image_size)  # add_model_config's registry
    torch.manual_seed(seed)
    model = open_clip.create_model("demo", pretrained=None)
    return model, open_clip.get_tokenizer("demo")


class Batcher:
    """Builds training batches; everything random comes from (seed, step)."""

    def __init__(self, args: argparse.Namespace):
        df = load_corpus_index()
        df = df[df["split"] == "train"].reset_index(drop=True)
        self.images = load_corpus_rgba(df["id"].tolist())  # (N, 4, 96, 96) uint8
        self.args = args
        labelled = df["label"].isin(CATEGORIES).to_numpy()
        self.concepts = np.where(labelled, df["label"], "obj:" + df["object"]).tolist()
        self.labels = df["label"].tolist()
        self.objects = df["object"].tolist()
        self.is_labelled = labelled
        # Sampling weights: labelled pictures by 1/sqrt(class size), half of all picks.
        counts = df[labelled]["label"].value_counts()
        w_lab = np.where(labelled, 1 / np.sqrt(df["label"].map(counts).fillna(1)), 0.0)
        w_lab = w_lab / w_lab.sum()
        w_ext = (~labelled) / max(1, (~labelled).sum())
        self.weights = args.labelled_frac * w_lab + (1 - args.labelled_frac) * w_ext
        self.object_words = sorted({o for o in df["object"] if 2 < len(o) <= 14 and " " not in o})
        self.neutral_words = neutral_vocabulary() if args.neutral > 0 else []
        self.near_words = near_category_words() if args.neutral > 0 and args.neutral_hard > 0 else {}
        self.neutral_by_length: dict[int, list[str]] = {}
        if args.neutral > 0 and args.neutral_by_length:
            for w in neutral_vocabulary(min_len=2):
                self.neutral_by_length.setdefault(len(w), []).append(w)
        logger.info("train pictures: %d labelled, %d extras; %d object words",
                    labelled.sum(), (~labelled).sum(), len(self.object_words))

    def _augment(self, idx: np.ndarray, gen: torch.Generator, rng: np.random.Generator) -> torch.Tensor:
        """Random resized crop + flip of RGBA pictures, composited on white or a light colour."""
        x = self.images[torch.as_tensor(idx)].float() / 255  # (B, 4, 96, 96)
        b = x.shape[0]
        side = torch.empty(b).uniform_(0.6, 1.0, generator=gen)
        aspect = torch.exp(torch.empty(b).uniform_(math.log(3 / 4), math.log(4 / 3), generator=gen))
        sx, sy = side * aspect.sqrt(), side / aspect.sqrt()
        sx, sy = sx.clamp(max=1.0), sy.clamp(max=1.0)
        tx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - sx)
        ty = (torch.rand(b, generator=gen) * 2 - 1) * (1 - sy)
        flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
        theta[:, 1, 1], theta[:, 1, 2] = sy, ty
        size = self.args.image_size
        grid = F.affine_grid(theta, (b, 4, size, size), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        rgb, alpha = x[:, :3], x[:, 3:]
        light = torch.rand(b, 3, 1, 1, generator=gen) * 0.3 + 0.7
        bg = torch.where(torch.rand(b, 1, 1, 1, generator=gen) < 0.6, torch.ones_like(light), light)
        # grid_sample interpolates straight (non-premultiplied) colour; fine for clip art edges.
        return rgb * alpha + bg * (1 - alpha)  # (B, 3, S, S) in [0, 1]

    def _neutral_word(self, rng: np.random.Generator) -> str:
        if self.args.neutral_hard > 0 and rng.random() < self.args.neutral_hard:  # looks like a category word
            return str(rng.choice(self.near_words[str(rng.choice(CATEGORIES))]))
        if not self.args.neutral_by_length:
            return str(rng.choice(self.neutral_words))
        length = int(rng.choice(sorted(self.neutral_by_length)))  # short words as often as long ones
        return str(rng.choice(self.neutral_by_length[length]))

    def _sticker(self, img: torch.Tensor, word: str, step: int, rng: np.random.Generator) -> torch.Tensor:
        """A light label box with ``word`` in dark text; its area shrinks from ``--label-area-start`` to
        ``--label-area`` (both ``lo,hi``) over the first half of the schedule (a large-to-small curriculum)."""
        lo, hi = _area_range(step, self.args)
        pil, _ = raster.overlay_label(
            _to_pil(img), word, area_frac=float(rng.uniform(lo, hi)), position="random",
            font=str(rng.choice(raster.TRAIN_FONTS)), rng=rng,
            bg=tuple(int(v) for v in rng.integers(200, 256, 3)),
            fg=tuple(int(v) for v in rng.integers(0, 70, 3)))
        return _from_pil(pil)

    def batch(self, step: int) -> tuple[torch.Tensor, list[str], list[str]]:
        """(images (B,3,S,S) normalised, captions, concept ids) for one step."""
        a = self.args
        rng = np.random.default_rng([a.seed, step])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        n_words = int(round(a.batch_size * a.word_frac))
        n_pics = a.batch_size - n_words
        idx = rng.choice(len(self.weights), size=n_pics, p=self.weights)
        pics = self._augment(idx, gen, rng)
        images, captions, concepts = [], [], []
        for k, i in enumerate(idx):
            img = pics[k]
            concept, label = self.concepts[i], self.labels[i]
            if self.is_labelled[i]:
                u = rng.random()
                written = None
                if u < a.conflict:  # another category's word: the picture is captioned (and counted) as the word
                    written = str(rng.choice([c for c in CATEGORIES if c != label]))
                elif u < a.conflict + a.overlay:
                    written = label
                elif u < a.conflict + a.overlay + a.neutral:  # unrelated text: the caption ignores it
                    img = self._sticker(img, self._neutral_word(rng), step, rng)
                if written is not None:
                    img = self._sticker(img, written, step, rng)
                obj = self.objects[i]
                if written is not None and written != label:
                    cap, concept = str(rng.choice(WORD_TEMPLATES)).format(written), written
                elif obj != label and rng.random() < 0.4:
                    cap = f"a drawing of a {obj}, a {label}"
                else:
                    cap = str(rng.choice(PICTURE_TEMPLATES)).format(label)
            else:
                cap = f"a drawing of a {self.objects[i]}"
            images.append(img)
            captions.append(cap)
            concepts.append(concept)
        for _ in range(n_words):
            if rng.random() < 0.8:
                word = str(rng.choice(CATEGORIES))
                concept = word
            else:
                word = str(rng.choice(self.object_words))
                concept = word if word in CATEGORIES else "obj:" + word
            if a.clean_word_frac > 0 and rng.random() < a.clean_word_frac:
                # dark text on a plain light background, like a printed label or a page
                light = tuple(int(v) for v in rng.integers(215, 256, 3))
                dark = tuple(int(v) for v in rng.integers(0, 60, 3))
                word_img = raster.render_word(word, size=a.image_size, rng=rng, bg=light, fg=dark)
            else:
                word_img = raster.render_word(word, size=a.image_size, rng=rng)
            images.append(_from_pil(word_img))
            captions.append(str(rng.choice(WORD_TEMPLATES)).format(word))
            concepts.append(concept)
        x = torch.stack(images)
        return (x - MEAN) / STD, captions, concepts


def neutral_vocabulary(min_len: int = 3) -> list[str]:
    """Common English words (assets/vocab) for unrelated stickers: 3 (``min_len``) to 8 letters, no category
    word or plural,
    none of the evaluation's control words (``core.analyses.evaluate.NEUTRAL_WORDS`` stay unseen)."""
    from core.analyses.evaluate import NEUTRAL_WORDS
    from core.analyses.words import load_vocabulary

    banned = set(NEUTRAL_WORDS) | set(CATEGORIES) | {c + "s" for c in CATEGORIES} | {c + "es" for c in CATEGORIES}
    return [w for w in load_vocabulary() if w.isalpha() and w.islower() and min_len <= len(w) <= 8 and w not in banned]


def near_category_words() -> dict[str, list[str]]:
    """Per category, neutral words that look like it (length within 1, edit distance <= half its length):
    hard negatives for reading ("cap", "coat" for cat; "boot", "about" for boat)."""
    def distance(a: str, b: str) -> int:
        row = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            prev, row[0] = row[:], i
            for j, cb in enumerate(b, 1):
                row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
        return row[-1]

    vocab = neutral_vocabulary(min_len=2)
    return {c: [w for w in vocab if abs(len(w) - len(c)) <= 1 and distance(w, c) <= max(1, len(c) // 2)]
            for c in CATEGORIES}


def _area_range(step: int, args: argparse.Namespace) -> tuple[float, float]:
    end = _pair(args.label_area)
    start = _pair(args.label_area_start) if args.label_area_start else end
    t = min(1.0, step / max(1, args.steps // 2))
    return (start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))


def _pair(text: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in text.split(","))
    return lo, hi


def _to_pil(img: torch.Tensor):
    from PIL import Image

    arr = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(arr)


def _from_pil(pil) -> torch.Tensor:
    arr = np.asarray(pil.convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(arr).permute(2, 0, 1)


def concept_loss(img_f: torch.Tensor, txt_f: torch.Tensor, scale: torch.Tensor,
                 concepts: list[str]) -> torch.Tensor:
    """Symmetric InfoNCE with soft targets over all batch items sharing a concept."""
    logits = scale * img_f @ txt_f.t()  # (B, B)
    ids = {c: k for k, c in enumerate(sorted(set(concepts)))}
    cid = torch.tensor([ids[c] for c in concepts], device=logits.device)
    target = (cid[:, None] == cid[None, :]).float()
    target = target / target.sum(1, keepdim=True)
    return 0.5 * (torch.sum(-target * F.log_softmax(logits, 1), 1).mean()
                  + torch.sum(-target * F.log_softmax(logits.t(), 1), 1).mean())


def lr_at(step: int, args: argparse.Namespace) -> float:
    warm = max(1, int(args.warmup * args.steps))
    if step < warm:
        return args.lr * (step + 1) / warm
    t = (step - warm) / max(1, args.steps - warm)
    return args.lr * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                              {"params": other, "weight_decay": 0.0}],
                             lr=args.lr, betas=(0.9, 0.98), eps=1e-6)


@torch.no_grad()
def quick_eval(model, tokenizer, args) -> dict:
    """Held-out picture zero-shot top-1 and held-out-font reading (for the progress log only)."""
    from core.pipeline.demo import load_corpus_image

    model.eval()
    df = load_corpus_index()
    test = df[(df["split"] == "test") & df["label"].isin(CATEGORIES)]
    dev = next(model.parameters()).device
    text = F.normalize(model.encode_text(tokenizer([f"a drawing of a {c}" for c in CATEGORIES]).to(dev)), dim=-1)
    pics = torch.stack([_from_pil(load_corpus_image(i).resize((args.image_size,) * 2)) for i in test["id"]])
    pred = (F.normalize(model.encode_image(((pics - MEAN) / STD).to(dev)), dim=-1) @ text.t()).argmax(1).cpu()
    truth = torch.tensor([CATEGORIES.index(c) for c in test["label"]])
    words, wtruth = [], []
    for f in raster.HELDOUT_FONTS:
        for k, c in enumerate(CATEGORIES):
            words.append(_from_pil(raster.render_word(c, size=args.image_size, font=f)))
            wtruth.append(k)
    wpred = (F.normalize(model.encode_image(((torch.stack(words) - MEAN) / STD).to(dev)), dim=-1) @ text.t()).argmax(1).cpu()
    model.train()
    return {"top1": float((pred == truth).float().mean()),
            "reading": float((wpred == torch.tensor(wtruth)).float().mean())}


def export(model: torch.nn.Module, args: argparse.Namespace, wall_s: float, history: list) -> None:
    """Write config.json, weights.safetensors (fp16) and train_config.json to ``args.out``."""
    from safetensors.torch import save_file

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(model_config(args.image_size), indent=2) + "\n")
    state = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "weights.safetensors"), metadata={"format": "pt", "model_id": "demo"})
    cfg = {k: v for k, v in vars(args).items() if k not in ("out", "workdir")}
    cfg.update({"categories": list(CATEGORIES), "train_fonts": list(raster.TRAIN_FONTS),
                "heldout_fonts": list(raster.HELDOUT_FONTS), "wall_seconds": round(wall_s, 1),
                "torch": torch.__version__, "threads": torch.get_num_threads(),
                "progress": history})
    if args.init_from:  # a second stage: keep the first stage's settings beside this one's
        prev = Path(args.init_from).with_name("train_config.json")
        cfg["init_from"] = Path(args.init_from).name
        cfg["previous_stage"] = json.loads(prev.read_text()) if prev.exists() else None
    (out / "train_config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def train(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model, tokenizer = build_model(args.seed, args.image_size)
    model.visual.to(memory_format=torch.channels_last)
    if args.init_from:
        from safetensors.torch import load_file

        model.load_state_dict({k: v.float() for k, v in load_file(args.init_from).items()})
        logger.info("initialised from %s", args.init_from)
    model.to(args.device)
    opt = make_optimizer(model, args)
    start, wall, history = 0, 0.0, []
    ckpt = work / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if any(state["args"].get(k, _LATER_DEFAULTS.get(k)) != v for k, v in _resume_key(args).items()):
            raise SystemExit(f"{ckpt} was written with other settings; use another --workdir")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start, wall, history = state["step"], state["wall"], state["history"]
        logger.info("resumed from step %d", start)
    batcher = Batcher(args)
    end = min(args.steps, args.stop_after or args.steps)
    batches = _batches(batcher, start, max(start, end), args.workers)
    model.train()
    t0 = time.time() - wall
    bar = tqdm(range(start, end), initial=start, total=args.steps, desc="train demo",
               mininterval=5, file=sys.stderr)
    acts: list[torch.Tensor] = []
    if args.l1 > 0:  # sparsity pressure on the units at the article's layer (the last block's output, post-ReLU)
        model.visual.layer4.register_forward_hook(lambda _m, _i, out: acts.append(out))
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        x, captions, concepts = next(batches)
        acts.clear()
        x = x.to(args.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        img_f = F.normalize(model.encode_image(x), dim=-1)
        txt_f = F.normalize(model.encode_text(tokenizer(captions).to(args.device)), dim=-1)
        loss = concept_loss(img_f, txt_f, model.logit_scale.exp().clamp(max=100), concepts)
        if acts:  # L1 of the spatially pooled unit activations, relative to their mean (scale-free)
            pooled = acts[0].mean(dim=(2, 3))  # (B, C), >= 0
            loss = loss + args.l1 * (pooled / (pooled.mean() + 1e-6) + 1e-2).sqrt().mean()  # eps: finite at 0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        done = step + 1
        if done % args.eval_every == 0 or done == end:
            ev = quick_eval(model, tokenizer, args)
            history.append({"step": done, "loss": round(loss.item(), 4),
                            "minutes": round((time.time() - t0) / 60, 2), **ev})
            logger.info("step %d loss %.3f %s", done, loss.item(), ev)
        if done % args.ckpt_every == 0 or done == end:
            tmp = work / "checkpoint.tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": done,
                        "wall": time.time() - t0, "history": history, "args": _resume_key(args)}, tmp)
            tmp.replace(ckpt)
    wall = time.time() - t0 if start < end else wall
    logger.info("trained %d of %d scheduled steps in %.1f min", end, args.steps, wall / 60)
    export(model, args, wall, history)


class _Steps(torch.utils.data.Dataset):
    """Step ``start + i``'s batch: the data of a step depends only on (seed, step), so workers may make
    them in any order and a resumed run sees the same batches."""

    def __init__(self, batcher: Batcher, start: int, end: int):
        self.batcher, self.start, self.end = batcher, start, end

    def __len__(self) -> int:
        return self.end - self.start

    def __getitem__(self, i: int):
        return self.batcher.batch(self.start + i)


def _batches(batcher: Batcher, start: int, end: int, workers: int):
    """Iterator over the batches of steps ``start..end-1``; made in ``workers`` processes when > 0 (for a
    GPU, where rendering the stickers on one core would starve it)."""
    if workers <= 0:
        return (batcher.batch(s) for s in range(start, end))
    loader = torch.utils.data.DataLoader(_Steps(batcher, start, end), batch_size=None, shuffle=False,
                                         num_workers=workers, prefetch_factor=4, collate_fn=lambda b: b,
                                         worker_init_fn=lambda _i: torch.set_num_threads(1))
    return iter(loader)


# Options added after checkpoints already existed: their value when a checkpoint lacks them.
_LATER_DEFAULTS = {"clean_word_frac": 0.0, "init_from": None, "conflict": 0.0, "label_area": "0.04,0.15",
                   "label_area_start": None, "l1": 0.0, "neutral": 0.0,
                   "neutral_by_length": False, "neutral_hard": 0.0}


def _resume_key(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items()
            if k not in ("out", "workdir", "threads", "stop_after", "eval_every", "device", "workers")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--warmup", type=float, default=0.04)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--word-frac", type=float, default=0.5)
    p.add_argument("--overlay", type=float, default=0.5, help="own-word label probability")
    p.add_argument("--conflict", type=float, default=0.0,
                   help="probability that a labelled picture carries another category's word as a sticker and is "
                        "captioned as that word (pictures with text captioned by the text, as on the web)")
    p.add_argument("--neutral", type=float, default=0.0,
                   help="probability that a labelled picture carries an unrelated common word as a sticker "
                        "(its caption stays the picture's: text that does not name a thing is ignored)")
    p.add_argument("--neutral-by-length", action="store_true",
                   help="draw neutral words of 2-8 letters with every length equally likely (short words too)")
    p.add_argument("--neutral-hard", type=float, default=0.0,
                   help="share of neutral words drawn from words that look like a category word (hard negatives)")
    p.add_argument("--label-area", default="0.04,0.15", help="sticker box area range lo,hi (fraction of the image)")
    p.add_argument("--label-area-start", default=None,
                   help="sticker area range at step 0, moving linearly to --label-area by mid-schedule")
    p.add_argument("--l1", type=float, default=0.0,
                   help="sparsity pressure on the article layer's units (a sqrt penalty on pooled activations)")
    p.add_argument("--labelled-frac", type=float, default=0.6)
    p.add_argument("--clean-word-frac", type=float, default=0.0,
                   help="share of word images drawn dark-on-light on a plain background")
    p.add_argument("--init-from", default=None,
                   help="start from these weights (a weights.safetensors) with a fresh optimiser and schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop (and export) after this step, leaving the rest of the schedule unrun")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device for the model (e.g. cuda); data is made on CPU")
    p.add_argument("--workers", type=int, default=0,
                   help="processes that make the batches (0: in the training process, as all CPU runs so far)")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--workdir", default=str(REPO / "artifacts" / "demo_train"))
    p.add_argument("--out", default=str(REPO / "assets" / "demo"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
