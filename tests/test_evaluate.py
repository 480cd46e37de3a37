"""zoo.evaluate: progress on stderr, the same scores as one call, bad limits refused."""

import types

import numpy as np
import pytest

from zoo.data.translation import load_pairs
from zoo.evaluate import quick_check
from zoo.metrics import translation_scores
from zoo.tasks.captioning import evaluate as evaluate_captioning
from zoo.tasks.translation import evaluate as evaluate_translation


class EchoTranslator:
    """Translates a sentence into `answers[sentence]` (default: its words
    reversed); records the batches it was given."""

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.batches, self.sentences = [], []

    def translate(self, sentences, beam_size=5):
        self.batches.append((len(sentences), beam_size))
        self.sentences += sentences
        return [self.answers.get(s, " ".join(reversed(s.split()))) for s in sentences]


def test_translation_in_batches_sorted_by_length_with_progress(mirror, capsys):
    sources, references = load_pairs("de-en", "test", limit=70)
    model = EchoTranslator(dict(zip(sources, references)))  # perfect, if the order is kept
    results = evaluate_translation(model, "de-en", "test", beam_sizes=(1, 2), limit=70, progress=True)
    for key in ("greedy", "beam2"):
        assert results[key]["bleu"] == 100.0 and results[key]["chrf"] == 100.0
    assert [size for size, _ in model.batches] == [64, 6, 64, 6]  # the model's own batch size of 64
    assert [beam for _, beam in model.batches] == [1, 1, 2, 2]
    assert [len(s) for s in model.sentences[:70]] == sorted(map(len, sources))  # sorted by length, like translate
    err = capsys.readouterr().err
    assert "greedy" in err and "beam 2" in err and "70/70" in err


def test_scores_are_those_of_the_hypotheses(mirror):
    results = evaluate_translation(EchoTranslator(), "de-en", "test", beam_sizes=(1,), limit=70)
    sources, references = load_pairs("de-en", "test", limit=70)
    expected = translation_scores(EchoTranslator().translate(sources), references)
    assert {k: v for k, v in results["greedy"].items() if k != "sentences_per_second"} == expected


def test_no_progress_by_default(mirror, capsys):
    evaluate_translation(EchoTranslator(), "de-en", "test", beam_sizes=(1,), limit=3)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, "10"])
def test_a_limit_that_is_not_a_positive_integer_is_refused(limit):
    # -1 used to score all but the last sentence (999 of 1,000), 0 failed deep inside
    with pytest.raises(ValueError, match=f"limit must be None .* or a positive integer, got {limit!r}"):
        evaluate_translation(EchoTranslator(), "de-en", "test", limit=limit)
    with pytest.raises(ValueError, match="limit must be"):
        evaluate_captioning(types.SimpleNamespace(caption=print), "test", limit=limit)


@pytest.mark.parametrize("beam_sizes", [(), (0,), (1, -2)])
def test_beam_sizes_must_be_positive(beam_sizes):
    with pytest.raises(ValueError, match="beam_sizes must be positive integers"):
        evaluate_translation(EchoTranslator(), "de-en", "test", beam_sizes=beam_sizes)


SENTENCES = ["Ein Hund.", "Zwei Katzen."]


@pytest.mark.parametrize("call, kind, message", [
    (lambda: evaluate_translation(EchoTranslator(), None), TypeError, r"`pair` must be a pair name .* got NoneType"),
    (lambda: evaluate_translation(EchoTranslator(), ("Ein Hund.", "A dog.")), TypeError, r"`pair` must be .* item 0"),
    (lambda: evaluate_translation(EchoTranslator(), (SENTENCES, ["A dog."])), ValueError,
     r"got 2 sources and 1 references"),
    (lambda: evaluate_translation(EchoTranslator(), (SENTENCES, ["A dog.", None])), TypeError, r"item 1 is None"),
    (lambda: evaluate_translation(EchoTranslator(), ([], [])), ValueError, r"`pair\[0\]` is empty"),
    (lambda: evaluate_translation(EchoTranslator(), (SENTENCES, SENTENCES), beam_sizes=5), TypeError,
     r"beam_sizes must be a tuple or list of positive integers, e.g. \(1, 5\), got 5"),
    (lambda: evaluate_translation(types.SimpleNamespace(generate=print), "de-en"), TypeError,
     r"`model` must be a model with `translate` .* got SimpleNamespace"),
    (lambda: evaluate_captioning(types.SimpleNamespace(caption=print), [("a.jpg", "a dog")]), TypeError,
     r"list of \(image path, \[reference captions\]\); item 0"),
    (lambda: evaluate_captioning(types.SimpleNamespace(caption=print), []), ValueError, r"`split` is empty"),
])
def test_your_own_evaluation_data_is_checked_before_any_decoding(call, kind, message):
    with pytest.raises(kind, match=message):
        call()


