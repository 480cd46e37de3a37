"""Tests that guard the claims of the README, each against an independent
reference, each written to fail when its claim breaks.

Every test here was checked by breaking the code it guards (the change is in
its docstring), seeing it fail, and restoring the code:

- the GNMT length penalty of beam search: hand-computed winners and scores;
- exact mid-epoch resume through `fit_resumed`: weights against a plain
  Keras `fit` that never stopped;
- the save/load round trip of a translator's assets: tokenizers and
  translations against the original model object;
- `--strategy mirrored --cpu-devices 2` against one device: the weights of
  the translation recipe after several Adam steps;
- the spa-eng split: disjoint and complete against the raw file;
- atomic saves and step backups: a kill injected inside a write;
- the translation card metrics: against sacreBLEU called directly.
"""

import collections
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import sacrebleu
import tensorflow as tf

import zoo
from zoo import saving
from zoo.callbacks import StepBackup
from zoo.decoding import Decoder, length_penalty
from zoo.metrics import translation_scores
from zoo.training import fit_resumed

ROOT = Path(__file__).resolve().parent.parent


# -- the GNMT length penalty of beam search ----------------------------------------

BOS, EOS, SHORT, LONG = 0, 1, 2, 3
LONG_STEPS = 10  # steps of the long hypothesis: 9 tokens, then the end token
NEG = -np.inf


def _two_answers(tokens, state, memory):
    """A model with exactly two answers: [SHORT] (p = 0.6, 2 steps with its
    end token) and [LONG] * 9 (p = 0.4, 10 steps). Its state counts steps."""
    step = state[0] + 1
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    first = tf.constant([NEG, NEG, np.log(0.6), np.log(0.4)], tf.float32)
    end = tf.constant([NEG, 0.0, NEG, NEG], tf.float32)
    go_on = tf.constant([NEG, NEG, NEG, 0.0], tf.float32)
    more = ((tokens == LONG) & (step < LONG_STEPS))[:, None]
    log_probs = tf.where((tokens == BOS)[:, None], first, tf.where(more, go_on, end))
    return log_probs, None, [step]


def _two_answer_decoder():
    encode = lambda inputs: ([], [tf.zeros_like(inputs[:, 0])])  # noqa: E731
    return Decoder(encode, _two_answers, tf.TensorSpec([None, 1], tf.int32), bos=BOS, eos=EOS, attention=False)


# Hand-computed: score = log p / ((5 + steps) / 6) ** alpha.
#   alpha 0: short log 0.6 = -0.511 > long log 0.4 = -0.916: short wins.
#   alpha 1: short -0.511 / (7/6) = -0.438 < long -0.916 / (15/6) = -0.367: long wins.
SHORT_ANSWER, LONG_ANSWER = [SHORT], [LONG] * (LONG_STEPS - 1)
EXPECTED = {
    0.0: [(SHORT_ANSWER, np.log(0.6)), (LONG_ANSWER, np.log(0.4))],
    1.0: [(LONG_ANSWER, np.log(0.4) / 2.5), (SHORT_ANSWER, np.log(0.6) / (7 / 6))],
}


def test_length_penalty_is_gnmt_by_hand():
    """Breaking `((5 + length) / 6) ** alpha` (dropping `** alpha`) fails here."""
    assert length_penalty(1, 0.6) == pytest.approx(1.0)
    assert length_penalty(10, 1.0) == pytest.approx(2.5)
    assert length_penalty(7, 0.5) == pytest.approx(np.sqrt(2))
    assert length_penalty(13, 0.0) == pytest.approx(1.0)


@pytest.mark.parametrize("alpha", sorted(EXPECTED))
def test_beam_search_ranks_by_the_length_penalty(alpha):
    """The winner depends on alpha: the short answer without a penalty, the
    long one with alpha 1 (hand-computed above). Fails when the penalty drops
    `** alpha` (then alpha 0 penalizes too) or when ended hypotheses are
    ranked by their raw log-probability (then alpha 1 picks the short one),
    in the compiled search or in the eager reference."""
    decoder = _two_answer_decoder()
    inputs = tf.zeros([1, 1], tf.int32)
    sequences, _, scores = decoder.beam_search(
        inputs, beam_size=2, max_length=12, alpha=alpha, num_return_sequences=2, return_scores=True
    )
    (best, second), scores = sequences[0], scores[0]
    (want_best, best_score), (want_second, second_score) = EXPECTED[alpha]
    assert [best.tolist(), second.tolist()] == [want_best, want_second]
    np.testing.assert_allclose(scores, [best_score, second_score], rtol=1e-6)
    reference, _ = decoder.reference(inputs, beam_size=2, max_length=12, alpha=alpha)
    assert reference[0].tolist() == want_best


