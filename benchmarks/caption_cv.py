"""Cross-validated captioning evaluation on the 850 Flickr8k images of the mirror.

    python benchmarks/caption_cv.py                                   # retrieval (5 folds) and the shipped model
    python benchmarks/caption_cv.py --runs runs/sat-cv*               # and fold models of recipes/caption.py
    python benchmarks/caption_cv.py --json runs/caption-cv/results.json

Folds are `zoo.data.flickr8k.fold_images`: by a hash of the image name, every
image in the test set of exactly one fold. Each row gives corpus BLEU-1..4
(sacreBLEU 13a, lowercased, all 5 references, as the model cards) and CIDEr-D
(x 100, `zoo.metrics.cider_d`) over all the test predictions of the row, each
with its 95% bootstrap interval over images (`zoo.metrics.caption_intervals`,
1,000 draws, the same draws for every row of the same images: paired), and for
cross-validated rows the mean and range of the per-fold scores.

- Nearest-neighbour retrieval (`zoo.tasks.captioning.nearest_neighbour_captions`)
  needs no training: for each fold it retrieves from that fold's training images.
- `--runs DIR ...`: models written by `recipes/caption.py --folds K --fold I`
  (DIR or DIR/model, with its card.json), each scored on the test images of its
  fold, greedy and beam 3; runs of one model and K are pooled over their folds.
- `--tune`: for each pooled model, the beam size and GNMT length penalty
  (alpha) are chosen on the fold models' val images (pooled val BLEU-4 over
  the grid `TUNING`, each fold's model on its own val images, which also chose
  its epoch), and the chosen setting is scored on the test images like the
  rows above. The val grid is printed too.
- `--ensemble NAME=DIR,DIR,... ...`: an ensemble of fold models of one fold
  (the same vocabulary: runs of that fold with other flags), decoding with
  the mean of their log-probabilities at every step (`Captioner.set_members`,
  as OpenNMT's ensemble decoder), scored on that fold's test images beside
  each member alone. Members must share the fold; folds named by several
  ensembles are pooled.
- Runs of one model with other flags (`--label-smoothing 0.1`, ...) are
  pooled apart, as their own system. Every two pooled systems (beam 3) are
  compared on the test images both cover by a paired bootstrap
  (`zoo.metrics.paired_caption_difference`): the difference in BLEU-4 and
  CIDEr-D, its interval and how often the first is ahead.
- `--save-predictions DIR`: each fold model's test captions (beam 3 and
  greedy) with what its card says of it, one file per fold
  (`DIR/<system>/fold<I>of<K>.json`); `--runs` takes these files in place of
  run directories, so a system's folds pool across machines and days
  without keeping its models (`--tune` and `--ensemble` need the models).
- The shipped `sat-lstm-squeezenet` is scored on the images it was not
  trained on (the val images, which chose its epoch, and the test images of
  its card's split: a cross-validation fold or the fixed split), beside
  retrieval from its training images. This is not cross-validation: one
  model, one split.

SqueezeNet features of the 850 images are computed once per encoder (the
sha256 of its weights) and cached in --cache-dir, as float32 (the recipe's
`zoo.data.captions.cache_features`, which keeps float16 for training).
"""

import argparse
import hashlib
import itertools
import json
import re
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from zoo import quiet  # noqa: E402

quiet.quiet_tensorflow()  # before TensorFlow loads: no start-up lines a reader cannot act on

import zoo  # noqa: E402
from zoo.data.captions import cache_features  # noqa: E402
from zoo.data.flickr8k import fold_images, load_flickr8k, normalize_caption, split_of  # noqa: E402
from zoo.metrics import caption_intervals, caption_scores, paired_caption_difference  # noqa: E402
from zoo.tasks.captioning import nearest_neighbour_captions  # noqa: E402

METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "cider")
TUNING = [(beam, alpha) for beam in (1, 3, 5) for alpha in (0.0, 0.5, 1.0) if beam > 1 or alpha == 0.0]
SHIPPED = "sat-lstm-squeezenet"
_LOADED = {}  # features already read in this process


