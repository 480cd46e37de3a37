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
