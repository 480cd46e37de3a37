"""Cross-validated captioning evaluation: CIDEr-D, bootstrap intervals over images, k-fold splits by image
name, the captions pipeline module, and the recipe's --folds/--fold."""

import importlib.util
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from zoo.data import captions as caption_data
from zoo.data.flickr8k import FOLD_VAL_PERCENT, fold_images, fold_of, load_flickr8k_fold
from zoo.data.tokenizers import BOS, EOS, WordVocabulary
from zoo.metrics import caption_intervals, caption_scores, cider_d

ROOT = Path(__file__).resolve().parent.parent

# Two images, two references each. Image 0's candidate repeats "a dog" (clipping matters: the references hold
# "dog" once) and is 10 words against 6 and 7 (the length penalty matters); "a", "the", "on" and "in" are in
# both images' references (idf 0), the rest in one (idf log 2).
HYPOTHESES = ["A dog, a dog runs on grass in the park.", "a man rides a bike"]
REFERENCES = [
    ["a dog runs on the grass", "a brown dog plays in the grass"],
    ["two men ride bikes", "A man rides a bike on the road."],
]


def hand_cider(hypotheses, references, sigma=6.0, clip=True):
    """CIDEr-D from the paper's definition, with dense tf-idf vectors over every n-gram seen."""
    hyps = [h.lower().replace(",", "").replace(".", "").split() for h in hypotheses]
    refs = [[r.lower().replace(",", "").replace(".", "").split() for r in rs] for rs in references]
    images = len(hyps)

    def grams(words, n):
        return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))

    scores = np.zeros(images)
    for n in range(1, 5):
        vocab = sorted({g for words in hyps + [r for rs in refs for r in rs] for g in grams(words, n)})
        index = {g: k for k, g in enumerate(vocab)}
        df = np.zeros(len(vocab))
        for rs in refs:
            seen = {g for r in rs for g in grams(r, n)}
            df[[index[g] for g in seen]] += 1
        idf = np.log(images) - np.log(np.maximum(df, 1.0))

        def vector(words, n=n, index=index, idf=idf):
            tf = np.zeros(len(idf))
            for g, count in grams(words, n).items():
                tf[index[g]] = count
            return tf * idf

        for i, (h, rs) in enumerate(zip(hyps, refs)):
            vh = vector(h)
            for r in rs:
                vr = vector(r)
                dot = np.sum((np.minimum(vh, vr) if clip else vh) * vr)
                norms = np.linalg.norm(vh) * np.linalg.norm(vr)
                cosine = dot / norms if norms > 0 else 0.0
                penalty = np.exp(-((len(h) - len(r)) ** 2) / (2 * sigma**2))
                scores[i] += cosine * penalty / (4 * len(rs))
    return 10 * scores


def test_cider_d_is_the_papers_tf_idf_cosine_with_clipping_and_length_penalty():
    expected = hand_cider(HYPOTHESES, REFERENCES)
    found = cider_d(HYPOTHESES, REFERENCES)
    np.testing.assert_allclose(found, expected, rtol=1e-9)
    # The test tells the variants apart: no clipping, or another sigma, moves the scores well past the tolerance.
    assert abs(hand_cider(HYPOTHESES, REFERENCES, clip=False)[0] - expected[0]) > 0.05
    assert abs(hand_cider(HYPOTHESES, REFERENCES, sigma=1e9)[0] - expected[0]) > 0.05
    # A candidate equal to every reference of its image, sharing no n-gram with the other images, scores 10;
    # one of two words has no 3- or 4-grams: half of that.
    exact = ["a red kite flies", "the blue car parks"]
    assert cider_d(exact, [[exact[0], exact[0]], [exact[1]]]) == pytest.approx([10, 10])
    assert cider_d(["red kite", "blue car"], [["red kite"], ["blue car"]]) == pytest.approx([5, 5])


