"""A user's own files as training data: sentence-pair tables, aligned text
files and plain texts, each checked with errors that name the file and line.

Translation pairs come from a table (TSV, CSV or Parquet, read with pandas;
columns `source` and `target` unless told otherwise; numbers such as `1` and
`0` choose columns by position in a file without a header row, as in the
Tatoeba `spa.txt`: `.txt` tables are tab-separated) or from two aligned text
files with one sentence per line. Rows whose source or target is empty or only
whitespace are dropped and counted. Without separate validation and test
files, `split_pairs` holds out a seeded 5% for each (at least one pair each).

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "pairs.tsv"
>>> _ = path.write_text("source\\ttarget\\nHallo.\\tHello.\\n \\tEmpty.\\n")
>>> table = read_pairs(path)
>>> table.sources, table.targets, table.dropped
(['Hallo.'], ['Hello.'], 1)
"""

import csv
import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from zoo.io import named_paths
from zoo.tasks import OWN_FILES

TABLE_SUFFIXES = {".tsv": "\t", ".tab": "\t", ".txt": "\t", ".csv": ",", ".parquet": None}
HELD_OUT_FRACTION = 0.05  # of the pairs, for each of val and test, when no files are given


@dataclasses.dataclass
class Pairs:
    """Aligned `sources` and `targets`, where they came from and how many rows were dropped."""

    sources: list
    targets: list
    files: list  # [{"name", "rows", "sha256"}] for the model card
    dropped: int = 0


def file_record(path, rows=None):
    """`{"name", "rows", "sha256"}` of a data file, for a model card
    (characters instead of rows when `rows` is None: a text)."""
    data = Path(path).read_bytes()
    size = {"rows": rows} if rows is not None else {"characters": len(data.decode("utf-8"))}
    return {"name": Path(path).name, **size, "sha256": hashlib.sha256(data).hexdigest()}


def _existing(path, argument):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{argument}: {path} is not a file.")
    return path


def read_lines(path, argument="file"):
    """The lines of a UTF-8 text file (no line ends); bytes that are not UTF-8
    are a ValueError naming the file and the line."""
    path = _existing(path, argument)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(f"{argument}: {path} line {line} is not UTF-8 text (byte {data[e.start]:#04x}).") from None
    return text.removeprefix("\ufeff").splitlines()


