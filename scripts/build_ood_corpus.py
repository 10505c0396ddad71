"""Build the demo model's out-of-distribution picture set (assets/demo_ood/) from Debian's fonts-symbola.

Usage::

    python scripts/build_ood_corpus.py [--font /usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf]
                                       [--out assets/demo_ood]

Symbola (George Douros) draws emoji and symbols as monochrome line drawings: a different source and a
different style from the colour clip art (openclipart) the demo model was trained on, and never used in
training. Debian's copyright file for fonts-symbola says: "Fonts are free for any use; they may be opened,
edited, modified, regenerated, packaged and redistributed".

The code points are the curated ``TABLE`` below, one list per evaluated category, with the reasoning in
comments. The category boundaries follow the training corpus (assets/demo_corpus): its "insect" pictures
include spiders and its "hat" pictures crowns, so the spider and the crown glyphs count there too. A glyph that
belongs to two categories (the cat faces of the Emoticons block are cats *and* smileys) is left out. Large
categories are capped at ``CAP`` glyphs by a documented stride, so that no category dominates.

Each glyph must exist in the font: its rendering must be non-empty and differ from the font's .notdef
rendering (that of an unassigned code point); glyphs whose rendering is identical to an earlier one's (some
colour-only variants) are dropped. Each is drawn black on white, its ink box scaled to fit ``FILL`` of a
``IMAGE_SIZE`` px square and centred (one rendering per glyph: the unit of every count is the glyph). The
glyphs are split into a validation half (model selection) and a test half (reported once) per category, by a
hash of the seed and the code point. PNGs go into one uncompressed zip with fixed timestamps, so the output is
byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
import unicodedata
import zipfile
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

DEFAULT_FONT = Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "assets" / "demo_ood"
IMAGE_SIZE = 128  # the demo model's input size
FILL = 0.8  # the glyph's ink box fills 80 % of the square's side
RENDER_SIZE = 256  # font size of the first, large rendering that is then cropped and scaled
CAP = 12  # at most this many glyphs per category
SPLIT_SEED = "demo-ood-v1"
ZIP_DATE = (2021, 3, 4, 0, 0, 0)
SOURCE = "Symbola (George Douros), Debian fonts-symbola"
LICENCE = ("Debian copyright of fonts-symbola: Fonts are free for any use; they may be opened, edited, modified, "
           "regenerated, packaged and redistributed")
UNASSIGNED = 0x0378  # an unassigned code point: the font draws its .notdef glyph
INDEX_COLUMNS = ("id", "path", "label", "codepoint", "name", "split", "source", "licence")


def _span(first: int, last: int, step: int = 1) -> list[int]:
    return list(range(first, last + 1, step))


TABLE: dict[str, list[int]] = {
    # bird, penguin, eagle, duck, owl, rooster, chicken, baby chick, front-facing baby chick, dove, turkey.
    # Left out: hatching chick (mostly an egg shell).
    "bird": [0x1F426, 0x1F427, 0x1F985, 0x1F986, 0x1F989, 0x1F413, 0x1F414, 0x1F424, 0x1F425, 0x1F54A, 0x1F983],
    # fish, tropical fish, blowfish, shark. Left out: fishing pole and fish (half of it is a rod).
    "fish": [0x1F41F, 0x1F420, 0x1F421, 0x1F988],
    # dog, dog face, poodle. Left out: wolf face (a wolf, not a dog).
    "dog": [0x1F415, 0x1F436, 0x1F429],
    # cat, cat face. Left out: the nine cat faces U+1F638-1F640 (a cat drawn as a smiley: two categories).
    "cat": [0x1F408, 0x1F431],
    # bug, ant, honeybee, lady beetle, butterfly, cricket, and spider: an arachnid, but the training corpus's
    # "insect" pictures include spiders, so it counts as the model was taught. Left out: scorpion and spider
    # web (not in the corpus's category).
    "insect": [0x1F41B, 0x1F41C, 0x1F41D, 0x1F41E, 0x1F98B, 0x1F997, 0x1F577],
    # grapes, melon, watermelon, tangerine, lemon, banana, pineapple, red apple, pear, peach, cherries,
    # strawberry (12, the cap). Left out: green apple (the same drawing as the red one in a monochrome font),
    # kiwifruit and coconut (over the cap), tomato (a fruit botanically, a vegetable in the kitchen).
    "fruit": [0x1F347, 0x1F348, 0x1F349, 0x1F34A, 0x1F34B, 0x1F34C, 0x1F34D, 0x1F34E, 0x1F350, 0x1F351, 0x1F352,
              0x1F353],
    # cherry blossom, rose, hibiscus, sunflower, blossom, tulip, bouquet, flower (U+2698), wilted flower.
    # Left out: florettes and rosette (typographic ornaments), white flower (a Japanese "well done" stamp).
    "flower": [0x1F338, 0x1F339, 0x1F33A, 0x1F33B, 0x1F33C, 0x1F337, 0x1F490, 0x2698, 0x1F940],
    # evergreen, deciduous, palm and Christmas tree. Left out: cactus, Tanabata tree (a bamboo branch) and
    # pine decoration (not trees as drawn).
    "tree": [0x1F332, 0x1F333, 0x1F334, 0x1F384],
    # house, house with garden, house buildings, derelict house. Left out: office building (not a house) and
    # U+2302 HOUSE (a geometric symbol).
    "house": [0x1F3E0, 0x1F3E1, 0x1F3D8, 0x1F3DA],
    # sailboat, speedboat, motor boat, passenger ship, ferry, ship, canoe, rowboat.
    "boat": [0x26F5, 0x1F6A4, 0x1F6E5, 0x1F6F3, 0x26F4, 0x1F6A2, 0x1F6F6, 0x1F6A3],
    # chequered, white, black and triangular flag, crossed flags, white and black flag (U+2690/1), flag in
    # hole, white flag with a black stripe, white and black pennant.
    "flag": [0x1F3C1, 0x1F3F3, 0x1F3F4, 0x1F6A9, 0x1F38C, 0x2690, 0x2691, 0x26F3, 0x26FF, 0x1F3F1, 0x1F3F2],
    # clock faces at every third half hour (8 of the 24, which differ only in their hands), alarm clock,
    # mantelpiece clock, timer clock and hourglass (the corpus's "clock" pictures include sand glasses).
    # Left out: watch and stopwatch.
    "clock": _span(0x1F550, 0x1F567, 3) + [0x23F0, 0x1F570, 0x23F2, 0x231B],
    # top hat, woman's hat, graduation cap, helmet with white cross, billed cap, and crown (the corpus's "hat"
    # pictures include crowns).
    "hat": [0x1F3A9, 0x1F452, 0x1F393, 0x26D1, 0x1F9E2, 0x1F451],
    # faces of the Emoticons block (U+1F600-1F637; gestures, persons and monkeys are left out), every fifth:
    # 12, the cap.
    "smiley": _span(0x1F600, 0x1F637, 5),
    # playing cards: ace, seven and king of spades, hearts, diamonds and clubs (12, the cap). Left out: the
    # card back (the corpus drops card backs too), the other ranks (over the cap), jokers and tarot trumps.
    "card": [base + rank for base in (0x1F0A0, 0x1F0B0, 0x1F0C0, 0x1F0D0) for rank in (0x1, 0x7, 0xE)],
    # warning, no entry (two), non-potable water, no smoking, no bicycles, no pedestrians, do not litter, no
    # mobile phones, no one under eighteen, octagonal (stop) sign, construction sign: 12, the cap. Left out:
    # children crossing (Symbola draws the two children without the sign), traffic-lane symbols, hazard
    # symbols (radioactive, biohazard, high voltage).
    "sign": [0x26A0, 0x26D4, 0x1F6AB, 0x1F6B1, 0x1F6AD, 0x1F6B3, 0x1F6B7, 0x1F6AF, 0x1F4F5, 0x1F51E, 0x1F6D1,
             0x1F6A7],
}


def _draw(font: ImageFont.FreeTypeFont, cp: int) -> Image.Image:
    """The glyph drawn black on a white canvas at ``RENDER_SIZE`` (not cropped)."""
    canvas = Image.new("L", (2 * RENDER_SIZE, 2 * RENDER_SIZE), 255)
    ImageDraw.Draw(canvas).text((RENDER_SIZE // 2, RENDER_SIZE // 2), chr(cp), font=font, fill=0)
    return canvas


def render(font: ImageFont.FreeTypeFont, cp: int, notdef: bytes) -> bytes | None:
    """PNG bytes of one glyph (grey levels, ``IMAGE_SIZE`` px), or None when the font has no glyph for it."""
    big = _draw(font, cp)
    box = ImageChops.invert(big).getbbox()
    if box is None or big.tobytes() == notdef:
        return None
    ink = big.crop(box)
    scale = FILL * IMAGE_SIZE / max(ink.size)
    ink = ink.resize((max(1, round(ink.width * scale)), max(1, round(ink.height * scale))),
                     Image.Resampling.LANCZOS)
    out = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 255)
    out.paste(ink, ((IMAGE_SIZE - ink.width) // 2, (IMAGE_SIZE - ink.height) // 2))
    buf = io.BytesIO()
    out.save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def split_of(category: str, cps: list[int]) -> dict[int, str]:
    """Per category, the first half of its glyphs by a seeded hash goes to ``val``, the rest (the larger half
    when the count is odd) to ``test``."""
    order = sorted(cps, key=lambda cp: hashlib.sha256(f"{SPLIT_SEED}:{category}:{cp:X}".encode()).hexdigest())
    n_val = len(order) // 2
    return {cp: "val" if i < n_val else "test" for i, cp in enumerate(order)}


def build(font_path: Path, out: Path) -> list[dict]:
    """Write ``out/images.zip`` and ``out/index.csv``; return the index rows."""
    font = ImageFont.truetype(str(font_path), RENDER_SIZE)
    notdef = _draw(font, UNASSIGNED).tobytes()
    rows, blobs, seen = [], [], set()
    for category, cps in TABLE.items():
        if len(cps) > CAP or len(set(cps)) != len(cps):
            raise SystemExit(f"error: {category}: {len(cps)} code points (cap {CAP}) or a duplicate")
        kept = []
        for cp in cps:
            png = render(font, cp, notdef)
            if png is None:
                print(f"warning: no glyph for U+{cp:04X} ({category}); left out", file=sys.stderr)
                continue
            digest = hashlib.sha256(png).hexdigest()
            if digest in seen:
                print(f"warning: U+{cp:04X} ({category}) is drawn like an earlier glyph; left out", file=sys.stderr)
                continue
            seen.add(digest)
            kept.append((cp, png))
        splits = split_of(category, [cp for cp, _ in kept])
        for cp, png in kept:
            image_id = f"u{cp:05x}"
            rows.append({"id": image_id, "path": f"{image_id}.png", "label": category, "codepoint": f"U+{cp:04X}",
                         "name": unicodedata.name(chr(cp), "").lower(), "split": splits[cp], "source": SOURCE,
                         "licence": LICENCE})
            blobs.append(png)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / "images.zip", "w", compression=zipfile.ZIP_STORED) as zf:
        for row, png in zip(rows, blobs):
            info = zipfile.ZipInfo(row["path"], date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, png)
    with open(out / "index.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--font", type=Path, default=DEFAULT_FONT, help="Symbola_hint.ttf from Debian's fonts-symbola")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    if not args.font.is_file():
        print(f"error: {args.font} not found; install it with `apt-get install fonts-symbola`", file=sys.stderr)
        return 2
    rows = build(args.font, args.out)
    counts: dict[str, list[int]] = {}
    for r in rows:
        counts.setdefault(r["label"], [0, 0])[r["split"] == "test"] += 1
    print(f"{len(rows)} glyphs -> {args.out}")
    for label, (val, test) in counts.items():
        print(f"  {label:<8} val {val:2d}  test {test:2d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