def image_features(model, paths, cache_dir, batch_size=32):
    """float32 `[images, locations, channels]` of `paths` by `model`'s encoder,
    cached (`cache_features`) in `cache_dir` under the sha256 of the encoder's weights."""
    digest = hashlib.sha256(str(model.image_size).encode())
    for weight in model.encoder.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    path = Path(cache_dir) / f"image-features-{model.encoder_name}-{digest.hexdigest()[:16]}.npz"
    names = tuple(Path(p).name for p in paths)
    if (path, names) not in _LOADED:
        cached = cache_features(model, [(p, None) for p in paths], path, batch_size, dtype=np.float32)
        _LOADED[path, names] = np.stack([cached[name] for name in names])
    return _LOADED[path, names]


def cross_validated_retrieval(names, features, references, folds):
    """`(predictions, fold of each image)`: every image captioned by retrieval
    from the training images of the fold that tests it."""
    index = {name: i for i, name in enumerate(names)}
    predictions, fold_of_image = [None] * len(names), np.full(len(names), -1)
    for fold in range(folds):
        train, _, test = fold_images(names, fold, folds)
        train, test = [index[n] for n in train], [index[n] for n in test]
        found = nearest_neighbour_captions(features[train], [references[i] for i in train], features[test])
        for i, caption in zip(test, found):
            predictions[i] = caption
        fold_of_image[test] = fold
    return predictions, fold_of_image


def decode(model, features, beam_size, batch_size=32, alpha=0.0):
    """Captions of cached features, as `model.caption` decodes them (unknown word masked)."""
    texts = []
    for start in range(0, len(features), batch_size):
        sequences, _ = model.decode_features(features[start : start + batch_size], beam_size=beam_size, alpha=alpha)
        texts += [model.vocabulary.decode(s) for s in sequences]
    return texts


def setting(beam, alpha):
    """The key of a decoding setting in a predictions file."""
    return "greedy" if beam == 1 and alpha == 0 else f"beam {beam}" + (f" alpha {alpha:g}" if alpha else "")


def pooled(group, folds, names, features, split, beam, alpha):
    """(image indices, captions, fold of each) of every fold model of `group`
    ({fold: (model, card)}) on its `split` images (0 train, 1 val, 2 test):
    decoded by the model, or read from the card's saved test captions when
    the group came from `--save-predictions` files (model None)."""
    index = {name: i for i, name in enumerate(names)}
    images, texts, fold_ids = [], [], []
    for fold in sorted(group):
        model, card = group[fold]
        chosen = [index[n] for n in fold_images(names, fold, folds)[split]]
        if model is None:
            saved = card["test_captions"].get(setting(beam, alpha)) if split == 2 else None
            if saved is None or set(saved) != {names[i] for i in chosen}:
                what = f"no {setting(beam, alpha)} captions of its test images" if split == 2 else \
                    "only test captions, no model to decode its val images"
                raise SystemExit(f"--runs {card['source']}: fold {fold} of {folds} has {what}; "
                                 f"pass the run directory instead")
            texts += [saved[names[i]] for i in chosen]
        else:
            texts += decode(model, features[chosen], beam, alpha=alpha)
        images += chosen
        fold_ids += [fold] * len(chosen)
    return images, texts, np.array(fold_ids)


SAVED_CARD = ("name", "command", "data", "best_epoch", "optimizer_steps", "train_seconds", "weights_sha256",
              "ensemble")


def save_predictions(directory, system, group, folds, names, captions):
    """Writes `DIR/<system>/fold<I>of<K>.json` for each fold model of `group`:
    its card's `SAVED_CARD` entries and `captions[setting][fold]` ({image
    name: caption} of the fold's test images)."""
    from zoo.io import atomic_write

    folder = Path(directory) / re.sub(r"[^A-Za-z0-9.]+", "-", system).strip("-")
    folder.mkdir(parents=True, exist_ok=True)
    for fold, (model, card) in group.items():
        if model is None:
            continue  # read from such a file: nothing new
        saved = {"card": {k: card[k] for k in SAVED_CARD if k in card},
                 "test_captions": {key: by_fold[fold] for key, by_fold in captions.items()}}
        atomic_write(folder / f"fold{fold}of{folds}.json", json.dumps(saved, indent=1) + "\n")


