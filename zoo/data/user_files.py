"""A user's own files as training data: sentence-pair tables, aligned text
files and plain texts, each checked with errors that name the file and line.

Translation pairs come from a table (TSV or CSV, every row with as many
fields as the header; or Parquet, whose chosen columns must hold strings;
columns `source` and `target` unless told otherwise; numbers such as `1` and
`0` choose columns by position in a file without a header row, as in the
Tatoeba `spa.txt`: `.txt` tables are tab-separated) or from two aligned text
files with one sentence per line. Lines end at "\\n" (or "\\r\\n") only: a
form feed or U+2028 is part of its line, a lone "\\r" is refused. Rows whose
source or target is empty or only whitespace are dropped and counted.
Without separate validation and test files, `split_pairs` holds out a seeded
5% for each (at least one pair each).

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
import io
from pathlib import Path

import numpy as np

from zoo.data.flickr8k import read_captions, split_of
from zoo.io import data_files, named_paths
from zoo.tasks import OWN_FILES

TABLE_SUFFIXES = {".tsv": "\t", ".tab": "\t", ".txt": "\t", ".csv": ",", ".parquet": None}
SPLIT_HINT = ("a tab-separated field is read as written, quotes included: it cannot hold a tab",
              "a field that holds a comma must be in double quotes")
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


def _decoded(path, argument):
    """The UTF-8 text of a file (a leading byte order mark dropped); bytes that
    are not UTF-8 are a ValueError naming the file and the line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(f"{argument}: {path} line {line} is not UTF-8 text (byte {data[e.start]:#04x}).") from None
    return text.removeprefix("\ufeff")


def _split_lines(text, path, argument):
    """The lines of `text`, ended by "\\n" alone (a "\\r" before it dropped).

    Python's `str.splitlines` also ends a line at form feeds, U+2028 and other
    separators, which would shift the lines of one aligned file against the
    other: they stay part of their line here. A carriage return without a
    line feed after it ends no line either, and is refused, naming the line:
    the file was meant to be read some other way (old Mac line ends) or holds
    two lines in one."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    lone = next((number for number, line in enumerate(lines, 1) if "\r" in line), None)
    if lone is not None:
        raise ValueError(f"{argument}: {path} line {lone} holds a carriage return (\\r) without a line feed after "
                         f"it; lines must end in \\n or \\r\\n.")
    return lines


def read_lines(path, argument="file"):
    """The lines of a UTF-8 text file (no line ends), ended by "\\n" alone
    (see `_split_lines`); bytes that are not UTF-8 and lone carriage returns
    are a ValueError naming the file and the line."""
    path = _existing(path, argument)
    return _split_lines(_decoded(path, argument), path, argument)


def read_text(paths, argument="--text-file"):
    """The concatenated UTF-8 text of one or more files, line ends made "\\n"
    (bytes that are not UTF-8 are a ValueError naming the file and the line)."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ValueError(f"{argument}: no file given.")
    texts = (_decoded(_existing(path, argument), argument) for path in paths)
    text = "\n".join(t.replace("\r\n", "\n").replace("\r", "\n") for t in texts)
    if not text.strip():
        raise ValueError(f"{argument}: {', '.join(map(str, paths))} hold no text.")
    return text


def _clean(sources, targets, files):
    """Drops pairs with an empty or whitespace-only side."""
    keep = [(s.strip(), t.strip()) for s, t in zip(sources, targets) if s.strip() and t.strip()]
    dropped = len(sources) - len(keep)
    return Pairs([s for s, _ in keep], [t for _, t in keep], files, dropped)


def _delimited(path, suffix, by_position, argument):
    """`(header, columns, line numbers of the rows)` of a TSV or CSV file:
    lines ended by "\\n" alone (see `_split_lines`), blank ones skipped, every
    row with as many fields as the header (or, by position, as the first row).
    CSV fields may be quoted; TSV fields are read as written, quotes included."""
    text = "\n".join(read_lines(path, argument)) + "\n"
    quoting = csv.QUOTE_MINIMAL if suffix == ".csv" else csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=TABLE_SUFFIXES[suffix], quoting=quoting, strict=True)
    header, rows, numbers, end = None, [], [], 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num  # a quoted CSV field may span lines
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header = [str(i) for i in range(len(row))] if by_position else row
                if not by_position:
                    continue
            if len(row) != len(header):
                raise ValueError(f"{argument}: {path} line {start} has {len(row)} field{'s' * (len(row) != 1)}, "
                                 f"not the {len(header)} of its {'first row' if by_position else 'header'} "
                                 f"({SPLIT_HINT[suffix == '.csv']}).")
            rows.append(row)
            numbers.append(start)
    except csv.Error as e:
        raise ValueError(f"{argument}: {path} line {reader.line_num} is not a well-formed row ({e}).") from None
    if header is None:
        raise ValueError(f"{argument}: {path} is not a table: it holds no rows.")
    return header, [list(column) for column in zip(*rows)] if rows else [[] for _ in header], numbers


