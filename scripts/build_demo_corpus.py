"""Build the demo corpus (assets/demo_corpus/) from Debian's openclipart-png.

Usage::

    python scripts/build_demo_corpus.py [--src /usr/share/openclipart/png] [--out assets/demo_corpus]

Filters junk sub-trees, derives a category from the folder (and, for loose mammals, the file
name), cleans a caption object out of the file name, keeps flag continents and holidays as extra
label fields, and splits train/test deterministically by variant group. Every picture is cropped
to its alpha bounding box, padded to a square and Lanczos-resized to 96 px RGBA; the PNGs go into
one uncompressed zip with fixed timestamps, so the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import math
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_taxonomy as tx  # noqa: E402

DEFAULT_SRC = Path("/usr/share/openclipart/png")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "assets" / "demo_corpus"
IMAGE_SIZE = 96
MAX_PIXELS = 150_000_000  # larger sources are skipped (Pillow's bomb limit is ~179 M)
TEST_FRAC = 0.15
LICENCE = "public domain (Open Clip Art Library, via Debian openclipart-png)"
ZIP_DATE = (2021, 3, 4, 0, 0, 0)  # fixed timestamp: the zip must be byte-for-byte reproducible
INDEX_COLUMNS = ("id", "path", "label", "evaluated", "object", "caption", "split", "group",
                 "source", "licence", "continent", "holiday")


@dataclass
class Row:
    """One corpus entry (one row of index.csv)."""

    id: str
    path: str
    label: str
    evaluated: int
    object: str
    caption: str
    split: str
    group: str
    source: str
    licence: str
    continent: str
    holiday: str


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _is_junk(rel: str) -> bool:
    folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
    return folder in tx.JUNK_EXACT_DIRS or any(rel.startswith(p) for p in tx.JUNK_PREFIXES)


def _category(rel: str, stem: str) -> str:
    """Category of one picture, '' when the picture has none (caption-only extra)."""
    folder = rel.rsplit("/", 1)[0]
    best = ""
    for prefix, cat in tx.FOLDER_CATEGORY.items():
        if (folder == prefix or folder.startswith(prefix + "/")) and len(prefix) > len(best):
            best = prefix
    cat = tx.FOLDER_CATEGORY.get(best, "")
    toks = tx.tokens(stem)
    if folder.startswith("animals") and cat in ("", "horse", "bear", "big cat") or folder == "recreation/holiday":
        for kw_cat, kws in tx.MAMMAL_KEYWORDS.items():
            if any(t in kws for t in toks):
                return kw_cat
    if cat and any(bad in stem.lower() for bad in tx.OFF_TOPIC.get(cat, ())):
        return ""
    return cat


def _fallback_label(rel: str) -> str:
    """Label for a picture without a category: its top-level folder, singular."""
    top = rel.split("/", 1)[0]
    return {"animals": "animal", "people": "person", "tools": "tool", "plants": "plant",
            "buildings": "building", "containers": "container", "decorations": "decoration",
            "electronics": "electronics", "recreation": "recreation",
            "signs_and_symbols": "symbol", "geography": "map", "science": "science",
            "transportation": "vehicle", "education": "school"}.get(top, top)


def scan(src: Path) -> list[Row]:
    """List the usable pictures under ``src`` with labels, captions and groups (no split yet)."""
    candidates: dict[str, tuple[int, Row]] = {}
    for file in sorted(src.rglob("*.png")):
        rel = file.relative_to(src).as_posix()
        if _is_junk(rel):
            continue
        stem = file.stem
        cat = _category(rel, stem)
        label = cat or _fallback_label(rel)
        obj = tx.object_phrase(stem) or label
        parts = rel.split("/")
        continent = parts[2] if rel.startswith("signs_and_symbols/flags/") and len(parts) > 3 else ""
        holiday = parts[2] if rel.startswith("recreation/holiday/") and len(parts) > 3 else ""
        evaluated = int(label in tx.EVALUATED)
        caption = f"a drawing of a {obj}" if obj == label else f"a drawing of a {obj}, a {label}"
        slug = label.replace(" ", "-")
        row = Row(id=f"{slug}-{_hash(rel)[:10]}", path="", label=label, evaluated=evaluated,
                  object=obj, caption=caption, split="", group=tx.group_key(stem), source=rel,
                  licence=LICENCE, continent=continent, holiday=holiday)
        # The same file name appears in several folders: keep the most specific labelling.
        priority = 2 * evaluated + bool(cat)
        prev = candidates.get(file.name)
        if prev is None or priority > prev[0]:
            candidates[file.name] = (priority, row)
    rows = sorted((r for _, r in candidates.values()), key=lambda r: r.source)
    return _apply_caps(rows)


def _apply_caps(rows: list[Row]) -> list[Row]:
    """Cap over-represented categories; the surplus is dropped (picked by hash, deterministic)."""
    keep: list[Row] = []
    for label in sorted({r.label for r in rows}):
        members = [r for r in rows if r.label == label]
        cap = tx.CAPS.get(label)
        if cap and len(members) > cap:
            members = sorted(members, key=lambda r: _hash("cap:" + r.source))[:cap]
        keep.extend(members)
    return sorted(keep, key=lambda r: r.source)


def assign_split(rows: list[Row], test_frac: float = TEST_FRAC) -> None:
    """Hold out about ``test_frac`` of each label, whole variant groups at a time (in place)."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    # A group takes the label of its majority; all its members go to the same split.
    by_label: dict[str, list[str]] = {}
    for g, members in groups.items():
        labels = sorted(r.label for r in members)
        by_label.setdefault(max(set(labels), key=labels.count), []).append(g)
    test_groups: set[str] = set()
    for label, gs in sorted(by_label.items()):
        total = sum(len(groups[g]) for g in gs)
        target = max(1, math.ceil(test_frac * total)) if total >= 4 else 0
        taken = 0
        for g in sorted(gs, key=lambda g: _hash("split:" + g)):
            size = len(groups[g])
            if taken + size <= target:
                test_groups.add(g)
                taken += size
    for r in rows:
        r.split = "test" if r.group in test_groups else "train"


