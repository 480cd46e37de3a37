"""Captioning quality on the Flickr8k test split: trained captioners against
nearest-neighbour retrieval on the same features, with paired bootstrap
intervals (the test split of the mirror is only 75 images).

    python benchmarks/captioning.py                                  # the shipped model alone
    python benchmarks/captioning.py runs/baselines/lstm-squeezenet   # beside other trained ones

Each row: corpus BLEU-1..4 (sacreBLEU 13a, lowercased, all 5 references) with
beam 3; the BLEU-4 interval is the 2.5-97.5 percentile of 1,000 resamplings of
the test images; `vs first` is how often (over the same resamplings) the row's
BLEU-4 is above the first row's.
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import zoo  # noqa: E402
from zoo.data.flickr8k import load_flickr8k, load_image, normalize_caption  # noqa: E402
from zoo.metrics import caption_scores  # noqa: E402
from zoo.tasks.captioning import nearest_neighbour_captions  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="directories written by zoo.saving.save (besides the shipped one)")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args(argv)
    shipped = zoo.load("sat-lstm-squeezenet")
    models = {"sat-lstm-squeezenet (shipped)": shipped}
    for directory in args.models:
        card = json.loads((Path(directory) / "config.json").read_text())
        models[f"{card['name']} ({directory})"] = zoo.load(card["name"], weights=directory)
    test, train = load_flickr8k("test"), load_flickr8k("train")
    references = [[normalize_caption(c) for c in captions] for _, captions in test]
    hypotheses = {name: m.caption([p for p, _ in test], beam_size=args.beam_size) for name, m in models.items()}

    def features(items):
        return np.concatenate([
            np.asarray(shipped.encode_images(np.stack([load_image(p, shipped.image_size) for p, _ in items[i:i + 32]])))
            for i in range(0, len(items), 32)
        ])

    train_captions = [[normalize_caption(c) for c in captions] for _, captions in train]
    hypotheses["nearest-neighbour retrieval"] = nearest_neighbour_captions(features(train), train_captions,
                                                                           features(test))
    rng = np.random.default_rng(0)
    samples = [rng.integers(0, len(test), len(test)) for _ in range(args.resamples)]
    boot = {
        name: np.array([caption_scores([h[i] for i in s], [references[i] for i in s])["bleu4"] for s in samples])
        for name, h in hypotheses.items()
    }
    first = next(iter(boot.values()))
    print(f"Flickr8k test split, {len(test)} images, beam {args.beam_size} (retrieval: consensus caption)\n")
    print("| model | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-4 95% interval | vs first |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for name, h in hypotheses.items():
        s = caption_scores(h, references)
        low, high = np.percentile(boot[name], [2.5, 97.5])
        above = "" if boot[name] is first else f"{np.mean(boot[name] > first):.0%}"
        bleu = " | ".join(str(s[f"bleu{n}"]) for n in range(1, 5))
        print(f"| {name} | {bleu} | {low:.1f}-{high:.1f} | {above} |")


if __name__ == "__main__":
    main()
