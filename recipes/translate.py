"""Train a translation model of the zoo on Multi30k (or spa-eng) and ship it.

    python recipes/translate.py --model lstm-seq2seq-attn --pair de-en

Reads top to bottom: config -> strategy -> data -> model -> fit -> evaluate ->
save. Killing the run and re-running the same command resumes from the last
backup (every --backup-every steps and every epoch end, in <run-dir>/backup),
mid-epoch included, and ends with the same optimizer steps as an unbroken run;
re-running a finished run only evaluates and ships again. Several workers:
`python -m zoo.launch --workers 2 recipes/translate.py ...` (see zoo/launch.py),
or `--strategy mirrored --cpu-devices 2` for two replicas in one process. Watch it with
`tensorboard --logdir runs/`: losses, token accuracy, learning rate, val BLEU,
sample translations, attention heatmaps and the hparams dashboard.
At the end the best epoch (by val BLEU) is evaluated on the test split and
written with its card.json to <save-dir>/<model>/.
"""

import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorboard.plugins.hparams import api as hp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import zoo  # noqa: E402
from zoo import distribute, saving, training, viz
from zoo.callbacks import BestCheckpoint, StepBackup  # noqa: E402
from zoo.data import tokenizers  # noqa: E402
from zoo.data.pipeline import count_batches, encode, translation_dataset  # noqa: E402
from zoo.data.translation import load_pairs  # noqa: E402
from zoo.distribute import STRATEGIES  # noqa: E402
from zoo.evaluate import evaluate_translation  # noqa: E402
from zoo.metrics import MaskedAccuracy, masked_cross_entropy, translation_scores  # noqa: E402
from zoo.saving import atomic_write  # noqa: E402


@dataclasses.dataclass
class Config:
    model: str = "lstm-seq2seq-attn"
    pair: str = "de-en"
    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 2e-3
    embedding_dim: int = 256
    units: int = 256
    dropout: float = 0.3
    label_smoothing: float = 0.1
    clipnorm: float = 1.0
    source_vocabulary: int = 8000
    target_vocabulary: int = 6000
    max_length: int = 64  # subword tokens per sentence in training
    patience: int = 3  # epochs without a better val BLEU before stopping
    beam_size: int = 5
    run_dir: str = ""  # default runs/<model>-<pair>
    save_dir: str = "saved_models"
    strategy: str = "auto"
    cpu_devices: int = 0  # N logical CPUs, for --strategy mirrored without GPUs
    steps_per_epoch: int = 0  # 0: one pass over the data (3 steps in --smoke)
    backup_every: int = 100  # steps between backups, besides every epoch end
    mixed_precision: str = ""  # "", "mixed_float16" or "mixed_bfloat16"
    jit_compile: bool = False
    seed: int = 0
    smoke: bool = False  # a few steps on a few hundred sentences (tests)


def parse_args(argv=None):
    return training.parse_config(Config, __doc__, argv, {"strategy": STRATEGIES})


class ValidationBleu(BestCheckpoint):
    """Each epoch: val BLEU (greedy), sample translations and an attention
    heatmap to TensorBoard; the best weights so far to `best.weights.h5`."""

    def __init__(self, sources, references, run_dir, samples=3):
        super().__init__(run_dir, "bleu", mode="max")
        self.sources, self.references, self.samples = sources, references, samples
        self.writer = tf.summary.create_file_writer(str(self.run_dir / "validation"))

    def score(self, epoch, logs):
        hypotheses = self.model.translate(self.sources, beam_size=1)
        bleu = translation_scores(hypotheses, self.references)["bleu"]
        logs["val_bleu"] = bleu
        with self.writer.as_default(step=epoch):
            tf.summary.scalar("epoch_bleu", bleu)
            lines = [
                f"**source:** {s}  \n**reference:** {r}  \n**model:** {h}"
                for s, r, h in zip(self.sources[: self.samples], self.references, hypotheses)
            ]
            tf.summary.text("translations", tf.constant(lines))
            if self.model.use_attention:
                _, (src, out, weights) = self.model.translate(self.sources[0], beam_size=1, return_attention=True)
                png = viz.to_png(viz.attention_figure(src, out, weights, title=f"epoch {epoch + 1}"))
                tf.summary.image("attention", tf.image.decode_png(png)[None])
        self.writer.flush()
        return bleu

    def report(self, epoch, bleu):
        print(
            f"\nepoch {epoch + 1}: val BLEU {bleu:.2f} (best {self.state['bleu']:.2f} at epoch {self.state['epoch']})"
        )


