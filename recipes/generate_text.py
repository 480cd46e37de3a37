"""Train a character language model of the zoo on tiny Shakespeare.

    python recipes/generate_text.py --model char-lstm
    python recipes/generate_text.py --model char-gru --epochs 5 --steps-per-epoch 230

(the second trains for the time of char-lstm's first 3 epochs, 735 steps: a
char-gru step costs 0.64 of a char-lstm step, `benchmarks/char_models.py`, so
the two compare at equal parameter count and equal time whatever else the
machine runs; `--time-budget-minutes M` stops after the first epoch past M
minutes of wall time instead).

Reads top to bottom: config -> strategy -> data -> model -> fit -> evaluate ->
save. The corpus is split char-rnn style (first 90% train, last 10%
validation); the character vocabulary comes from the training split. Killing
the run and re-running the same command resumes from the last backup (every
--backup-every steps and every epoch end, in <run-dir>/backup), mid-epoch
included, with the optimizer steps of an unbroken run; re-running it with more
--epochs continues a finished run. Several workers: `python -m zoo.launch
--workers 2 recipes/generate_text.py ...`, or `--strategy mirrored
--cpu-devices 2` for two replicas in one process. Watch it with `tensorboard --logdir
runs/`: train/val loss in nats and bits per character, learning rate,
generated samples (text) and a gate heatmap (image) every epoch, hparams.
At the end the best epoch (by val loss) is written with its card.json to
<run-dir>/model/ (`--ship` also installs it into saved_models/<model>/ if
it beats the shipped card's val loss), and the (float16) weights are scored with
`model.log_loss` over the whole validation text, state carried.

Target: <= 1.45 nats/char on tiny Shakespeare validation. Expected on 2 CPU
cores (no GPU): 245 steps per epoch at about 1.5-2.4 s per step (char-lstm),
so about 50-95 minutes for the 8 epochs; the card records the real numbers.
"""

import dataclasses
import math
import time
from pathlib import Path

import zoo
from zoo import tasks
from zoo.data.text import CORPORA, char_dataset, load_text, split_text, window_count
from zoo.flags import FlagError, RunConfig, ensemble_dirs, flag, parse_config, tasks_in_tf_config

# Where each corpus's samples start; the gate picture reads the first
# characters of the validation text.
PROMPTS = {"tinyshakespeare": "ROMEO:", "nietzsche": "The "}
TARGET_NATS = {"tinyshakespeare": 1.45}  # the quality a shipped model must reach, where the project set one


@dataclasses.dataclass
class Config(RunConfig):
    model: str = flag("char-lstm", "registered character model", choices=tuple(tasks.TEXT_GENERATION.models()))
    corpus: str = flag("tinyshakespeare", "training text", choices=tuple(sorted(CORPORA)))
    epochs: int = flag(8, "passes over the training text (about 1.0M characters each)", minimum=1)
    time_budget_minutes: float = flag(0.0, "stop after the first epoch past this many minutes (0: none; one "
                                           "process only)", minimum=0)
    # Small batches: early on, progress is limited by the number of updates
    # (batch 32 reached a lower val loss than batch 64 in the same minutes).
    batch_size: int = flag(32, "windows per replica and step", minimum=1)
    sequence_length: int = flag(128, "characters of context the gradient flows through", minimum=2)
    learning_rate: float = flag(4e-3, "Adam's peak learning rate, cosine-decayed to 5%% over all epochs",
                                exclusive_minimum=0)
    embedding_dim: int = flag(64, "size of the character embedding", minimum=1)
    units: int = flag(0, "units per layer (0: the builder's default; char-gru is sized to char-lstm's "
                         "parameters)", minimum=0)
    num_layers: int = flag(2, "stacked recurrent layers", minimum=1)
    dropout: float = flag(0.1, "dropout after each recurrent layer", minimum=0, exclusive_maximum=1)
    clipnorm: float = flag(1.0, "gradient norm clipping", exclusive_minimum=0)
    prompt: str = flag("", "start of the samples logged each epoch (default: per corpus, e.g. 'ROMEO:')")
    sample_length: int = flag(300, "characters per logged sample", minimum=1)
    temperature: float = flag(0.8, "temperature of the logged samples", minimum=0)
    steps_per_epoch: int = flag(0, "batches per epoch (0: one pass over the text, 3 with --smoke)", minimum=0)
    backup_every: int = flag(50, "steps between backups, besides every epoch end (0: epoch ends only)", minimum=0)
    text_file: tuple = flag((), "your own UTF-8 text instead of --corpus: one or more files, joined; the first "
                                "90%% of the characters train, the last 10%% validate", nargs="+")
    init_from: str = flag("", "fine-tune from a shipped model (its name) or a model directory, keeping its "
                              "vocabulary (characters it never saw are read as unknown) and sizes")
    ensemble_with: str = flag("", "comma-separated model directories (a run's model/, or saved_models/<name>) of "
                                  "character models with this run's vocabulary and corpus, LSTM or GRU: the model "
                                  "generates and scores with theirs as one ensemble (the mean of their "
                                  "probabilities); the val scores are the ensemble's, each model's own beside them")


