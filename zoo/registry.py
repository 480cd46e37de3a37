"""Model registry: names -> builder functions, plus the trained models that ship."""

import difflib
import fnmatch
import json
import os
from pathlib import Path

from zoo import saving

MODELS_ENV = "ZOO_MODELS_DIR"
_REGISTRY = {}


def models_dir():
    """Where shipped models live: `$ZOO_MODELS_DIR` or the repository's saved_models/."""
    return Path(os.environ.get(MODELS_ENV, Path(__file__).resolve().parent.parent / "saved_models"))


def register(name, task, description):
    """Decorator registering a builder function under a kebab-case `name`."""

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = {"builder": builder, "task": task, "description": description}
        return builder

    return decorator


def list_models(pattern=None):
    """Sorted registered names, optionally filtered by an fnmatch `pattern`."""
    names = sorted(_REGISTRY)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def _entry(name):
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3, cutoff=0.3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown model name {name!r}.{hint} Registered: {', '.join(list_models())}."
        )
    return _REGISTRY[name]


def info(name):
    """`{"name", "task", "description", "card"}`; card is None if nothing ships."""
    entry = _entry(name)
    card_path = models_dir() / name / "card.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else None
    return {"name": name, "task": entry["task"], "description": entry["description"], "card": card}


def build(name, **overrides):
    """A freshly initialized model (random weights)."""
    return _entry(name)["builder"](**overrides)


def load(name, weights="pretrained", **overrides):
    """Returns the model `name`.

    Args:
        name: a registered name (`list_models()`).
        weights: "pretrained" for the shipped model in saved_models/<name>,
            a path to a directory written by `zoo.saving.save`, or None for a
            randomly initialized model built with `overrides`.
        **overrides: builder arguments (only with `weights=None`).
    """
    _entry(name)
    if weights is None:
        return build(name, **overrides)
    if overrides:
        raise ValueError(
            f"Builder overrides {sorted(overrides)} only apply to weights=None; "
            f"a trained model keeps the configuration it was trained with."
        )
    directory = models_dir() / name if weights == "pretrained" else Path(weights)
    if weights == "pretrained" and not directory.is_dir():
        raise FileNotFoundError(
            f"No trained model ships for {name!r} ({directory} does not exist). "
            f"Use weights=None for a random model or train one with its recipe."
        )
    return saving.load(directory, expected_name=name)
