"""BestCheckpoint: the best epoch's weights and a state that survives a restart."""

import json

import keras
import numpy as np
import pytest

from zoo.callbacks import BestCheckpoint


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
    assert Scripted(tmp_path, scores, mode).state == state  # read back on resume
    with pytest.raises(ValueError, match="`mode` must be 'max' or 'min'"):
        Scripted(tmp_path, scores, "up")
