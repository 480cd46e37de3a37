"""The shipped-model format: a directory written atomically.

    config.json    {"name": registry name, "config": builder arguments}
    weights.npz    every variable in `model.weights` order (Keras numbers layer
                   names per process, so paths are not stable keys), stored as
                   float16 (half the size; loaded back into float32 variables)
    card.json      metrics, data, command, time, hardware, weights sha256
    *              the model's own assets (tokenizers, vocabularies)
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from zoo.data.download import sha256

WEIGHTS = "weights.npz"


def atomic_write(path, data):
    """Writes `data` (str or bytes) to `path` through a temporary file and a
    rename, so a kill leaves the old file or the new one, never half of one."""
    tmp = Path(f"{path}.tmp")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def save(model, directory, name, card=None):
    """Writes `model` to `directory`; a kill mid-way never leaves a partial one."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    tmp.chmod(0o755)
    try:
        weights = {f"{i:04d}": np.asarray(v.numpy(), np.float16) for i, v in enumerate(model.weights)}
        np.savez(tmp / WEIGHTS, **weights)
        (tmp / "config.json").write_text(json.dumps({"name": name, "config": model.get_config()}, indent=2))
        model.save_assets(tmp)
        card = {**(card or {}), "name": name, "weights_sha256": sha256(tmp / WEIGHTS)}
        (tmp / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        old = directory.with_name(f".{directory.name}.old")
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def load(directory, expected_name=None):
    """Loads a model written by `save`; any missing or corrupt file is an error."""
    from zoo.registry import build

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / WEIGHTS
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"Cannot load the model in {directory}: {path} is missing.")
    try:
        meta = json.loads(config_path.read_text())
        name, config = meta["name"], meta["config"]
    except (ValueError, KeyError) as e:
        raise ValueError(f"Cannot load the model: {config_path} is corrupt ({e}).") from e
    if expected_name is not None and name != expected_name:
        raise ValueError(f"{directory} holds {name!r}, not {expected_name!r}.")
    card_path = directory / "card.json"
    if card_path.is_file():
        expected = json.loads(card_path.read_text()).get("weights_sha256")
        if expected and sha256(weights_path) != expected:
            raise ValueError(f"{weights_path} is corrupt: its sha256 does not match card.json.")
    model = build(name, **config)
    model.load_assets(directory)
    model.build_for_inference()
    try:
        with np.load(weights_path) as stored:
            arrays = [stored[f"{i:04d}"] for i in range(len(stored.files))]
            shapes = [tuple(v.shape) for v in model.weights]
            if [a.shape for a in arrays] != shapes:
                raise ValueError(
                    f"it holds {len(arrays)} arrays that do not match the "
                    f"{len(shapes)} variables of {name!r} built from config.json."
                )
            for v, a in zip(model.weights, arrays):
                v.assign(a.astype(v.dtype))
    except (OSError, ValueError, EOFError, KeyError) as e:
        raise ValueError(f"Cannot load weights from {weights_path}: {e}") from e
    return model
