"""Write core/data/demo_layers.json, the demo model's layer table that ``python -m core layers`` answers from
without importing torch (``core.model.layer_table``).

    python scripts/write_demo_layers.py            # computes the table from the live demo model and writes it
    python scripts/write_demo_layers.py --check    # exits 1 if the shipped file differs from the live model's

Rerun it after changing the demo model's config or how ``core.model.hooks`` lists layers; the unit test
``tests/unit/test_layer_table.py`` fails until the shipped file matches.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.model.layer_table import DEMO_TABLE, demo_record, record_text  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = ap.parse_args()
    text = record_text(demo_record())
    if args.check:
        same = DEMO_TABLE.is_file() and DEMO_TABLE.read_text(encoding="utf-8") == text
        print(f"{DEMO_TABLE.name} is up to date" if same else f"{DEMO_TABLE.name} differs from the live model's table")
        return 0 if same else 1
    DEMO_TABLE.write_text(text, encoding="utf-8")
    print(f"wrote {DEMO_TABLE} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
