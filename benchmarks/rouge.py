"""ROUGE-1 and ROUGE-2 of a translation model trained on a table, scored as
KerasHub's English-to-Spanish example scores its model, to put the two side by side.

    python benchmarks/rouge.py lstm-seq2seq-attn-en-es --train-file runs/data/spa-eng/spa.txt
    python benchmarks/rouge.py NAME --weights runs/<run>/model --train-file FILE

The example ("English-to-Spanish translation with KerasHub", keras.io) trains
a small Transformer on the same Tatoeba `spa.txt`, decodes greedily and reports
`keras_hub.metrics.RougeN` (precision, recall, F1; mean over sentences) on 30
sentences of its own random test split, lowercased. Here the model's test
split is rebuilt from its card (the file, checked by sha256, the columns and
the seeded split of `zoo.data.user_files`), decoded greedily, lowercased, and
scored with the same metric on all of it and on its first 30 sentences.
Needs `pip install rouge-score` (what `keras_hub.metrics.RougeN` runs on).
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rouge(order, references, hypotheses):
    import keras_hub

    metric = keras_hub.metrics.RougeN(order=order)
    metric.update_state([r.lower() for r in references], [h.lower() for h in hypotheses])
    return {k: round(float(v), 3) for k, v in metric.result().items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="registered translation model, e.g. lstm-seq2seq-attn-en-es")
    parser.add_argument("--weights", default=None, help="a directory a recipe wrote (default: the shipped model)")
    parser.add_argument("--train-file", required=True, help="the table the model was trained on")
    args = parser.parse_args(argv)

    import zoo
    from zoo.data.user_files import file_record, translation_files
    from zoo.io import read_json

    card = read_json(Path(args.weights) / "card.json") if args.weights else zoo.info(args.name)["card"]
    if not card or "files" not in card.get("data", {}):
        raise SystemExit(f"{args.name}: no card of a model trained on your own table (--train-file)")
    config, recorded = card["config"], card["data"]["files"]["train"][0]
    if file_record(args.train_file, recorded["rows"])["sha256"] != recorded["sha256"]:
        raise SystemExit(f"--train-file {args.train_file} is not the file the model was trained on "
                         f"({recorded['name']}, sha256 {recorded['sha256'][:12]}...)")
    _, _, test, _ = translation_files(args.train_file, config["source_column"], config["target_column"],
                                      seed=config["seed"])
    model = zoo.load(args.name, weights=args.weights) if args.weights else zoo.load(args.name)
    hypotheses = model.translate(test.sources, beam_size=1)
    print(f"{args.name}: greedy, {len(test.sources)} test pairs of {recorded['name']} (seed {config['seed']})\n")
    print("| sentences | ROUGE-1 P / R / F1 | ROUGE-2 P / R / F1 |\n|---:|---|---|")
    for n in sorted({min(30, len(test.sources)), len(test.sources)}):
        scores = [rouge(order, test.targets[:n], hypotheses[:n]) for order in (1, 2)]
        print(f"| {n} | " + " | ".join(f"{s['precision']} / {s['recall']} / {s['f1_score']}" for s in scores) + " |")


if __name__ == "__main__":
    main()