def _parquet(path, argument):
    """`(header, columns, row numbers)` of a Parquet file."""
    import pandas as pd  # Parquet only: pandas and pyarrow load when a Parquet file is read

    try:
        table = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises its own types for a file that is not Parquet
        raise ValueError(f"{argument}: {path} is not a readable Parquet file ({e}).") from None
    return [str(c) for c in table.columns], [table[c] for c in table.columns], range(1, len(table) + 1)


def _strings(column, name, path, argument):
    """The values of a Parquet column as str (nulls as ""); a ValueError naming
    the column and its dtype unless every other value is a str."""
    import pandas as pd  # Parquet only (above)

    def null(value):
        return value is None or value is pd.NA or (isinstance(value, float) and value != value)

    values = column.tolist()
    for row, value in enumerate(values, 1):
        if not isinstance(value, str) and not null(value):
            raise ValueError(f"{argument}: {path} column {name!r} (dtype {column.dtype}) holds "
                             f"{type(value).__name__} values, not strings: row {row} is {value!r:.60}; store the "
                             f"sentences as strings.")
    return ["" if null(v) else v for v in values]


def read_pairs(path, source_column="source", target_column="target", argument="--train-file"):
    """Sentence pairs from a TSV, CSV or Parquet table (by the file's suffix).
    Two column numbers (`"1"`, `"0"`) read a table without a header row by position.

    A row with another number of fields than the header, a column named
    twice, a carriage return without a line feed and a Parquet column that
    does not hold strings are ValueErrors naming the file and the line or
    column: none of them is guessed into pairs."""
    by_position = all(str(c).isdigit() for c in (source_column, target_column))
    if str(source_column) == str(target_column):
        raise ValueError(f"--source-column and --target-column must name two columns, got {source_column!r} for "
                         f"both (a model that copies its input).")
    path = _existing(path, argument)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{argument}: {path} must end in one of {sorted(TABLE_SUFFIXES)}, got {suffix or 'none'!r}.")
    if suffix == ".parquet":
        header, columns, numbers = _parquet(path, argument)
    else:
        header, columns, numbers = _delimited(path, suffix, by_position, argument)
    names = [str(i) for i in range(len(header))] if by_position else header
    wanted = [int(c) if by_position else c for c in (source_column, target_column)]
    missing = [c for c in wanted if str(c) not in names]
    if missing:
        raise ValueError(
            f"{argument}: {path} has no column {', '.join(map(repr, missing))}; it has "
            f"{', '.join(map(repr, names))} (choose with --source-column/--target-column)."
        )
    twice = next((c for c in wanted if names.count(str(c)) > 1), None)
    if twice is not None:
        raise ValueError(f"{argument}: {path} names column {twice!r} twice in its header; rename one of them.")
    sources, targets = (columns[names.index(str(c))] for c in wanted)
    if suffix == ".parquet":
        sources, targets = (_strings(column, c, path, argument) for column, c in zip((sources, targets), wanted))
    if not by_position:  # tables joined with their headers: the header would become a training pair
        repeated = [n for n, *pair in zip(numbers, sources, targets) if pair == [source_column, target_column]]
        if repeated:
            where = "row" if suffix == ".parquet" else "line"
            raise ValueError(f"{argument}: {path} repeats its header row at {where} "
                             f"{', '.join(map(str, repeated[:5]))}{' ...' if len(repeated) > 5 else ''} (tables "
                             f"joined with their headers?); remove it.")
    return _clean(sources, targets, [file_record(path, len(sources))])


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
    A name that leads outside the folder (`../x.jpg`, an absolute path, a
    symlink leading out) is an error naming the file, line and image.
    """
    images, captions_path = Path(images), _existing(captions, argument)
    if not images.is_dir():
        raise FileNotFoundError(f"--images: {images} is not a directory.")
    read_lines(captions_path, argument)  # names the line of a byte that is not UTF-8, or of a lone \r
    named = read_captions(captions_path, images)
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
        if not data_files(path):  # a file, or a directory or glob of shards (--input streaming)
            raise ValueError(f"the model was trained on {named}: scoring it rebuilds its {split} split from {path} "
                             + where.format("a file"))
    part, found, recorded = rebuild()
    here = {f["name"]: f["sha256"] for f in found}
    for record in recorded:
        if here.get(record["name"]) != record["sha256"]:
            raise ValueError(f"{record['name']} is not the file the model was trained on: its card records sha256 "
                             f"{record['sha256'][:12]}..., the file here has {here.get(record['name'], '?')[:12]}...")
    return part
