"""zoo.evaluate: progress on stderr, the same scores as one call, bad limits refused."""

import pytest

from zoo.data.translation import load_pairs
from zoo.evaluate import evaluate_captioning, evaluate_translation
from zoo.metrics import translation_scores


class EchoTranslator:
    """Translates a sentence into its own words reversed; records the batches."""

    def __init__(self):
        self.batches = []

    def translate(self, sentences, beam_size=5):
        self.batches.append((len(sentences), beam_size))
        return [" ".join(reversed(s.split())) for s in sentences]


def test_translation_scores_match_one_call_and_progress_is_shown(mirror, capsys):
    model = EchoTranslator()
    results = evaluate_translation(model, "de-en", "test", beam_sizes=(1, 2), limit=70, progress=True)
    sources, references = load_pairs("de-en", "test", limit=70)
    expected = translation_scores(EchoTranslator().translate(sources), references)
    for key in ("greedy", "beam2"):
        assert {k: v for k, v in results[key].items() if k != "sentences_per_second"} == expected
    assert model.batches == [(64, 1), (6, 1), (64, 2), (6, 2)]  # the model's own batch size of 64
    err = capsys.readouterr().err
    assert "greedy" in err and "beam 2" in err and "70/70" in err


def test_no_progress_by_default(mirror, capsys):
    evaluate_translation(EchoTranslator(), "de-en", "test", beam_sizes=(1,), limit=3)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, "10"])
def test_a_limit_that_is_not_a_positive_integer_is_refused(limit):
    # -1 used to score all but the last sentence (999 of 1,000), 0 failed deep inside
    with pytest.raises(ValueError, match=f"limit must be None .* or a positive integer, got {limit!r}"):
        evaluate_translation(EchoTranslator(), "de-en", "test", limit=limit)
    with pytest.raises(ValueError, match="limit must be"):
        evaluate_captioning(None, "test", limit=limit)


@pytest.mark.parametrize("beam_sizes", [(), (0,), (1, -2)])
def test_beam_sizes_must_be_positive(beam_sizes):
    with pytest.raises(ValueError, match="beam_sizes must be positive integers"):
        evaluate_translation(EchoTranslator(), "de-en", "test", beam_sizes=beam_sizes)
