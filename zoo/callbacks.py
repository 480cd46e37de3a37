"""Keras callbacks of the recipes: step backups, the best epoch's weights, captioning's validation."""

import json
import math
import time
from pathlib import Path

import keras
import tensorflow as tf

from zoo import viz
from zoo.checks import non_negative_int, positive_int
from zoo.data.flickr8k import load_image, normalize_caption
from zoo.io import atomic_write, read_json
from zoo.metrics import caption_scores
from zoo.tasks import captioning


class StepBackup(keras.callbacks.Callback):
    """Backs up training every `every` steps so a killed run resumes mid-epoch
    and ends with as many optimizer steps as a run never stopped.

    `keras.callbacks.BackupAndRestore` resumes at the start of the epoch it
    saved: with backups every N steps, a resumed run trains again on the
    batches of that epoch it had already trained on. Here instead:

    - a backup is one file, `step-<n>.weights.h5` (weights and optimizer
      state after `n` batches), written under a temporary name and renamed,
      so a kill leaves the whole file or none; the `keep` newest are kept.
    - `restore(model)` loads the newest one and returns `n`. The recipe starts
      its data stream at batch `n` (see `zoo.data.pipeline`, `epochs=`) and
      `fit` at `initial_epoch=n // steps_per_epoch`; this callback ends that
      first epoch once it has had the batches it lacked, so every later epoch
      lines up with one pass over the data again.
    - the end of an epoch is backed up when the next epoch begins (or
      training ends), after every other callback is done with that epoch
      (validation, best checkpoint, learning-rate schedule): a resumed run
      never skips an epoch's end.
    - `finished` tells whether the newest backup is the end of a `fit` that
      completed (or stopped early), so re-running a finished run skips `fit`.
    - under several workers, every worker restores the chief's backups (a
      shared filesystem) and every worker saves (saving can take part in
      collective ops), the others to their own `write_dir`.

    - dropout masks are a function of (seed, step): before each batch every
      `keras.random.SeedGenerator` of the model (dropout layers, cells) is
      reset to its own seed mixed with the step number. A generator's state
      is not part of the saved weights, so without this a resumed run would
      draw the masks of step 0 again and end with other weights.

    Resume with the same command: a step count maps to an epoch and a batch
    only for the same data, batch size and `steps_per_epoch`.

    Put it first in the callback list (it ends the resumed epoch through
    `model.stop_training`, and clears it before the others see the epoch end),
    with `steps_per_execution=1`.

    Args:
        directory: where backups are read from (and the chief writes them).
        steps_per_epoch: batches per epoch, as given to `fit`.
        every: batches between backups within an epoch (0: epoch ends only).
        write_dir: where this process writes its backups (default `directory`).
        keep: how many backups to keep.
    """

    def __init__(self, directory, steps_per_epoch, every=100, write_dir=None, keep=2):
        super().__init__()
        self.directory = Path(directory)
        self.write_dir = Path(write_dir or directory)
        self.steps_per_epoch = positive_int("steps_per_epoch", steps_per_epoch)
        self.every = non_negative_int("every", every)
        self.keep = positive_int("keep", keep)
        self.step = 0  # batches trained so far
        self.finished = False
        self._saved_step = 0  # nothing to save before the first step
        self._left_in_epoch = None
        self._ended_epoch = False
        self._seeds = None  # [(state variable, its seed)], found at the first batch

    def backups(self, directory=None):
        """`[(step, path)]` of the backups in `directory`, newest first."""
        found = []
        for path in Path(directory or self.directory).glob("step-*.weights.h5"):
            step = path.name[len("step-") : -len(".weights.h5")]
            if step.isdigit():
                found.append((int(step), path))
        return sorted(found, reverse=True)

    def restore(self, model):
        """Loads the newest readable backup into `model` (compiled; in its
        strategy's scope) and returns its step, 0 if there is none."""
        for pattern in (".step-*.tmp.weights.h5", ".tmp-step-*"):  # zoo.io.atomic_write's, and older runs'
            for stale in self.write_dir.glob(pattern):
                stale.unlink(missing_ok=True)  # left by a kill while writing
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        errors = []
        for step, path in self.backups():
            try:
                model.load_weights(path)
            except (OSError, ValueError, KeyError) as e:
                errors.append(f"{path.name}: {e}")
                continue
            done = self.directory / "finished"
            self.step = self._saved_step = step
            self.finished = done.is_file() and done.read_text().strip() == str(step)
            return step
        if errors:
            raise ValueError(
                f"No backup in {self.directory} can be read: {'; '.join(errors)}"
            )
        return 0

    def on_train_batch_begin(self, batch, logs=None):
        if self._seeds is None:
            states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
            self._seeds = [(v, int(keras.ops.convert_to_numpy(v)[0])) for v in states]
        for state, seed in self._seeds:  # a fresh stream per (seed, step), the same in a resumed run
            state.assign(keras.ops.convert_to_tensor([(seed * 1_000_003 + self.step) % 2**31, 0], state.dtype))

    def on_train_begin(self, logs=None):
        done = self.step % self.steps_per_epoch
        self._left_in_epoch = self.steps_per_epoch - done if done else None

    def on_epoch_begin(self, epoch, logs=None):
        self._save()  # the end of the previous epoch, if not saved yet

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self._left_in_epoch is not None and batch + 1 >= self._left_in_epoch:
            self.model.stop_training = True  # the resumed epoch has had its batches
            self._left_in_epoch, self._ended_epoch = None, True
        if (
            self.every
            and self.step % self.every == 0
            and self.step % self.steps_per_epoch
        ):
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if self._ended_epoch:
            self.model.stop_training = self._ended_epoch = False

    def on_train_end(self, logs=None):
        self._save()
        atomic_write(self.write_dir / "finished", str(self.step))
        self.finished = True

    def _save(self):
        if self.step == self._saved_step:
            return
        self.write_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.write_dir / f"step-{self.step:09d}.weights.h5", self.model.save_weights)
        self._saved_step = self.step
        for _, old in self.backups(self.write_dir)[self.keep :]:
            old.unlink(missing_ok=True)


