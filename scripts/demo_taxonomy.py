"""Taxonomy of the demo corpus: which openclipart folders become which category.

Pure data plus small string helpers, used by ``scripts/build_demo_corpus.py``.
Imports nothing from ``core``.
"""

from __future__ import annotations

import re

# The 16 evaluated categories (the recipe of the feasibility study, run D64k16o5).
EVALUATED = (
    "bird", "fish", "dog", "cat", "insect", "fruit", "flower", "tree",
    "house", "boat", "flag", "clock", "hat", "smiley", "card", "sign",
)

# Whole sub-trees that are junk (icons, abstract shapes, patterns, LED digits, pictograms).
JUNK_PREFIXES = (
    "computer/buttons", "computer/connectors", "computer/diagrams", "computer/folders",
    "computer/games", "computer/icons", "computer/network", "shapes/", "special/",
    "buttons/", "logos/", "unsorted/", "signs_and_symbols/led", "signs_and_symbols/map_symbols",
    "signs_and_symbols/awards", "signs_and_symbols/hazard", "signs_and_symbols/disability",
    "transportation/aiga-symbols", "recreation/games/cards/cardbacks",
)
# Loose files directly under computer/ are icons too.
JUNK_EXACT_DIRS = ("computer",)

# Folder prefix -> category (longest prefix wins).
FOLDER_CATEGORY = {
    "animals/birds": "bird",
    "animals/fish": "fish",
    "animals/bugs": "insect",
    "animals/dinosaurs": "dinosaur",
    "animals/mammals/dogs": "dog",
    "animals/mammals/housecats": "cat",
    "animals/mammals/horses": "horse",
    "animals/mammals/bears": "bear",
    "animals/mammals/big_cats": "big cat",
    "food/fruit": "fruit",
    "food/desserts": "dessert",
    "food/beverages": "drink",
    "food/breads_and_carbs": "bread",
    "food/meats_and_eggs": "meat",
    "food/vegetables": "vegetable",
    "plants/flowers": "flower",
    "plants/trees": "tree",
    "buildings/homes": "house",
    "education/books": "book",
    "office/telephone": "telephone",
    "people/clothing/hats": "hat",
    "people/clothing": "clothes",
    "people/smilies": "smiley",
    "people/stickmen": "stickman",
    "recreation/music": "music",
    "recreation/sports": "sport",
    "recreation/toys": "toy",
    "recreation/party": "party",
    "recreation/games/cards": "card",
    "recreation/games/chess": "chess",
    "signs_and_symbols/flags": "flag",
    "signs_and_symbols/clocks": "clock",
    "signs_and_symbols/weather": "weather",
    "transportation/vehicles": "vehicle",
    "transportation/boating": "boat",
    "transportation/roadsigns": "sign",
    "tools/weapons": "weapon",
    "computer/hardware": "computer",
    "geography/astronomy": "planet",
    "science/astronomy": "planet",
}

# File-name keywords that pull a loose mammal picture into a category.
MAMMAL_KEYWORDS = {
    "dog": ("dog", "cane", "puppy", "beagle", "bulldog", "lab"),
    "cat": ("cat", "gatto", "gattina", "kitten"),
    "horse": ("horse", "cavallo"),
}

# Per-category file-name keywords that mark a picture as off-topic (diagrams, tools, ...).
OFF_TOPIC = {
    "boat": ("knot", "rules", "points", "capsize", "heel", "jibe", "hauled", "reaching",
             "running", "labels"),
    "tree": ("bowsaw", "pruner", "bypasspruner", "balls", "leaf"),
    "card": ("cassette", "photo", "boy", "leisler", "celtic", "cats", "andalusia"),
    "hat": ("leisler", "propeller"),
    "flower": ("cartoon_tree", "mirjam"),
    "fish": ("kallisti", "amibe", "paesaggio"),
    "bird": ("contour_bat", "manager", "ralf", "mirjam", "simbolo", "wing"),
    "smiley": ("portrait", "crossbones"),
    "clock": ("minute_hand",),
    "insect": ("virus", "lumaca"),
}

# Caps on over-represented categories (picked deterministically by hash).
CAPS = {"flag": 100, "card": 60}

