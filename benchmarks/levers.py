"""Translation levers on val: each candidate against a baseline, sentence by sentence.

    python benchmarks/levers.py --baseline runs/lstm-seq2seq-attn-s1/model \\
        --candidates runs/s1-more/best.weights.h5 runs/s1-more/epochs
    python benchmarks/levers.py --baseline lstm-seq2seq-attn --candidates runs/ls0/model --limit 200

A candidate is a shipped name or a model directory a recipe wrote; a
`.weights.h5` file of the baseline's architecture (a run's `best.weights.h5`,
one epoch `--average-last` kept); or a folder of them, whose mean is the
candidate (checkpoint averaging: `zoo.training.average_weights`, e.g. a
run's `epochs/`). Weights from files are stored in float16 and loaded back
before scoring, as a recipe's `model/` is. Every model decodes Multi30k de-en
`--split` alone (an ensemble's first model; `--whole` decodes the
baseline with its members), beam 5 (alpha 0.6); each row
gives cased sacreBLEU, chrF and its gain over the baseline with a 95% paired
bootstrap interval over the sentences
(`zoo.metrics.paired_translation_difference`, 1,000 draws). Choose on val;
score the chosen model once on test.

`--rescore-with R2L` adds n-best rescoring with a right-to-left model (a
run of `recipes/translate.py --right-to-left`): the baseline's 5-best list
of each sentence, reranked by the sum of the baseline's score and the
right-to-left model's (`zoo.tasks.translation.score`), both log-probabilities
divided by the same length penalty, equal weights (nothing tuned on val).
Its rows: the lists' first translations (the control: an n-best list's
first is not post-edited as `translate`'s is) and the reranked ones, each
against the baseline, then the reranking's gain over the control.
"""

import argparse
import tempfile
from pathlib import Path

import zoo
from zoo import saving
from zoo.data.translation import load_pairs
from zoo.metrics import paired_translation_difference, translation_scores
from zoo.tasks.translation import score
from zoo.training import average_weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a shipped name or a model directory")
    parser.add_argument("--candidates", nargs="+", default=None,
                        help="shipped names, model directories, .weights.h5 files or folders of them (averaged)")
    parser.add_argument("--split", default="val", choices=["val", "test"], help="Multi30k de-en split")
    parser.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--whole", action="store_true",
                        help="decode the baseline with its ensemble members, as it ships (candidates alone)")
    parser.add_argument("--rescore-with", metavar="R2L", default=None,
                        help="a right-to-left model directory: rerank the baseline's n-best lists with it")
    return parser.parse_args(argv)


def load(spec, baseline, whole=False):
    """The model `spec` names (see the module docstring), alone unless `whole`."""
    path = Path(spec)
    files = sorted(path.glob("*.weights.h5")) if path.is_dir() else [path] if path.suffix == ".h5" else []
    if not files:
        model = zoo.load(spec)
        if not whole:
            model.set_members(())
        return model
    model = zoo.load(baseline)
    model.set_members(())
    average_weights(model, files)
    name = saving.read_json(Path(baseline, "config.json"))["name"] if Path(baseline).is_dir() else baseline
    with tempfile.TemporaryDirectory() as folder:  # float16, as a recipe's model/ stores it
        saving.save(model, Path(folder) / "model", name)
        return zoo.load(Path(folder) / "model")


def main(argv=None):
    args = parse_args(argv)
    sources, references = load_pairs("de-en", args.split, limit=args.limit)
    baseline = load(args.baseline, args.baseline, whole=args.whole)
    outputs = baseline.translate(sources, beam_size=args.beam_size)
    scores = translation_scores(outputs, references)
    print(f"Multi30k de-en {args.split}, {len(sources)} sentences, beam {args.beam_size}\n")
    print("| model | BLEU | chrF | BLEU gain over the baseline, 95% paired interval |")
    print("|---|---:|---:|---|")
    print(f"| {args.baseline} (baseline) | {scores['bleu']:.2f} | {scores['chrf']:.2f} | |", flush=True)

    def row(name, hypotheses, against=outputs):
        scores = translation_scores(hypotheses, references)
        gain = paired_translation_difference(hypotheses, against, references)
        print(f"| {name} | {scores['bleu']:.2f} | {scores['chrf']:.2f} | {gain['difference']:+.2f} "
              f"[{gain['interval'][0]:+.2f}, {gain['interval'][1]:+.2f}], better in {gain['a_better']:.0%} of "
              f"draws |", flush=True)

    for spec in args.candidates or ():
        row(spec, load(spec, args.baseline).translate(sources, beam_size=args.beam_size))
    if args.rescore_with:
        first, reranked = rescored(baseline, zoo.load(args.rescore_with), sources, args.beam_size)
        row(f"{args.beam_size}-best lists' first", first)
        row(f"{args.beam_size}-best reranked with {args.rescore_with}", reranked)
        row("(the reranking against the lists' first)", reranked, against=first)


def rescored(model, right_to_left, sources, beam_size, alpha=0.6):
    """Per sentence: the first of `model`'s `beam_size`-best list, and the
    list's best by the sum of its score and `right_to_left`'s (both divided
    by the length penalty of `alpha`)."""
    lists = model.translate(sources, beam_size=beam_size, alpha=alpha, num_return_sequences=beam_size,
                            return_scores=True)
    repeated = [source for source, n_best in zip(sources, lists) for _ in n_best]
    backward = iter(score(right_to_left, repeated, [text for n_best in lists for text, _ in n_best], alpha=alpha))
    first, reranked = [], []
    for n_best in lists:
        totals = [forward + next(backward) for _, forward in n_best]
        first.append(n_best[0][0])
        reranked.append(n_best[max(range(len(n_best)), key=totals.__getitem__)][0])
    return first, reranked


if __name__ == "__main__":
    main()
