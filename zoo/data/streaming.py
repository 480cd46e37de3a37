"""Sentence pairs streamed from files bigger than memory (the translation
recipe's `--input streaming`).

Two steps. `scan` reads the files once in Python and keeps no more than two
bounded samples: every row is checked as `zoo.data.user_files` checks it (a
malformed row is a ValueError naming the file and the line), the pairs of
each file are counted, and two seeded samples are drawn by reservoir
sampling: the pairs held out for validation and test (5%, at most
`HELD_OUT_CAP` each) and, from the rest, the pairs the tokenizers are
learned on (at most `sample`). What it finds is a `Corpus`, small enough to
keep as JSON in the run directory, so that the other workers and a resumed
run read it instead of the files.

`pair_batches` then reads the files again with tf.data, every epoch:

    this input pipeline's files, in an order drawn from (seed, epoch)
      -> lines, interleaved over files             key int64, line string
      -> rows parsed, sides stripped; pairs with an empty side and the
         held-out pairs dropped                    key, source, target strings
      -> every `pipelines`-th pair, when the pipelines share the lines
      -> shuffled in a bounded buffer, seeded by (seed, epoch)
      -> SentencePiece ids (in the graph), cut to `max_length`, EOS last,
         BOS first on targets                      source [s], target [t] int32
      -> batches of pairs of similar length, padded
                                                   ((source [b, s], target_in [b, t-1]), target_out [b, t-1])
      -> the epoch's `steps` (times the replicas this pipeline feeds)

The ids, padding and bucketing are those `zoo.data.pipeline` gives the same
pairs in memory, so the model and its loss are unchanged. A pair is
identified by its key: its line's index in its file (its row's, in
Parquet), counted from 0, plus the lines of the files before it.

Several workers: `distribute` gives each worker its own pipeline through
`strategy.distribute_datasets_from_function`. Whole files are split among
the pipelines when there are at least as many files and the split is even
(the smallest share within 1% of the largest), lines otherwise; either way
each pair is read by one pipeline, once per epoch. An epoch is as many
steps as the smallest share fills (`epoch_steps`), the same on every
worker; the few pairs left in a longer share or in the buckets' last
batches wait for the next epoch's order.
"""

import csv
import dataclasses
import gzip
import hashlib
import itertools
import json
import math
import re
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.data.pipeline import BOUNDARIES, length_batches
from zoo.data.tokenizers import BOS, EOS
from zoo.data.user_files import HELD_OUT_FRACTION, SPLIT_HINT, read_pairs
from zoo.io import data_files, sha256
from zoo.tasks import OWN_FILES

VOCABULARY_SAMPLE = 100_000  # pairs the tokenizers are learned on, at most
HELD_OUT_CAP = 3_000  # pairs held out each for val and test, at most (5% of a corpus, up to this)
SHUFFLE_BUFFER = 50_000  # pairs
READ_BATCH = 1024  # lines parsed and tokenized together in the graph
CYCLE = 4  # files read at once, their lines interleaved
EVEN = 0.99  # whole files are split among workers when the smallest share is at least this part of the largest

TABLES = {".tsv": "\t", ".tab": "\t", ".txt": "\t", ".csv": ","}
# What Python's str.strip() strips (str.isspace), in RE2's syntax: the graph strips the same characters.
SPACE = r"[\s\x0b\x1c-\x1f\x{85}\p{Z}]"
STRIP = f"^{SPACE}+|{SPACE}+$"
# A CSV row tf.io.decode_csv reads as Python's csv module does: a field with a double quote is quoted whole.
CSV_ROW = re.compile(r'(?:"(?:[^"]|"")*"|[^",]*)(?:,(?:"(?:[^"]|"")*"|[^",]*))*')


INPUTS = ("auto", "memory", "streaming")
AUTO_BYTES = 16 * 2**20  # training files above this many bytes are streamed by --input auto


def choose_input(specs, asked="auto", threshold=AUTO_BYTES):
    """`(input, reason)`: how the translation recipe reads the training files
    `specs` (its flags' values, "" for none): "memory" (`zoo.data.user_files`,
    one plain file, or two aligned ones) or "streaming" (this module).
    `asked` "auto" streams files of more than `threshold` bytes in all, and
    what only streaming reads (a directory, a glob, .gz files)."""
    if asked not in INPUTS:
        raise ValueError(f"--input must be one of {INPUTS}, got {asked!r}.")
    specs = [str(s) for s in specs if s]
    if not specs:
        raise ValueError("`specs` names no training file.")
    whole = all(Path(s).is_file() and not s.lower().endswith(".gz") for s in specs)
    if asked == "memory" and not whole:
        raise ValueError(f"--input memory reads a single plain file (or two aligned ones), got {', '.join(specs)}; a "
                         f"directory, a glob or .gz files are streamed (--input streaming or auto).")
    if asked != "auto":
        return asked, f"--input {asked}"
    if not whole:
        return "streaming", "--input auto: a directory, a glob or .gz files"
    size = sum(Path(s).stat().st_size for s in specs)
    above = size > threshold
    return ("streaming" if above else "memory"), (f"--input auto: {size / 2**20:,.1f} MiB of training files, "
                                                   f"{'above' if above else 'at most'} {threshold / 2**20:,.0f} MiB")


