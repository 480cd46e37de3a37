"""The shipped-model format: atomic writes, concurrent saves and loads, and
corrupt files named in the error."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import saving
from zoo.io import atomic_write

ROOT = Path(__file__).resolve().parent.parent

# Run as a script: `save DIR N TAG` saves N times a tiny char-lstm whose every
# weight equals its version number (TAG * 1000 + i, also written in its card);
# `load DIR N` loads N times and checks that the weights and the card of each
# load are of one and the same version. Prints "ok <count>".
WORKER = r'''
import sys
import numpy as np
import zoo
from zoo import saving
from zoo.io import atomic_write
from zoo.data.text import CharVocabulary

mode, directory, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "save":
    tag = int(sys.argv[4])
    vocabulary = CharVocabulary("ab")
    model = zoo.build("char-lstm", vocabulary_size=vocabulary.size, embedding_dim=2, units=2, num_layers=1)
    model.set_vocabulary(vocabulary)
    model.build_for_inference()
    for i in range(n):
        version = tag * 1000 + i
        for v in model.weights:
            v.assign(np.full(v.shape, version % 2048, "float32"))
        saving.save(model, directory, "char-lstm", {"version": version})
else:
    seen = set()
    for _ in range(n):
        model = zoo.load(directory)
        values = {float(x) for v in model.weights for x in np.unique(np.asarray(v))}
        assert len(values) == 1, f"a mix of versions: {sorted(values)[:5]}"
        seen |= values
    print("versions seen", len(seen))
print("ok", n)
'''


def _worker(*args):
    return subprocess.Popen([sys.executable, "-c", WORKER, *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_concurrent_saves_and_loads_see_whole_models(tmp_path):
    directory = tmp_path / "models" / "char-lstm"
    first = _worker("save", directory, 1, 9)
    assert first.wait(timeout=300) == 0, first.stdout.read()[-2000:]
    workers = [_worker("save", directory, 40, 1), _worker("save", directory, 40, 2), _worker("load", directory, 40)]
    for w in workers:
        out = w.communicate(timeout=600)[0]
        assert w.returncode == 0 and "ok 40" in out, out[-3000:]
    card = json.loads((directory / "card.json").read_text())
    assert card["version"] in (1039, 2039)  # last one wins
    assert sorted(p.name for p in directory.parent.iterdir()) == ["char-lstm"]  # nothing half-written left


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "best.json"
    atomic_write(path, '{"a": 1}')
    atomic_write(path, b'{"a": 2}')
    assert json.loads(path.read_text()) == {"a": 2} and [p.name for p in tmp_path.iterdir()] == ["best.json"]


@pytest.fixture
def saved(tiny_char_model, tmp_path):
    model = tiny_char_model("char-lstm")
    return saving.save(model, tmp_path / "char-lstm", "char-lstm", {"metrics": {"val_log_loss": 1.0}})


@pytest.mark.parametrize(
    "file, content, message",
    [
        ("config.json", "[1, 2]", "config.json is corrupt: it should hold .*not list"),
        ("config.json", "null", "config.json is corrupt: it should hold .*not NoneType"),
        ("config.json", "{not json", "config.json is corrupt: not valid JSON"),
        ("config.json", '{"name": "char-lstm", "config": {"units": -3}}', "cannot be built from its config"),
        ("config.json", '{"name": 3, "config": {}}', "got name=3"),
        ("card.json", "{", "card.json is corrupt: not valid JSON"),
        ("card.json", b"\xff\xfe", "card.json is corrupt: not UTF-8"),
    ],
)
def test_corrupt_files_are_named(saved, file, content, message):
    path = saved / file
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message):
        zoo.load("char-lstm", weights=saved)


def test_truncated_weights_without_card_are_named(saved):
    (saved / "card.json").unlink()
    weights = saved / saving.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:300])
    with pytest.raises(ValueError, match=f"Cannot load weights from {weights}"):
        zoo.load("char-lstm", weights=saved)


def test_a_file_is_not_a_model_directory(saved):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        zoo.load("char-lstm", weights=saved / "card.json")


def test_round_trip_is_exact_in_float16(saved, tiny_char_model):
    loaded = zoo.load("char-lstm", weights=saved)
    original = np.load(saved / saving.WEIGHTS)
    for i, v in enumerate(loaded.weights):
        np.testing.assert_array_equal(np.asarray(v).astype(np.float16), original[f"{i:04d}"])


def test_int8_weights_load_as_their_scaled_values_and_save_again_byte_for_byte(tiny_translator, tmp_path):
    """int8 storage: each matrix within half a step of its scale of the
    original, vectors in float16, a quarter of the float32 size; a model
    loaded from it and saved again writes the same arrays (what was measured
    is what ships); an ensemble's members are stored the same way."""
    model = tiny_translator("lstm-seq2seq-attn")
    model.set_members([tiny_translator("lstm-seq2seq-attn")])
    first = saving.save(model, tmp_path / "a", "lstm-seq2seq-attn", weights_dtype="int8")
    stored = np.load(first / saving.WEIGHTS)
    loaded = zoo.load(first)
    for i, (before, after) in enumerate(zip(model.weights, loaded.weights)):
        before, after = np.asarray(before), np.asarray(after)
        if before.ndim >= 2:
            assert stored[f"{i:04d}"].dtype == np.int8
            step = np.abs(before).max(axis=tuple(range(before.ndim - 1)), keepdims=True) / 127
            assert np.all(np.abs(after - before) <= step / 2 * (1 + 1e-5))
            assert not np.array_equal(after, before)  # quantized, not stored whole
        else:
            np.testing.assert_array_equal(after, before.astype(np.float16).astype(np.float32))
    assert np.load(first / "members" / "0" / saving.WEIGHTS)["0000.scale"].dtype == np.float32
    again = saving.save(loaded, tmp_path / "b", "lstm-seq2seq-attn", weights_dtype="int8")
    for path in (saving.WEIGHTS, f"members/0/{saving.WEIGHTS}"):
        one, two = np.load(first / path), np.load(again / path)
        assert sorted(one.files) == sorted(two.files)
        for key in one.files:
            np.testing.assert_array_equal(one[key], two[key], err_msg=f"{path} {key}")
    assert json.loads((first / "card.json").read_text())["weights_dtype"] == "int8"
    with warnings.catch_warnings():  # the tiny vocabulary lacks some letters: a warning, not the point here
        warnings.simplefilter("ignore")
        assert loaded.translate("ein hund", beam_size=2) == zoo.load(again).translate("ein hund", beam_size=2)