def process_image(path: Path, size: int = IMAGE_SIZE) -> bytes | None:
    """Crop to the alpha bounding box, pad square, resize; PNG bytes (RGBA) or None if unusable."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                return None
            im = im.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if max(im.size) > 8 * size:
        im = im.reduce(max(1, max(im.size) // (4 * size)))
    bbox = im.getchannel("A").getbbox()
    if bbox is None:
        return None
    im = im.crop(bbox)
    side = max(im.size)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 0))
    canvas.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    out = canvas.resize((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    out.save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def build(src: Path, out: Path, *, sources: list[str] | None = None, jobs: int = 2) -> list[Row]:
    """Build ``out/images.zip`` and ``out/index.csv``; ``sources`` restricts to a subset (tests)."""
    from tqdm import tqdm

    rows = scan(src)
    if sources is not None:
        wanted = set(sources)
        rows = [r for r in rows if r.source in wanted]
    paths = [src / r.source for r in rows]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        blobs = list(tqdm(pool.map(process_image, paths, chunksize=8), total=len(paths),
                          desc="clip art", unit="img"))
    kept = [(r, b) for r, b in zip(rows, blobs) if b is not None]
    rows = [r for r, _ in kept]
    assign_split(rows)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / "images.zip", "w", compression=zipfile.ZIP_STORED) as zf:
        for r, blob in sorted(kept, key=lambda rb: rb[0].id):
            r.path = f"{r.id}.png"
            info = zipfile.ZipInfo(r.path, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, blob)
    with open(out / "index.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in sorted(rows, key=lambda r: r.id):
            writer.writerow(asdict(r))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        print(f"error: {args.src} not found; install it with `apt-get install openclipart-png`",
              file=sys.stderr)
        return 2
    rows = build(args.src, args.out, jobs=args.jobs)
    n_eval = sum(r.evaluated for r in rows)
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"{len(rows)} pictures ({n_eval} in evaluated categories), {size / 1e6:.1f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
