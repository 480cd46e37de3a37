"""The streaming input path (zoo/data/streaming.py): the first pass, the pairs
and batches it streams, how workers share them, resume, and bad rows."""

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import streaming, tokenizers
from zoo.data.pipeline import encode, translation_dataset
from zoo.data.user_files import read_aligned, read_pairs
from zoo.launch import launch

ROOT = Path(__file__).resolve().parents[2]
WORDS = "der die das ein Hund Ball rot blau spielt läuft im Park Katze Haus".split()


def sentences(rng, n, upper=False):
    return [" ".join(w.upper() if upper else w for w in rng.choice(WORDS, rng.integers(1, 14))) for _ in range(n)]


def write_shards(directory, sizes, header="source\ttarget", gz=(), seed=0, suffix=".tsv", lines=None):
    """Tables of `sizes` pairs each in `directory` (the shards named in `gz` compressed); returns their paths."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, size in enumerate(sizes):
        rows = lines[i] if lines else [f"{s}\t{t}" for s, t in zip(sentences(rng, size), sentences(rng, size, True))]
        data = ("\n".join(([header] if header else []) + rows) + "\n").encode()
        path = directory / f"part-{i:02d}{suffix}{'.gz' if i in gz else ''}"
        path.write_bytes(gzip.compress(data) if i in gz else data)
        paths.append(path)
    return paths


def pairs_of(ds):
    """`{key: (source, target)}` of a `keyed_pairs` dataset."""
    return {int(k): (s.decode(), t.decode()) for k, s, t in ds.as_numpy_iterator()}


def every_pair(corpus, epoch=0, pipelines=1, **options):
    return [pairs_of(streaming.keyed_pairs(corpus, epoch, pipeline=i, pipelines=pipelines, **options))
            for i in range(pipelines)]


@pytest.fixture(scope="module")
def protos():
    rng = np.random.default_rng(1)
    return tuple(tokenizers.train_sentencepiece(sentences(rng, 400, upper), 40) for upper in (False, True))


# -- what the first pass reads --------------------------------------------------------


MESSY = ("\ufeffsource\ttarget\nHallo.\tHello.\r\n\n  Zwei  \t Two \n \tEmpty.\nDrei\u3000\tThree\n"
         "\ufeffVier\tFour\nFünf\t\u3000\n   \nSechs \"quoted\"\tSix\n")


def test_streamed_pairs_are_those_the_in_memory_readers_read(tmp_path):
    """A byte order mark, \\r\\n, blank lines, sides of Unicode spaces, quotes
    in a TSV: the same pairs, in file order by key, as `read_pairs` keeps."""
    table = tmp_path / "messy.tsv"
    table.write_bytes(MESSY.encode())
    corpus = streaming.scan(str(table), val_file=str(table), test_file=str(table))
    (streamed,) = every_pair(corpus)
    expected = read_pairs(table)
    assert [streamed[k] for k in sorted(streamed)] == list(zip(expected.sources, expected.targets))
    assert corpus.dropped == expected.dropped == 2 and corpus.train_pairs == 5

    csv = tmp_path / "t.csv"
    csv.write_text('source,target\n"a, ""b""",x\nc,"d,e"\n\n"",f\n')
    corpus = streaming.scan(str(csv), val_file=str(csv), test_file=str(csv))
    (streamed,) = every_pair(corpus)
    assert [streamed[k] for k in sorted(streamed)] == [('a, "b"', "x"), ("c", "d,e")] and corpus.dropped == 1

    sources, targets = tmp_path / "s.txt", tmp_path / "t.txt.gz"
    sources.write_text("\ufeffeins\nzwei\n\ndrei\n")
    targets.write_bytes(gzip.compress(b"one\ntwo\nskipped\nthree\n"))
    plain = tmp_path / "t.txt"
    plain.write_text("one\ntwo\nskipped\nthree\n")
    corpus = streaming.scan(source_file=str(sources), target_file=str(targets), val_file=str(csv),
                            test_file=str(csv))
    (streamed,) = every_pair(corpus)
    expected = read_aligned(sources, plain)
    assert [streamed[k] for k in sorted(streamed)] == list(zip(expected.sources, expected.targets))