def parse_args(argv=None):
    return parse_config(Config, __doc__, argv, validate=check_flags)


def check_flags(cfg):
    """The flags that go together (`FlagError` if not)."""
    if cfg.time_budget_minutes and (cfg.strategy == "multi-worker" or tasks_in_tf_config() > 1):
        raise FlagError("--time-budget-minutes: each worker would measure its own time; use --epochs instead")
    for directory in ensemble_dirs(cfg):
        if not Path(directory, "config.json").is_file():
            raise FlagError(f"--ensemble-with: {directory} holds no model (no config.json)")


if __name__ == "__main__":
    CFG = parse_args()  # before TensorFlow loads: --help and a mistaken flag answer at once

from zoo import training  # noqa: I001  before Keras: it imports TensorFlow without its start-up noise

import keras
import tensorflow as tf

from zoo import optimizers, registry, saving, viz
from zoo.callbacks import BestCheckpoint
from zoo.data.pipeline import count_batches
from zoo.data import user_files
from zoo.data.tokenizers import CharVocabulary
from zoo.io import atomic_write
from zoo.metrics import paired_log_loss_difference
from zoo.tasks.text_generation import character_log_losses


def bits_per_character(y_true, y_pred):
    """Cross-entropy in bits: nats / ln 2."""
    nats = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    return nats / math.log(2.0)


class SamplesAndBest(BestCheckpoint):
    """Each epoch: generated samples (text) and a gate heatmap (image) to
    TensorBoard, the best weights so far (by val loss) to `best.weights.h5`,
    and the time budget."""

    def __init__(self, run_dir, prompt, gate_text, cfg):
        super().__init__(run_dir, "val_loss", mode="min", keep_last=cfg.average_last)
        self.prompt, self.gate_text, self.cfg = prompt, gate_text, cfg
        self.writer = tf.summary.create_file_writer(str(self.run_dir / "validation"))

    def score(self, epoch, logs):
        self.samples = self.model.generate(
            self.prompt, self.cfg.sample_length, temperature=self.cfg.temperature, seed=self.cfg.seed, num_samples=2
        )
        figure = self.model.gate_figure(self.gate_text, layer=0, title=f"layer 0 gates, epoch {epoch + 1}")
        png = viz.to_png(figure)
        atomic_write(self.run_dir / "gates.png", png)
        flow = viz.gradient_flow_png(self.model, self.gate_text, title=f"gradient flow into layer 0, epoch {epoch + 1}")
        atomic_write(self.run_dir / "gradient_flow.png", flow)
        with self.writer.as_default(step=epoch):
            lines = [
                f"**temperature {self.cfg.temperature}, sample {i + 1}:**\n\n    "
                + (self.prompt + s).replace("\n", "\n    ")
                for i, s in enumerate(self.samples)
            ]
            tf.summary.text("samples", tf.constant(lines))
            tf.summary.image("gates", tf.image.decode_png(png)[None])
            tf.summary.image("gradient_flow", tf.image.decode_png(flow)[None])
        self.writer.flush()
        return float(logs["val_loss"])

    def report(self, epoch, val_loss):
        bits = val_loss / math.log(2)
        best, minutes = self.state, self.state["train_seconds"] / 60
        print(
            f"\nepoch {epoch + 1}: val {val_loss:.4f} nats/char = {bits:.4f} bits/char "
            f"(best {best['val_loss']:.4f} at epoch {best['epoch']}), "
            f"{minutes:.1f} min so far\n{self.prompt}{self.samples[0]}\n"
        )
        if self.budget_spent():
            print(f"time budget of {self.cfg.time_budget_minutes} min spent: stopping")
            self.model.stop_training = True

    def budget_spent(self):
        budget = self.cfg.time_budget_minutes * 60
        return bool(budget) and self.state["train_seconds"] >= budget