# -- the first pass ---------------------------------------------------------------


@dataclasses.dataclass
class Corpus:
    """What `scan` found in a corpus: where each file's pairs are, how many,
    and the held-out pairs; not the pairs themselves.

    Attributes:
        kind: "\\t" or "," (a table of delimited lines), "parquet", or
            "aligned" (a source file and a target file, a sentence a line).
        files: per file, `{"path"}` (a str; [source, target] when aligned),
            `"compression"` ("" or "GZIP"), `"lines"` (rows, in Parquet),
            `"skip"` (lines before its first row of pairs: the header),
            `"pairs"` (pairs kept, held-out ones included) and `"held"`.
        columns: a table's `[source index, target index, fields per row]`;
            Parquet's `[source name, target name]`; [] when aligned.
        held_out: the sorted keys of the pairs held out for val and test.
        val, test: `[sources, targets]`.
        records: `{"name", "rows", "sha256"}` per training file, for the card.
        val_records, test_records: the same, of the files val and test come from.
        dropped: rows with an empty side.
        split: how val and test were chosen, for the card.
        sample: `(sources, targets)` to learn the tokenizers on (not saved).
    """

    kind: str
    files: list
    columns: list
    held_out: list
    val: list
    test: list
    records: list
    val_records: list
    test_records: list
    dropped: int
    split: str
    sample: tuple = ((), ())

    @property
    def offsets(self):
        """The key of each file's first line: the lines of the files before it."""
        return np.cumsum([0] + [f["lines"] for f in self.files[:-1]]).tolist()

    @property
    def counts(self):
        """The training pairs of each file (its pairs but the held-out ones)."""
        return [f["pairs"] - f["held"] for f in self.files]

    @property
    def train_pairs(self):
        return sum(self.counts)

    def card(self):
        """The model card's `data` for this corpus."""
        names = [r["name"] for r in self.records]
        return {
            "pair": OWN_FILES + (", ".join(names) if len(names) <= 3 else f"{names[0]}, ... ({len(names)} files)"),
            "files": {"train": self.records, "val": self.val_records, "test": self.test_records},
            "split": self.split,
            "train": f"{self.train_pairs} pairs ({self.dropped} with an empty side dropped)",
            "test": f"{len(self.test[0])} pairs",
            "input": "streaming",
        }

    def to_json(self):
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sample"}
        return json.dumps(fields, ensure_ascii=False)

    @classmethod
    def from_json(cls, text, where="corpus"):
        """The `Corpus` of a `to_json` text; anything else is a ValueError naming `where`."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "sample"]
        try:
            fields = json.loads(text)
            return cls(**{name: fields[name] for name in names})
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{where} is not a streamed corpus's description ({type(e).__name__}: {e}).") from None

    @classmethod
    def check(cls, data, where):
        """`from_json` of a file's bytes (for `zoo.training.read_run_file`)."""
        return cls.from_json(bytes(data).decode("utf-8"), where)


class Reservoir:
    """A seeded uniform sample of at most `size` items of a stream of unknown
    length (Li's Algorithm L: random numbers are drawn for the items taken,
    not for every item seen). Offer the `n`-th item (from 0) only when
    `n == reservoir.next`; `items` holds `(n, item)`.

    >>> reservoir = Reservoir(3, np.random.default_rng(0))
    >>> for n in range(1000):
    ...     if n == reservoir.next:
    ...         reservoir.take(n, n * n)
    >>> len(reservoir.items), all(item == n * n for n, item in reservoir.items)
    (3, True)
    """

    def __init__(self, size, rng):
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"`size` must be a non-negative integer, got {size!r}.")
        self.size, self.rng, self.items, self._uniforms = size, rng, [], []
        self.next = 0 if size else math.inf
        self._w = math.exp(math.log(self._uniform()) / size) if size else 0.0

    def _uniform(self):
        """A uniform number in (0, 1] (its log is finite), drawn 4096 at a time."""
        if not self._uniforms:
            self._uniforms = (1.0 - self.rng.random(4096)).tolist()
        return self._uniforms.pop()

    def take(self, n, item):
        if len(self.items) < self.size:
            self.items.append((n, item))
            self.next = n + 1
        else:
            self.items[min(int(self._uniform() * self.size), self.size - 1)] = (n, item)
        if len(self.items) == self.size:  # the gap to the next item taken, and the weight after it
            gap = math.floor(math.log(self._uniform()) / math.log1p(-self._w)) if self._w < 1 else 0
            self.next = n + 1 + gap
            self._w *= math.exp(math.log(self._uniform()) / self.size)


