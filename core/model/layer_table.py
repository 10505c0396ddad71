"""A model's layer table (``python -m core layers``) without loading the model where it is already known.

The table (each hookable layer's id, module, input/output, units, kind, layout, and the article's layer) depends
only on the architecture, never on the weights. So it is answered without importing torch:

- ``demo``: from ``core/data/demo_layers.json``, shipped with the package and written by ``python
  scripts/write_demo_layers.py`` (``--check`` compares it with the live model's). It is used while
  ``assets/demo/config.json`` is the one it was made from and the weights file is there; a unit test regenerates it
  from the live model.
- ``ARCH/random``, ``ARCH/TAG`` once its weights file is here, and a checkpoint file whose tensor shapes (read
  without torch, ``core.model.file_shapes``) fit its architecture: derived from open_clip's config of the
  architecture (``config_table``: ResNet and ViT image towers; read from open_clip's JSON files, the activation
  included: an ``ARCH-quickgelu`` name is its base config with ``quick_gelu``). A unit test compares the derivation
  with the built model's layers for every open_clip architecture it covers.
- any other model (a file torch must read: a TorchScript archive, the legacy format; a tower the derivation does not
  cover): from a record under ``<artifacts>/layers/`` written the first time its table was computed with the loaded
  model (``remember``). A record holds the key it was made under and is used only while that key still holds: the architecture's config,
  the open_clip version, the source of ``core/model/hooks.py`` (which enumerates the layers), and the weights the
  model was loaded from (a file's absolute path, size and modification time; a pretrained tag's local file, found
  the way loading finds it). The weights are in the key because a record also stands for "this model loads": a
  file replaced by another is loaded again (and fails with the loader's own message when it should). A record that
  cannot be read, does not parse, has another shape or another key is ignored and rewritten.

Ids whose architecture open_clip does not list in its config files (e.g. one registered at run time) are keyed by
the registered config when open_clip is already imported, else always loaded. Nothing here imports torch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from core import config

SCHEMA = 1
DEMO_TABLE = config.DATA_DIR / "demo_layers.json"
HOOKS_SOURCE = Path(__file__).resolve().parent / "hooks.py"
QUICKGELU_SUFFIX = "-quickgelu"
FIELDS = ("id", "module", "take_input", "units", "kind", "layout")
INPUT_SUFFIX = "@in"  # core.model.hooks.INPUT_SUFFIX (a test checks they agree)


# ---------------------------------------------------------------- the table of a loaded model (torch)

def live_table(loaded) -> dict:
    """``{"model", "article_layer", "layers"}`` of a loaded model (``core.model.hooks``; imports torch)."""
    from core.model.hooks import article_layer, list_layers

    return {"model": loaded.id, "article_layer": article_layer(loaded),
            "layers": [asdict(li) for li in list_layers(loaded)]}


def demo_record() -> dict:
    """The demo model's shipped record, computed now from the live model (what ``DEMO_TABLE`` must hold)."""
    from core.model.loading import load_model

    return {"schema": SCHEMA, "key": demo_key()} | live_table(load_model("demo", device="cpu"))


def record_text(record: dict) -> str:
    """A record as the text of its file."""
    return json.dumps(record, indent=1) + "\n"


# ---------------------------------------------------------------- keys, torch-free

def demo_key() -> dict | None:
    """The shipped demo table's key: the SHA-256 of the demo config (None when the demo model is not here)."""
    cfg, weights = config.DEMO_MODEL_DIR / "config.json", config.DEMO_MODEL_DIR / "weights.safetensors"
    if not cfg.is_file() or not weights.is_file():
        return None
    return {"demo_config_sha256": hashlib.sha256(cfg.read_bytes()).hexdigest()}


def canonical_id(model_id: str) -> tuple[str, str, str, str | None] | None:
    """``(id, kind, arch, tag_or_path)`` as ``core.model.loading.parse_model_id`` would make them, without open_clip
    (None where only it can tell: the loader then answers, with its own message for a bad id)."""
    model_id = (model_id or "").strip()
    if model_id == "demo":
        return "demo", "demo", "demo", None
    if "@" in model_id:
        arch, _, path = model_id.partition("@")
        return (f"{arch}@{Path(path).expanduser()}", "file", arch, path) if arch and path else None
    arch, sep, tag = model_id.partition("/")
    if not sep or not arch or not tag:
        return None
    return model_id, ("random" if tag == "random" else "pretrained"), arch, tag


