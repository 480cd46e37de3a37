import json

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
    with pytest.raises(ValueError, match="Did you mean 'lstm-seq2seq-attn', "):  # the same name in other case first
        zoo.info("LSTM-seq2seq-attn")


def test_duplicate_registration_is_an_error(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    zoo.register("my-model", task="test", description="d")(lambda: None)
    with pytest.raises(ValueError, match="already registered"):
        zoo.register("my-model", task="test", description="d")(lambda: None)


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


def test_every_catalogue_entry_builds_a_model_of_its_task():
    """Each name is declared once, in zoo.models.CATALOGUE: its builder makes a
    ZooModel of the declared task, and `info` answers from the same entry."""
    from zoo.models import CATALOGUE

    for name, (builder, task, description) in CATALOGUE.items():
        assert registry.builder(name).__module__ == builder.split(":")[0]
        assert zoo.info(name)["task"] == task and zoo.info(name)["description"] == description
    assert zoo.build("char-gru", vocabulary_size=5, units=4, embedding_dim=2).task == "text-generation"


def test_a_name_of_the_catalogue_cannot_be_registered_again(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", {})
    with pytest.raises(ValueError, match="already registered"):
        zoo.register("lstm-seq2seq", task="captioning", description="d")(lambda: None)


def test_a_model_registered_outside_the_catalogue_is_listed_and_built(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    zoo.register("my-model", task="text-generation", description="mine")(
        lambda **kw: zoo.build("char-lstm", **kw))
    assert "my-model" in zoo.list_models() and zoo.info("my-model")["task"] == "text-generation"
    assert zoo.build("my-model", units=3, embedding_dim=2).units == 3
    zoo.register("not-a-zoo-model", task="translation", description="a tuple")(lambda **kw: ("built", kw))
    with pytest.raises(TypeError, match="must return a ZooModel of task 'translation', got tuple"):
        zoo.build("not-a-zoo-model")


def test_import_zoo_list_and_info_do_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import zoo, sys; zoo.list_models(); zoo.info('char-lstm'); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'; "
            "assert zoo.layers.LSTMCell.__name__ == 'LSTMCell'")  # still reachable, imported on first use
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("call, error, words", [
    (lambda: zoo.load(["char-lstm"]), TypeError, "name must be a str.*got list \\['char-lstm'\\]"),
    (lambda: zoo.info(None), TypeError, "name must be a str.*got NoneType None"),
    (lambda: zoo.build(3), TypeError, "name must be a str.*got int 3"),
    (lambda: zoo.list_models(["*"]), TypeError, "pattern must be a str.*got list"),
    (lambda: zoo.load("char-lstm", weights=3), TypeError, "weights must be 'pretrained', None, or a directory.*int"),
    (lambda: zoo.load("char-lstm", weights=b"dir"), TypeError, "weights must be .*got bytes b'dir'"),
    (lambda: zoo.load("char-lstm", weights=""), FileNotFoundError, "weights='' is not a directory"),
    (lambda: zoo.load("char-lstm", weights="pretrianed"), FileNotFoundError, "weights='pretrianed' is not a directory"),
])
def test_bad_arguments_name_the_argument_and_the_value(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_weights_may_be_any_path_like(saved):
    directory, model = saved

    class Where:  # an os.PathLike that is not a pathlib.Path
        def __fspath__(self):
            return str(directory)

    loaded = zoo.load("lstm-seq2seq-attn", weights=Where())
    assert loaded.get_config() == model.get_config()


def test_a_saved_model_directory_loads_in_place_of_a_name(saved, tmp_path):
    directory, model = saved
    for where in (directory, str(directory)):
        loaded = zoo.load(where)  # the name comes from its config.json
        assert loaded.get_config() == model.get_config() and loaded.translate("Der Hund.") == model.translate(
            "Der Hund.")
    for where in (directory, str(directory)):  # info reads the directory's own config and card
        about = zoo.info(where)
        card = json.loads((directory / "card.json").read_text())
        assert about == {**registry.describe("lstm-seq2seq-attn"), "directory": str(directory), "card": card}
    with pytest.raises(ValueError, match=f"'{directory}' is a saved model: load it with zoo.load\\(directory\\)"):
        registry.describe(str(directory))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is a directory with no saved model in it \\(no config.json\\)"):
        zoo.load(tmp_path / "empty")
    for nowhere in (tmp_path / "nowhere", str(tmp_path / "nowhere")):  # a str with a "/" is a path, not a name
        with pytest.raises(ValueError, match="is a path to nothing, not a model name"):
            zoo.info(nowhere)
    with pytest.raises(ValueError, match="card.json' is a file, not a model directory"):
        zoo.info(str(directory / "card.json"))
    with pytest.raises(ValueError, match="which takes no `weights` or builder arguments"):
        zoo.load(directory, weights=None)


@pytest.mark.parametrize("content, words", [
    ('{"task": "translation", ', "is not valid JSON"),
    ("[1, 2]", "holds a list, not a JSON object"),
    (b"\xff\xfe", "is not valid JSON"),
])
def test_a_corrupt_card_is_a_value_error_naming_the_file(content, words, tmp_path, monkeypatch):
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path))
    card = tmp_path / "char-lstm" / "card.json"
    card.parent.mkdir()
    card.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=words) as raised:
        zoo.info("char-lstm")
    assert str(card) in str(raised.value)
    assert zoo.info("char-gru")["card"] is None  # the others still answer
