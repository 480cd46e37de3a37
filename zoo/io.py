"""Small file helpers shared by downloads, saving, callbacks and recipes.

Standard library only, so any module (the registry included) may import it.

- `sha256(path)`: the hex digest of a file, read in blocks.
- `data_files(spec)`: the files a file name, a directory or a glob names.
- `atomic_write(path, data_or_writer)`: a file replaced whole or not at all.
- `read_json(path)`: a JSON object, or a ValueError naming the file.
- `staging_dir(directory)` / `publish(staging, directory)`: a directory
  written beside its place and renamed into it whole.
"""

import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def sha256(path):
    """The sha256 hex digest of the file at `path`, read 1 MiB at a time.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "hello.txt"
    >>> _ = path.write_bytes(b"hello\\n")
    >>> sha256(path)[:16]
    '5891b5b522d5df08'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


GLOB_CHARACTERS = "*?["


def data_files(spec):
    """The files `spec` names, sorted: the file itself; the files in a
    directory (not hidden ones, not those of its subdirectories); or those a
    glob pattern matches (`*`, `?`, `[...]`; `**` crosses directories).
    An empty list when it names none.

    Example:

    >>> import pathlib, tempfile
    >>> shards = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.tsv", "a.tsv", ".hidden", "c.csv"):
    ...     _ = (shards / name).write_text("")
    >>> [p.name for p in data_files(shards)], [p.name for p in data_files(shards / "*.tsv")]
    (['a.tsv', 'b.tsv', 'c.csv'], ['a.tsv', 'b.tsv'])
    """
    path = Path(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if any(c in str(spec) for c in GLOB_CHARACTERS):
        return sorted(Path(p) for p in glob.glob(str(spec), recursive=True) if Path(p).is_file())
    return []


def atomic_write(path, data_or_writer):
    """Writes `path` through a temporary file of its own beside it and a
    rename, so a kill leaves the old file or the new one, never half of one,
    and two writers of the same path never share a temporary file.

    Args:
        path: the file to write (its directory must exist).
        data_or_writer: a str (written as UTF-8) or bytes; or a callable
            `writer(tmp_path)` that writes the file at `tmp_path` itself (a
            download, `model.save_weights`): the temporary name ends with the
            same suffixes as `path` (`.weights.h5`), and an exception raised
            by the writer leaves `path` untouched and no temporary file.

    Returns:
        `path`, as a `pathlib.Path`.
    """
    path = Path(path)
    if not (callable(data_or_writer) or isinstance(data_or_writer, (str, bytes, bytearray, memoryview))):
        raise TypeError(
            f"`data_or_writer` must be str, bytes or a callable writer(tmp_path), "
            f"got {type(data_or_writer).__name__}."
        )
    suffix = ".tmp" + "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        if callable(data_or_writer):
            os.close(fd)
            data_or_writer(Path(tmp))
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data_or_writer.encode() if isinstance(data_or_writer, str) else data_or_writer)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def named_paths(config, keys):
    """The non-empty paths `config` (a dict) gives under `keys`, each value a
    path or a list of them (a recipe's file flags, as its card records them)."""
    values = [config.get(key) for key in keys]
    return [p for v in values for p in ([v] if isinstance(v, str) else v or ()) if p]


def read_json(path, what="a JSON object"):
    """The JSON object in `path`; a ValueError naming the file if it is not one."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is corrupt: not UTF-8 text ({e.reason} at byte {e.start}).") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is corrupt: not valid JSON ({e.msg} at line {e.lineno}).") from e
    if not isinstance(value, dict):
        raise ValueError(f"{path} is corrupt: it should hold {what}, not {type(value).__name__} {value!r:.40}.")
    return value


def staging_dir(directory):
    """A new empty directory beside `directory` (`.<name>.<pid>.<random>`) to
    write it in, then `publish` it. Staging directories of `directory` left
    by a process that no longer runs (killed mid-write) are removed first."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    for stale in directory.parent.glob(f".{directory.name}.*"):
        pid = stale.name[len(directory.name) + 2 :].split(".")[0]
        if stale.is_dir() and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.{os.getpid()}."))
    staging.chmod(0o755)
    return staging


def publish(staging, directory, what="directory"):
    """Renames the finished `staging` to `directory`, which must not exist:
    if another writer got there first, `staging` is removed and the
    FileExistsError names `directory` (`what`: how to speak of it)."""
    try:
        if Path(directory).exists():
            raise FileExistsError(directory)
        os.rename(staging, directory)  # fails if a writer made `directory` meanwhile (not empty)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise FileExistsError(f"{directory} was written by another {what} meanwhile: give a new directory.") from None
    return Path(directory)


def _running(pid):
    """Whether a process `pid` runs (or cannot be told: then it is kept)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