def row(name, predictions, references, resamples, seed, fold_of_image=None):
    """Scores of `predictions` pooled over their images, with intervals; per fold too."""
    result = {
        "name": name,
        "images": len(predictions),
        "scores": caption_scores(predictions, references, cider=True),
        "intervals": caption_intervals(predictions, references, resamples=resamples, seed=seed),
    }
    if fold_of_image is not None:
        folds = sorted(set(fold_of_image.tolist()))
        result["folds"] = {
            int(f): caption_scores([p for p, g in zip(predictions, fold_of_image) if g == f],
                                   [r for r, g in zip(references, fold_of_image) if g == f], cider=True)
            for f in folds
        }
        result["fold_mean"] = {m: round(float(np.mean([s[m] for s in result["folds"].values()])), 2)
                               for m in METRICS}
    return result


def load_run(directory):
    """`(model, card)` of a run of `recipes/caption.py --folds K --fold I` (DIR or DIR/model),
    or `(None, card)` of a file `--save-predictions` wrote (the card holds its captions)."""
    directory = Path(directory)
    if directory.suffix == ".json" and directory.is_file():
        saved = json.loads(directory.read_text())
        if not isinstance(saved, dict) or not {"card", "test_captions"} <= set(saved):
            raise SystemExit(f"--runs: {directory} is not a file of --save-predictions (no card, test_captions)")
        card = {**saved["card"], "test_captions": saved["test_captions"], "source": str(directory)}
        if card.get("data", {}).get("fold") is None or "name" not in card:
            raise SystemExit(f"--runs: {directory} names no model or fold")
        return None, card
    model_dir = directory / "model" if (directory / "model" / "card.json").is_file() else directory
    card_path = model_dir / "card.json"
    if not card_path.is_file():
        raise SystemExit(f"--runs: no card.json in {directory} or {directory / 'model'}")
    card = json.loads(card_path.read_text())
    if card.get("data", {}).get("fold") is None or card.get("data", {}).get("folds") is None:
        raise SystemExit(f"--runs: {card_path} names no fold: train it with recipes/caption.py --folds K --fold I")
    return zoo.load(card["name"], weights=model_dir), card


# Flags that do not change the model a run trains: with a value, and without.
NOT_THE_MODEL = ("--model", "--folds", "--fold", "--run-dir", "--strategy", "--cpu-devices", "--backup-every")
SWITCHES = ("--ship", "--force")


def variant(card):
    """The flags of a fold run's command besides the model, the fold, the
    run directory and how it ran or shipped ("" for the recipe's defaults):
    runs that share them are folds of one system. An ensemble
    (`--ensemble-with`) is named by its members' flags, not their directories."""
    words = shlex.split(card.get("command", ""))[2:]  # after "python recipes/caption.py"
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word.split("=")[0] in NOT_THE_MODEL + ("--ensemble-with",):
            skip = "=" not in word
        elif word not in SWITCHES:
            kept.append(word)
    members = [f"[{variant(member) or 'the recipe'}]" for member in card.get("ensemble", [])]
    return " ".join(kept + (["--ensemble-with", ", ".join(members)] if members else []))


def load_runs(directories):
    """`{(system, folds): {fold: (model, card)}}` of the recipe's fold runs; a
    system is the model name and its `variant` flags."""
    groups = {}
    for directory in directories:
        model, card = load_run(directory)
        fold, folds = card["data"]["fold"], card["data"]["folds"]
        group = groups.setdefault((" ".join(filter(None, (card["name"], variant(card)))), folds), {})
        if fold in group:
            raise SystemExit(f"--runs: fold {fold} of {folds} of {card['name']} given twice ({directory})")
        group[fold] = (model, card)
    return groups


def cell(result, metric):
    low, high = result["intervals"][metric]
    return f"{result['scores'][metric]:.2f} ({low:.1f}-{high:.1f})"