def test_int8_weights_with_bad_scales_are_refused(tiny_char_model, tmp_path):
    directory = saving.save(tiny_char_model("char-lstm"), tmp_path / "m", "char-lstm", weights_dtype="int8")
    arrays = dict(np.load(directory / saving.WEIGHTS))
    arrays["0000.scale"] = arrays["0000.scale"].astype(np.float64)
    np.savez(directory / saving.WEIGHTS, **arrays)
    (directory / "card.json").unlink()  # no sha256 to catch it first
    with pytest.raises(ValueError, match="array 0000 has scales, so it must be int8 with float32 scales"):
        zoo.load(directory)
    with pytest.raises(ValueError, match=r"`weights_dtype` must be one of \['float16', 'int8'\], got 'int4'"):
        saving.save(tiny_char_model("char-lstm"), tmp_path / "n", "char-lstm", weights_dtype="int4")


def test_directories_are_swapped_in_one_step(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "new").write_text("new")
    (tmp_path / "b" / "old").write_text("old")
    if not saving._exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("no renameat2(RENAME_EXCHANGE) on this system: saves fall back to two renames")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["new"]
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["old"]


def test_weights_of_other_sizes_name_the_first_array_that_differs(saved):
    config = json.loads((saved / "config.json").read_text())
    config["config"]["embedding_dim"] = config["config"]["vocabulary_size"]  # a size some array has
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"do not match the \d+ variables of 'char-lstm' built from config.json: "
                                         r"array \d{4} is \(\d+, \d+\), variable .+ is \(\d+, \d+\)\."):
        zoo.load("char-lstm", weights=saved)


# -- Keras's own `.keras` files -------------------------------------------------------

KERAS_FILE_LOAD = r'''
import sys
import numpy as np
import zoo
model = zoo.load(sys.argv[1])  # a fresh process: zoo.load imports the classes Keras needs
np.savez(sys.argv[2], *[np.asarray(w) for w in model.weights])
print(model.caption(np.load(sys.argv[3]), beam_size=1))
'''


def test_a_keras_file_holds_every_weight_and_the_vocabulary(tiny_translator, tiny_char_model, tiny_captioner,
                                                             tmp_path):
    """`model.save("m.keras")` and `zoo.load("m.keras")`: every weight back (a
    family's `build` alone makes only some of them, and Keras used to fill
    the rest with new random values), the tokenizers or vocabulary, and the
    same outputs. The captioner is loaded in a fresh process."""
    translator, char = tiny_translator("lstm-seq2seq-attn"), tiny_char_model("char-gru")
    captioner = tiny_captioner("sat-lstm-squeezenet")
    for name, model in [("translator", translator), ("char", char), ("captioner", captioner)]:
        model.save(tmp_path / f"{name}.keras")
    loaded = zoo.load(tmp_path / "translator.keras")
    assert [np.asarray(w).tolist() for w in loaded.weights] == [np.asarray(w).tolist() for w in translator.weights]
    assert loaded.translate("Der Hund ist rot.", beam_size=1) == translator.translate("Der Hund ist rot.", beam_size=1)
    loaded = zoo.load(str(tmp_path / "char.keras"))
    assert loaded.generate("ab", length=20, seed=1) == char.generate("ab", length=20, seed=1)
    image = np.random.default_rng(0).integers(0, 256, (2, 63, 63, 3)).astype("uint8")
    np.save(tmp_path / "image.npy", image)
    result = subprocess.run([sys.executable, "-c", KERAS_FILE_LOAD, str(tmp_path / "captioner.keras"),
                             str(tmp_path / "weights.npz"), str(tmp_path / "image.npy")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    weights = np.load(tmp_path / "weights.npz")
    assert len(weights.files) == len(captioner.weights)
    for i, w in enumerate(captioner.weights):
        np.testing.assert_array_equal(weights[f"arr_{i}"], np.asarray(w), err_msg=w.path)
    assert result.stdout.strip() == str(captioner.caption(image, beam_size=1))


def test_a_keras_file_refuses_what_it_cannot_hold(tiny_captioner, tmp_path):
    model, member = tiny_captioner("sat-lstm-squeezenet"), tiny_captioner("sat-lstm-squeezenet")
    member.encoder.set_weights(model.encoder.get_weights())  # members read the same features
    model.set_members([member])
    with pytest.raises(ValueError, match=r"ensemble with 1 other model\(s\), which a `.keras` file cannot hold"):
        model.save(tmp_path / "ensemble.keras")
    model.set_members(())
    model.save(tmp_path / "alone.keras")  # alone, it saves
    bare = zoo.build("char-lstm", vocabulary_size=5, embedding_dim=2, units=2, num_layers=1)
    bare.build_for_inference()
    with pytest.raises(ValueError, match=r"no vocabulary to save with it yet: call set_vocabulary\(vocabulary\)"):
        bare.save(tmp_path / "bare.keras")