def files_of(spec, argument):
    """The files `spec` (a file, a directory of shards or a glob) names, or a
    FileNotFoundError naming `argument`."""
    files = data_files(spec)
    if not files:
        kind = "directory holds no files" if Path(spec).is_dir() else "matches no file" if any(
            c in str(spec) for c in "*?[") else "is not a file"
        raise FileNotFoundError(f"{argument}: {spec} {kind}.")
    return files


def table_format(path, argument):
    """`(kind, compression)` of a table by its name: `("\\t" or ",", "" or
    "GZIP")`, or `("parquet", "")`; a ValueError for any other name."""
    name = path.name.lower()
    compression = "GZIP" if name.endswith(".gz") else ""
    suffix = Path(name.removesuffix(".gz")).suffix
    if suffix == ".parquet" and not compression:
        return "parquet", ""
    if suffix in TABLES:
        return TABLES[suffix], compression
    raise ValueError(f"{argument}: {path} must end in one of {sorted(TABLES) + ['.parquet']} (the tables also "
                     f"with .gz), got {''.join(path.suffixes[-2:]) or 'none'!r}.")


def _blocks(path, compression, argument, seen, size=1 << 23):
    """Yields `(index of its first line, lines)` of a UTF-8 text file (gzip
    if `compression`) read `size` bytes at a time, line ends dropped: lines
    end at "\\n" (or "\\r\\n") alone, as `zoo.data.user_files` reads them;
    a leading byte order mark is dropped. Bytes that are not UTF-8 and a
    carriage return without a line feed are a ValueError naming the file
    and the line. Sets `seen["lines"]` and, of a plain file, `seen["sha256"]`."""
    index, rest, digest = 0, b"", None if compression else hashlib.sha256()
    try:
        with (gzip.open if compression else open)(path, "rb") as f:
            while True:
                chunk = f.read(size)
                if digest:
                    digest.update(chunk)
                data = rest + chunk
                cut = data.rfind(b"\n") + 1 if chunk else len(data)  # the last block: the line without "\n" too
                data, rest = data[:cut], data[cut:]
                if data:
                    lines = _decoded(data, path, index, argument).split("\n")
                    if data.endswith(b"\n"):
                        lines.pop()
                    if index == 0:
                        lines[0] = lines[0].removeprefix("\ufeff")
                    yield index, lines
                    index += len(lines)
                if not chunk:
                    break
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise ValueError(f"{argument}: {path} is not a complete gzip file (after line {index}: {e}).") from None
    seen["lines"] = index
    if digest:
        seen["sha256"] = digest.hexdigest()


def _decoded(data, path, index, argument):
    """The text of a block of whole lines, "\\r" dropped before "\\n"; errors name the line (`index`: the first's)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = index + data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{argument}: {path} line {line} is not UTF-8 text (byte {data[e.start]:#04x}).") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if text.endswith("\r"):  # the file's last line, without "\n"
            text = text[:-1]
        if "\r" in text:
            line = index + text.count("\n", 0, text.index("\r")) + 1
            raise ValueError(f"{argument}: {path} line {line} holds a carriage return (\\r) without a line feed "
                             f"after it; lines must end in \\n or \\r\\n.")
    return text


def _fields(line, delimiter, path, index, argument):
    if delimiter == "\t" or '"' not in line:
        return line.split(delimiter)
    if not CSV_ROW.fullmatch(line):
        raise ValueError(f"{argument}: {path} line {index + 1} is not a row the streaming reader reads: a field "
                         f"that holds a double quote must be quoted whole (\"...\", a quote inside written twice), "
                         f"and a quoted field cannot span lines.")
    return next(csv.reader([line]))


def _columns(names, source_column, target_column, by_position, path, argument):
    """The indices of the two columns in a header (`names`), or the ValueErrors of `read_pairs`."""
    wanted = [str(c) for c in (source_column, target_column)]
    names = [str(i) for i in range(len(names))] if by_position else names
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValueError(f"{argument}: {path} has no column {', '.join(map(repr, missing))}; it has "
                         f"{', '.join(map(repr, names))} (choose with --source-column/--target-column).")
    twice = next((c for c in wanted if names.count(c) > 1), None)
    if twice is not None:
        raise ValueError(f"{argument}: {path} names column {twice!r} twice in its header; rename one of them.")
    return [names.index(c) for c in wanted]


def _same_layout(layout, path, what, found, argument):
    """Holds every file of a corpus to the first file's columns (`layout`)."""
    if not layout:
        layout.update(first=path, what=found)
    elif found != layout["what"]:
        raise ValueError(f"{argument}: {path} has {what} {found}, unlike {layout['first']} ({layout['what']}): the "
                         f"files of one corpus share their columns.")


