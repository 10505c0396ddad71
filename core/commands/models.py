"""``python -m core models``: the curated model menu and whether weights are available here."""
from __future__ import annotations

NAME = "models"
HELP = "list known models and whether their weights are available offline"


def configure(parser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--all", action="store_true", help="also list every open_clip ARCH/TAG pair")


def run(args) -> int:
    from core.cli import print_json
    from core.model.weights import list_menu  # no torch/open_clip: the menu answers at once

    rows = list_menu(fallback=_weights_available)
    if args.all:
        import open_clip

        menu_ids = {r["id"] for r in rows}
        rows += [{"id": f"{a}/{t}", "title": "", "available": None}
                 for a, t in open_clip.list_pretrained() if f"{a}/{t}" not in menu_ids]
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        flag = {True: "available", False: "weights missing", None: "not checked"}[r["available"]]
        print(f"{r['id']:<28} {flag:<16} {r.get('title', '')}")
    return 0


def _weights_available(model_id: str) -> bool:
    """For a menu entry the menu itself cannot answer: ask open_clip (imported only then)."""
    from core.model.loading import weights_available

    return weights_available(model_id)