def main(cfg):
    corpus = user_files.OWN_FILES + ", ".join(Path(f).name for f in cfg.text_file) if cfg.text_file else cfg.corpus
    run = training.setup(cfg, Path(cfg.text_file[0]).stem if cfg.text_file else cfg.corpus)

    # -- data: first 90% train, last 10% validation; vocabulary from train -----
    if cfg.text_file:
        train_text, val_text = split_text(user_files.read_text(cfg.text_file))
    else:
        train_text, val_text = load_text(cfg.corpus, "train"), load_text(cfg.corpus, "val")
    if cfg.smoke:
        train_text, val_text = train_text[:20_000], val_text[:3_000]
    init = training.starting_point(cfg)
    vocabulary = run.shared_file(  # the chief's, for every worker; kept on resume, so the ids never change
        "vocabulary.json", lambda: (init.vocabulary if init else CharVocabulary.from_text(train_text)).to_json(),
        lambda data, path: CharVocabulary.from_json(data.decode()))
    global_batch = run.global_batch(cfg.batch_size)
    sequence_length = 32 if cfg.smoke else cfg.sequence_length
    source = "--text-file" if cfg.text_file else f"--corpus {cfg.corpus}"
    for part, text in ((f"the training part of {source} (its first 90%)", train_text),
                       (f"the validation part of {source} (its last 10%)", val_text)):
        if window_count(len(text), sequence_length) < global_batch:
            raise FlagError(f"{part} has {len(text)} characters: fewer windows of {sequence_length} characters "
                            f"than one batch of {global_batch}; lower --batch-size or --sequence-length, or give "
                            f"more text")
    train_ids = vocabulary.encode(train_text)

    def train_stream(epochs):  # epoch e in the same order in any process: a resumed run sees the same batches
        return char_dataset(train_ids, sequence_length, global_batch, shuffle=True, seed=cfg.seed, epochs=epochs,
                            steps_per_epoch=cfg.steps_per_epoch or (3 if cfg.smoke else None))

    steps = training.epoch_steps(cfg, count_batches(train_stream(range(1))))  # per epoch
    val_ds = char_dataset(vocabulary.encode(val_text), sequence_length, global_batch,
                          steps_per_epoch=2 if cfg.smoke else None)
    prompt = cfg.prompt or (PROMPTS[cfg.corpus] if not cfg.text_file else train_text[:8])

    # -- model -----------------------------------------------------------------
    sizes = {"embedding_dim": 8, "units": 16} if cfg.smoke else {"embedding_dim": cfg.embedding_dim}
    if cfg.units and not cfg.smoke:
        sizes["units"] = cfg.units
    sizes["num_layers"] = cfg.num_layers
    if init:  # its sizes; dropout is this run's
        sizes = {k: init.get_config()[k] for k in ("embedding_dim", "units", "num_layers")}
    with run.strategy.scope():
        model = zoo.build(cfg.model, vocabulary_size=vocabulary.size, dropout=cfg.dropout, **sizes)
        model.set_vocabulary(vocabulary)
        model.build_for_inference()  # restoring a backup needs a built model
        if init:
            model.set_weights(init.get_weights())  # a backup, if any, is restored over it below
            print(f"initialized from {cfg.init_from}")
        schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, max(1, cfg.epochs * steps), alpha=0.05)
        model.compile(
            optimizer=optimizers.Adam(schedule, clipnorm=cfg.clipnorm),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.MeanMetricWrapper(bits_per_character, name="bits_per_character")],
            jit_compile=cfg.jit_compile,
        )
        backup, start = run.step_backup(model, steps, cfg.backup_every)  # start: batches already trained
    training.check_jit_compile(model, cfg.jit_compile, cfg.model)
    model.summary(print_fn=lambda line, **_: print(line))
    if run.chief and not (run.run_dir / "hparams").exists():  # once per run, not again on resume
        training.log_hparams(run.run_dir, cfg)

    # -- fit -------------------------------------------------------------------
    best = SamplesAndBest(run.out_dir, prompt, val_text[:100], cfg)
    # backup first: it ends a resumed epoch early, before the others see its end
    callbacks = [backup, best, keras.callbacks.TensorBoard(str(run.out_dir))]
    optimizer_steps = training.fit_resumed(
        model, train_stream, start, steps, cfg.epochs, callbacks, val_ds,
        verbose=2 if cfg.smoke else "auto", skip=best.budget_spent(),
    )
    if not run.chief:
        return None  # scoring and shipping is the chief's

    # -- score the best epoch, as saved, on the whole validation text; write model/ and ship it --
    data = {
        "corpus": corpus,
        **({"files": [user_files.file_record(f) for f in cfg.text_file]} if cfg.text_file else {}),
        "split": "first 90% of the characters train, last 10% validate",
        "train_characters": len(train_text),
        "val_characters": len(val_text),
        "vocabulary": f"{len(vocabulary.chars)} characters of the training split + unknown id 0",
        "selection": "val (best epoch by windowed val loss)",
    }

    members = ensemble_members(cfg, vocabulary, corpus) if run.chief else []
    model.set_members(members)  # saved with it in model/members/

    def evaluate(saved, card):
        if members:  # each model's own loss, on the same text
            training.score_members(saved, cfg, card, lambda model: {"val_log_loss": round(model.log_loss(val_text), 4)})
        start = time.perf_counter()
        losses = character_log_losses(saved, val_text)  # state carried over the whole text; model.log_loss's mean
        nats, seconds = float(losses.mean()), time.perf_counter() - start
        saved.generate(prompt, 10, seed=0)  # trace the sampling loop before timing it
        start = time.perf_counter()
        sample = saved.generate(prompt, cfg.sample_length, temperature=cfg.temperature, seed=cfg.seed)
        chars_per_second = cfg.sample_length / (time.perf_counter() - start)
        card["sample"] = {"prompt": prompt, "temperature": cfg.temperature, "seed": cfg.seed, "text": prompt + sample}
        target = None if cfg.text_file else TARGET_NATS.get(cfg.corpus)  # your own text has no target
        metrics = {"val_log_loss": round(nats, 4), "val_bits_per_character": round(nats / math.log(2), 4),  # per char
                   **({"target_log_loss": target, "meets_target": nats <= target} if target else {}),
                   "log_loss_seconds": round(seconds, 1), "generate_chars_per_second": round(chars_per_second)}
        if cfg.ship and not cfg.smoke:
            card["compared_with_shipped"] = compare_with_shipped(losses, cfg, val_text, card)
        return metrics, {"val_log_loss": nats, "val_bits_per_character": nats / math.log(2)}

    return training.finish(model, cfg, run, tasks.TEXT_GENERATION.name, data, best, optimizer_steps, evaluate,
                           ("val_log_loss",), higher_is_better=False, data_key="corpus", hparams=False)