def _table_rows(path, delimiter, compression, source_column, target_column, by_position, layout, seen, argument):
    """Yields lists of `(index, source, target)`, a delimited table's rows
    (blank lines skipped), checked; `seen["skip"]`: the lines up to its header."""
    header, width, seen["skip"] = None, 0, 0
    source_name, target_name = str(source_column), str(target_column)
    for first, lines in _blocks(path, compression, argument, seen):
        rows = []
        for index, line in enumerate(lines, first):
            fields = line.split(delimiter)
            if len(fields) != width or header is None or (delimiter == "," and '"' in line):  # the slow path
                if not line.strip():
                    continue
                fields = _fields(line, delimiter, path, index, argument)
                if header is None:
                    header = [str(i) for i in range(len(fields))] if by_position else fields
                    width, (si, ti) = len(header), _columns(header, source_column, target_column, by_position,
                                                             path, argument)
                    if by_position:
                        _same_layout(layout, path, "fields in its first row", width, argument)
                    else:
                        _same_layout(layout, path, "the header", header, argument)
                        seen["skip"] = index + 1
                        continue
                if len(fields) != width:
                    raise ValueError(f"{argument}: {path} line {index + 1} has {len(fields)} field"
                                     f"{'s' * (len(fields) != 1)}, not the {width} of its "
                                     f"{'first row' if by_position else 'header'} ({SPLIT_HINT[delimiter == ',']}).")
            if fields[si] == source_name and fields[ti] == target_name and not by_position:
                raise ValueError(f"{argument}: {path} repeats its header row at line {index + 1} (tables joined "
                                 f"with their headers?); remove it.")
            rows.append((index, fields[si], fields[ti]))
        yield rows
    if header is None:
        raise ValueError(f"{argument}: {path} is not a table: it holds no rows.")
    layout["columns"] = [si, ti, width]