def main(cfg):
    strategy = distribute.get_strategy(cfg.strategy, cfg.cpu_devices)  # first: may set up devices
    print(f"strategy: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)")
    keras.utils.set_random_seed(cfg.seed)
    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy(cfg.mixed_precision)
    run_dir = Path(cfg.run_dir or f"runs/{cfg.model}-{cfg.pair}" + ("-smoke" if cfg.smoke else ""))
    chief = distribute.is_chief(strategy)
    out_dir = distribute.worker_dir(run_dir, strategy)  # run_dir on the chief, else a temporary dir

    # -- data: tokenizers are learned on the training split only -------------------
    limit = 300 if cfg.smoke else None
    train_src, train_tgt = load_pairs(cfg.pair, "train", limit=limit)
    val_src, val_tgt = load_pairs(cfg.pair, "val", limit=50 if cfg.smoke else None)
    for side, texts, size in (
        ("source", train_src, cfg.source_vocabulary),
        ("target", train_tgt, cfg.target_vocabulary),
    ):
        path = run_dir / f"{side}.spm"  # reused on resume, so the ids never change
        if chief and not path.exists():
            atomic_write(path, tokenizers.train_sentencepiece(texts, 300 if cfg.smoke else size))
    distribute.barrier(strategy)  # every worker uses the chief's tokenizers
    protos = [(run_dir / f"{side}.spm").read_bytes() for side in ("source", "target")]
    src_tok, tgt_tok = (tokenizers.tokenizer(p) for p in protos)
    global_batch = cfg.batch_size * strategy.num_replicas_in_sync
    train_src_ids = encode(src_tok, train_src, cfg.max_length)
    train_tgt_ids = encode(tgt_tok, train_tgt, cfg.max_length, add_bos=True)

    def train_stream(epochs):  # epoch e in the same order in any process: a resumed run sees the same batches
        return translation_dataset(
            train_src_ids,
            train_tgt_ids,
            global_batch,
            shuffle=True,
            seed=cfg.seed,
            epochs=epochs,
            steps_per_epoch=cfg.steps_per_epoch or (3 if cfg.smoke else None),
        )

    steps = count_batches(train_stream(range(1)))  # per epoch
    val_ds = translation_dataset(
        encode(src_tok, val_src, cfg.max_length), encode(tgt_tok, val_tgt, cfg.max_length, add_bos=True), global_batch
    )

    # -- model -------------------------------------------------------------------
    with strategy.scope():
        model = zoo.build(
            cfg.model,
            source_vocabulary_size=src_tok.vocabulary_size(),
            target_vocabulary_size=tgt_tok.vocabulary_size(),
            embedding_dim=cfg.embedding_dim,
            units=cfg.units,
            dropout=cfg.dropout,
        )
        model.set_tokenizers(*protos)
        model.build_for_inference()  # restoring a backup needs a built model
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate, clipnorm=cfg.clipnorm),
            loss=masked_cross_entropy(cfg.label_smoothing),
            metrics=[MaskedAccuracy()],
            jit_compile=cfg.jit_compile,
        )
        backup = StepBackup(run_dir / "backup", steps, cfg.backup_every, write_dir=out_dir / "backup")
        start = backup.restore(model)  # batches already trained, 0 on a fresh run
    training.check_jit_compile(model, cfg.jit_compile, cfg.model)
    model.summary(print_fn=lambda line, **_: print(line))

    # -- fit ---------------------------------------------------------------------
    bleu = ValidationBleu(val_src, val_tgt, out_dir)
    callbacks = [
        backup,  # first: it ends a resumed epoch early, before the others see its end
        keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=1, min_lr=1e-5),
        bleu,
        keras.callbacks.EarlyStopping("val_bleu", mode="max", patience=cfg.patience),
        keras.callbacks.TensorBoard(str(out_dir)),
    ]
    optimizer_steps = training.fit_resumed(
        model, train_stream, start, steps, cfg.epochs, callbacks, val_ds,
        verbose=2 if cfg.smoke else "auto", skip=backup.finished,
    )
    if not chief:
        return None  # evaluating and shipping is the chief's

    # -- evaluate the best epoch on the test split and ship it ---------------------
    if (run_dir / "best.weights.h5").exists():
        model.load_weights(run_dir / "best.weights.h5")
    target = Path(cfg.save_dir) / cfg.model
    card = {
        "task": "translation",
        "data": {
            "pair": cfg.pair,
            "train": "multi30k train (29,000)" if "es" not in cfg.pair else "spa-eng train",
            "selection": "val (best epoch by greedy val BLEU)",
            "test": "test_2016_flickr (1,000)" if "es" not in cfg.pair else "spa-eng test",
        },
        "config": dataclasses.asdict(cfg),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "best_epoch": bleu.state["epoch"],
        "optimizer_steps": optimizer_steps,
        "train_seconds": round(bleu.state["train_seconds"]),
        "hardware": training.hardware(),
        "replicas": strategy.num_replicas_in_sync,
        "parameters": model.count_params(),
    }
    saving.save(model, target, cfg.model, card)  # float16 weights: evaluate what ships
    shipped = zoo.load(cfg.model, weights=target)
    results = evaluate_translation(
        shipped, cfg.pair, "test", beam_sizes=(1, cfg.beam_size), limit=50 if cfg.smoke else None
    )
    card["metrics"] = results
    saving.save(model, target, cfg.model, card)
    with tf.summary.create_file_writer(str(run_dir / "hparams")).as_default():
        hp.hparams({k: v for k, v in dataclasses.asdict(cfg).items() if isinstance(v, (int, float, str, bool))})
        tf.summary.scalar("test_bleu", results[f"beam{cfg.beam_size}"]["bleu"], step=0)
        tf.summary.scalar("val_bleu", bleu.state["bleu"], step=0)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(parse_args())