# -- exact mid-epoch resume through fit_resumed ---------------------------------------

STEPS, EPOCHS, BATCH = 5, 3, 4
_X = np.random.default_rng(0).normal(size=(STEPS * BATCH, 4)).astype("float32")
_Y = np.sin(_X.sum(-1, keepdims=True))


def _stream(epochs):
    """Epoch e in an order drawn from (0, e) alone, as the recipes' streams."""
    order = np.concatenate([np.random.default_rng([0, e]).permutation(len(_X)) for e in epochs])
    return tf.data.Dataset.from_tensor_slices((_X[order], _Y[order])).batch(BATCH)


def _small_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


class _Kill(keras.callbacks.Callback):
    """Stands for a kill: raises after `after` batches."""

    def __init__(self, after):
        super().__init__()
        self.after, self.seen = after, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.after:
            raise KeyboardInterrupt


def _fit_resumed(directory, kill_after=None):
    model = _small_model()
    backup = StepBackup(directory, STEPS, every=2)
    start = backup.restore(model)
    callbacks = [backup] + ([_Kill(kill_after)] if kill_after else [])
    try:
        fit_resumed(model, _stream, start, STEPS, EPOCHS, callbacks, None, verbose=0, skip=backup.finished)
    except KeyboardInterrupt:
        pass
    return model, start


def test_fit_resumed_mid_epoch_ends_with_the_weights_of_an_unbroken_fit(tmp_path, capsys):
    """Killed after 8 batches (epoch 2, 3 of its 5 batches done), resumed from
    the backup of step 8: the weights equal those of a plain Keras `fit` over
    the same stream that never stopped. Fails when `fit_resumed` trains the
    done batches of the resumed epoch again (no `.skip(done)`)."""
    reference = _small_model()
    reference.fit(_stream(range(EPOCHS)), epochs=EPOCHS, steps_per_epoch=STEPS, verbose=0)
    _fit_resumed(tmp_path, kill_after=8)
    resumed, start = _fit_resumed(tmp_path)
    assert start == 8 and start % STEPS  # mid-epoch
    assert "resuming after 8 steps: epoch 2, 3 of its 5 batches done" in capsys.readouterr().out
    assert int(resumed.optimizer.iterations) == STEPS * EPOCHS
    for a, b in zip(resumed.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("terminal", [False, True])
def test_fit_resumed_shows_a_progress_bar_only_in_a_terminal(monkeypatch, capsys, terminal):
    """In a log file (`nohup ... > log`) a line an epoch, not a progress bar redrawn with carriage returns."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    fit_resumed(_small_model(), _stream, 0, STEPS, 2, [], None)
    out = capsys.readouterr().out
    assert out.count("Epoch ") == 2 and ("\r" in out) == terminal


# -- the save/load round trip of a translator's assets --------------------------------


def test_loaded_translator_keeps_each_tokenizer_on_its_side(tiny_translator, tiny_corpus, tmp_path):
    """The loaded model's tokenizers are the original's, each on its side, and
    it translates like the original object (weights rounded to float16 first,
    as saved). Fails when `load_assets` swaps the source and target files
    (both vocabularies have 40 pieces, so the swapped model loads)."""
    model = tiny_translator("lstm-seq2seq-attn")
    for v in model.weights:
        v.assign(np.asarray(v.numpy(), np.float16).astype(v.dtype))
    saving.save(model, tmp_path / "model", "lstm-seq2seq-attn")
    loaded = zoo.load(tmp_path / "model")
    assert model.source_proto != model.target_proto
    assert loaded.source_proto == model.source_proto and loaded.target_proto == model.target_proto
    sources = tiny_corpus[0][:4]
    want, want_maps = model.translate(sources, beam_size=1, max_length=6, return_attention=True)
    got, got_maps = loaded.translate(sources, beam_size=1, max_length=6, return_attention=True)
    assert all(want)  # the outputs say something, so a wrong target tokenizer shows
    assert got == want
    for (src_pieces, out_pieces, weights), (src_want, out_want, weights_want) in zip(got_maps, want_maps):
        assert (src_pieces, out_pieces) == (src_want, out_want)
        np.testing.assert_allclose(weights, weights_want, atol=1e-6)


# -- mirrored on two CPU devices equal to one device ----------------------------------

MIRRORED_RUNS = r"""
import importlib.util, sys
from zoo import distribute
distribute.get_strategy("mirrored", 2)  # split the CPU before TensorFlow starts
spec = importlib.util.spec_from_file_location("translate_recipe", sys.argv[1])
recipe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recipe)
common = sys.argv[3:]
for name, flags in (("one", ["--batch-size", "16", "--strategy", "default"]),
                    ("mirrored", ["--batch-size", "8", "--strategy", "mirrored", "--cpu-devices", "2"])):
    recipe.main(recipe.parse_args(["--run-dir", f"{sys.argv[2]}/{name}", *common, *flags]))