def _parquet_rows(path, source_column, target_column, by_position, layout, seen, argument):
    """Yields lists of `(index, source, target)`, a Parquet table's rows read
    in record batches (nulls as ""); the chosen columns must hold strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises its own types for a file that is not Parquet
        raise ValueError(f"{argument}: {path} is not a readable Parquet file ({e}).") from None
    names = table.schema_arrow.names
    chosen = [names[i] for i in _columns(names, source_column, target_column, by_position, path, argument)]
    for name in chosen:
        kind = table.schema_arrow.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
            raise ValueError(f"{argument}: {path} column {name!r} holds {kind} values, not strings; store the "
                             f"sentences as strings.")
    _same_layout(layout, path, "the chosen columns", chosen, argument)
    layout["columns"], seen["skip"], index = chosen, 0, 0
    for batch in table.iter_batches(batch_size=65536, columns=chosen):
        rows = [(index + i, source or "", target or "") for i, (source, target) in
                enumerate(zip(*(batch.column(c).to_pylist() for c in (0, 1))))]
        header = next((i for i, s, t in rows if s == str(source_column) and t == str(target_column)), None)
        if header is not None and not by_position:
            raise ValueError(f"{argument}: {path} repeats its header row at row {header + 1} (tables joined "
                             f"with their headers?); remove it.")
        index += len(rows)
        yield rows
    seen["lines"] = index


def _aligned_rows(source_path, target_path, seen):
    """Yields lists of `(index, source, target)` of two aligned text files, line by line."""
    counts = {"source": {}, "target": {}}
    sources, targets = (itertools.chain.from_iterable(lines for _, lines in _blocks(
        path, _gzip(path), f"--{side}-file", counts[side])) for path, side in ((source_path, "source"),
                                                                             (target_path, "target")))
    rows = zip(itertools.count(), sources, targets)
    while block := list(itertools.islice(rows, 65536)):
        yield block
    for rest in (sources, targets):  # the longer file's other lines
        for _ in rest:
            pass
    if counts["source"]["lines"] != counts["target"]["lines"]:
        raise ValueError(f"--source-file {source_path} has {counts['source']['lines']} lines but --target-file "
                         f"{target_path} has {counts['target']['lines']}: aligned files need one sentence per line "
                         f"on both sides.")
    seen.update(lines=counts["source"]["lines"], skip=0, sha256=[counts[side].get("sha256") for side in counts])


def _gzip(path):
    return "GZIP" if Path(path).name.lower().endswith(".gz") else ""


def _record(path, rows, names, digest=None):
    return {"name": str(path) if names.count(Path(path).name) > 1 else Path(path).name, "rows": rows,
            "sha256": digest or sha256(path)}


def scan(train_file="", source_column="source", target_column="target", source_file="", target_file="",
         val_file="", test_file="", seed=0, sample=VOCABULARY_SAMPLE, held_out_cap=HELD_OUT_CAP):
    """The first pass over a corpus: its rows checked, its pairs counted,
    its held-out pairs and its tokenizers' sample drawn; returns a `Corpus`.

    Args:
        train_file: a table, a directory of tables or a glob (TSV, CSV, plain
            or .gz; or Parquet), every file with the columns of the first.
        source_column, target_column: the columns (numbers: by position, no header).
        source_file, target_file: instead, aligned text files (each a file,
            directory or glob; the i-th of one aligned with the i-th of the other).
        val_file, test_file: validation and test tables (read whole, as
            `read_pairs` reads them); without them, 5% of the pairs each, at
            most `held_out_cap`, drawn with `seed`.
        seed: the seed of the samples.
        sample: at most this many training pairs for the tokenizers.

    Raises:
        ValueError, FileNotFoundError: naming the argument, the file and the
            line (or row) of what is wrong, as `zoo.data.user_files` does.
    """
    if bool(train_file) == bool(source_file) or bool(source_file) != bool(target_file):
        raise ValueError("give `train_file`, or `source_file` and `target_file`.")
    if bool(val_file) != bool(test_file):
        raise ValueError("`val_file` and `test_file` go together.")
    for name, value in (("seed", seed), ("sample", sample), ("held_out_cap", held_out_cap)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}.")
    if str(source_column) == str(target_column):
        raise ValueError(f"--source-column and --target-column must name two columns, got {source_column!r} for "
                         f"both (a model that copies its input).")
    by_position = all(str(c).isdigit() for c in (source_column, target_column))
    layout = {}
    if train_file:
        paths = files_of(train_file, "--train-file")
        formats = [table_format(p, "--train-file") for p in paths]
        kind = formats[0][0]
        odd = next((p for p, f in zip(paths, formats) if f[0] != kind), None)
        if odd is not None:
            raise ValueError(f"--train-file: {odd} is not a table of the kind of {paths[0]}: the files of one corpus "
                             f"share a format.")
        files = [{"path": str(p), "compression": c} for p, (_, c) in zip(paths, formats)]

        def rows_of(i, seen):
            if kind == "parquet":
                return _parquet_rows(paths[i], source_column, target_column, by_position, layout, seen,
                                     "--train-file")
            return _table_rows(paths[i], kind, files[i]["compression"], source_column, target_column, by_position,
                               layout, seen, "--train-file")
    else:
        kind = "aligned"
        sides = [files_of(spec, arg) for spec, arg in ((source_file, "--source-file"), (target_file, "--target-file"))]
        if len(sides[0]) != len(sides[1]):
            raise ValueError(f"--source-file {source_file} names {len(sides[0])} files but --target-file "
                             f"{target_file} {len(sides[1])}: the i-th of each are aligned line by line.")
        paths = list(zip(*sides))
        files = [{"path": [str(s), str(t)], "compression": [_gzip(s), _gzip(t)]} for s, t in paths]

        def rows_of(i, seen):
            return _aligned_rows(*paths[i], seen)

    held = Reservoir(0 if val_file else 2 * held_out_cap, np.random.default_rng([seed, 1]))
    vocabulary = Reservoir(sample, np.random.default_rng([seed, 2]))
    kept = dropped = offset = 0
    digests = []
    for i, record in enumerate(files):
        seen, pairs = {}, 0
        for rows in rows_of(i, seen):
            for index, source, target in rows:
                if not source or not target or source.isspace() or target.isspace():  # str.strip() would be ""
                    dropped += 1
                    continue
                if kept == held.next:
                    held.take(kept, (offset + index, source.strip(), target.strip()))
                if kept == vocabulary.next:
                    vocabulary.take(kept, (offset + index, source.strip(), target.strip()))
                kept += 1
                pairs += 1
        record.update(lines=seen["lines"], skip=seen["skip"], pairs=pairs, held=0)
        offset += seen["lines"]
        digest = seen.get("sha256")
        digests += digest if isinstance(digest, list) else [digest]
    print(f"{kept} sentence pairs in {len(files)} file{'s' * (len(files) != 1)} ({dropped} with an empty side "
          f"dropped), read once to check and count them")

    if val_file:
        val, test = (read_pairs(f, source_column, target_column, argument=a)
                     for f, a in ((val_file, "--val-file"), (test_file, "--test-file")))
        held_keys, split = [], "as given"
        val_part, test_part, val_records, test_records = [val.sources, val.targets], [test.sources, test.targets], \
            val.files, test.files
    else:
        each = max(1, min(round(kept * HELD_OUT_FRACTION), held_out_cap))
        if kept < 2 * each + 1:
            raise ValueError(f"{kept} sentence pairs are too few to hold out validation and test pairs; give at "
                             f"least 3.")
        drawn = np.random.default_rng([seed, 3]).permutation(len(held.items))[: 2 * each]
        chosen = [held.items[i][1] for i in drawn]  # (key, source, target)
        test_items, val_items = sorted(chosen[:each]), sorted(chosen[each:])
        held_keys = sorted(key for key, _, _ in chosen)
        val_part, test_part = ([[s for _, s, _ in part], [t for _, _, t in part]] for part in (val_items, test_items))
        split = (f"seeded sample (--seed {seed}): {HELD_OUT_FRACTION:.0%} each held out for val and test, at most "
                 f"{held_out_cap} each")
        val_records = test_records = None
    offsets = np.cumsum([0] + [f["lines"] for f in files[:-1]])
    for key in held_keys:
        files[int(np.searchsorted(offsets, key, side="right")) - 1]["held"] += 1
    every = [p for f in files for p in ([f["path"]] if isinstance(f["path"], str) else f["path"])]
    names = [Path(p).name for p in every]
    rows = [f["lines"] - f["skip"] for f in files for _ in ([0] if isinstance(f["path"], str) else [0, 0])]
    records = [_record(p, n, names, d) for p, n, d in zip(every, rows, digests)]
    held_set = set(held_keys)
    taken = sorted(item for _, item in vocabulary.items if item[0] not in held_set)
    return Corpus(kind, files, layout.get("columns", []), held_keys, val_part, test_part, records,
                  val_records or records, test_records or records, dropped, split,
                  sample=([s for _, s, _ in taken], [t for _, _, t in taken]))


# -- the tf.data pipeline -----------------------------------------------------------


def input_pipelines(strategy):
    """The number of input pipelines `strategy` reads through: its workers
    (the chief and the workers of its cluster), else 1."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("chief", [])) + len(spec.get("worker", [])))