def test_parquet_is_read_in_record_batches(tmp_path):
    import pandas as pd

    path = tmp_path / "pairs.parquet"
    pd.DataFrame({"source": ["a", None, "b ", "c"], "target": ["x", "y", " z", "source"],
                  "other": [1, 2, 3, 4]}).to_parquet(path)
    corpus = streaming.scan(str(path), val_file=str(path), test_file=str(path))
    (streamed,) = every_pair(corpus)
    assert [streamed[k] for k in sorted(streamed)] == [("a", "x"), ("b", "z"), ("c", "source")]
    with pytest.raises(ValueError, match=r"--train-file: .*pairs.parquet column 'other' holds int64 values"):
        streaming.scan(str(path), target_column="other")


def test_tf_strips_what_python_strips():
    odd = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\u200b", "\ufeff", "\u180e", "a", "\x00", "\u00a0x"]
    stripped = streaming._strip(tf.constant([f"{c}é{c}" for c in odd])).numpy()
    assert [s.decode() for s in stripped] == [f"{c}é{c}".strip() for c in odd]


BAD = {  # the second shard of a corpus -> the error
    "fields": (b"source\ttarget\na\tb\nc\td\te\n", r"part-01.tsv line 3 has 3 fields, not the 2 of its header"),
    "utf8": (b"source\ttarget\na\tb\nc\t\xff\n", r"part-01.tsv line 3 is not UTF-8 text \(byte 0xff\)"),
    "carriage": (b"source\ttarget\na\tb\nc\rd\te\n", r"part-01.tsv line 3 holds a carriage return \(\\r\) without"),
    "header": (b"source\ttarget\na\tb\nsource\ttarget\n", r"part-01.tsv repeats its header row at line 3"),
    "columns": (b"target\tsource\tx\np\tq\tr\n", r"part-01.tsv has the header \['target', 'source', 'x'\], "
                                                r"unlike .*part-00.tsv \(\['source', 'target'\]\)"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_row_names_its_file_and_line(tmp_path, case):
    shards = tmp_path / "shards"
    write_shards(shards, [3])
    (shards / "part-01.tsv").write_bytes(BAD[case][0])
    with pytest.raises(ValueError, match=f"--train-file: .*{BAD[case][1]}"):
        streaming.scan(str(shards))


def test_other_bad_corpora_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--train-file: .*/nothing-\*.tsv matches no file"):
        streaming.scan(str(tmp_path / "nothing-*.tsv"))
    csv = tmp_path / "q.csv"
    csv.write_text('source,target\na "b" c,d\n')
    with pytest.raises(ValueError, match=r"q.csv line 2 is not a row the streaming reader reads: a field that holds "
                                         r"a double quote must be quoted whole"):
        streaming.scan(str(csv))
    broken = tmp_path / "broken.tsv.gz"
    broken.write_bytes(gzip.compress(b"source\ttarget\n" + b"a\tb\n" * 1000)[:-20])
    with pytest.raises(ValueError, match=r"broken.tsv.gz is not a complete gzip file"):
        streaming.scan(str(broken))
    sources, targets = tmp_path / "s.txt", tmp_path / "t.txt"
    sources.write_text("a\nb\nc\n")
    targets.write_text("x\ny\n")
    with pytest.raises(ValueError, match=r"--source-file .*s.txt has 3 lines but --target-file .*t.txt has 2"):
        streaming.scan(source_file=str(sources), target_file=str(targets))
    mixed = tmp_path / "mixed"
    write_shards(mixed, [2])
    (mixed / "zz.csv").write_text("source,target\na,b\n")
    with pytest.raises(ValueError, match=r"zz.csv is not a table of the kind of .*part-00.tsv"):
        streaming.scan(str(mixed))
    with pytest.raises(ValueError, match=r"has no column 'fr'; it has 'source', 'target'"):
        streaming.scan(str(mixed / "part-00.tsv"), target_column="fr")


# -- samples: held out, tokenizers ----------------------------------------------------


def test_held_out_and_tokenizer_samples_are_seeded_bounded_and_apart(tmp_path):
    write_shards(tmp_path / "shards", [300, 500, 200], gz={1})
    corpus = streaming.scan(str(tmp_path / "shards"), seed=3, sample=250, held_out_cap=20)
    again = streaming.scan(str(tmp_path / "shards"), seed=3, sample=250, held_out_cap=20)
    other = streaming.scan(str(tmp_path / "shards"), seed=4, sample=250, held_out_cap=20)
    assert corpus.to_json() == again.to_json() and corpus.sample == again.sample
    assert corpus.held_out != other.held_out
    assert [len(x) for x in (*corpus.val, *corpus.test)] == [20] * 4  # 5% of 1000 is 50: at most 20 each
    assert 200 < len(corpus.sample[0]) <= 250  # a sample of 250, less the held-out pairs it drew
    assert corpus.train_pairs == 1000 - 40 and sum(f["held"] for f in corpus.files) == 40
    (train,) = every_pair(corpus)
    held = set(zip(*corpus.val)) | set(zip(*corpus.test))
    assert len(train) == 960 and not held & set(train.values())
    assert set(zip(*corpus.sample)) <= set(train.values())
    assert streaming.Corpus.from_json(corpus.to_json()).to_json() == corpus.to_json()
    assert {r["name"] for r in corpus.card()["files"]["train"]} == {"part-00.tsv", "part-01.tsv.gz", "part-02.tsv"}


def test_reservoir_samples_uniformly():
    counts = np.zeros(50)
    for seed in range(400):
        reservoir = streaming.Reservoir(5, np.random.default_rng(seed))
        for n in range(50):
            if n == reservoir.next:
                reservoir.take(n, n)
        assert len(reservoir.items) == 5 and len({n for n, _ in reservoir.items}) == 5
        counts[[n for n, _ in reservoir.items]] += 1
    assert counts.min() > 20 and counts.max() < 70  # 40 expected each


# -- batches, workers, resume ---------------------------------------------------------


def test_batches_are_those_of_the_in_memory_pipeline(tmp_path, protos):
    (path,) = write_shards(tmp_path, [150])
    corpus = streaming.scan(str(path), val_file=str(path), test_file=str(path))
    streamed = streaming.pair_batches(corpus, protos, 16, 9, shuffle_buffer=1)  # file order, as in memory
    table = read_pairs(path)
    source, target = (tokenizers.tokenizer(p) for p in protos)
    in_memory = translation_dataset(encode(source, table.sources, 9), encode(target, table.targets, 9, add_bos=True),
                                    16, steps_per_epoch=streaming.epoch_steps(corpus, 16))
    for a, b in zip(streamed, in_memory, strict=True):
        for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b), strict=True):
            np.testing.assert_array_equal(x.numpy(), y.numpy())


