"""Is the tf.data input pipeline faster than training consumes it, and what
does a corpus bigger than memory cost the translation recipe?

    python benchmarks/pipeline.py                           # Multi30k, in memory
    python benchmarks/pipeline.py --pairs 1000000 5000000   # synthetic corpora, both input paths

Without --pairs: times one epoch of the Multi30k de-en pipeline (tokenized
once, then bucketed, padded, shuffled, prefetched) on its second pass, and
a few training steps of lstm-seq2seq-attn at the recipe's size on the same
batches, and prints both rates.

With --pairs N ...: writes a synthetic corpus of N pairs for each N (each
pair one or two Multi30k de-en pairs joined, drawn with a fixed seed; a TSV
under --work-dir, removed at the end), then runs recipes/translate.py on it
(its default sizes, --backup-every 1) with --input memory and with --input
streaming, and reports for each: the peak resident memory of the recipe's
process up to the end of its first training step (VmHWM, read while it
runs) and the seconds from its start to then (its first backup written),
after which it is stopped; a run whose memory passes --memory-cap-gib is
stopped there and reported as such. Then, in this process, the batches/s
each input pipeline delivers (after 20 batches of warm-up: the shuffle
buffer filled) against the steps/s of a training step. The in-memory
pipeline is timed on the first 200,000 pairs (its cost per batch does not
grow with N; tokenizing all N in Python is what the recipe run measures).
Needs the data (ZOO_DATA_DIR or a download).
"""

import argparse
import gzip
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import zoo  # noqa: E402
from zoo.data import streaming, tokenizers  # noqa: E402
from zoo.data.download import fetch  # noqa: E402
from zoo.data.pipeline import encode, translation_dataset  # noqa: E402
from zoo.data.translation import load_pairs  # noqa: E402
from zoo.metrics import masked_cross_entropy  # noqa: E402
from zoo.optimizers import Adam  # noqa: E402


def multi30k():
    sources, targets = load_pairs("de-en", "train")
    src_tok = tokenizers.tokenizer(tokenizers.train_sentencepiece(sources, 8000))
    tgt_tok = tokenizers.tokenizer(tokenizers.train_sentencepiece(targets, 6000))
    start = time.perf_counter()
    src_ids, tgt_ids = encode(src_tok, sources, 64), encode(tgt_tok, targets, 64, add_bos=True)
    tokenize_s = time.perf_counter() - start
    dataset = translation_dataset(src_ids, tgt_ids, 64, shuffle=True)
    for _ in dataset:  # first pass fills the cache
        pass
    start = time.perf_counter()
    batches = sum(1 for _ in dataset)
    pipeline_rate = batches / (time.perf_counter() - start)
    train_rate = training_steps_per_second(src_tok.vocabulary_size(), tgt_tok.vocabulary_size(), dataset)
    print(f"tokenizing 29,000 + 29,000 sentences once: {tokenize_s:.1f} s")
    print("| | batches/s (64 pairs) |\n|---|---:|")
    print(f"| tf.data pipeline (cached, second epoch) | {pipeline_rate:.0f} |")
    print(f"| training step, lstm-seq2seq-attn (median of 11) | {train_rate:.2f} |")
    print(f"\nThe pipeline delivers batches {pipeline_rate / train_rate:.0f}x faster than training consumes them.")


def training_steps_per_second(source_vocabulary, target_vocabulary, dataset):
    """Steps/s of lstm-seq2seq-attn at the recipe's size and optimizer: the
    median of 11 steps on batches of `dataset`, after one."""
    model = zoo.build("lstm-seq2seq-attn", source_vocabulary_size=source_vocabulary,
                      target_vocabulary_size=target_vocabulary)
    model.compile(Adam(2e-3, clipnorm=1.0), masked_cross_entropy(0.1))
    sample = list(dataset.take(12))
    model.train_on_batch(*sample[0])
    times = []
    for inputs, labels in sample[1:]:
        start = time.perf_counter()
        model.train_on_batch(inputs, labels)
        times.append(time.perf_counter() - start)
    return 1 / statistics.median(times)


def write_corpus(path, n, seed=0):
    """A TSV of `n` pairs, each one or two Multi30k de-en training pairs
    joined by a space (tabs in a sentence made spaces)."""
    sides = [gzip.open(fetch(f"multi30k/train.{lang}.gz"), "rt", encoding="utf-8").read().replace("\t", " ")
             .splitlines() for lang in ("de", "en")]
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write("source\ttarget\n")
        for start in range(0, n, 100_000):
            size = min(100_000, n - start)
            first, second = rng.integers(len(sides[0]), size=(2, size))
            joined = rng.random(size) < 0.5
            f.writelines(f"{s[a]} {s[b]}\t{t[a]} {t[b]}\n" if two else f"{s[a]}\t{t[a]}\n"
                         for s, t in [sides] for a, b, two in zip(first, second, joined))


