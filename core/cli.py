"""``python -m core``: the command-line front end.

Each subcommand lives in ``core/commands/<name>.py`` and defines ``NAME``, ``HELP``,
``configure(parser)`` and ``run(args) -> int``; it is registered by one line in ``COMMANDS``.
Error contract: bad input (``CoreError``, argparse usage errors, environment ``OSError`` such as a full disk or
a permission denied) prints one line ``error: ...`` on stderr and exits with code 2; with ``--json`` the same
message goes to stdout as ``{"error": "...", "kind": "..."}``. Anything else is an internal error (exit 1, one
line; ``-v`` shows the traceback). Never a traceback by default.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import json
import logging
import math
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
    "card": "core.commands.card",
    "condprob": "core.commands.condprob",
    "attack": "core.commands.attack",
}


class UsageError(Exception):
    """An argparse usage error (bad or missing option); reported like a ``CoreError``."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: one line, exit 2 (raised, reported by main)
        raise UsageError(f"{message} (see --help)")


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
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 1 unexpected failure, 130 interrupted)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
    verbose = False
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        verbose = args.verbose
        as_json = bool(getattr(args, "json", False))
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        if not getattr(args, "_run", None):
            parser.print_help()
            return 2
        if hasattr(args, "model"):
            model_id_from_args(args)  # an empty --model / --checkpoint fails here, before torch is imported
        return int(args._run(args) or 0)
    except UsageError as err:
        return _report(str(err), "usage", as_json, 2)
    except CoreError as err:
        return _report(str(err), type(err).__name__, as_json, 2)
    except OSError as err:
        message = os_error_message(err)
        if message is None:
            if verbose:
                raise
            return _report(f"internal error: {type(err).__name__}: {err} (rerun with -v for details)",
                           "internal", as_json, 1)
        return _report(message, "environment", as_json, 2)
    except Exception as err:  # unexpected: one line unless --verbose asks for the traceback
        if verbose:
            raise
        return _report(f"internal error: {type(err).__name__}: {err} (rerun with -v for details)", "internal",
                       as_json, 1)
    except KeyboardInterrupt:
        return _report("interrupted; rerun the same command to resume where supported.", "interrupted",
                       as_json, 130)


def _report(message: str, kind: str, as_json: bool, code: int) -> int:
    """Print one error: ``error: ...`` on stderr, or ``{"error", "kind"}`` on stdout with ``--json``."""
    message = " ".join(str(message).split()) or kind  # one line, whatever the exception text holds
    if as_json:
        print(json.dumps({"error": message.removeprefix("internal error: "), "kind": kind}), flush=True)
    else:
        print(message if kind in ("internal", "interrupted") else f"error: {message}", file=sys.stderr)
    return code


# errno -> what the user can do about it (the environment, not the program, is at fault)
_OS_ERRORS = {
    errno.ENOSPC: "no space left on the device while writing {path}; free some space (or choose another --out) "
                  "and rerun the same command: an interrupted index run resumes where it stopped",
    errno.EDQUOT: "disk quota exceeded while writing {path}; free some space and rerun the same command "
                  "(an interrupted index run resumes where it stopped)",
    errno.EACCES: "permission denied: {path}; choose a path you can write to (or fix its permissions)",
    errno.EPERM: "operation not permitted: {path}; choose another path",
    errno.EROFS: "read-only file system: {path}; choose a writable location",
    errno.ENOENT: "no such file or directory: {path}",
    errno.ENOTDIR: "not a directory: {path}",
    errno.EISDIR: "is a directory: {path}; give a file",
    errno.EEXIST: "already exists: {path}",
    errno.ENAMETOOLONG: "file name too long: {path}",
    errno.EMFILE: "too many open files ({path}); raise `ulimit -n` or lower --workers",
    errno.EIO: "input/output error on {path}; check the disk",
}


def os_error_message(err: OSError) -> str | None:
    """A one-line, actionable message for an ``OSError`` caused by the environment, else None."""
    template = _OS_ERRORS.get(err.errno)
    if template is None:
        return None
    path = err.filename if err.filename is not None else "a file"
    if err.filename2 is not None:
        path = f"{err.filename} -> {err.filename2}"
    return template.format(path=path)