def test_captioning_evaluation_reports_bleu_and_cider_of_the_captions(mirror):
    import numpy as np

    import zoo
    from zoo.data.flickr8k import load_flickr8k, normalize_caption
    from zoo.metrics import cider_d

    model = zoo.load("sat-lstm-squeezenet")
    items = load_flickr8k("test", limit=4)
    results = evaluate_captioning(model, items, beam_sizes=(1,))
    hypotheses = model.caption([path for path, _ in items], beam_size=1)
    references = [[normalize_caption(c) for c in captions] for _, captions in items]
    assert results["greedy"]["cider"] == pytest.approx(100 * np.mean(cider_d(hypotheses, references)), abs=0.01)
    assert results["images"] == 4 and 0 <= results["greedy"]["bleu4"] <= 100


def test_a_model_trained_on_a_fold_is_evaluated_on_that_folds_test_images(mirror):
    import zoo
    from zoo import tasks
    from zoo.data.flickr8k import load_flickr8k_fold

    model = zoo.load("sat-lstm-squeezenet")
    card = {"task": "captioning", "data": {"fold": 1, "folds": 5}}
    results = tasks.get("captioning").evaluate_card(model, card, beam_size=1, limit=3)
    expected = evaluate_captioning(model, load_flickr8k_fold(1, 5)[2][:3], beam_sizes=(1,))
    assert results["split"] == "test of fold 1 of 5" and results["images"] == 3
    assert results["greedy"]["bleu4"] == expected["greedy"]["bleu4"]
    assert results["greedy"]["cider"] == expected["greedy"]["cider"]
    with pytest.raises(ValueError, match="`fold` must be an integer in"):
        evaluate_captioning(model, "test", fold=(5, 5), limit=1)
    check = quick_check(model, card)  # what its shipped card records, on the same fold
    assert check["slice"] == "first 20 test images of fold 1 of 5, greedy"
    again = tasks.get("captioning").evaluate_card(model, card, beam_size=1, limit=20)
    assert check["bleu4"] == again["greedy"]["bleu4"]


def test_paired_log_loss_difference_is_a_block_bootstrap_of_the_mean_difference():
    from zoo.metrics import paired_log_loss_difference

    rng = np.random.default_rng(0)
    b = rng.gamma(2.0, 0.7, 2_500)
    a = b - 0.05 + rng.normal(0, 0.2, b.size)  # A better by 0.05 nats/char
    result = paired_log_loss_difference(a, b, block=100, resamples=300, seed=2)
    assert result["difference"] == round(a.mean() - b.mean(), 4)
    # the reference: the same draws of 100-character runs, scored one by one
    runs = np.random.default_rng(2).integers(0, 25, (300, 25))
    drawn = [a.reshape(25, 100)[r].mean() - b.reshape(25, 100)[r].mean() for r in runs]
    assert result["interval"] == tuple(round(v, 4) for v in np.percentile(drawn, [2.5, 97.5]))
    assert result["a_better"] == round(float(np.mean(np.array(drawn) < 0)), 3) == 1.0
    swapped = paired_log_loss_difference(b, a, block=100, resamples=300, seed=2)
    assert swapped["difference"] == -result["difference"] and swapped["a_better"] == 0.0
    assert swapped["interval"] == (-result["interval"][1], -result["interval"][0])
    # a last, shorter run counts by its characters
    short = paired_log_loss_difference(a[:2_450], b[:2_450], block=100, resamples=50)
    assert short["difference"] == round(a[:2_450].mean() - b[:2_450].mean(), 4)
    with pytest.raises(ValueError, match=r"same length, got shapes \(2500,\) and \(3,\)"):
        paired_log_loss_difference(a, b[:3])
    with pytest.raises(ValueError, match="`block` must be a positive integer, got 0"):
        paired_log_loss_difference(a, b, block=0)


def test_paired_translation_difference_is_sacrebleus_difference_with_a_bootstrap_interval():
    import sacrebleu

    from zoo.metrics import paired_translation_difference

    references = ["A man rides a red bicycle.", "Two dogs play in the snow.", "A woman reads a book.",
                  "Children run on the beach.", "An old man sits on a bench."]
    good = ["A man rides a bicycle.", "Two dogs play in snow.", "A woman reads a book.",
            "Children run on a beach.", "An old man sits on the bench."]
    poor = ["A man.", "Dogs in the snow.", "A woman is here.", "Children.", "A man sits."]
    result = paired_translation_difference(good, poor, references, resamples=200, seed=1)
    expected = sacrebleu.corpus_bleu(good, [references]).score - sacrebleu.corpus_bleu(poor, [references]).score
    assert result["difference"] == round(expected, 2)
    low, high = result["interval"]
    assert 0 < low <= result["difference"] <= high and result["a_better"] == 1.0
    assert paired_translation_difference(poor, poor, references, resamples=50) == {
        "difference": 0.0, "interval": (0.0, 0.0), "a_better": 0.0}
    with pytest.raises(ValueError, match="same length, got 4 and 5"):
        paired_translation_difference(good[:4], poor, references)