"""

SMALL_RUN = ["--smoke", "--epochs", "1", "--steps-per-epoch", "4", "--backup-every", "2", "--dropout", "0",
             "--units", "16", "--embedding-dim", "16", "--beam-size", "1"]


def _backup_weights(path):
    """Every array of a Keras `.weights.h5` file (weights and optimizer state), by its path in the file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                     else None)
    return arrays


@pytest.mark.slow  # 42 s; by default, test_distribute checks a mirrored run against one device on caption.py
def test_mirrored_recipe_matches_one_device_weight_by_weight(mirror, tmp_path):
    """The translation recipe with `--strategy mirrored --cpu-devices 2` (8
    pairs per replica) and on one device (16 pairs), 4 Adam steps each: the
    weights and optimizer state after steps 2 and 4 agree to float32 rounding.
    Fails when the learning rate is scaled by the replica count (or the loss
    or gradients are, beyond what Adam's normalization hides)."""
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_RUNS, str(ROOT / "recipes" / "translate.py"), str(tmp_path), *SMALL_RUN],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "MirroredStrategy with 2 replica(s)" in result.stdout
    runs = {name: {step: _backup_weights(tmp_path / name / "backup" / f"step-{step:09d}.weights.h5")
                   for step in (2, 4)} for name in ("one", "mirrored")}
    moved = 0.0
    for step in (2, 4):
        one, mirrored = runs["one"][step], runs["mirrored"][step]
        assert one.keys() == mirrored.keys() and len(one) > 10
        for name in one:
            np.testing.assert_allclose(mirrored[name], one[name], rtol=1e-4, atol=2e-6, err_msg=f"step {step}: {name}")
    for name, after in runs["one"][4].items():
        if after.dtype.kind == "f":
            moved = max(moved, float(np.abs(after - runs["one"][2][name]).max()))
    assert moved > 1e-3  # the weights did move between the compared steps


# -- the spa-eng split -----------------------------------------------------------------


def test_spa_eng_splits_are_disjoint_and_complete(mirror):
    """Train, val and test together hold every row of spa.txt exactly once
    (as a multiset of (English, Spanish) pairs, read from the raw file here);
    a pair that occurs once in the file is in one split only. Fails when a
    split takes rows of another (train = the first 108,964 of the order)."""
    with zipfile.ZipFile(Path(mirror) / "spa-eng" / "spa-eng.zip") as archive:
        text = io.TextIOWrapper(archive.open("spa-eng/spa.txt"), encoding="utf-8")
        rows = [tuple(line.rstrip("\n").split("\t")[:2]) for line in text if "\t" in line]
    from zoo.data.translation import load_pairs

    splits = {s: collections.Counter(zip(*load_pairs("en-es", s))) for s in ("train", "val", "test")}
    assert sum(splits["train"].values()) == len(rows) - 10000
    assert sum(splits["val"].values()) == sum(splits["test"].values()) == 5000
    assert splits["train"] + splits["val"] + splits["test"] == collections.Counter(rows)
    once = {pair for pair, n in collections.Counter(rows).items() if n == 1}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not (set(splits[a]) & set(splits[b]) & once), f"{a} and {b} share pairs"


# -- atomic saves and step backups -----------------------------------------------------


class _Killed(BaseException):
    """Stands for a kill in the middle of a write."""


def _weights(model):
    return [np.asarray(v.numpy()) for v in model.weights]