def read_text(paths, argument="--text-file"):
    """The concatenated UTF-8 text of one or more files (see `read_lines`)."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ValueError(f"{argument}: no file given.")
    texts = []
    for path in paths:
        read_lines(path, argument)  # checks the encoding, naming the line
        texts.append(Path(path).read_text(encoding="utf-8").removeprefix("\ufeff"))
    text = "\n".join(texts)
    if not text.strip():
        raise ValueError(f"{argument}: {', '.join(map(str, paths))} hold no text.")
    return text


def _clean(sources, targets, files):
    """Drops pairs with an empty or whitespace-only side."""
    keep = [(s.strip(), t.strip()) for s, t in zip(sources, targets) if s.strip() and t.strip()]
    dropped = len(sources) - len(keep)
    return Pairs([s for s, _ in keep], [t for _, t in keep], files, dropped)


def read_pairs(path, source_column="source", target_column="target", argument="--train-file"):
    """Sentence pairs from a TSV, CSV or Parquet table (by the file's suffix).
    Two column numbers (`"1"`, `"0"`) read a table without a header row by position."""
    import pandas as pd

    by_position = all(str(c).isdigit() for c in (source_column, target_column))
    if str(source_column) == str(target_column):
        raise ValueError(f"--source-column and --target-column must name two columns, got {source_column!r} for "
                         f"both (a model that copies its input).")
    path = _existing(path, argument)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{argument}: {path} must end in one of {sorted(TABLE_SUFFIXES)}, got {suffix or 'none'!r}.")
    if suffix == ".parquet":
        try:
            table = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises its own types for a file that is not Parquet
            raise ValueError(f"{argument}: {path} is not a readable Parquet file ({e}).") from None
    else:
        read_lines(path, argument)  # names the line of a byte that is not UTF-8
        try:
            table = pd.read_csv(path, sep=TABLE_SUFFIXES[suffix], dtype=str, keep_default_na=False,
                                header=None if by_position else "infer",
                                quoting=csv.QUOTE_NONE if suffix != ".csv" else csv.QUOTE_MINIMAL,
                                encoding="utf-8-sig")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise ValueError(f"{argument}: {path} is not a well-formed table ({str(e).strip()}).") from None
    if by_position:
        source_column, target_column = int(source_column), int(target_column)
        table.columns = range(len(table.columns))
    missing = [c for c in (source_column, target_column) if c not in table.columns]
    if missing:
        raise ValueError(
            f"{argument}: {path} has no column {', '.join(map(repr, missing))}; it has "
            f"{', '.join(map(repr, map(str, table.columns)))} (choose with --source-column/--target-column)."
        )
    sources = table[source_column].fillna("").astype(str).tolist()
    targets = table[target_column].fillna("").astype(str).tolist()
    if not by_position:  # tables joined with their headers: the header would become a training pair
        repeated = [i + 2 for i, pair in enumerate(zip(sources, targets)) if pair == (source_column, target_column)]
        if repeated:
            raise ValueError(f"{argument}: {path} repeats its header row at line "
                             f"{', '.join(map(str, repeated[:5]))}{' ...' if len(repeated) > 5 else ''} (tables "
                             f"joined with their headers?); remove it.")
    return _clean(sources, targets, [file_record(path, len(table))])


def read_aligned(source_file, target_file):
    """Sentence pairs from two text files with one sentence per line, aligned by line."""
    sources = read_lines(source_file, "--source-file")
    targets = read_lines(target_file, "--target-file")
    if len(sources) != len(targets):
        raise ValueError(
            f"--source-file {source_file} has {len(sources)} lines but --target-file {target_file} has "
            f"{len(targets)}: aligned files need one sentence per line on both sides."
        )
    files = [file_record(source_file, len(sources)), file_record(target_file, len(targets))]
    return _clean(sources, targets, files)


def split_pairs(pairs, seed, fraction=HELD_OUT_FRACTION):
    """`(train, val, test)`: `fraction` of the pairs each for val and test (at
    least one each), chosen by a permutation seeded with `seed`."""
    n = len(pairs.sources)
    held = max(1, round(n * fraction))
    if n < 2 * held + 1:
        raise ValueError(f"{n} sentence pairs are too few to hold out validation and test pairs; give at least 3.")
    order = np.random.default_rng(seed).permutation(n)
    parts = order[:held], order[held : 2 * held], order[2 * held :]

    def take(index):
        return Pairs([pairs.sources[i] for i in index], [pairs.targets[i] for i in index], pairs.files)

    test, val, train = (take(np.sort(p)) for p in parts)
    return train, val, test


def read_image_captions(images, captions, argument="--captions"):
    """`({split: [(image path, [captions])]}, file records, missing names)`
    from a folder of images and a captions file (a CSV with header
    `image,caption`, or Flickr8k's `name.jpg#k<TAB>caption` lines).

    The split is Flickr8k's rule, by a hash of each image's file name (82 / 9 /
    9 % train / val / test), so an image keeps its split when files are added.
    Images the captions file names but the folder lacks are left out and
    returned (the recipe counts and lists them); none at all is an error.
    """
    from zoo.data.flickr8k import read_captions, split_of

    images, captions_path = Path(images), _existing(captions, argument)
    if not images.is_dir():
        raise FileNotFoundError(f"--images: {images} is not a directory.")
    read_lines(captions_path, argument)  # names the line of a byte that is not UTF-8
    named = read_captions(captions_path)
    missing = sorted(name for name in named if not (images / name).is_file())
    if len(missing) == len(named):
        raise ValueError(f"{argument}: none of the {len(named)} images {captions_path} names is in {images} "
                         f"(e.g. {missing[0]!r}).")
    splits = {"train": [], "val": [], "test": []}
    for name in sorted(set(named) - set(missing)):
        splits[split_of(name)].append((str(images / name), named[name]))
    rows = sum(len(c) for c in named.values())
    return splits, [file_record(captions_path, rows)], missing


def translation_files(train_file="", source_column="source", target_column="target", source_file="",
                      target_file="", val_file="", test_file="", seed=0):
    """`(train, val, test, data)` for the translation recipe's own-data flags:
    `Pairs` from a table (`train_file`) or two aligned files, with `val_file`
    and `test_file` as given or else a seeded split (`split_pairs`); `data`
    describes them for the model card (`pair`, `files`, `split`, `train`, `test`)."""
    if train_file:
        pairs = read_pairs(train_file, source_column, target_column)
    else:
        pairs = read_aligned(source_file, target_file)
    print(f"{len(pairs.sources)} sentence pairs from {', '.join(f['name'] for f in pairs.files)}"
          f" ({pairs.dropped} with an empty side dropped)")
    if val_file:
        train = pairs
        val, test = (read_pairs(f, source_column, target_column, argument=a)
                     for f, a in ((val_file, "--val-file"), (test_file, "--test-file")))
        split = "as given"
    else:
        train, val, test = split_pairs(pairs, seed)
        split = f"seeded split (--seed {seed}): {HELD_OUT_FRACTION:.0%} each held out for val and test"
    data = {
        "pair": OWN_FILES + ", ".join(f["name"] for f in pairs.files),
        "files": {"train": pairs.files, "val": val.files, "test": test.files},
        "split": split,
        "train": f"{len(train.sources)} pairs ({pairs.dropped} with an empty side dropped)",
        "test": f"{len(test.sources)} pairs",
    }
    return train, val, test, data


@dataclasses.dataclass
class Text:
    """A text to score (`zoo.tasks.text_generation.evaluate`) and its name."""

    name: str
    text: str


def held_out(card, split, keys, rebuild):
    """The `split` of the user's files a model was trained on, rebuilt from the
    paths and flags its card records (relative paths: from where the recipe
    ran), once each file's sha256 matches the card's. `keys`: the card's config
    keys that name the files; `rebuild() -> (part, found, recorded)` splits
    them as the task's recipe did (`found`, `recorded`: the file records of
    the files read and of the card). A missing or changed file is a
    ValueError naming it. Each task's `held_out` calls this."""
    config, data = card.get("config") or {}, card.get("data") or {}
    named = (data.get("pair") or data.get("corpus") or data.get("dataset"))[len(OWN_FILES):]
    where = ("(the path its card records, from where its recipe ran), which is not {} here; run from that "
             "directory, or score it with zoo.evaluate on your data.")
    for path in named_paths(config, keys):
        if not Path(path).is_file():
            raise ValueError(f"the model was trained on {named}: scoring it rebuilds its {split} split from {path} "
                             + where.format("a file"))
    part, found, recorded = rebuild()
    here = {f["name"]: f["sha256"] for f in found}
    for record in recorded:
        if here.get(record["name"]) != record["sha256"]:
            raise ValueError(f"{record['name']} is not the file the model was trained on: its card records sha256 "
                             f"{record['sha256'][:12]}..., the file here has {here.get(record['name'], '?')[:12]}...")
    return part
