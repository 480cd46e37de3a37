"""Building and loading zoo models (`zoo.build`, `zoo.load`), and the
shipped-model format: a directory written atomically.

    config.json    {"name": registry name, "config": builder arguments}
    weights.npz    every variable in `model.weights` order (Keras numbers layer
                   names per process, so paths are not stable keys), stored as
                   float16 (half the size; loaded back into float32 variables)
                   or, with `save(..., weights_dtype="int8")`, each matrix as
                   int8 `NNNN` with a float32 scale per column `NNNN.scale`
                   (a quarter of the size: what lets a 2-model ensemble ship)
    card.json      metrics, data, command, time, hardware, weights sha256
    README.md      the model card for a model hub, written from card.json (`zoo.cards`)
    logs/          (shipped models) a compact copy of the training run's
                   TensorBoard logs
    members/<i>/   (ensembles, `ZooModel.members`) the other models it decodes
                   with, each in this format
    *              the model's own assets (tokenizers, vocabularies)
"""

import contextlib
import ctypes
import fcntl
import importlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np

from zoo import registry
from zoo.cards import model_card
from zoo.io import read_json, sha256, staging_dir
from zoo.layers.layout import from_keras_layout
from zoo.models import CATALOGUE
from zoo.models.base import ZooModel

WEIGHTS = "weights.npz"
WEIGHTS_DTYPES = ("float16", "int8")  # how `save` stores the weights
NAMED = ("cell", "attention", "encoder")  # fixed by a registered name (its builder), not by its config
WEIGHT_SIZES = ("units", "_dim", "vocabulary_size")  # config keys, by their ending, that size a stored array
LARGEST_OTHER_SIZE = 4096  # any other integer of a config (image_size): no weight shows it, so it is capped


