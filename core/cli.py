"""``python -m core``: the command-line front end.

Each subcommand lives in ``core/commands/<name>.py`` and defines ``NAME``, ``HELP``,
``configure(parser)`` and ``run(args) -> int``; it is registered by one line in ``COMMANDS``.
User errors (``CoreError``) print a one-line message and exit with code 2; no tracebacks.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys

from core.errors import CoreError

# name -> module; modules are imported lazily so `python -m core --help` stays fast.
COMMANDS: dict[str, str] = {
    "models": "core.commands.models",
    "layers": "core.commands.layers",
    "index": "core.commands.index",
    "neurons": "core.commands.neurons",
    "images": "core.commands.images",
    "eval-demo": "core.commands.eval_demo",
    "attack-eval": "core.commands.attack_eval",
    "stroop": "core.commands.stroop",
    "concepts": "core.commands.concepts",
    "intervene": "core.commands.intervene",
    "check-paper": "core.commands.check_paper",
    "render": "core.commands.render",
    "words": "core.commands.words",
    "regions": "core.commands.regions",
    "match": "core.commands.match",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: one line, exit 2
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="CLIP neuron explorer: command-line tools.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 1 unexpected failure)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except CoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # unexpected: one line unless --verbose asks for the traceback
        if args.verbose:
            raise
        print(f"internal error: {type(err).__name__}: {err} (rerun with -v for details)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume where supported.", file=sys.stderr)
        return 130


def print_json(obj) -> None:
    """Print machine-readable output (the ``--json`` contract)."""
    print(json.dumps(obj, indent=2, sort_keys=False, default=str))


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The shared ``--model M`` / ``--checkpoint FILE --arch ARCH`` options."""
    parser.add_argument("--model", default=None, help="model id: demo (default), ARCH/TAG e.g. RN50x4/openai, "
                        "ARCH/random, or ARCH@FILE")
    parser.add_argument("--checkpoint", default=None, help="local weights file (with --arch)")
    parser.add_argument("--arch", default=None, help="open_clip architecture of --checkpoint, e.g. RN50x4")


def model_id_from_args(args) -> str | None:
    """Combine ``--model`` / ``--checkpoint`` / ``--arch`` into one model id."""
    if getattr(args, "checkpoint", None):
        if not args.arch:
            raise CoreError("--checkpoint needs --arch (the open_clip architecture, e.g. --arch RN50x4).")
        return f"{args.arch}@{args.checkpoint}"
    return args.model


def load_model_from_args(args):
    from core.model.loading import load_model

    return load_model(model_id_from_args(args))