def test_caption_scores_adds_cider_x100_and_keeps_bleu():
    with_cider = caption_scores(HYPOTHESES, REFERENCES, cider=True)
    without = caption_scores(HYPOTHESES, REFERENCES)
    assert {k: v for k, v in with_cider.items() if k != "cider"} == without
    assert with_cider["cider"] == pytest.approx(100 * hand_cider(HYPOTHESES, REFERENCES).mean(), abs=0.005)
    with pytest.raises(ValueError, match="non-empty list per hypothesis"):
        cider_d(["a"], [[]])


def corpus(images=40, seed=1):
    rng = random.Random(seed)
    words = "a dog man runs on the grass in red ball two boys play water beach".split()
    hypotheses = [" ".join(rng.choices(words, k=rng.randint(3, 9))) for _ in range(images)]
    references = [[" ".join(rng.choices(words, k=rng.randint(4, 10))) for _ in range(rng.randint(1, 5))]
                  for _ in range(images)]
    return hypotheses, references


def test_bootstrap_recomputes_corpus_bleu_on_each_draw():
    hypotheses, references = corpus()
    draw = np.random.default_rng(7).integers(0, len(hypotheses), (1, len(hypotheses)))[0]  # the one draw of seed 7
    assert len(set(draw.tolist())) < len(draw)  # images drawn twice
    intervals = caption_intervals(hypotheses, references, resamples=1, seed=7)
    drawn = caption_scores([hypotheses[i] for i in draw], [references[i] for i in draw])
    for n in range(1, 5):
        assert intervals[f"bleu{n}"][0] == intervals[f"bleu{n}"][1] == pytest.approx(drawn[f"bleu{n}"], abs=0.011)
    # CIDEr-D: the drawn images' scores, with the document frequencies of the whole set.
    cider = 100 * cider_d(hypotheses, references)[draw].mean()
    assert intervals["cider"][0] == pytest.approx(cider, abs=0.011)


def test_bootstrap_interval_holds_the_estimate_and_is_seeded():
    hypotheses, references = corpus()
    point = caption_scores(hypotheses, references, cider=True)
    intervals = caption_intervals(hypotheses, references, resamples=200, seed=3)
    for key, (low, high) in intervals.items():
        assert low < point[key] < high, key
    assert caption_intervals(hypotheses, references, resamples=200, seed=3) == intervals
    assert caption_intervals(hypotheses, references, resamples=200, seed=4) != intervals
    narrow = caption_intervals(hypotheses, references, resamples=200, seed=3, level=0.5)
    assert all(intervals[k][0] <= narrow[k][0] <= narrow[k][1] <= intervals[k][1] for k in intervals)


def test_bootstrap_over_identical_images_has_zero_width():
    hypotheses, references = ["a dog runs on grass"] * 12, [["a dog runs on the grass", "a dog"]] * 12
    point = caption_scores(hypotheses, references, cider=True)
    intervals = caption_intervals(hypotheses, references, resamples=50)
    for key, (low, high) in intervals.items():
        assert low == high == pytest.approx(point[key], abs=0.011), key


@pytest.mark.parametrize("kwargs, match", [
    ({"resamples": 0}, "`resamples` must be a positive integer, got 0"),
    ({"level": 1.0}, r"`level` must be a number in \(0, 1\), got 1.0"),
])
def test_bootstrap_checks_its_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        caption_intervals(["a"], [["a"]], **kwargs)


NAMES = [f"{1000 + 37 * i}_{i % 7}.jpg" for i in range(400)]


@pytest.mark.parametrize("folds", [2, 5])
def test_folds_test_every_image_once_and_split_the_rest(folds):
    tests = []
    for fold in range(folds):
        train, val, test = fold_images(NAMES, fold, folds)
        assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
        assert sorted(train + val + test) == sorted(NAMES)
        assert all(fold_of(name, folds) == fold for name in test)
        assert train == sorted(train) and val == sorted(val) and test == sorted(test)
        # About FOLD_VAL_PERCENT % of the non-test images are val (a hash: within a few points on 400 names).
        assert abs(100 * len(val) / (len(train) + len(val)) - FOLD_VAL_PERCENT) < 5
        tests += test
    assert sorted(tests) == sorted(NAMES)  # every image tested exactly once
    assert min(Counter(fold_of(name, folds) for name in NAMES).values()) > 0.6 * len(NAMES) / folds


