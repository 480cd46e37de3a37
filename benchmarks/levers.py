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
`--split` alone (an ensemble's first model), beam 5 (alpha 0.6); each row
gives cased sacreBLEU, chrF and its gain over the baseline with a 95% paired
bootstrap interval over the sentences
(`zoo.metrics.paired_translation_difference`, 1,000 draws). Choose on val;
score the chosen model once on test.
"""

import argparse
import tempfile
from pathlib import Path

import zoo
from zoo import saving
from zoo.data.translation import load_pairs
from zoo.metrics import paired_translation_difference, translation_scores
from zoo.training import average_weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a shipped name or a model directory")
    parser.add_argument("--candidates", nargs="+", required=True,
                        help="shipped names, model directories, .weights.h5 files or folders of them (averaged)")
    parser.add_argument("--split", default="val", choices=["val", "test"], help="Multi30k de-en split")
    parser.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    parser.add_argument("--beam-size", type=int, default=5)
    return parser.parse_args(argv)


def load(spec, baseline):
    """The model `spec` names (see the module docstring), alone."""
    path = Path(spec)
    files = sorted(path.glob("*.weights.h5")) if path.is_dir() else [path] if path.suffix == ".h5" else []
    if not files:
        model = zoo.load(spec)
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
    baseline = load(args.baseline, args.baseline)
    outputs = baseline.translate(sources, beam_size=args.beam_size)
    scores = translation_scores(outputs, references)
    print(f"Multi30k de-en {args.split}, {len(sources)} sentences, beam {args.beam_size}\n")
    print("| model | BLEU | chrF | BLEU gain over the baseline, 95% paired interval |")
    print("|---|---:|---:|---|")
    print(f"| {args.baseline} (baseline) | {scores['bleu']:.2f} | {scores['chrf']:.2f} | |", flush=True)
    for spec in args.candidates:
        hypotheses = load(spec, args.baseline).translate(sources, beam_size=args.beam_size)
        scores = translation_scores(hypotheses, references)
        gain = paired_translation_difference(hypotheses, outputs, references)
        print(f"| {spec} | {scores['bleu']:.2f} | {scores['chrf']:.2f} | {gain['difference']:+.2f} "
              f"[{gain['interval'][0]:+.2f}, {gain['interval'][1]:+.2f}], better in {gain['a_better']:.0%} of "
              f"draws |", flush=True)


if __name__ == "__main__":
    main()