def ensemble_members(cfg, vocabulary, corpus):
    """The models `--ensemble-with` names, checked against this run: the same
    corpus and vocabulary (an ensemble's members read and predict the same characters)."""
    members = []
    for directory in ensemble_dirs(cfg):
        theirs = training.member_card(directory).get("data", {}).get("corpus")
        if theirs != corpus:
            raise ValueError(f"--ensemble-with {directory}: it was trained on {theirs!r}, this run on {corpus!r}: an "
                             f"ensemble's members share their text and validation split.")
        member = zoo.load(directory)
        if getattr(member, "task", None) != tasks.TEXT_GENERATION.name or member.members or (
                member.vocabulary.chars != vocabulary.chars):
            raise ValueError(f"--ensemble-with {directory}: its vocabulary is not this run's (or it is not a single "
                             f"character model): an ensemble's members read and predict the same characters.")
        members.append(member)
    return members


def compare_with_shipped(ours, cfg, val_text, card):
    """This run's model (its per-character losses `ours`) against the shipped
    one on the same validation text: the nats per character of both and the paired block-bootstrap interval of
    the difference (`zoo.metrics.paired_log_loss_difference`); `ship` replaces
    the shipped model only when the interval is below 0. None when none ships
    or it was measured on another corpus."""
    target = registry.models_dir() / cfg.model
    if not (target / "card.json").is_file():
        return None
    shipped_card = saving.read_json(target / "card.json")
    if shipped_card.get("data", {}).get("corpus") != card["data"].get("corpus") or card["data"].get("files"):
        return None
    theirs = character_log_losses(zoo.load(target), val_text)
    return {"shipped_weights_sha256": shipped_card.get("weights_sha256"), "block_characters": 1000,
            "val_log_loss": round(float(ours.mean()), 4), "shipped_val_log_loss": round(float(theirs.mean()), 4),
            **paired_log_loss_difference(ours, theirs, block=1000)}


if __name__ == "__main__":
    training.run(main, CFG)