# Tokens that end the object phrase of a file name: authors, truncated fragments, noise.
STOP_TOKENS = frozenset("""
architetto architett architet archite archit archi arch arc ar francesco francesc frances france
franc fran fra fr ganson benji park nicu bucu bucul buculei gerald g. g jarno vasama vasamaa
juliane krug jean victor jean-victor bal ba bali jon phillips phillip phil linda kim yves guillo
mo peterm lumen desig design enrique meza sergio luiz ara rollandin matthew gates mike powers
michael breuer chris kemps jonathan dietrich dietri dietric di dave pena james birkett nath
natha nathan jonadab guillaume boitel tess brady steve rikva richard torkar patricia fi t.
eitel alex kuehne rory mccann mauro oliv kurt cagle cagl ralf ste charles mcco mirjam meijer
mei mimooh marcelo staudt mitchell johnson joh si orlando karam susan graig ryan smith
konstantin rotkevich konsat etienne bersac shandy brow utrescu matthe matt todd leif lodahl
mirko maisc jurgen gaeremyn fco. andrade sek r md sm1 v0.1 bw b_w christoph brill tanguy jacq
ghuul ghu thom jonvdveen david wislon leigh purdie andreas nilsson massimo aiello renardjb
nurbl raphael seban janet theob yogesh kanitkar daniel piche loic corwin fudriot omic.ch
gabrielle nowicki dan gerhards gino river stefan bazelkov nicolas gagliani ga guid drawn with strai stu on free.f
the of a and da del della nella sulla col in e al
""".split())

# Italian (and a few French) file-name words -> English.
TRANSLATE = {
    "cane": "dog", "gatto": "cat", "gattina": "kitten", "cavallo": "horse", "uccello": "bird",
    "acquila": "eagle", "aquila": "eagle", "cigno": "swan", "cigni": "swans", "gabbiano": "seagull",
    "gallo": "rooster", "gufo": "owl", "pollo": "chicken", "tacchino": "turkey", "pesce": "fish",
    "pescetto": "little fish", "fiore": "flower", "fiori": "flowers", "albero": "tree",
    "casa": "house", "barca": "boat", "orologio": "clock", "cappello": "hat", "bandiera": "flag",
    "mela": "apple", "pera": "pear", "orso": "bear", "leone": "lion", "tigre": "tiger",
    "tigri": "tigers", "elefante": "elephant", "coniglio": "rabbit", "canguro": "kangaroo",
    "pecora": "sheep", "topo": "mouse", "toro": "bull", "vacca": "cow", "rana": "frog",
    "lucertola": "lizard", "farfalla": "butterfly", "farfalle": "butterflies", "ape": "bee",
    "formica": "ant", "formichina": "ant", "formicona": "ant", "ragno": "spider",
    "ragnetto": "spider", "uva": "grapes", "fragola": "strawberry", "ciliegie": "cherries",
    "limone": "lemon", "arancia": "orange", "carte": "cards", "carta": "card", "asso": "ace",
    "nave": "ship", "veliero": "sailboat", "stambecco": "ibex", "antilope": "antelope",
    "lupo": "wolf", "volpe": "fox", "cervo": "deer", "coccinella": "ladybug",
    "coccinellona": "ladybug", "coccinelle": "ladybug", "cavalletta": "grasshopper",
    "libellula": "dragonfly", "libellule": "dragonfly", "zanzara": "mosquito",
    "moschito": "mosquito", "insetto": "insect", "abeille": "bee", "abitazione": "house",
    "chalet": "chalet", "mazzo": "bouquet", "as": "ace", "flamand": "flamingo",
    "stormo": "flock", "mantide": "mantis", "mante": "mantis", "orologi": "clocks",
    "ours": "bear", "tartaruga": "turtle", "delfino": "dolphin",
}

_VARIANT_TOKENS = {"bw", "b", "w", "color", "colour", "colored", "coloured", "contour", "outline"}


def tokens(stem: str) -> list[str]:
    """Split a file stem into lowercase tokens."""
    return [t for t in re.split(r"[_\-\s]+", stem.lower()) if t]


def object_phrase(stem: str) -> str:
    """First one or two meaningful file-name tokens, translated, e.g. ``cavallo_architetto_05`` -> horse."""
    words: list[str] = []
    for tok in tokens(stem):
        if tok in STOP_TOKENS or not re.search(r"[a-z]", tok) or len(tok) < 2:
            if words:
                break
            continue
        tok = re.sub(r"\d+$", "", tok)
        if not tok or tok in STOP_TOKENS:
            if words:
                break
            continue
        words.append(TRANSLATE.get(tok, tok))
        if len(words) == 2:
            break
    return " ".join(words)


def group_key(stem: str) -> str:
    """Key shared by drawing variants of one picture (``_01``/``_02``/``_bw`` suffixes removed)."""
    toks = [t for t in tokens(stem) if t not in _VARIANT_TOKENS]
    while toks and re.fullmatch(r"\d+|r|md|sm\d*|v\d.*", toks[-1]):
        toks.pop()
    return "_".join(toks)[:16]