@pytest.mark.parametrize("where", ["weights", "assets", "logs"])
def test_a_kill_inside_save_leaves_the_old_model_whole(tiny_char_model, tmp_path, monkeypatch, where):
    """A save killed while writing the weights, the assets or the logs leaves
    the old model in place, loading with its own weights. Fails when `save`
    deletes the old model and writes in place (or writes into it)."""
    old = tiny_char_model("char-lstm")
    target = saving.save(old, tmp_path / "model", "char-lstm", {"version": "old"})
    old_weights = [np.asarray(w, np.float16) for w in _weights(old)]
    new = tiny_char_model("char-lstm")
    for v in new.weights:
        v.assign(np.asarray(v.numpy()) + 1.0)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "events").write_bytes(b"x" * 1000)

    def half_then_die(path, data):
        Path(path).write_bytes(data[: len(data) // 2])
        raise _Killed

    if where == "weights":
        real_savez = np.savez

        def savez(file, **arrays):
            buffer = io.BytesIO()
            real_savez(buffer, **arrays)
            half_then_die(file, buffer.getvalue())

        monkeypatch.setattr(saving.np, "savez", savez)
    elif where == "assets":
        monkeypatch.setattr(new, "save_assets", lambda d: half_then_die(Path(d) / "vocabulary.txt", b"abc\n" * 10))
    else:
        def copytree(src, dst):
            Path(dst).mkdir()
            half_then_die(Path(dst) / "events", (Path(src) / "events").read_bytes())

        monkeypatch.setattr(saving.shutil, "copytree", copytree)
    with pytest.raises(_Killed):
        saving.save(new, target, "char-lstm", {"version": "new"}, logs=logs)
    monkeypatch.undo()
    loaded = zoo.load(target)
    assert saving.read_json(target / "card.json")["version"] == "old"
    for got, want in zip(_weights(loaded), old_weights, strict=True):
        np.testing.assert_array_equal(np.asarray(got, np.float16), want)


def test_a_kill_inside_a_backup_leaves_only_whole_backups(tmp_path, monkeypatch):
    """A kill while the backup of step 4 is being written (half of the file
    on disk): every `step-*` backup left is whole and holds the weights of its
    step, and restoring gives step 2. Fails when backups are written straight
    to their final name."""
    model = _small_model()
    backup = StepBackup(tmp_path, STEPS, every=2)
    real_save, saved = model.save_weights, {}

    def save_weights(path, *args, **kwargs):
        real_save(path, *args, **kwargs)
        if not saved:
            saved["step 2"] = _weights(model)
            return
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        raise _Killed

    monkeypatch.setattr(model, "save_weights", save_weights)
    with pytest.raises(_Killed):
        model.fit(_stream(range(1)), epochs=1, steps_per_epoch=STEPS, callbacks=[backup], verbose=0)
    monkeypatch.undo()
    assert [s for s, _ in StepBackup(tmp_path, STEPS).backups()] == [2]  # no half of step 4 under its name
    fresh = _small_model()
    assert StepBackup(tmp_path, STEPS).restore(fresh) == 2
    for got, want in zip(_weights(fresh), saved["step 2"], strict=True):
        np.testing.assert_array_equal(got, want)


# -- the translation card metrics -------------------------------------------------------


def test_translation_scores_are_sacrebleu_bleu_chrf_and_lowercased_bleu():
    """Each key holds the metric it names, as sacreBLEU computes it: cased
    13a BLEU, chrF, lowercased BLEU (three different numbers on this input).
    Fails when a metric is reported under another's name."""
    hypotheses = ["The cat sat on the mat.", "a dog runs in the PARK today", "Hello world"]
    references = ["The cat is sitting on the mat.", "A dog runs in the park.", "hello World!"]
    refs = [references]
    want = {
        "bleu": sacrebleu.BLEU().corpus_score(hypotheses, refs).score,
        "chrf": sacrebleu.CHRF().corpus_score(hypotheses, refs).score,
        "bleu_lowercase": sacrebleu.BLEU(lowercase=True).corpus_score(hypotheses, refs).score,
    }
    assert len({round(v, 1) for v in want.values()}) == 3
    got = translation_scores(hypotheses, references)
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=0.005), key
    assert translation_scores(["A b c d e."], ["A b c d e."])["bleu"] == 100.0