def peak_rss(pid):
    """The peak resident memory of process `pid` so far, in bytes (VmHWM), or 0."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def first_step(corpus, reading, run_dir, cap):
    """`(peak bytes, seconds, stopped)` of the recipe on `corpus` with --input
    `reading`, from its start to its first backup (or to `cap` bytes)."""
    command = [sys.executable, str(ROOT / "recipes" / "translate.py"), "--train-file", str(corpus),
               "--input", reading, "--epochs", "1", "--backup-every", "1", "--run-dir", str(run_dir)]
    log = run_dir.with_suffix(".log")
    backup = run_dir / "backup" / "step-000000001.weights.h5"
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    peak, stopped = 0, False
    try:
        while not backup.exists():
            peak = max(peak, peak_rss(process.pid))
            if process.poll() is not None:
                raise RuntimeError(f"the recipe ended (status {process.returncode}) before its first step:\n"
                                   + log.read_text()[-3000:])
            if peak > cap:
                stopped = True
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        peak = max(peak, peak_rss(process.pid))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
    return peak, seconds, stopped


def pipeline_rate(batches, warm_up=20, timed=300):
    """Batches/s of `batches` (a dataset) over `timed` batches after `warm_up`."""
    iterator = iter(batches.repeat())  # a small corpus: its epochs again
    for _ in range(warm_up):
        next(iterator)
    start = time.perf_counter()
    for _ in range(timed):
        next(iterator)
    return timed / (time.perf_counter() - start)


def corpora(sizes, work_dir, cap, keep):
    work_dir.mkdir(parents=True, exist_ok=True)
    rows, step_rate = [], None
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for n in sizes:
        corpus = work_dir / f"pairs-{n}.tsv"
        if not corpus.exists():
            start = time.perf_counter()
            write_corpus(corpus, n)
            print(f"wrote {corpus} ({corpus.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - start:.0f} s")
        runs = {reading: work_dir / f"run-{n}-{reading}" for reading in ("memory", "streaming")}
        for reading, run_dir in runs.items():
            shutil.rmtree(run_dir, ignore_errors=True)
            peak, seconds, stopped = first_step(corpus, reading, run_dir, cap)
            rows.append([n, reading, peak, seconds, stopped])
            print(f"{n} pairs, --input {reading}: peak {peak / 2**30:.2f} GiB, "
                  f"{'stopped at the cap after' if stopped else 'first step after'} {seconds:.0f} s", flush=True)
        protos = [tokenizers.read_sentencepiece(runs["streaming"] / f"{side}.spm") for side in ("source", "target")]
        found = streaming.Corpus.check((runs["streaming"] / "corpus.json").read_bytes(), "corpus.json")
        streamed = streaming.pair_batches(found, protos, 64, 64)
        rows[-1].append(pipeline_rate(streamed))
        with open(corpus, encoding="utf-8") as f:
            next(f)
            head = [line.rstrip("\n").split("\t") for _, line in zip(range(200_000), f)]
        source, target = (tokenizers.tokenizer(p) for p in protos)
        in_memory = translation_dataset(encode(source, [s for s, _ in head], 64),
                                        encode(target, [t for _, t in head], 64, add_bos=True), 64, shuffle=True,
                                        epochs=range(1))
        rows[-2].append(pipeline_rate(in_memory))
        if step_rate is None:
            step_rate = training_steps_per_second(source.vocabulary_size(), target.vocabulary_size(), streamed)
        if not keep:
            for path in (corpus, *runs.values(), *(r.with_suffix(".log") for r in runs.values())):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n| pairs | input | peak memory to the first step | first step after | pipeline batches/s "
          "| pipeline / training step |")
    print("|---:|---|---:|---:|---:|---:|")
    for n, reading, peak, seconds, stopped, rate in rows:
        memory = f"> {cap / 2**30:.1f} GiB (stopped at {seconds:.0f} s)" if stopped else f"{peak / 2**30:.2f} GiB"
        print(f"| {n:,} | {reading} | {memory} | {'-' if stopped else f'{seconds:.0f} s'} | {rate:.0f} "
              f"| {rate / step_rate:.0f}x |")
    print(f"\nA training step of lstm-seq2seq-attn (batch 64, median of 11): {step_rate:.2f} steps/s.")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", help="synthetic corpora of these many pairs")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "pipeline-bench",
                        help="where the corpora and runs are written (default: runs/pipeline-bench)")
    parser.add_argument("--memory-cap-gib", type=float, default=10.0,
                        help="a recipe run using more memory than this is stopped (default: 10)")
    parser.add_argument("--keep", action="store_true", help="keep the corpora and runs")
    args = parser.parse_args()
    if args.pairs and min(args.pairs) < 1000:
        parser.error(f"--pairs must be at least 1000 each, got {min(args.pairs)}")
    if args.memory_cap_gib <= 0:
        parser.error(f"--memory-cap-gib must be positive, got {args.memory_cap_gib}")
    keras.utils.set_random_seed(0)
    if args.pairs:
        corpora(args.pairs, args.work_dir.resolve(), args.memory_cap_gib * 2**30, args.keep)
    else:
        multi30k()


if __name__ == "__main__":
    main()