def test_folds_depend_on_the_name_alone():
    shuffled = NAMES[::-1] + NAMES[:50]  # another order, with repeats
    random.Random(0).shuffle(shuffled)
    assert fold_images(shuffled, 3, 5) == fold_images(NAMES, 3, 5)
    subset = NAMES[::3]  # an image keeps its fold and split whatever the other images
    assert fold_images(subset, 3, 5) == tuple([n for n in part if n in set(subset)]
                                              for part in fold_images(NAMES, 3, 5))


@pytest.mark.parametrize("fold, folds, match", [
    (5, 5, r"`fold` must be an integer in \[0, 5\) for folds=5, got 5"),
    (-1, 5, "got -1"),
    (0, 1, "`folds` must be an integer >= 2, got 1"),
    (True, 5, "got True"),
])
def test_fold_arguments_are_checked(fold, folds, match):
    with pytest.raises(ValueError, match=match):
        fold_images(NAMES, fold, folds)


def test_the_mirror_folds_cover_its_850_images(mirror):
    seen = []
    for fold in range(5):
        train, val, test = load_flickr8k_fold(fold, 5)
        assert len(train) + len(val) + len(test) == 850 and all(len(c) == 5 for _, c in test)
        seen += [path for path, _ in test]
    assert len(set(seen)) == 850


def test_caption_pipeline_pairs_every_caption_and_batches_features():
    vocabulary = WordVocabulary.from_texts(["a dog runs", "a cat"])
    items = [("x.jpg", ["A dog runs fast!", "a cat"]), ("y.jpg", ["dog"])]
    features = np.arange(2 * 3 * 4, dtype=np.float16).reshape(2, 3, 4)
    rows, tokens = caption_data.caption_pairs(items, features, vocabulary, max_length=3)
    assert rows.tolist() == [0, 0, 1] and tokens.shape == (3, 5)
    assert tokens[0].tolist() == [BOS, *vocabulary.encode("a dog runs"), EOS]  # "fast" cut at max_length 3
    assert tokens[2].tolist() == [BOS, *vocabulary.encode("dog"), EOS, 0, 0]
    batches = list(caption_data.caption_dataset(features, rows, tokens, 2, shuffle=True, seed=1, epochs=(0, 1)))
    assert len(batches) == 2  # one full batch of 2 per epoch
    for (grid, tokens_in), tokens_out in batches:
        assert grid.shape == (2, 3, 4) and grid.dtype == "float32"
        assert tokens_in.shape == tokens_out.shape == (2, 4)
        assert (tokens_in.numpy()[:, 1:] == tokens_out.numpy()[:, :-1]).all()
    # Pass e's order is drawn from (seed, e) alone: a run resumed at epoch 1 sees the same batch.
    resumed = list(caption_data.caption_dataset(features, rows, tokens, 2, shuffle=True, seed=1, epochs=(1,)))
    assert (resumed[0][1].numpy() == batches[1][1].numpy()).all()


def script(name, path):
    """The module of a script (a recipe or a benchmark), imported from its path."""
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipe():
    return script("caption_recipe", "recipes/caption.py")


def test_recipe_takes_the_pipeline_from_zoo_data_and_checks_folds(capsys):
    module = recipe()
    assert module.caption_dataset is caption_data.caption_dataset
    assert module.caption_pairs is caption_data.caption_pairs
    cfg = module.parse_args(["--folds", "5", "--fold", "4"])
    assert (cfg.folds, cfg.fold) == (5, 4)
    for flags, message in [
        (["--folds", "1"], "--folds must be 0 (the fixed split) or an integer >= 2, got 1"),
        (["--folds", "5", "--fold", "5"], "--fold must be in [0, 5) with --folds 5, got 5"),
        (["--fold", "2"], "--fold 2 needs --folds K"),
        (["--folds", "3", "--images", "x", "--captions", "y"], "--folds is for Flickr8k"),
    ]:
        with pytest.raises(SystemExit):
            module.parse_args(flags)
        assert message in capsys.readouterr().err


