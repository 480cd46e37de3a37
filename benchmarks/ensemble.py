"""Translation ensembles: trained de->en models decoded together, against each alone.

    python benchmarks/ensemble.py                                   # val, the shipped LSTM's first model and GRU
    python benchmarks/ensemble.py --models lstm-seq2seq-attn runs/x/model gru-seq2seq-attn
    python benchmarks/ensemble.py --split test --limit 200
    python benchmarks/ensemble.py --split test --models lstm-seq2seq-attn saved_models/lstm-seq2seq-attn/members/0
                                                                    # the shipped ensemble, and each member alone

Each model (a shipped name or a model directory a recipe wrote; of an
ensemble, its first model) translates Multi30k de-en `--split` with a beam
of 5 (alpha 0.6), alone; then the first
model decodes with the others as one ensemble (`Seq2Seq.set_members`: the
mean of the models' log-probabilities at every step, one compiled search),
and each ensemble of the first k models for k = 2 .. n. Every row gives
cased sacreBLEU, chrF and sentences/s; the ensembles also give their gain
over the first model alone, with a 95% paired bootstrap interval over the
sentences (`zoo.metrics.paired_translation_difference`, 1,000 draws).
Choose models and settings on val; score the chosen one once on test.
"""

import argparse
import time

import zoo
from zoo.data.translation import load_pairs
from zoo.metrics import paired_translation_difference, translation_scores


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["lstm-seq2seq-attn", "gru-seq2seq-attn"],
                        help="shipped names or model directories, the first one leading (default: %(default)s)")
    parser.add_argument("--split", default="val", choices=["val", "test"], help="Multi30k de-en split")
    parser.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    parser.add_argument("--beam-size", type=int, default=5)
    return parser.parse_args(argv)


def translate(model, sources, beam_size):
    start = time.perf_counter()
    hypotheses = model.translate(sources, beam_size=beam_size)
    return hypotheses, len(sources) / (time.perf_counter() - start)


def main(argv=None):
    args = parse_args(argv)
    sources, references = load_pairs("de-en", args.split, limit=args.limit)
    models = [zoo.load(name) for name in args.models]  # a name or a model directory
    for model in models:  # each alone: a shipped ensemble's members join only where named
        model.set_members(())
    rows, outputs = [], {}
    for name, model in zip(args.models, models):
        outputs[name], speed = translate(model, sources, args.beam_size)
        rows.append((name, translation_scores(outputs[name], references), speed, None))
    lead = args.models[0]
    for k in range(2, len(models) + 1):
        label = " + ".join(args.models[:k])
        models[0].set_members(models[1:k])
        outputs[label], speed = translate(models[0], sources, args.beam_size)
        gain = paired_translation_difference(outputs[label], outputs[lead], references)
        rows.append((label, translation_scores(outputs[label], references), speed, gain))
    models[0].set_members(())
    print(f"Multi30k de-en {args.split}, {len(sources)} sentences, beam {args.beam_size}\n")
    print("| models | BLEU | chrF | sentences/s | BLEU gain over the first, 95% paired interval |")
    print("|---|---:|---:|---:|---|")
    for label, scores, speed, gain in rows:
        interval = "" if gain is None else (f"{gain['difference']:+.2f} [{gain['interval'][0]:+.2f}, "
                                            f"{gain['interval'][1]:+.2f}], better in {gain['a_better']:.0%} of draws")
        print(f"| {label} | {scores['bleu']:.2f} | {scores['chrf']:.2f} | {speed:.1f} | {interval} |")


if __name__ == "__main__":
    main()