def _exchange(a, b):
    """Swaps two paths in one atomic step (Linux `renameat2` with
    RENAME_EXCHANGE), so there is no moment without a model at either path;
    False where the system or the filesystem cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@contextlib.contextmanager
def _locked(directory, exclusive):
    """Holds a lock on the parent of a model directory: exclusive while a save
    swaps the directory, shared while a load reads it. `flock` locks are
    released by the OS when a process dies, so none outlives its holder; where
    the filesystem has none (some network mounts), this is a no-op."""
    try:
        fd = os.open(Path(directory).parent, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


def save(model, directory, name, card=None, logs=None, weights_dtype="float16"):
    """Writes `model` to `directory` (created, or replaced as a whole).

    The files are written to a temporary directory beside it, which then
    takes its place in one atomic swap (`renameat2`, where the system has it),
    under a lock that `load` also takes: a kill at any moment leaves the old
    model, a concurrent `load` sees the whole old or the whole new model,
    and of two concurrent saves the last one wins. `logs`: a directory copied
    into `<directory>/logs`. `weights_dtype`: "float16", or "int8" (matrices
    quantized per column, `quantize`; what is measured must then be the
    model as loaded back).
    """
    if not isinstance(model, ZooModel):
        raise TypeError(f"`model` must be a zoo model (zoo.models.base.ZooModel), got {type(model).__name__}.")
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"`weights_dtype` must be one of {list(WEIGHTS_DTYPES)}, got {weights_dtype!r}.")
    directory = Path(directory)
    tmp = staging_dir(directory)  # and what a killed save left beside it goes
    try:
        _write(model, tmp, name, card, logs, weights_dtype)
        with _locked(directory, exclusive=True):
            if not directory.exists():
                os.replace(tmp, directory)
            elif not _exchange(tmp, directory):  # no atomic swap here: two renames, a short window
                old = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.old."))
                os.replace(directory, old)  # onto the empty directory just made
                os.replace(tmp, directory)
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def quantize(array):
    """`(int8 values, float32 scale per column)` of a matrix: symmetric, the
    largest magnitude of each column (last axis) at 127; `values * scale` is
    what loads back. Deterministic, so saving the same weights twice writes
    the same bytes."""
    array = np.asarray(array, np.float32)
    scale = np.max(np.abs(array), axis=tuple(range(array.ndim - 1)), keepdims=True) / np.float32(127)
    scale = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)
    return np.clip(np.rint(array / scale), -127, 127).astype(np.int8), scale


def _stored_arrays(model, weights_dtype):
    arrays = {}
    for i, v in enumerate(model.weights):
        if weights_dtype == "int8" and len(v.shape) >= 2:
            arrays[f"{i:04d}"], arrays[f"{i:04d}.scale"] = quantize(v.numpy())
        else:  # vectors (biases, norms) stay float16: a sliver of the size
            arrays[f"{i:04d}"] = np.asarray(v.numpy(), np.float16)
    return arrays


def _write(model, folder, name, card, logs=None, weights_dtype="float16"):
    """The files of `model` (and of its ensemble members, in `members/<i>/`) into `folder`."""
    np.savez(folder / WEIGHTS, **_stored_arrays(model, weights_dtype))
    (folder / "config.json").write_text(json.dumps({"name": name, "config": model.get_config()}, indent=2))
    model.save_assets(folder)
    if logs is not None:
        shutil.copytree(logs, folder / "logs")
    for i, member in enumerate(model.members):
        if member.members:  # `set_members` refuses it, but a member may have been given members since
            raise ValueError(f"member {i} of the ensemble is an ensemble itself: an ensemble's members are single "
                             f"models.")
        (folder / "members" / str(i)).mkdir(parents=True)
        _write(member, folder / "members" / str(i), getattr(member, "registry_name", name), {"member": i},
               weights_dtype=weights_dtype)
    card = {**(card or {}), "name": name, "weights_dtype": weights_dtype, "weights_sha256": sha256(folder / WEIGHTS)}
    (folder / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    if card.get("task") and card.get("metrics"):  # a trained, measured model: its card for a model hub
        (folder / "README.md").write_text(model_card(card), encoding="utf-8")


def load_directory(directory, expected_name=None):
    """Loads a model written by `save` (`load` is the way in); any missing or
    corrupt file is an error that names it. Holds a shared lock while
    reading, so a concurrent `save` of the same directory cannot swap it
    mid-way.

    Before a model is built, the sizes in config.json are checked against the
    array headers of weights.npz (`_check_sizes`); once built, its config
    must be the saved one, the architecture its name fixes (`NAMED`)
    included; every weight must be finite."""
    directory = Path(directory)
    with _locked(directory, exclusive=False):
        if not directory.is_dir():
            raise FileNotFoundError(f"Cannot load a model from {directory}: it is not a directory.")
        return _load(directory, expected_name)


def _stored_shapes(weights_path):
    """`{array name: shape}` of a `.npz` file, read from the array headers
    alone: no array is loaded. A file that is not one is a ValueError naming it."""
    headers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with zipfile.ZipFile(weights_path) as archive:
            shapes = {}
            for member in archive.namelist():
                with archive.open(member) as f:
                    if not member.endswith(".scale.npy"):  # an int8 matrix's scales: not a variable
                        shapes[member.removesuffix(".npy")] = headers[np.lib.format.read_magic(f)](f)[0]
            return shapes
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"Cannot load weights from {weights_path}: it is not a NumPy .npz archive ({e}).") from e


def _check_sizes(config, shapes, config_path, weights_path):
    """Refuses, before anything is built, a config whose sizes the stored
    arrays (`shapes`, from `_stored_shapes`) do not show: built first, a
    hostile `"units": 20000` allocates gigabytes. A size of the weights
    (`units`, `embedding_dim`, `*vocabulary_size`) must be a dimension of
    some array, a count (`num_layers`) at most the number of arrays, any
    other integer (`image_size`) at most LARGEST_OTHER_SIZE."""
    dims = sorted({d for shape in shapes.values() for d in shape})
    for key, value in config.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            continue  # not a size: the builder checks it
        if key.endswith(WEIGHT_SIZES):
            if value not in dims:
                raise ValueError(f"{config_path} gives {key} {value}, but no array in {weights_path} has a dimension "
                                 f"of {value} (they have {', '.join(map(str, dims[:16]))}{' ...' * (len(dims) > 16)}): "
                                 f"the config does not describe these weights.")
        elif key.startswith("num_"):
            if value > len(shapes):
                raise ValueError(f"{config_path} gives {key} {value}, but {weights_path} holds {len(shapes)} arrays, "
                                 f"too few for {value} {key.removeprefix('num_')}.")
        elif value > LARGEST_OTHER_SIZE:
            raise ValueError(f"{config_path} gives {key} {value}, more than a saved model allows (at most "
                             f"{LARGEST_OTHER_SIZE}).")


def _load(directory, expected_name):
    config_path, weights_path = directory / "config.json", directory / WEIGHTS
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"Cannot load the model in {directory}: {path} is missing.")
    meta = read_json(config_path, 'a JSON object {"name": ..., "config": {...}}')
    name, config = meta.get("name"), meta.get("config")
    if not isinstance(name, str) or not isinstance(config, dict):
        raise ValueError(
            f"{config_path} is corrupt: it should hold {{\"name\": a model name, \"config\": an object}}, "
            f"got name={name!r:.40} and config of type {type(config).__name__}."
        )
    if expected_name is not None and name != expected_name:
        raise ValueError(f"{directory} holds {name!r}, not {expected_name!r}.")
    card_path = directory / "card.json"
    if card_path.is_file():
        expected = read_json(card_path).get("weights_sha256")
        if expected and sha256(weights_path) != expected:
            raise ValueError(f"{weights_path} is corrupt: its sha256 does not match card.json.")
    _check_sizes(config, _stored_shapes(weights_path), config_path, weights_path)
    try:  # the architecture comes from the name: a config that says otherwise is refused below
        model = build(name, **{k: v for k, v in config.items() if k not in NAMED})
    except (TypeError, ValueError) as e:
        raise ValueError(f"{config_path} is corrupt: {name!r} cannot be built from its config ({e}).") from e
    built = model.get_config()
    for key, value in config.items():
        if key not in built:
            raise ValueError(f"{config_path} is corrupt: its config gives {key} {value!r:.40}, which {name!r} does "
                             f"not keep (it keeps {', '.join(built)}).")
        if built[key] != value:
            raise ValueError(f"{config_path} is corrupt: it names {name!r}, whose {key} is {built[key]!r}, but its "
                             f"config gives {key} {value!r:.40}.")
    model.load_assets(directory)
    model.build_for_inference()
    try:
        with np.load(weights_path) as stored:
            arrays = [_stored_array(stored, f"{i:04d}")
                      for i in range(sum(not f.endswith(".scale") for f in stored.files))]
            shapes = [tuple(v.shape) for v in model.weights]
            if [a.shape for a in arrays] != shapes:
                # Files written before the LSTM cells kept one matrix per gate
                # hold them in Keras's fused layout: map those onto the gates.
                arrays = from_keras_layout(model, arrays) or arrays
            if [a.shape for a in arrays] != shapes:
                first = next((i for i, (a, shape) in enumerate(zip(arrays, shapes)) if a.shape != shape), None)
                where = ("" if first is None else f": array {first:04d} is {arrays[first].shape}, variable "
                         f"{model.weights[first].path} is {shapes[first]}")
                raise ValueError(
                    f"it holds {len(arrays)} arrays that do not match the "
                    f"{len(shapes)} variables of {name!r} built from config.json{where}."
                )
            for i, (v, a) in enumerate(zip(model.weights, arrays)):
                if a.dtype.kind not in "fiu":
                    raise ValueError(f"array {i:04d} (variable {v.path}) holds {a.dtype} values, not numbers.")
                bad = a.size - np.count_nonzero(np.isfinite(a))
                if bad:
                    raise ValueError(f"array {i:04d} (variable {v.path}) holds {bad} NaN or infinite value(s); the "
                                     f"weights of a model are finite numbers.")
                v.assign(a.astype(v.dtype))  # the model is dropped if a later array is refused
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(f"Cannot load weights from {weights_path}: {e}") from e
    members = directory / "members"
    if members.is_dir():  # members/0, members/1, ...: other entries (a stray .DS_Store) are not members
        numbers = sorted(int(p.name) for p in members.iterdir() if p.is_dir() and p.name.isdigit())
        if numbers != list(range(len(numbers))):
            raise ValueError(f"{members} is corrupt: it should hold the folders 0 to {len(numbers) - 1}, "
                             f"got {numbers}.")
        try:
            model.set_members([_load(members / str(i), None) for i in numbers])  # each named in its config
        except ValueError as e:
            raise ValueError(f"Cannot load the ensemble in {directory}: {e}") from e
    return model


def _stored_array(stored, key):
    """Array `key` of an open weights.npz, an int8 one scaled back to float32."""
    array = stored[key]
    if f"{key}.scale" not in stored.files:
        return array
    scale = stored[f"{key}.scale"]
    if array.dtype != np.int8 or scale.dtype != np.float32 or scale.ndim != array.ndim:
        raise ValueError(f"array {key} has scales, so it must be int8 with float32 scales of its rank; it is "
                         f"{array.dtype} with {scale.dtype} scales of shape {scale.shape}.")
    return array.astype(np.float32) * scale


def build(name, **overrides):
    """A freshly initialized model (random weights): a `zoo.models.base.ZooModel`
    of the task the catalogue names."""
    model = registry.builder(name)(**overrides)
    task = registry.describe(name)["task"]
    if not isinstance(model, ZooModel) or model.task != task:
        raise TypeError(f"The builder of {name!r} must return a ZooModel of task {task!r}, "
                        f"got {type(model).__name__} (task {getattr(model, 'task', None)!r}).")
    model.registry_name = name  # what an ensemble saves a member under (its architecture may differ)
    return model


def load(name, weights="pretrained", **overrides):
    """Returns the model `name`.

    Args:
        name: a registered name (`list_models()`), a directory written by
            `zoo.saving.save` (a run's `model/`): the model it holds, as
            `load(<its name>, weights=directory)`, or a `.keras` file written
            by the model's `save` (Keras's format; the zoo's classes are
            imported first so that Keras finds them).
        weights: "pretrained" for the shipped model in saved_models/<name>,
            a directory (str or os.PathLike) written by `zoo.saving.save`, or
            None for a randomly initialized model built with `overrides`.
        **overrides: builder arguments (only with `weights=None`).
    """
    if registry.is_model_directory(name) and weights == "pretrained" and not overrides:
        return load_directory(Path(os.fsdecode(name)))
    if registry.is_keras_file(name) and weights == "pretrained" and not overrides:
        return _load_keras_file(os.fsdecode(name))
    registry.check_name(name)
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"weights must be 'pretrained', None, or a directory (str or os.PathLike) written by "
            f"zoo.saving.save, got {type(weights).__name__} {weights!r}."
        )
    if weights is None:
        return build(name, **overrides)
    if overrides:
        raise ValueError(
            f"Builder overrides {sorted(overrides)} only apply to weights=None; "
            f"a trained model keeps the configuration it was trained with."
        )
    if weights == "pretrained":
        directory = registry.shipped_dir(name)
    else:
        directory = Path(os.fsdecode(weights))
        if os.fsdecode(weights) == "" or not directory.is_dir():
            raise FileNotFoundError(
                f"weights={weights!r} is not a directory: pass 'pretrained', None, or a directory "
                f"written by zoo.saving.save."
            )
    return load_directory(directory, expected_name=name)


def _load_keras_file(path):
    """A zoo model from a `.keras` file written by its `save`: what the file
    holds is read before Keras builds anything from it."""
    try:
        with zipfile.ZipFile(path) as archive:
            saved = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is corrupt: it is not a .keras file written by a model's save() ({e}).") from e
    if not isinstance(saved, dict) or not str(saved.get("registered_name")).startswith("zoo>"):
        kind = saved.get("class_name") if isinstance(saved, dict) else type(saved).__name__
        raise TypeError(f"{path} holds a {kind!r} model, not a zoo model: zoo.load reads the .keras files "
                        f"written by a zoo model's save().")
    for module in sorted({entry[0].split(":")[0] for entry in CATALOGUE.values()}):
        importlib.import_module(module)  # registers the zoo's classes with Keras
    try:
        return keras.saving.load_model(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is corrupt: Keras cannot load it ({e}).") from e
