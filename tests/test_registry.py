import numpy as np
import pytest

import zoo
from zoo import registry, saving


def test_list_models_is_sorted_and_filters_with_fnmatch():
    names = zoo.list_models()
    assert names == sorted(names) and "lstm-seq2seq-attn" in names
    assert zoo.list_models("gru-*") == [n for n in names if n.startswith("gru-")]
    assert zoo.list_models("no-such-*") == []


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="Did you mean 'lstm-seq2seq-attn'"):
        zoo.info("lstm-seq2seq-atn")
    with pytest.raises(ValueError, match="Unknown model name"):
        zoo.load("transformer")


def test_duplicate_registration_is_an_error(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    zoo.register("test-model", task="test", description="d")(lambda: None)
    with pytest.raises(ValueError, match="already registered"):
        zoo.register("test-model", task="test", description="d")(lambda: None)


def test_info_has_task_description_and_card(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path))
    info = zoo.info("lstm-seq2seq")
    assert info["task"] == "translation" and info["description"] and info["card"] is None


def test_missing_pretrained_model_is_an_error_not_a_random_model(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "lstm-seq2seq")):
        zoo.load("lstm-seq2seq")


def test_random_model_with_overrides():
    model = zoo.load("lstm-seq2seq", weights=None, units=4, embedding_dim=4,
                     source_vocabulary_size=9, target_vocabulary_size=7)
    assert model.units == 4
    with pytest.raises(ValueError, match="only apply to weights=None"):
        zoo.load("lstm-seq2seq", units=4)


@pytest.fixture
def saved(tiny_translator, tmp_path, monkeypatch):
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path))
    model = tiny_translator("lstm-seq2seq-attn")
    saving.save(model, tmp_path / "lstm-seq2seq-attn", "lstm-seq2seq-attn", {"metrics": {"bleu": 1.0}})
    return tmp_path / "lstm-seq2seq-attn", model


def test_pretrained_round_trip_and_card(saved):
    directory, model = saved
    loaded = zoo.load("lstm-seq2seq-attn")
    assert zoo.info("lstm-seq2seq-attn")["card"]["metrics"] == {"bleu": 1.0}
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a).astype(np.float16), np.asarray(b).astype(np.float16))
    assert sorted(p.name for p in directory.parent.iterdir()) == ["lstm-seq2seq-attn"]  # no temp dirs


def test_corrupt_or_missing_files_are_named(saved):
    directory, _ = saved
    weights = directory / saving.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=str(weights)):
        zoo.load("lstm-seq2seq-attn")
    weights.unlink()
    with pytest.raises(FileNotFoundError, match=str(weights)):
        zoo.load("lstm-seq2seq-attn")


def test_weights_of_another_model_are_refused(saved, tmp_path):
    directory, _ = saved
    with pytest.raises(ValueError, match="holds 'lstm-seq2seq-attn', not 'lstm-seq2seq'"):
        zoo.load("lstm-seq2seq", weights=directory)
