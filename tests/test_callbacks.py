"""BestCheckpoint: the best epoch's weights and a state that survives a restart; StepBackup's arguments."""

import json

import keras
import numpy as np
import pytest

from zoo.callbacks import BestCheckpoint, StepBackup


class Scripted(BestCheckpoint):
    def __init__(self, run_dir, scores, mode):
        super().__init__(run_dir, "score", mode=mode)
        self.scores, self.saved = scores, {}

    def score(self, epoch, logs):
        self.saved[epoch] = [w.copy() for w in self.model.get_weights()]
        return self.scores[epoch]


@pytest.mark.parametrize("mode, scores, best", [("max", [1.0, 3.0, 2.0], 1), ("min", [1.0, 3.0, 0.5], 2)])
def test_keeps_the_best_epoch_and_its_weights(tmp_path, mode, scores, best):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    callback = Scripted(tmp_path, scores, mode)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[callback])
    state = json.loads((tmp_path / "best.json").read_text())
    assert state["score"] == scores[best] and state["epoch"] == best + 1 and state["train_seconds"] > 0
    model.load_weights(tmp_path / "best.weights.h5")
    for saved, loaded in zip(callback.saved[best], model.get_weights()):
        np.testing.assert_array_equal(saved, loaded)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "best.weights.h5"]  # no temporary left
    assert Scripted(tmp_path, scores, mode).state == state  # read back on resume
    with pytest.raises(ValueError, match="`mode` must be 'max' or 'min'"):
        Scripted(tmp_path, scores, "up")


@pytest.mark.parametrize("every, error, message", [
    (-1, ValueError, "`every` must be a non-negative integer, got -1."),
    ("2", TypeError, "`every` must be a non-negative integer, got '2' of type str."),
    (True, TypeError, "`every` must be a non-negative integer, got True of type bool."),
])
def test_step_backup_names_a_bad_every(tmp_path, every, error, message):
    with pytest.raises(error) as info:
        StepBackup(tmp_path, 4, every=every)
    assert str(info.value) == message


def test_step_backup_takes_numpy_integers(tmp_path):
    backup = StepBackup(tmp_path, np.int64(4), every=np.int64(0), keep=np.int32(1))
    assert (backup.steps_per_epoch, backup.every, backup.keep) == (4, 0, 1)
    assert type(backup.every) is int


def test_caption_validation_scores_greedy_captions_and_logs_them(tiny_captioner, tmp_path):
    """val BLEU-4 of the greedy captions of the cached features equals sacreBLEU's on the captions
    `caption()` gives the same images; the best weights, captions and overlay are written."""
    import sacrebleu
    import tensorflow as tf
    from PIL import Image
    from tensorboard.backend.event_processing import event_accumulator

    from zoo.callbacks import CaptionValidation
    from zoo.data.flickr8k import load_image
    from zoo.metrics import cider_d

    keras.utils.set_random_seed(4)
    model = tiny_captioner("sat-lstm-squeezenet")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"image{i}.png")
        Image.fromarray(rng.integers(0, 256, (40 + 10 * i, 63, 3), dtype=np.uint8)).save(paths[-1])
    greedy = model.caption([str(p) for p in paths], beam_size=1)
    # the first image's own caption among its references, the others' from the data
    references = [[greedy[0], "a dog runs on the grass"], ["a man rides a red bike"], ["two dogs play in the snow"]]
    items = [(str(p), refs) for p, refs in zip(paths, references)]
    features = model.encode_images(np.stack([load_image(p, model.image_size) for p in paths]))

    callback = CaptionValidation(items, features, tmp_path / "run", samples=2)
    callback.set_model(model)
    callback.on_epoch_begin(0)
    logs = {}
    callback.on_epoch_end(0, logs)

    streams = [[refs[min(k, len(refs) - 1)] for refs in references] for k in range(2)]
    expected = sacrebleu.metrics.BLEU(lowercase=True).corpus_score(greedy, streams).score
    assert logs["val_bleu4"] == pytest.approx(expected, abs=0.005) and logs["val_bleu4"] > 0
    assert callback.hypotheses == greedy
    state = json.loads((tmp_path / "run" / "best.json").read_text())
    assert state["bleu4"] == logs["val_bleu4"] and state["epoch"] == 1
    assert (tmp_path / "run" / "best.weights.h5").is_file()
    assert logs["val_cider"] == pytest.approx(100 * np.mean(cider_d(greedy, references)), abs=0.01)
    by_cider = CaptionValidation(items, features, tmp_path / "cider", samples=2, monitor="cider")
    by_cider.set_model(model)
    by_cider.on_epoch_begin(0)
    by_cider.on_epoch_end(0, {})
    assert json.loads((tmp_path / "cider" / "best.json").read_text())["cider"] == logs["val_cider"]
    with pytest.raises(ValueError, match="`monitor` must be one of"):
        CaptionValidation(items, features, tmp_path / "x", monitor="loss")
    [events] = (tmp_path / "run" / "validation").glob("events.out.tfevents.*")
    accumulator = event_accumulator.EventAccumulator(str(events), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert {"epoch_bleu4", "epoch_cider", "captions", "attention"} <= set(accumulator.Tags()["tensors"])
    lines = [line.decode() for line in tf.make_ndarray(accumulator.Tensors("captions")[0].tensor_proto).ravel()]
    assert len(lines) == 2 and lines[0].startswith("**image0.png**") and lines[0].endswith(f"**model:** {greedy[0]}")
    png = accumulator.Tensors("attention")[0].tensor_proto.string_val[2]  # [width, height, PNG]
    assert png.startswith(b"\x89PNG")


def test_keep_last_keeps_the_last_epochs_weights_and_average_weights_is_their_mean(tmp_path):
    from zoo.callbacks import kept_epochs
    from zoo.training import average_weights

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 3), "float32")
    callback = Scripted(tmp_path, [3.0, 2.0, 1.0, 0.0], "max")
    callback.keep_last = 2
    model.fit(x, y, epochs=4, verbose=0, callbacks=[callback])
    kept = kept_epochs(tmp_path)
    assert [p.name for p in kept] == ["0003.weights.h5", "0004.weights.h5"]
    average_weights(model, kept)
    for i, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, (callback.saved[2][i] + callback.saved[3][i]) / 2, rtol=1e-6)
    average_weights(model, kept[:1])
    for weight, saved in zip(model.get_weights(), callback.saved[2]):
        np.testing.assert_array_equal(weight, saved)
    with pytest.raises(ValueError, match="`paths` must name at least one weights file, got none"):
        average_weights(model, [])
    with pytest.raises(ValueError, match="`keep_last` must be a non-negative integer, got -1"):
        BestCheckpoint(tmp_path, "score", keep_last=-1)
