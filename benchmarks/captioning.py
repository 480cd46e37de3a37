"""Captioning quality on the shipped captioner's own test images: trained
captioners against nearest-neighbour retrieval on the same features, with
paired bootstrap intervals. The images are those the shipped model's card
names as its test split (its cross-validation fold, when it was trained on
one), so no scored image was trained on; every other model compared must
have been trained on the same split.

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
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo.data.flickr8k import load_flickr8k, load_flickr8k_fold, load_image, normalize_caption  # noqa: E402
from zoo.metrics import caption_scores  # noqa: E402
from zoo.tasks.captioning import nearest_neighbour_captions  # noqa: E402


def split_of(card):
    """`(train, test, what)`: the items of the split a captioner's card names."""
    data = card.get("data") or {}
    if data.get("folds"):
        train, _, test = load_flickr8k_fold(data["fold"], data["folds"])
        return train, test, f"test fold {data['fold']} of {data['folds']}"
    return load_flickr8k("train"), load_flickr8k("test"), "test split"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="directories written by zoo.saving.save (besides the shipped one)")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args(argv)
    shipped = zoo.load("sat-lstm-squeezenet")
    models = {"sat-lstm-squeezenet (shipped)": shipped}
    shipped_card = zoo.info("sat-lstm-squeezenet")["card"]
    for directory in args.models:
        card = json.loads((Path(directory) / "card.json").read_text())
        if (card.get("data") or {}).get("fold") != shipped_card["data"].get("fold"):
            parser.error(f"{directory} was trained on another split than the shipped model: its test images would "
                         f"include the shipped model's training images")
        models[f"{card['name']} ({directory})"] = zoo.load(directory)
    train, test, what = split_of(shipped_card)
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
    print(f"Flickr8k {what} of the shipped model, {len(test)} images, beam {args.beam_size} (retrieval: consensus "
          f"caption)\n")
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