def table(rows, title):
    lines = [f"{title}\n", "| system | images | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | mean over folds: BLEU-4, "
             "CIDEr-D (range) |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        folds = ""
        if "folds" in r:
            b4, cd = ([s[m] for s in r["folds"].values()] for m in ("bleu4", "cider"))
            folds = (f"{r['fold_mean']['bleu4']:.2f} ({min(b4):.1f}-{max(b4):.1f}), "
                     f"{r['fold_mean']['cider']:.2f} ({min(cd):.1f}-{max(cd):.1f}); "
                     f"{len(b4)} fold{'s' if len(b4) > 1 else ''}")
        lines.append(f"| {r['name']} | {r['images']} | " + " | ".join(cell(r, m) for m in METRICS) + f" | {folds} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5, help="folds of the retrieval baseline (>= 2)")
    parser.add_argument("--runs", nargs="*", default=[],
                        help="run directories of recipes/caption.py --folds K, or files of --save-predictions")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap draws")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    parser.add_argument("--no-shipped", action="store_true", help="leave out the shipped model")
    parser.add_argument("--tune", action="store_true", help="also choose beam size and length penalty on val folds")
    parser.add_argument("--ensemble", nargs="*", default=[], metavar="NAME=DIR,DIR,...",
                        help="an ensemble of runs of one fold (repeat NAME for other folds: pooled)")
    parser.add_argument("--cache-dir", default="runs/caption-cv", help="where the image features are cached")
    parser.add_argument("--json", default="", help="also write every number to this file")
    parser.add_argument("--save-predictions", default="", metavar="DIR",
                        help="write each fold model's test captions to DIR/<system>/fold<I>of<K>.json")
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error(f"--folds must be an integer >= 2, got {args.folds}")

    items = load_flickr8k("all")
    names = [Path(p).name for p, _ in items]
    references = [[normalize_caption(c) for c in captions] for _, captions in items]
    shipped = zoo.load(SHIPPED)
    features = image_features(shipped, [p for p, _ in items], args.cache_dir)
    results = {"images": len(items), "folds": args.folds, "cross_validated": [], "shipped_split": []}

    # -- cross-validated: retrieval, then the recipe's fold models -------------------------
    predictions, fold_of_image = cross_validated_retrieval(names, features, references, args.folds)
    results["cross_validated"].append(row(f"nearest-neighbour retrieval, {args.folds} folds", predictions,
                                          references, args.resamples, args.seed, fold_of_image))
    beam3 = {}  # model name -> (images, captions) of its pooled beam-3 row, for the paired comparisons
    for (model_name, folds), group in sorted(load_runs(args.runs).items()):
        covered = sorted(group)
        # Every fold model has the shipped model's frozen encoder; a group of saved captions has no model.
        models = [m for m, _ in group.values() if m is not None]
        all_features = image_features(models[0], [p for p, _ in items], args.cache_dir) if models else features
        where = f"{folds} folds" if covered == list(range(folds)) else f"folds {covered} of {folds}"
        settings = [(3, 0.0, "beam 3"), (1, 0.0, "greedy")]
        if args.tune:
            grid = {}
            for beam, alpha in TUNING:
                images, texts, _ = pooled(group, folds, names, all_features, 1, beam, alpha)
                grid[beam, alpha] = caption_scores(texts, [references[i] for i in images], cider=True)
            best = max(grid, key=lambda k: grid[k]["bleu4"])
            results.setdefault("tuning", {})[model_name] = {f"beam {b}, alpha {a}": v for (b, a), v in grid.items()}
            print(f"{model_name}, pooled val BLEU-4 / CIDEr-D of the fold models ({where}): " + "; ".join(
                f"beam {b} alpha {a:g}: {v['bleu4']:.2f} / {v['cider']:.1f}" for (b, a), v in grid.items()))
            settings.append((*best, f"beam {best[0]} alpha {best[1]:g} (chosen on val)"))
        captions = {}  # setting -> fold -> {image name: caption}, for --save-predictions
        for beam, alpha, label in settings:
            images, texts, fold_ids = pooled(group, folds, names, all_features, 2, beam, alpha)
            if (beam, alpha) == (3, 0.0):
                beam3[model_name] = (images, texts)
            for i, text, fold in zip(images, texts, fold_ids.tolist()):
                captions.setdefault(setting(beam, alpha), {}).setdefault(fold, {})[names[i]] = text
            results["cross_validated"].append(row(f"{model_name}, {label}, {where}", texts,
                                                  [references[i] for i in images], args.resamples, args.seed,
                                                  fold_ids))
        if args.save_predictions:
            save_predictions(args.save_predictions, model_name, group, folds, names, captions)

    # -- paired comparisons of the pooled models, beam 3, on the same images -------------------
    for (b, (images_b, texts_b)), (a, (images_a, texts_a)) in itertools.combinations(sorted(beam3.items()), 2):
        common = sorted(set(images_a) & set(images_b))  # the images both systems were tested on
        if common:
            caption_a, caption_b = dict(zip(images_a, texts_a)), dict(zip(images_b, texts_b))
            result = paired_caption_difference([caption_a[i] for i in common], [caption_b[i] for i in common],
                                               [references[i] for i in common], args.resamples, args.seed)
            results.setdefault("paired", []).append({"a": a, "b": b, "images": len(common), **result})

    # -- ensembles of fold models, beside their members, on their folds' test images -------
    ensembles = {}
    for spec in args.ensemble:
        name, _, members = spec.partition("=")
        runs = [load_run(d) for d in members.split(",")]
        if any(model is None for model, _ in runs):
            raise SystemExit(f"--ensemble {spec}: give run directories: a file of --save-predictions has no model")
        fold_of_runs = {(card["name"], card["data"]["folds"], card["data"]["fold"]) for _, card in runs}
        if not name or len(runs) < 2 or len(fold_of_runs) != 1:
            raise SystemExit(f"--ensemble {spec}: give NAME=DIR,DIR,... with two or more runs of one model and fold")
        ensembles.setdefault(name, []).append((members.split(","), [m for m, _ in runs], fold_of_runs.pop()))
    index = {n: i for i, n in enumerate(names)}
    for name, parts in ensembles.items():
        images, texts, alone = [], [], {}
        for directories, models, (_, folds, fold) in parts:
            test = [index[n] for n in fold_images(names, fold, folds)[2]]
            grid = image_features(models[0], [p for p, _ in items], args.cache_dir)[test]
            for k, model in enumerate(models):
                alone.setdefault(k, ([], []))[0].append(Path(directories[k]).name)
                alone[k][1].extend(decode(model, grid, 3))
            models[0].set_members(models[1:])  # as the shipped ensemble captions (Captioner.set_members)
            texts += decode(models[0], grid, 3)
            images += test
        refs = [references[i] for i in images]
        results["cross_validated"].append(row(f"ensemble {name} ({len(parts[0][1])} models), beam 3", texts, refs,
                                              args.resamples, args.seed))
        for directories, member_texts in alone.values():
            results["cross_validated"].append(row(f"its member {' + '.join(directories)} alone, beam 3",
                                                  member_texts, refs, args.resamples, args.seed))

    # -- the shipped model on the images it was not trained on, beside retrieval --------------
    if not args.no_shipped:
        data = zoo.info(SHIPPED)["card"].get("data", {})
        if data.get("folds"):  # trained on a cross-validation fold
            parts, where = fold_images(names, data["fold"], data["folds"]), f"fold {data['fold']} of {data['folds']}"
        else:
            parts, where = [[n for n in names if split_of(n) == s] for s in ("train", "val", "test")], "fixed split"
        index = {n: i for i, n in enumerate(names)}
        train, val, test = ([index[n] for n in part] for part in parts)
        unseen = val + test
        unseen_refs = [references[i] for i in unseen]
        for beam in (3, 1):
            texts = decode(shipped, features[unseen], beam)
            results["shipped_split"].append(row(f"{SHIPPED} (shipped), {'greedy' if beam == 1 else f'beam {beam}'}",
                                                texts, unseen_refs, args.resamples, args.seed))
            results["shipped_split"][-1]["test_split_only"] = caption_scores(
                texts[len(val):], [references[i] for i in test], cider=True)
        retrieved = nearest_neighbour_captions(features[train], [references[i] for i in train], features[unseen])
        results["shipped_split"].append(row(f"nearest-neighbour retrieval from the {len(train)} train images",
                                            retrieved, unseen_refs, args.resamples, args.seed))

    print(table(results["cross_validated"], f"Cross-validated over the {len(items)} images (each tested once):"))
    for p in results.get("paired", []):
        print(f"\n{p['a']} minus {p['b']}, beam 3, paired bootstrap over the same {p['images']} images: " + "; ".join(
            f"{m} {p[m]['difference']:+.2f} ({p[m]['interval'][0]:+.2f} to {p[m]['interval'][1]:+.2f}), "
            f"{p['a']} ahead in {100 * p[m]['a_better']:.0f}% of draws" for m in ("bleu4", "cider")))
    if results["shipped_split"]:
        print()
        print(table(results["shipped_split"], f"The {len(unseen)} images outside the shipped model's training "
                                              f"images ({len(val)} val, which chose its epoch, + {len(test)} test "
                                              f"of its {where}; one model, not cross-validation):"))
        for r in results["shipped_split"]:
            if "test_split_only" in r:
                print(f"  {r['name']} on the {len(test)} test images alone: {r['test_split_only']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