def plan(corpus, pipelines):
    """`(by, shares)`: how `pipelines` input pipelines share an epoch, by
    "files" (`shares[i]`: the indices of the files pipeline i reads, whole)
    or by "lines" (each reads every file and keeps every `pipelines`-th pair)."""
    counts = corpus.counts
    everything = list(range(len(counts)))
    if pipelines == 1:
        return "files", [everything]
    if len(counts) >= pipelines:
        loads, shares = [0] * pipelines, [[] for _ in range(pipelines)]
        for i in sorted(everything, key=lambda i: (-counts[i], i)):  # the largest file to the least loaded
            j = loads.index(min(loads))
            shares[j].append(i)
            loads[j] += counts[i]
        if min(loads) > 0 and min(loads) >= EVEN * max(loads):
            return "files", [sorted(share) for share in shares]
    return "lines", [everything] * pipelines


def epoch_steps(corpus, global_batch, pipelines=1):
    """The steps of an epoch: as many batches of `global_batch` pairs as the
    smallest pipeline's share fills (each pipeline gives `global_batch /
    pipelines` pairs a step). A ValueError when it fills none."""
    by, shares = plan(corpus, pipelines)
    counts = corpus.counts
    smallest = min(sum(counts[i] for i in share) for share in shares) if by == "files" else \
        corpus.train_pairs // pipelines
    steps = smallest // (global_batch // pipelines)
    if steps < 1:
        raise ValueError(f"the {corpus.train_pairs} training pairs fill no batch of {global_batch} pairs "
                         f"({pipelines} worker{'s' * (pipelines != 1)}); lower --batch-size.")
    return steps


def _strip(texts):
    return tf.strings.regex_replace(texts, STRIP, "")


def _held(keys, held_out):
    """Whether each of `keys` (int64 [n]) is among the sorted `held_out` (int64 [h])."""
    if held_out.shape[0] == 0:
        return tf.zeros_like(keys, tf.bool)
    at = tf.minimum(tf.searchsorted(held_out, keys), held_out.shape[0] - 1)
    return tf.equal(tf.gather(held_out, at), keys)


