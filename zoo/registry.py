"""Model registry: names -> builder functions, plus the trained models that ship.

A leaf: it imports only the standard library, `zoo.io` and the catalogue of
`zoo.models` (plain data), where each shipped model is declared once. Names,
tasks and descriptions come from that catalogue, so `list_models` and `info`
answer without importing TensorFlow. `register` adds a model of your own.
Building and loading (`zoo.saving.build` / `load`) call into it, never the
reverse.
"""

import difflib
import fnmatch
import importlib
import json
import os
from pathlib import Path

from zoo.io import read_json
from zoo.models import CATALOGUE

MODELS_ENV = "ZOO_MODELS_DIR"
_REGISTRY = {}  # name -> {"builder", "task", "description"}: models of your own, added by @register


def models_dir():
    """Where shipped models live: `$ZOO_MODELS_DIR` or the repository's saved_models/."""
    return Path(os.environ.get(MODELS_ENV, Path(__file__).resolve().parent.parent / "saved_models"))


def register(name, task, description):
    """Decorator registering a builder function of your own under a kebab-case
    `name` (the zoo's own models are declared in `zoo.models.CATALOGUE`)."""

    def decorator(builder):
        if name in _REGISTRY or name in CATALOGUE:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = {"builder": builder, "task": task, "description": description}
        return builder

    return decorator


def list_models(pattern=None):
    """Sorted registered names, optionally filtered by an fnmatch `pattern`."""
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str such as '*lstm*' or None, got {type(pattern).__name__} {pattern!r}.")
    names = sorted(set(CATALOGUE) | set(_REGISTRY))
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def is_model_directory(name):
    """Whether `name` is not a registered name but a directory holding a saved model."""
    if not isinstance(name, (str, os.PathLike)) or not os.fsdecode(name) or name in CATALOGUE or name in _REGISTRY:
        return False
    return Path(os.fsdecode(name), "config.json").is_file()


def is_keras_file(name):
    """Whether `name` is not a registered name but a `.keras` file."""
    return isinstance(name, (str, os.PathLike)) and os.fsdecode(name).endswith(".keras") and Path(
        os.fsdecode(name)).is_file()


def check_name(name):
    registered = isinstance(name, str) and (name in CATALOGUE or name in _REGISTRY)
    pathlike = isinstance(name, str) and name and (Path(name).is_dir() or "/" in name or os.sep in name)
    if isinstance(name, os.PathLike) or (pathlike and not registered):  # no registered name holds a "/"
        path = os.fsdecode(name)
        if Path(path, "config.json").is_file():
            what = "a saved model: load it with zoo.load(directory), which takes no `weights` or builder arguments"
        elif Path(path).is_dir():
            what = "a directory with no saved model in it (no config.json)"
        elif Path(path).is_file():
            what = "a file, not a model directory (one that holds config.json)"
        else:
            what = "a path to nothing"
        raise ValueError(f"{path!r} is {what}, not a model name. Registered: {', '.join(list_models())}.")
    if not isinstance(name, str):
        raise TypeError(
            f"name must be a str, one of the registered model names (e.g. 'char-lstm'), "
            f"got {type(name).__name__} {name!r}."
        )
    if name not in CATALOGUE and name not in _REGISTRY:
        same = [n for n in list_models() if n.lower() == name.lower()]  # a name in the wrong case first
        close = (same + [n for n in difflib.get_close_matches(name, list_models(), n=3, cutoff=0.3)
                         if n not in same])[:3]
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown model name {name!r}.{hint} Registered: {', '.join(list_models())}.")


def describe(name):
    """`{"name", "task", "description"}` of a registered model, without its card."""
    check_name(name)
    entry = _REGISTRY[name] if name in _REGISTRY else dict(zip(("task", "description"), CATALOGUE[name][1:]))
    return {"name": name, "task": entry["task"], "description": entry["description"]}


def builder(name):
    """The builder of `name`, importing the module that defines it if needed."""
    check_name(name)
    if name in _REGISTRY:
        return _REGISTRY[name]["builder"]
    module, function = CATALOGUE[name][0].split(":")
    return getattr(importlib.import_module(module), function)


def read_card(name):
    """The card of the trained model that ships for `name`, or None if none ships.

    A card that is not a JSON object is a ValueError naming the file.
    """
    check_name(name)
    return _card_at(models_dir() / name / "card.json", name)


def _card_at(path, name):
    """The JSON object in `path` (the card of `name`), or None if there is no such file."""
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"Cannot read the card of {name!r}: {path} is not valid JSON ({e}).") from e
    if not isinstance(card, dict):
        raise ValueError(f"Cannot read the card of {name!r}: {path} holds a {type(card).__name__}, not a JSON object.")
    return card


def shipped_dir(name):
    """The directory of the trained model that ships for `name`; FileNotFoundError if none."""
    check_name(name)
    directory = models_dir() / name
    if not directory.is_dir():
        raise FileNotFoundError(
            f"No trained model ships for {name!r} ({directory} does not exist). "
            f"Use weights=None for a random model or train one with its recipe."
        )
    return directory


def info(name):
    """`{"name", "task", "description", "card"}`; card is None if nothing ships.

    `name` may also be a directory written by `zoo.saving.save` (a run's
    `model/`): then the model it holds, its own card and `"directory"`.
    Reads only the catalogue and the card: TensorFlow is not imported.
    """
    if is_model_directory(name):
        directory = Path(os.fsdecode(name))
        path = directory / "config.json"
        saved = read_json(path, 'a JSON object {"name": ..., "config": {...}}').get("name")
        if not isinstance(saved, str):
            raise ValueError(f"{path} is corrupt: it names no model (\"name\": {saved!r:.40}).")
        return {**describe(saved), "directory": str(directory), "card": _card_at(directory / "card.json", saved)}
    return {**describe(name), "card": read_card(name)}