def print_json(obj) -> None:
    """Print machine-readable output (the ``--json`` contract)."""
    print(json.dumps(obj, indent=2, sort_keys=False, default=str))


def write_text(path, text: str) -> None:
    """Write an output file (``--out``); an ``OSError`` names the file (ENOSPC, EACCES... carry no name)."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        raise type(err)(err.errno, err.strerror, os.fspath(path)) from err


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The shared ``--model M`` / ``--checkpoint FILE --arch ARCH`` / ``--device D`` / ``--precision P`` options."""
    parser.add_argument("--model", default=None, help="model id: demo (default), ARCH/TAG e.g. RN50x4/openai, "
                        "ARCH/random, or ARCH@FILE")
    parser.add_argument("--checkpoint", default=None, help="local weights file (with --arch)")
    parser.add_argument("--arch", default=None, help="open_clip architecture of --checkpoint, e.g. RN50x4")
    parser.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:N or mps (default: "
                        "CLIP_EXPLORER_DEVICE, else cpu)")
    from core.model.devices import PRECISION_HELP, PRECISIONS

    parser.add_argument("--precision", default=None, choices=PRECISIONS,
                        help=PRECISION_HELP + " (default: CLIP_EXPLORER_PRECISION, else auto)")


def model_id_from_args(args) -> str | None:
    """Combine ``--model`` / ``--checkpoint`` / ``--arch`` into one model id (None: the default model)."""
    from core.errors import BadInputError

    model = getattr(args, "model", None)
    if model is not None and not model.strip():
        raise BadInputError("--model is empty; give a model id (demo, ARCH/TAG e.g. RN50x4/openai, ARCH/random, "
                            "ARCH@FILE) or leave the option out for the default (demo).")
    if getattr(args, "checkpoint", None) is not None and not args.checkpoint.strip():
        raise BadInputError("--checkpoint is empty; give the path of a weights file.")
    if getattr(args, "checkpoint", None):
        if not args.arch:
            raise CoreError("--checkpoint needs --arch (the open_clip architecture, e.g. --arch RN50x4).")
        return f"{args.arch}@{args.checkpoint}"
    return args.model


def device_from_args(args) -> str | None:
    """``--device`` checked against this machine (``None``: the settings' device, itself checked there).

    Raises:
        DeviceUnavailableError: a malformed device, or CUDA/MPS asked for where there is none (one line).
    """
    from core.model.devices import check_device

    return check_device(args.device) if getattr(args, "device", None) else None


def apply_precision_arg(args) -> None:
    """Make ``--precision`` this process's precision setting (``CLIP_EXPLORER_PRECISION``): every forward pass
    of the command (extraction, text and image encodings) reads it from the settings. One CLI run, one process."""
    if getattr(args, "precision", None):
        os.environ["CLIP_EXPLORER_PRECISION"] = args.precision


def load_model_from_args(args, default_model: str | None = None):
    """The model of ``--model``/``--checkpoint`` (else ``default_model``, else the settings') on ``--device``."""
    from core.model.loading import load_model

    device = device_from_args(args)
    apply_precision_arg(args)
    return load_model(model_id_from_args(args) or default_model, device=device)


# ---------------------------------------------------------------- validated option types (argparse ``type=``)

def finite_float(lo: float | None = None, hi: float | None = None):
    """An argparse type: a finite float (no nan/inf), optionally within ``[lo, hi]``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be in {_range(lo, hi)}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def bounded_int(lo: int | None = 0, hi: int | None = 2 ** 31 - 1):
    """An argparse type: an integer within ``[lo, hi]`` (default 0 .. 2**31-1: no overflow deeper down)."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be in {_range(lo, hi)}, got {text.strip()[:30]}")
        return value

    parse.__name__ = "integer"
    return parse


def _range(lo, hi) -> str:
    return f"{'-inf' if lo is None else lo}..{'inf' if hi is None else hi}"


SEED = bounded_int(0, 2 ** 32 - 1)  # numpy's and torch's seed range
COUNT = bounded_int(1, 10 ** 6)  # --top, --k, --limit...
INT = bounded_int(-(2 ** 31 - 1), 2 ** 31 - 1)  # any int option: no 20-digit values reaching C code
