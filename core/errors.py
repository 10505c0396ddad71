"""Error types of the core package.

Every user-facing failure is a ``CoreError`` subclass whose message says what went wrong and
what to do instead (valid options, the file that is missing, the command to run). The CLI and
the dashboard show ``str(err)``; they never show a traceback for a ``CoreError``.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class CoreError(Exception):
    """Base class of all expected, user-facing errors."""


class UnknownModelError(CoreError):
    """A model id that is not demo, ARCH/TAG, ARCH@FILE or a known architecture."""


class WeightsUnavailableError(CoreError):
    """The weights of a known model cannot be had here (offline, missing file, unsafe file)."""


class LayerNotFoundError(CoreError):
    """A layer id that the model does not have."""


class UnitOutOfRangeError(CoreError):
    """A unit index outside ``0 .. units-1`` of its layer."""


class BadNeuronIdError(CoreError):
    """A neuron id that is not of the form ``layer:unit``."""


class ArtifactMismatchError(CoreError):
    """An artifact (activations, index) was made with another model or layer than requested."""


class ArtifactError(CoreError):
    """An artifact directory is missing, incomplete or corrupt."""


class BadInputError(CoreError):
    """Bad user input: an empty query, an unreadable image, a path outside the allowed roots."""


class Cancelled(CoreError):
    """The user cancelled a long job (a render, word scoring, an extraction); work finished before is kept."""


def close_matches(word: str, options: Iterable[str], n: int = 5) -> list[str]:
    """Return up to ``n`` options closest to ``word`` (for "did you mean" messages)."""
    options = list(options)
    found = difflib.get_close_matches(word, options, n=n, cutoff=0.4)
    if not found:
        found = [o for o in options if word and word.lower() in o.lower()][:n]
    return found


def with_suggestions(message: str, word: str, options: Iterable[str], *, limit: int = 12) -> str:
    """Append "Did you mean" and a short list of valid options to ``message``."""
    options = list(options)
    close = close_matches(word, options)
    parts = [message]
    if close:
        parts.append("Did you mean: " + ", ".join(close) + "?")
    shown = options[:limit]
    more = f" (+{len(options) - limit} more)" if len(options) > limit else ""
    if shown:
        parts.append("Available: " + ", ".join(shown) + more + ".")
    return " ".join(parts)


class BadCheckpointError(WeightsUnavailableError):
    """A weights file that is there but unusable: not a checkpoint, corrupt or truncated, or made for another
    architecture than the one given."""