def _text_lines(path, compression):
    """The lines of a text file as `tf.data.TextLineDataset` reads them (a
    line ends at "\\n", a "\\r" before it dropped), the first without a
    leading byte order mark, as `scan` reads them."""
    lines = tf.data.TextLineDataset(path, compression_type=compression, buffer_size=1 << 20)
    return lines.take(1).map(lambda line: tf.strings.regex_replace(line, "^\ufeff", "")).concatenate(lines.skip(1))


def _reader(corpus):
    """`(read, parse)`: `read(file index)` -> a dataset of its lines as
    `(key, line)` (tables) or `(key, source, target)`; `parse(...)` of a
    batch of those -> `(keys, sources, targets)` of the pairs to train on."""
    files, offsets = corpus.files, tf.constant(corpus.offsets, tf.int64)
    held_out = tf.constant(corpus.held_out, tf.int64, shape=[len(corpus.held_out)])

    def kept(keys, sources, targets):
        sources, targets = _strip(sources), _strip(targets)
        keep = (tf.strings.length(sources) > 0) & (tf.strings.length(targets) > 0) & ~_held(keys, held_out)
        return tuple(tf.boolean_mask(x, keep) for x in (keys, sources, targets))

    if corpus.kind == "aligned":
        paths = [tf.constant([f["path"][side] for f in files]) for side in (0, 1)]
        kinds = [tf.constant([f["compression"][side] for f in files]) for side in (0, 1)]

        def read(i):
            sides = [_text_lines(paths[s][i], kinds[s][i]) for s in (0, 1)]
            return tf.data.Dataset.zip(tuple(sides)).enumerate().map(lambda n, st: (offsets[i] + n, st[0], st[1]))

        return read, kept

    if corpus.kind == "parquet":
        paths = tf.constant([f["path"] for f in files])
        names = list(corpus.columns)

        def batches(path):
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path.decode()).iter_batches(batch_size=READ_BATCH, columns=names):
                yield tuple(batch.column(c).fill_null("").to_numpy(zero_copy_only=False).astype(object)
                            for c in (0, 1))

        def read(i):
            rows = tf.data.Dataset.from_generator(batches, args=(paths[i],), output_signature=(
                tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)))
            return rows.unbatch().enumerate().map(lambda n, st: (offsets[i] + n, st[0], st[1]))

        return read, kept

    paths = tf.constant([f["path"] for f in files])
    kinds = tf.constant([f["compression"] for f in files])
    skips = tf.constant([f["skip"] for f in files], tf.int64)
    source, target, width = corpus.columns

    def read(i):
        lines = _text_lines(paths[i], kinds[i]).enumerate().skip(skips[i])
        return lines.map(lambda n, line: (offsets[i] + n, line))

    def parse(keys, lines):
        rows = tf.strings.length(_strip(lines)) > 0  # blank lines are no rows
        keys, lines = tf.boolean_mask(keys, rows), tf.boolean_mask(lines, rows)
        if corpus.kind == "\t":
            fields = tf.strings.split(lines, "\t").to_tensor("", shape=[None, width])
            columns = fields[:, source], fields[:, target]
        else:
            decoded = tf.io.decode_csv(lines, [""] * width, field_delim=",", use_quote_delim=True)
            columns = decoded[source], decoded[target]
        return kept(keys, *columns)

    return read, parse