def kept_epochs(run_dir):
    """The epoch weights `BestCheckpoint(keep_last=...)` kept in `run_dir`, oldest first."""
    return sorted(Path(run_dir, "epochs").glob("[0-9][0-9][0-9][0-9].weights.h5"))


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by a validation score.

    Each epoch end calls `score(epoch, logs) -> float` (subclasses compute
    it, and log what they like), then writes `<run_dir>/best.weights.h5`
    when it beats the best so far, and `<run_dir>/best.json` every time:
    `{monitor: best score, "epoch": its 1-based number, "train_seconds":
    epoch time so far, scoring excluded}`. Both are written under a temporary
    name and renamed, and `best.json` is read back on resume, so a kill
    loses neither. `report(epoch, value)` runs last (printing, stopping).

    Args:
        run_dir: where both files go.
        monitor: the name of the score in `best.json`.
        mode: "max" (BLEU) or "min" (a loss).
        keep_last: also keep the weights of each of the last `keep_last`
            epochs, as `<run_dir>/epochs/<epoch>.weights.h5` (for checkpoint
            averaging, `zoo.training.average_weights`); 0 keeps none.
    """

    def __init__(self, run_dir, monitor, mode="max", keep_last=0):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min', got {mode!r}.")
        self.run_dir, self.monitor, self.mode = Path(run_dir), monitor, mode
        self.keep_last = non_negative_int("keep_last", keep_last)
        self.state_path = self.run_dir / "best.json"
        worst = -math.inf if mode == "max" else math.inf
        self.state = {monitor: worst, "epoch": -1, "train_seconds": 0.0}
        if self.state_path.exists():
            try:
                state = read_json(self.state_path)
                if not set(self.state) <= set(state):
                    raise ValueError(f"{self.state_path} is corrupt: it lacks {sorted(set(self.state) - set(state))}.")
            except ValueError as e:
                raise ValueError(f"{e} Delete it or pass another --run-dir.") from None
            self.state = state

    def score(self, epoch, logs):
        raise NotImplementedError

    def report(self, epoch, value):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.state["train_seconds"] += time.time() - self._start
        value = self.score(epoch, logs)
        best = self.state[self.monitor]
        if value > best if self.mode == "max" else value < best:
            self.state.update({self.monitor: value, "epoch": epoch + 1})
            atomic_write(self.run_dir / "best.weights.h5", self.model.save_weights)
        if self.keep_last:
            (self.run_dir / "epochs").mkdir(exist_ok=True)
            atomic_write(self.run_dir / "epochs" / f"{epoch + 1:04d}.weights.h5", self.model.save_weights)
            for old in kept_epochs(self.run_dir)[: -self.keep_last]:
                old.unlink()
        atomic_write(self.state_path, json.dumps(self.state))
        self.report(epoch, value)


class CaptionValidation(BestCheckpoint):
    """Each epoch of a captioner's training: greedy val BLEU-4 and CIDEr-D
    (`val_bleu4`, `val_cider` in the logs, for early stopping), sample captions
    and an attention overlay (each word's attention over the first image) to
    TensorBoard under `<run_dir>/validation`; the best weights so far by the
    `monitor` score to `<run_dir>/best.weights.h5` (see `BestCheckpoint`).

    Args:
        items: the validation images, `[(path, [caption, ...])]`.
        features: their cached features `[len(items), locations, c]`.
        run_dir: where the files and TensorBoard logs go.
        samples: how many images' captions are logged.
        monitor: "bleu4" or "cider", the score that picks the best epoch.
    """

    MONITORS = ("bleu4", "cider")

    def __init__(self, items, features, run_dir, samples=3, monitor="bleu4", keep_last=0):
        if monitor not in self.MONITORS:
            raise ValueError(f"`monitor` must be one of {self.MONITORS}, got {monitor!r}.")
        super().__init__(run_dir, monitor, mode="max", keep_last=keep_last)
        self.items, self.features, self.samples = items, features, positive_int("samples", samples)
        self.references = [[normalize_caption(c) for c in captions] for _, captions in items]
        self.writer = tf.summary.create_file_writer(str(self.run_dir / "validation"))

    def score(self, epoch, logs):
        sequences, maps = self.model.decode_features(self.features, beam_size=1)
        self.hypotheses = [self.model.vocabulary.decode(s) for s in sequences]
        scores = self.scores = caption_scores(self.hypotheses, self.references, cider=True)
        logs["val_bleu4"], logs["val_cider"] = scores["bleu4"], scores["cider"]
        with self.writer.as_default(step=epoch):
            tf.summary.scalar("epoch_bleu4", scores["bleu4"])
            tf.summary.scalar("epoch_cider", scores["cider"])
            lines = [
                f"**{Path(path).name}**  \n**references:** {' / '.join(refs[:2])}  \n**model:** {h}"
                for (path, _), refs, h in zip(self.items[: self.samples], self.references, self.hypotheses)
            ]
            tf.summary.text("captions", tf.constant(lines))
            png = self.overlay_png(self.items[0][0], sequences[0], maps[0], f"epoch {epoch + 1}")
            tf.summary.image("attention", tf.image.decode_png(png)[None])
        self.writer.flush()
        return scores[self.monitor]

    def overlay_png(self, path, sequence, weights, title):
        """PNG of the image at `path` with each word's attention over it."""
        words, maps = captioning.attention_maps(self.model, sequence, weights)
        return viz.to_png(viz.caption_attention_figure(load_image(path, self.model.image_size), words, maps, title))

    def report(self, epoch, value):
        name = {"bleu4": "BLEU-4", "cider": "CIDEr-D"}[self.monitor]
        print(
            f"\nepoch {epoch + 1}: val BLEU-4 {self.scores['bleu4']:.2f}, CIDEr-D {self.scores['cider']:.2f} (best "
            f"{name} {self.state[self.monitor]:.2f} at epoch {self.state['epoch']}); "
            f"{Path(self.items[0][0]).name}: {self.hypotheses[0]}"
        )