def arch_config(arch: str) -> dict | None:
    """open_clip's config of ``arch`` (``ARCH-quickgelu``: the base's with ``quick_gelu`` where open_clip has no
    file of that name), from its registry when open_clip is imported, else from its JSON files."""
    if "open_clip" in sys.modules:
        from open_clip import get_model_config

        cfg = get_model_config(arch)
        base = get_model_config(arch.removesuffix(QUICKGELU_SUFFIX)) if arch.endswith(QUICKGELU_SUFFIX) else None
    else:
        cfg, base = _config_file(arch), None
        if cfg is None and arch.endswith(QUICKGELU_SUFFIX):
            base = _config_file(arch.removesuffix(QUICKGELU_SUFFIX))
    if cfg is None and base is not None:
        cfg = {**base, "quick_gelu": True}
    return cfg


def _config_file(arch: str) -> dict | None:
    folder = _open_clip_dir()
    if folder is None or not arch or "/" in arch or arch.startswith("."):
        return None
    try:
        cfg = json.loads((folder / "model_configs" / f"{arch}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cfg if isinstance(cfg, dict) and all(k in cfg for k in ("embed_dim", "vision_cfg", "text_cfg")) else None


def _open_clip_dir() -> Path | None:
    import importlib.util

    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("open_clip")  # finds the package; runs none of it
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
    return None


def _open_clip_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("open_clip_torch")
    except metadata.PackageNotFoundError:
        return None


def _file_identity(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        path = path.expanduser().resolve()
        st = path.stat()
    except OSError:
        return None
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns} if path.is_file() else None


def model_key(model_id: str, sources: dict | None = None) -> dict | None:
    """The key of a non-demo model's record (None: this id cannot be answered without loading it). ``sources``
    (``hf_hub``, ``url``: where open_clip gets a pretrained tag's file) come from the record itself."""
    parsed = canonical_id(model_id)
    if parsed is None or parsed[1] == "demo":
        return None
    mid, kind, arch, rest = parsed
    cfg = arch_config(arch)
    if cfg is None:
        return None
    key = {"schema": SCHEMA, "model": mid, "kind": kind, "arch": arch, "config": cfg,
           "open_clip": _open_clip_version(), "hooks_sha256": hashlib.sha256(HOOKS_SOURCE.read_bytes()).hexdigest()}
    if kind == "file":
        key["weights"] = _file_identity(Path(rest))
    elif kind == "pretrained":
        from core.model.weights import local_file

        sources = sources or {}
        key["sources"] = {"hf_hub": sources.get("hf_hub"), "url": sources.get("url")}
        key["weights"] = _file_identity(local_file(arch, rest, sources.get("hf_hub"), sources.get("url")))
    if kind in ("file", "pretrained") and key["weights"] is None:
        return None
    return key


# ---------------------------------------------------------------- records on disk

def record_path(model_id: str) -> Path:
    """Where the record of ``model_id`` lives: ``<artifacts>/layers/<hash of the id>.json``."""
    parsed = canonical_id(model_id)
    name = hashlib.sha256((parsed[0] if parsed else model_id).encode()).hexdigest()[:24]
    return config.get_settings().artifacts_dir / "layers" / f"{name}.json"


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return record if _well_formed(record) else None


def _well_formed(record) -> bool:
    if not isinstance(record, dict) or record.get("schema") != SCHEMA or not isinstance(record.get("key"), dict):
        return False
    layers, art = record.get("layers"), record.get("article_layer")
    if not isinstance(layers, list) or not layers or not isinstance(record.get("model"), str):
        return False
    for li in layers:
        if not isinstance(li, dict) or set(li) != set(FIELDS) or not isinstance(li["units"], int) \
                or not all(isinstance(li[f], str) for f in ("id", "module", "kind", "layout")) \
                or not isinstance(li["take_input"], bool):
            return False
    return isinstance(art, str) and any(li["id"] == art for li in layers)


def lookup(model_id: str) -> dict | None:
    """The table (``{"model", "article_layer", "layers"}``) of ``model_id`` without loading it, or None (load it)."""
    parsed = canonical_id(model_id)
    if parsed is None:
        return None
    if parsed[1] == "demo":
        record, key = _read(DEMO_TABLE), demo_key()
    else:
        record = _read(record_path(model_id))
        key = model_key(model_id, record["key"].get("sources") if record else menu_sources(parsed[0]))
        if record is None and key is not None and _derivable(parsed, key["config"]):
            return config_table(parsed[0], key["config"])  # first listing: what the architecture's config says
    if record is None or key is None or record["key"] != key or record["model"] != parsed[0]:
        return None
    return {"model": record["model"], "article_layer": record["article_layer"], "layers": record["layers"]}


def _derivable(parsed: tuple, cfg: dict) -> bool:
    """Whether the config alone gives the table: random and pretrained weights are the config's by construction; a
    checkpoint file only when its tensor shapes, read without torch (``core.model.file_shapes``), fit the config
    (else it is loaded, which says what the file is)."""
    if parsed[1] in ("random", "pretrained"):
        return True
    from core.model.file_shapes import cfg_matches, state_signature, tensor_shapes

    shapes = tensor_shapes(Path(parsed[3]).expanduser()) if parsed[1] == "file" else None
    sig = state_signature(shapes) if shapes else None
    return sig is not None and cfg_matches(sig, cfg)


def menu_sources(model_id: str) -> dict | None:
    """A curated menu model's ``hf_hub``/``url`` (where its pretrained file would be cached), else None."""
    from core.model.weights import menu_entries

    with contextlib.suppress(OSError, ValueError, KeyError):
        for entry in menu_entries():
            if entry["id"] == model_id:
                return {"hf_hub": entry.get("hf_hub"), "url": entry.get("url")}
    return None


def config_table(model_id: str, cfg: dict) -> dict | None:
    """The table ``core.model.hooks.list_layers`` gives for open_clip's image towers, from the architecture's
    config alone: ModifiedResNet (``vision_cfg.layers`` a list: stage s has ``layers[s-1]`` bottlenecks of
    ``4 * width * 2**(s-1)`` units) or VisionTransformer (``layers`` blocks, MLP ``int(width * mlp_ratio)``, residual
    ``width``), with open_clip's defaults. None for other towers (timm, Hugging Face): they are loaded. A unit test
    compares this with ``list_layers`` on every open_clip architecture built on the meta device."""
    vision = cfg.get("vision_cfg") or {}
    if not isinstance(vision, dict) or vision.get("timm_model_name") or vision.get("hf_model_name"):
        return None
    layers: list[dict] = []
    try:
        if isinstance(vision.get("layers"), (list, tuple)):
            width = int(vision.get("width", 64))
            for stage, blocks in enumerate(vision["layers"], start=1):
                units = 4 * width * 2 ** (stage - 1)
                for j in range(int(blocks)):
                    path = f"visual.layer{stage}.{j}"
                    layers += [_row(f"{path}.act3{INPUT_SUFFIX}", f"{path}.act3", True, units, "pre_relu", "BCHW"),
                               _row(path, path, False, units, "block", "BCHW")]
            wanted = "pre_relu"
        else:
            width, blocks = int(vision.get("width", 768)), int(vision.get("layers", 12))
            hidden = int(width * float(vision.get("mlp_ratio", 4.0)))
            for k in range(blocks):
                path = f"visual.transformer.resblocks.{k}"
                layers += [_row(f"{path}.mlp.gelu", f"{path}.mlp.gelu", False, hidden, "mlp", "BLD"),
                           _row(path, path, False, width, "resid", "BLD")]
            wanted = "mlp"
    except (TypeError, ValueError):
        return None
    candidates = [li["id"] for li in layers if li["kind"] == wanted]
    return {"model": model_id, "article_layer": candidates[-1], "layers": layers} if candidates else None


def _row(layer_id: str, module: str, take_input: bool, units: int, kind: str, layout: str) -> dict:
    return dict(zip(FIELDS, (layer_id, module, take_input, units, kind, layout)))


def remember(model_id: str, table: dict, sources: dict | None = None) -> bool:
    """Write the record of a table just computed from the loaded model (not for ``demo``: its table is shipped).
    ``sources``: a pretrained tag's ``hf_hub``/``url``. A folder that cannot be written is no error (False)."""
    key = model_key(model_id, sources)
    if key is None or key["model"] != table["model"]:
        return False
    path = record_path(model_id)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"schema": SCHEMA, "key": key} | table, indent=1), encoding="utf-8")
        os.replace(tmp, path)  # whole or absent: a reader never sees half a record
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True


def table(loaded) -> dict:
    """The table of a loaded model: the known one where it holds, else computed (and remembered)."""
    known = lookup(loaded.id)
    if known is not None:
        return known
    live = live_table(loaded)
    if loaded.spec.kind != "demo":
        remember(loaded.id, live, pretrained_sources(loaded))
    return live


def pretrained_sources(loaded) -> dict | None:
    """Where open_clip gets a pretrained tag's file (``hf_hub``, ``url``); None for other kinds."""
    if loaded.spec.kind != "pretrained":
        return None
    from open_clip import get_pretrained_cfg

    pcfg = get_pretrained_cfg(loaded.spec.arch, loaded.spec.tag) or {}
    return {"hf_hub": pcfg.get("hf_hub"), "url": pcfg.get("url")}