# 4 x 400 pairs less 6 held out split evenly (within 1%) wherever the held-out pairs fall: by files
@pytest.mark.parametrize("sizes, by", [([400, 400, 400, 400], "files"), ([300], "lines"), ([300, 20, 10], "lines")])
def test_each_pair_is_read_once_an_epoch_across_workers(tmp_path, sizes, by, protos):
    write_shards(tmp_path / "shards", sizes, gz={0})
    corpus = streaming.scan(str(tmp_path / "shards"), held_out_cap=3)
    assert streaming.plan(corpus, 2)[0] == by
    (everything,) = every_pair(corpus)
    for epoch in (0, 1):
        shares = every_pair(corpus, epoch, pipelines=2)
        assert not shares[0].keys() & shares[1].keys()
        assert {**shares[0], **shares[1]} == everything
        assert abs(len(shares[0]) - len(shares[1])) <= (1 if by == "lines" else 0.01 * len(everything))
    steps = streaming.epoch_steps(corpus, 16, pipelines=2)
    trained = []
    for pipeline in (0, 1):
        batches = list(streaming.pair_batches(corpus, protos, 8, 64, pipeline=pipeline, pipelines=2))
        assert len(batches) == steps  # every worker takes as many steps
        trained += [tuple(s[s > 0]) for (source, _), _ in batches for s in source.numpy()]
    assert len(trained) > len(everything) - 2 * 8 * (len(streaming.BOUNDARIES) + 2)  # a few wait for the next epoch