def benchmark():
    return script("caption_cv", "benchmarks/caption_cv.py")


def test_cross_validated_retrieval_captions_each_image_from_its_folds_training_images_only():
    names = NAMES[:60]
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 4, 3)).astype(np.float32)
    references = [[f"image{i} a", f"image{i} b"] for i in range(60)]  # whose caption was retrieved
    predictions, fold_of_image = benchmark().cross_validated_retrieval(names, features, references, 5)
    assert fold_of_image.tolist() == [fold_of(n, 5) for n in names]
    for i, caption in enumerate(predictions):
        source = int(caption.split()[0][len("image"):])
        train, _, _ = fold_images(names, fold_of(names[i], 5), 5)
        assert names[source] in train  # never a test image of the fold, never val
        # ... and it is the training image closest in cosine of the mean features.
        mean = features.mean(axis=1)
        mean /= np.linalg.norm(mean, axis=1, keepdims=True)
        candidates = [names.index(n) for n in train]
        assert source == candidates[int(np.argmax(mean[candidates] @ mean[i]))]


class FakeCaptioner:
    """What `cache_features` and `image_features` use of a captioner: a 4-location, 3-channel "encoder" (the mean
    colour of each quarter of the rows, / 7 so that float16 rounds), counting the images it encodes."""

    image_size, encoder_name = 32, "fake"

    def __init__(self, scale=1.0):
        self.scale, self.encoded = scale, 0
        self.encoder = self

    def get_weights(self):
        return [np.array([self.scale], np.float32)]

    def encode_images(self, images):
        self.encoded += len(images)
        return images.reshape(len(images), 4, -1, 3).mean(axis=2) * self.scale / 7