def keyed_pairs(corpus, epoch, seed=0, pipeline=0, pipelines=1, shuffle_buffer=SHUFFLE_BUFFER):
    """The training pairs input pipeline `pipeline` of `pipelines` reads in
    epoch `epoch`, shuffled: `(key int64, source string, target string)`,
    stripped, as the tokenizers get them (see the module docstring)."""
    by, shares = plan(corpus, pipelines)
    order = np.random.default_rng([seed, epoch])
    files = order.permutation(shares[pipeline])  # lines: the same order in every pipeline
    read, parse = _reader(corpus)
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(files, np.int64))
    ds = ds.interleave(read, cycle_length=min(CYCLE, len(files)), num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=True)
    ds = ds.batch(READ_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if by == "lines":
        ds = ds.shard(pipelines, pipeline)
    return ds.shuffle(shuffle_buffer, seed=int(order.integers(2**31)))


def _ids(tokenizer, texts, max_length, add_bos):
    """SentencePiece ids of `texts` [n] -> ragged int32 [n, None], as
    `zoo.data.pipeline.encode` makes them: cut to `max_length` with EOS last
    (and BOS first)."""
    ids = tokenizer.tokenize(texts)
    head = [tf.fill([ids.nrows(), 1], BOS)] if add_bos else []
    ids = ids[:, : max(0, max_length - len(head) - 1)]
    ends = [tf.RaggedTensor.from_tensor(t) for t in (*head, tf.fill([ids.nrows(), 1], EOS))]
    return tf.concat([*ends[:-1], ids, ends[-1]], axis=1)


def _dense(source, target):
    """A pair unbatched from ragged ids (`RaggedTensorSpec([None])`) as plain 1-D tensors."""
    return tuple(x if isinstance(x, tf.Tensor) else x.flat_values for x in (source, target))


def pair_batches(corpus, protos, batch_size, max_length, seed=0, epochs=range(1), skip=0, steps=None, pipeline=0,
                 pipelines=1, replicas=1, shuffle_buffer=SHUFFLE_BUFFER, boundaries=BOUNDARIES):
    """The batches input pipeline `pipeline` of `pipelines` gives for
    `epochs`: `((source [b, s], target_in [b, t]), target_out [b, t])` int32,
    padded with 0, `b <= batch_size` pairs (a replica's batch).

    Args:
        corpus: a `Corpus` (`scan`).
        protos: the serialized SentencePiece models `(source, target)`.
        max_length: tokens per sentence, EOS (and the target's BOS) included.
        seed, epochs: epoch `e` is read in an order drawn from `(seed, e)`
            alone, so a run that resumes in a new process sees the batches it
            would have seen without stopping.
        skip: steps of the first epoch already trained (each `replicas` batches).
        steps: steps an epoch (default and at most: `epoch_steps`).
        replicas: the replicas this pipeline feeds (a step takes a batch each).
        shuffle_buffer: pairs shuffled together.
    """
    import tensorflow_text as tf_text

    for name, value, low in (("batch_size", batch_size, 1), ("max_length", max_length, 2), ("seed", seed, 0),
                             ("skip", skip, 0), ("pipelines", pipelines, 1), ("replicas", replicas, 1),
                             ("shuffle_buffer", shuffle_buffer, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}.")
    if not (isinstance(pipeline, (int, np.integer)) and 0 <= pipeline < pipelines):
        raise ValueError(f"`pipeline` must be an integer in [0, {pipelines}), got {pipeline!r}.")
    if len(protos) != 2:
        raise ValueError(f"`protos` must be the (source, target) SentencePiece models, got {len(protos)} items.")
    epochs = list(epochs)
    if not epochs:
        raise ValueError("`epochs` must name at least one epoch.")
    most = epoch_steps(corpus, batch_size * replicas * pipelines, pipelines)
    steps = most if steps is None else steps
    if not (isinstance(steps, (int, np.integer)) and 1 <= steps <= most):
        raise ValueError(f"`steps` must be an integer in [1, {most}] (the steps an epoch of {corpus.train_pairs} "
                         f"pairs holds), got {steps!r}.")
    if skip >= steps:
        raise ValueError(f"`skip` must be less than the {steps} steps of an epoch, got {skip}.")
    source_tokenizer, target_tokenizer = (tf_text.SentencepieceTokenizer(model=p, out_type=tf.int32) for p in protos)

    def tokenize(keys, sources, targets):
        return (_ids(source_tokenizer, sources, max_length, False), _ids(target_tokenizer, targets, max_length, True))

    stream = None
    for epoch in epochs:
        pairs = keyed_pairs(corpus, epoch, seed, pipeline, pipelines, shuffle_buffer)
        pairs = pairs.batch(READ_BATCH).map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).unbatch().map(_dense)
        one = length_batches(pairs, batch_size, boundaries, steps * replicas)
        stream = one if stream is None else stream.concatenate(one)
    return stream.skip(skip * replicas).prefetch(tf.data.AUTOTUNE)


def distribute(strategy, corpus, protos, global_batch, max_length, **options):
    """The training batches for `strategy`, what `fit` takes; `options`:
    those of `pair_batches` (`steps`, `skip`, ...).

    With several workers, each reads its own share and makes its replicas'
    batches (`strategy.distribute_datasets_from_function`). In one process,
    batches of `global_batch` pairs, which `fit` splits among the local
    replicas as it splits any dataset's: the replicas of a step then share
    a padded length (Keras builds the model from the first batch reduced
    over replicas, which needs that)."""
    pipelines = input_pipelines(strategy)
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(f"`global_batch` must be a multiple of the {replicas} replicas, got {global_batch}.")
    if pipelines == 1:
        return pair_batches(corpus, protos, global_batch, max_length, **options)

    def per_worker(context):
        if context.num_input_pipelines != pipelines:
            raise RuntimeError(f"the strategy reads through {context.num_input_pipelines} input pipelines, not "
                               f"the {pipelines} of its cluster.")
        return pair_batches(corpus, protos, context.get_per_replica_batch_size(global_batch), max_length,
                            pipeline=context.input_pipeline_id, pipelines=pipelines,
                            replicas=replicas // pipelines, **options)

    return strategy.distribute_datasets_from_function(per_worker)