def test_a_resumed_stream_gives_the_batches_of_an_unbroken_one(tmp_path, protos):
    write_shards(tmp_path / "shards", [90, 70], gz={1})
    corpus = streaming.scan(str(tmp_path / "shards"))
    steps = streaming.epoch_steps(corpus, 8)

    def flat(ds):
        return [np.concatenate([x.numpy().ravel() for x in tf.nest.flatten(b)]) for b in ds]

    unbroken = flat(streaming.pair_batches(corpus, protos, 8, 12, seed=5, epochs=range(3), shuffle_buffer=40))
    resumed = flat(streaming.pair_batches(corpus, protos, 8, 12, seed=5, epochs=range(1, 3), skip=4,
                                          shuffle_buffer=40))
    assert len(unbroken) == 3 * steps
    assert all(np.array_equal(a, b) for a, b in zip(resumed, unbroken[steps + 4:], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(unbroken[:steps], unbroken[steps:2 * steps]))  # reshuffled


def test_bad_arguments_are_named(tmp_path, protos):
    write_shards(tmp_path, [40])
    corpus = streaming.scan(str(tmp_path / "part-00.tsv"))
    for options, message in (({"steps": 99}, r"`steps` must be an integer in \[1, 4\]"),
                             ({"skip": 4}, r"`skip` must be less than the 4 steps"),
                             ({"pipeline": 2, "pipelines": 2}, r"`pipeline` must be an integer in \[0, 2\)"),
                             ({"epochs": []}, "`epochs` must name at least one epoch"),
                             ({"shuffle_buffer": 0}, "`shuffle_buffer` must be an integer >= 1")):
        with pytest.raises(ValueError, match=message):
            streaming.pair_batches(corpus, protos, 8, 12, **options)
    with pytest.raises(ValueError, match=r"the 36 training pairs fill no batch of 64 pairs \(1 worker\)"):
        streaming.epoch_steps(corpus, 64)
    with pytest.raises(ValueError, match=r"corpus.json is not a streamed corpus's description"):
        streaming.Corpus.check(b"{}", "corpus.json")


def test_the_input_is_chosen_by_size_and_kind(tmp_path):
    (small,) = write_shards(tmp_path, [10])
    assert streaming.choose_input([str(small)])[0] == "memory"
    assert streaming.choose_input([str(small)], threshold=100) == (
        "streaming", "--input auto: 0.0 MiB of training files, above 0 MiB")
    assert streaming.choose_input([str(tmp_path / "*.tsv")]) == (
        "streaming", "--input auto: a directory, a glob or .gz files")
    assert streaming.choose_input([str(small)], "streaming") == ("streaming", "--input streaming")
    with pytest.raises(ValueError, match=r"--input memory reads a single plain file .*; a directory, a glob or .gz"):
        streaming.choose_input([str(tmp_path)], "memory")


def test_held_out_pairs_of_a_streamed_run_are_rebuilt(tmp_path, monkeypatch):
    from zoo.tasks import translation

    write_shards(tmp_path / "shards", [60, 40])
    monkeypatch.chdir(tmp_path)
    corpus = streaming.scan("shards", seed=2)
    card = {"config": {"train_file": "shards", "seed": 2}, "data": corpus.card()}
    assert translation.held_out(card, "test") == tuple(corpus.test)
    (tmp_path / "shards" / "part-01.tsv").write_text("source\ttarget\na\tb\n")
    with pytest.raises(ValueError, match="part-01.tsv is not the file the model was trained on"):
        translation.held_out(card, "val")


# -- two workers, for real ------------------------------------------------------------

TWO_WORKERS = """
import sys
import tensorflow as tf
from zoo import distribute
from zoo.data import streaming

strategy = distribute.get_strategy("multi-worker")
corpus = streaming.scan(sys.argv[1], held_out_cap=2)
for epoch in (0, 1):
    def per_worker(context):
        pairs = streaming.keyed_pairs(corpus, epoch, seed=7, pipeline=context.input_pipeline_id,
                                      pipelines=context.num_input_pipelines, shuffle_buffer=50)
        return pairs.map(lambda key, source, target: key).batch(1000).repeat()
    batch = next(iter(strategy.distribute_datasets_from_function(per_worker)))
    (keys,) = strategy.experimental_local_results(batch)
    print(f"epoch {epoch} keys", " ".join(map(str, keys.numpy().tolist())))
print("train pairs", corpus.train_pairs, "by", streaming.plan(corpus, 2)[0])
"""


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [[300, 300, 300, 300], [120, 30, 10]])  # by files, by lines
def test_two_workers_read_each_line_once_an_epoch(tmp_path, sizes):
    write_shards(tmp_path / "shards", sizes, gz={1})
    script = tmp_path / "workers.py"
    script.write_text(TWO_WORKERS)
    out = io.StringIO()
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    assert launch([str(script), str(tmp_path / "shards")], 2, env=env, out=out, timeout=300) == 0, out.getvalue()
    log = out.getvalue()
    total, by = re.search(r"\[worker 0\] train pairs (\d+) by (\w+)", log).groups()
    assert by == ("files" if len(sizes) == 4 else "lines")
    for epoch in (0, 1):
        keys = [re.search(rf"\[worker {w}\] epoch {epoch} keys ([\d ]+)", log).group(1).split() for w in (0, 1)]
        assert not set(keys[0]) & set(keys[1]) and len(keys[0]) + len(keys[1]) == int(total)
        assert len(set(keys[0] + keys[1])) == int(total)