def photos(directory, count):
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        paths.append(str(directory / f"photo{i}.png"))
        Image.fromarray(rng.integers(0, 256, (20 + 5 * i, 30, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def test_cache_features_encodes_each_image_once_and_keeps_the_file(tmp_path):
    from zoo.data.flickr8k import load_image

    paths, model, cache = photos(tmp_path, 3), FakeCaptioner(), tmp_path / "cache" / "features.npz"
    expected = {Path(p).name: (load_image(p, 32).reshape(4, -1, 3).mean(axis=1) / 7).astype(np.float16)
                for p in paths}
    first = caption_data.cache_features(model, [(p, ["a caption"]) for p in paths[:2]], cache, batch_size=1)
    assert model.encoded == 2 and sorted(first) == ["photo0.png", "photo1.png"]
    for name, features in first.items():
        assert features.dtype == np.float16 and np.array_equal(features, expected[name])
    more = caption_data.cache_features(model, [(p, []) for p in paths], cache)
    assert model.encoded == 3 and sorted(more) == sorted(expected)  # only photo2 was encoded
    again = caption_data.cache_features(FakeCaptioner(), [(p, []) for p in paths], cache)  # read from the file
    assert all(np.array_equal(again[n], expected[n]) for n in expected)
    assert sorted(p.name for p in cache.parent.iterdir()) == ["features.npz"]  # no temporary file left
    exact = caption_data.cache_features(model, [(paths[0], [])], tmp_path / "f32.npz", dtype=np.float32)
    assert exact["photo0.png"].dtype == np.float32 and not np.array_equal(exact["photo0.png"], expected["photo0.png"])


def test_benchmark_features_come_from_the_recipes_cache_per_encoder(tmp_path):
    module = benchmark()
    paths = photos(tmp_path, 3)
    model = FakeCaptioner()
    features = module.image_features(model, paths[::-1], tmp_path / "cache")
    assert features.shape == (3, 4, 3) and features.dtype == np.float32 and model.encoded == 3
    stored = caption_data.cache_features(model, [(p, []) for p in paths], next((tmp_path / "cache").iterdir()))
    assert model.encoded == 3 and np.array_equal(features, np.stack([stored[Path(p).name] for p in paths[::-1]]))
    module._LOADED.clear()
    assert np.array_equal(module.image_features(FakeCaptioner(), paths[::-1], tmp_path / "cache"), features)
    other = FakeCaptioner(scale=2.0)  # other encoder weights: other features, in their own file
    assert np.allclose(module.image_features(other, paths[::-1], tmp_path / "cache"), 2 * features)
    assert other.encoded == 3 and len(list((tmp_path / "cache").iterdir())) == 2


def test_caption_splits_give_the_recipes_items_and_their_card(mirror):
    from zoo.data.flickr8k import load_flickr8k

    train, val, test, data = caption_data.caption_splits()
    assert [train, val, test] == [load_flickr8k(s) for s in ("train", "val", "test")]
    assert data == {"dataset": "flickr8k (the 850-image mirror subset)",
                    "split": "by sha256 of the image name (zoo.data.flickr8k): 82/9/9 % train/val/test"}
    *fold, data = caption_data.caption_splits(folds=5, fold=2)
    assert tuple(fold) == load_flickr8k_fold(2, 5) and (data["fold"], data["folds"]) == (2, 5)
    assert list(data) == ["dataset", "split", "fold", "folds"] and data["dataset"].endswith("fold 2 of 5")
    part = caption_data.caption_splits(train_fraction=0.25, seed=3)[0]
    assert len(part) == round(0.25 * len(train)) and part == [item for item in train if item in part]  # in order
    assert part == caption_data.caption_splits(train_fraction=0.25, seed=3)[0]
    assert part != caption_data.caption_splits(train_fraction=0.25, seed=4)[0]


def test_paired_difference_is_the_corpus_difference_with_paired_draws():
    from zoo.metrics import paired_caption_difference

    rng = random.Random(0)
    words = "a dog runs on the grass man in red shirt".split()
    references = [[" ".join(rng.choices(words, k=7)) for _ in range(5)] for _ in range(40)]
    good = [refs[0] for refs in references]
    poor = [" ".join(rng.choices(words, k=7)) for _ in references]
    result = paired_caption_difference(good, poor, references, resamples=200, seed=1)
    a, b = caption_scores(good, references, cider=True), caption_scores(poor, references, cider=True)
    assert result["bleu4"]["difference"] == pytest.approx(a["bleu4"] - b["bleu4"], abs=0.011)
    assert result["cider"]["difference"] == pytest.approx(a["cider"] - b["cider"], abs=0.011)
    for metric in ("bleu4", "cider"):
        low, high = result[metric]["interval"]
        assert 0 < low <= result[metric]["difference"] <= high and result[metric]["a_better"] == 1.0
    same = paired_caption_difference(poor, poor, references, resamples=50)
    assert same["bleu4"] == {"difference": 0.0, "interval": (0.0, 0.0), "a_better": 0.0}
    with pytest.raises(ValueError, match="`references` must hold a non-empty list per hypothesis"):
        paired_caption_difference(good[:3], poor, references)


@pytest.mark.parametrize("command, expected", [
    ("python recipes/caption.py --folds 5 --fold 0 --run-dir runs/sat-cv0", ""),
    ("python recipes/caption.py --label-smoothing 0.1 --folds 5 --fold 3 --run-dir=runs/x", "--label-smoothing 0.1"),
    ("python recipes/caption.py --model lstm-squeezenet --fold=1 --folds 5 --word-dropout 0.2", "--word-dropout 0.2"),
    ("python recipes/caption.py --text multi30k --folds 5 --fold 0 --run-dir r --ship --force --strategy=mirrored",
     "--text multi30k"),  # how a run was shipped or distributed is not the model
])
def test_fold_runs_are_pooled_by_their_flags_besides_model_fold_and_run_dir(command, expected):
    assert benchmark().variant({"command": command}) == expected


def test_an_ensemble_run_is_pooled_by_its_members_flags_not_their_directories():
    card = {"command": "python recipes/caption.py --text multi30k --folds 5 --fold 2 --ensemble-with runs/b2,runs/c2",
            "ensemble": [{"command": "python recipes/caption.py --augment crops --folds 5 --fold 2 --run-dir runs/b2"},
                         {"command": "python recipes/caption.py --folds 5 --fold 2 --run-dir runs/c2"}]}
    assert benchmark().variant(card) == "--text multi30k --ensemble-with [--augment crops], [the recipe]"


def test_view_features_are_those_of_the_mirrored_or_cropped_image(tmp_path):
    from zoo.data.flickr8k import load_image

    class TopLeft(FakeCaptioner):  # the four top pixels of the first column: they change with every view
        def encode_images(self, images):
            self.encoded += len(images)
            return images[:, :4, 0, :] / 7

    paths, model, cache = photos(tmp_path, 2), TopLeft(), tmp_path / "features.npz"
    plain = caption_data.cache_features(model, [(p, []) for p in paths], cache)
    both = caption_data.cache_features(model, [(p, []) for p in paths], cache, view="mirror")
    assert model.encoded == 4 and sorted(both) == ["photo0.png", "photo0.png|mirror", "photo1.png", "photo1.png|mirror"]
    crops = caption_data.cache_features(model, [(p, []) for p in paths], cache, view="crop-bottom-right")
    for p in paths:
        name, image = Path(p).name, load_image(p, 32)
        assert np.array_equal(both[name], plain[name])
        assert np.array_equal(both[name + "|mirror"], (image[:4, -1, :] / 7).astype(np.float16))
        large = load_image(p, round(32 / caption_data.CROP))  # 37 px: the 32 px crop starts at row and column 5
        assert np.array_equal(crops[name + "|crop-bottom-right"], (large[5:9, 5, :] / 7).astype(np.float16))
        assert not np.array_equal(both[name + "|mirror"], both[name])
    with pytest.raises(ValueError, match="`view` must be None or one of"):
        caption_data.cache_features(model, [], cache, view="flip")


def test_with_views_each_caption_meets_one_view_of_its_image_drawn_per_epoch():
    items = [(f"{i}.jpg", ["a dog"] * 5) for i in range(8)]
    vocabulary = WordVocabulary.from_texts(["a dog"])
    features = np.arange(24, dtype=np.float16).reshape(24, 1, 1)  # image i: i, its views: 8 + i, 16 + i
    rows, tokens = caption_data.caption_pairs(items, features[:8], vocabulary, max_length=3)

    def images(epochs, table, views):
        ds = caption_data.caption_dataset(table, rows, tokens, 4, shuffle=True, seed=3, epochs=epochs, views=views)
        return np.concatenate([grid.numpy().ravel() for (grid, _), _ in ds]).astype(int)

    plain, viewed = images((0, 1), features[:8], 1), images((0, 1), features, 3)
    assert plain.max() < 8 and (viewed % 8 == plain).all()  # the same order, one view of the same image
    assert all(0.15 < (viewed // 8 == j).mean() < 0.5 for j in range(3))
    assert not np.array_equal(viewed[:40] // 8, viewed[40:] // 8)  # drawn again each epoch
    assert np.array_equal(images((1,), features, 3), viewed[40:])  # from (seed, epoch) alone: a resumed run sees it


def test_text_only_captions_join_each_pass_with_a_blank_image():
    items = [(f"{i}.jpg", ["a dog"] * 2) for i in range(4)]
    vocabulary = WordVocabulary.from_texts(["a dog", "a cat"])
    features = np.arange(1, 5, dtype=np.float16).reshape(4, 1, 1)  # image i: i + 1; the blank one: 0
    rows, tokens = caption_data.caption_pairs(items, features, vocabulary, max_length=3)
    text = np.stack([np.array([BOS, *vocabulary.encode(t), EOS, 0], np.int32) for t in ["a cat", "cat a"] * 3])

    def passes(epochs):
        ds = caption_data.caption_dataset(features, rows, tokens, 2, shuffle=True, seed=3, epochs=epochs,
                                          text_tokens=text)
        return [(grid.numpy().ravel().astype(int), words.numpy()) for (grid, words), _ in ds]

    batches = passes((0, 1))
    assert len(batches) == 14  # each pass: 8 image captions and min(8, 6) descriptions, in batches of 2
    assert caption_data.pairs_per_pass(len(rows), text) == 14 and caption_data.pairs_per_pass(len(rows)) == 8
    grids = np.concatenate([g for g, _ in batches])
    words = np.concatenate([w for _, w in batches])
    blank = grids == 0
    assert blank.sum() == 12 and (grids[~blank] >= 1).all()  # 6 descriptions a pass, no image
    cat = vocabulary.encode("cat")[0]
    assert ((words[:, 1:3] == cat).any(axis=1) == blank).all()  # the descriptions meet the blank image, only they
    assert [g.tolist() for g, _ in passes((1,))] == [g.tolist() for g, _ in batches[7:]]  # a resumed pass: the same


def test_text_captions_leave_out_the_captions_of_the_images_and_unknown_words(mirror):
    from zoo.data.translation import load_pairs

    english = load_pairs("de-en", "train")[1][:200]
    vocabulary = WordVocabulary.from_texts([caption_data.normalize_caption(t) for t in english])
    kept = caption_data.text_captions(vocabulary, 20, exclude=english[:100])
    texts = {vocabulary.decode(row[1:]) for row in kept}
    normalized = [caption_data.normalize_caption(t) for t in english]
    assert not texts & set(normalized[:100])  # equal to an excluded caption: left out
    assert set(t for t in normalized[100:] if 0 < len(t.split()) <= 20 and t not in normalized[:100]) <= texts
    assert all(1 not in row for row in kept)  # no unknown word (id 1)


def test_saved_test_captions_pool_like_the_models_that_wrote_them(tmp_path):
    module = benchmark()
    names, folds = NAMES[:60], 3
    features = np.arange(60, dtype=np.float32)[:, None, None]

    class Captioner:  # "decodes" each image as its index and the beam size
        vocabulary = None

        def __init__(self):
            self.vocabulary = self

        def decode_features(self, grid, beam_size, alpha=0.0):
            return [(int(g[0, 0]), beam_size) for g in grid], None

        def decode(self, sequence):
            return f"image {sequence[0]} beam {sequence[1]}"

    cards = {f: {"name": "sat", "command": f"python recipes/caption.py --folds 3 --fold {f} --text multi30k",
                 "data": {"fold": f, "folds": folds}, "best_epoch": 4, "parameters": 9} for f in range(folds)}
    group = {f: (Captioner(), cards[f]) for f in range(folds)}
    expected = {(beam, 0.0): module.pooled(group, folds, names, features, 2, beam, 0.0) for beam in (3, 1)}
    captions = {}
    for (beam, alpha), (images, texts, fold_ids) in expected.items():
        for i, text, fold in zip(images, texts, fold_ids.tolist()):
            captions.setdefault(module.setting(beam, alpha), {}).setdefault(fold, {})[names[i]] = text
    module.save_predictions(tmp_path, "sat --text multi30k", group, folds, names, captions)
    files = sorted(tmp_path.glob("*/*.json"))
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        f"sat-text-multi30k/fold{f}of3.json" for f in range(folds)]
    loaded = module.load_runs([str(f) for f in files])
    assert list(loaded) == [("sat --text multi30k", folds)]
    again = loaded["sat --text multi30k", folds]
    assert again[1][1]["best_epoch"] == 4 and "parameters" not in again[1][1]  # the card's SAVED_CARD entries
    for (beam, alpha), (images, texts, fold_ids) in expected.items():
        read = module.pooled(again, folds, names, features, 2, beam, alpha)
        assert read[0] == images and read[1] == texts and read[2].tolist() == fold_ids.tolist()
    with pytest.raises(SystemExit, match="fold 0 of 3 has no beam 5 captions of its test images; pass the run"):
        module.pooled(again, folds, names, features, 2, 5, 0.0)
    with pytest.raises(SystemExit, match="fold 0 of 3 has only test captions, no model to decode its val images"):
        module.pooled(again, folds, names, features, 1, 3, 0.0)
    (tmp_path / "other.json").write_text('{"captions": {}}')
    with pytest.raises(SystemExit, match=r"other.json is not a file of --save-predictions \(no card, test_captions\)"):
        module.load_run(tmp_path / "other.json")
