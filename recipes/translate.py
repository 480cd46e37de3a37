"""Train a translation model of the zoo on Multi30k (or spa-eng).

    python recipes/translate.py --model lstm-seq2seq-attn --pair de-en

Reads top to bottom: config -> strategy -> data -> model -> fit -> evaluate ->
save. Your own pairs (--train-file, or --source-file/--target-file) are read
into memory, or streamed from the files when they are big (--input auto:
above 16 MiB, and always for a directory of shards, a glob or .gz files; see
zoo/data/streaming.py): one checked pass, tokenizers learned on a seeded
sample, then tf.data tokenizes in the graph, each worker its own share.
Killing the run and re-running the same command resumes from the last
backup (every --backup-every steps and every epoch end, in <run-dir>/backup),
mid-epoch included, and ends with the same optimizer steps as an unbroken run;
re-running a finished run only evaluates again. Several workers:
`python -m zoo.launch --workers 2 recipes/translate.py ...` (see zoo/launch.py),
or `--strategy mirrored --cpu-devices 2` for two replicas in one process. Watch it with
`tensorboard --logdir runs/`: losses, token accuracy, learning rate, val BLEU,
sample translations, attention heatmaps and the hparams dashboard.
At the end the best epoch (by val BLEU) is evaluated on the test split and
written with its card.json to <run-dir>/model/ (load it with
`zoo.load(name, weights="<run-dir>/model")`); `--ship` also installs it into
saved_models/<model>/ if its test BLEU beats the shipped card's.
"""

import dataclasses
from pathlib import Path

import zoo
from zoo import tasks
from zoo.data.translation import SENTENCE_LANGUAGES, load_pairs, pairs
from zoo.flags import FlagError, RunConfig, changed, ensemble_dirs, flag, parse_config

TRANSLATORS = tuple(tasks.TRANSLATION.models())


@dataclasses.dataclass
class Config(RunConfig):
    model: str = flag("lstm-seq2seq-attn", "registered translation model", choices=TRANSLATORS)
    pair: str = flag("de-en", "language pair: Multi30k (de, en, fr) or spa-eng (en-es, es-en)", choices=tuple(pairs()))
    epochs: int = flag(12, "passes over the training data", minimum=1)
    batch_size: int = flag(64, "sentence pairs per replica and step", minimum=1)
    learning_rate: float = flag(2e-3, "Adam's learning rate (halved when val loss stalls)", exclusive_minimum=0)
    embedding_dim: int = flag(256, "size of the source and target embeddings", minimum=1)
    units: int = flag(256, "size of each encoder direction, the decoder and the attention", minimum=1)
    dropout: float = flag(0.3, "dropout on embeddings, encoder states and the output layer", minimum=0,
                          exclusive_maximum=1)
    label_smoothing: float = flag(0.1, "label smoothing of the cross-entropy", minimum=0, exclusive_maximum=1)
    clipnorm: float = flag(1.0, "gradient norm clipping", exclusive_minimum=0)
    subword_sampling: float = flag(0.0, "subword regularization: each epoch, every training sentence in a "
                                        "segmentation drawn from its 64 best with probability proportional to "
                                        "P^alpha, this alpha (Kudo 2018: 0.1 for small data); 0: always the best "
                                        "one; read into memory only", minimum=0)
    right_to_left: bool = flag(False, "train the decoder to write each target last piece first (reversed "
                                      "targets): a second model for n-best rescoring; read into memory only")
    source_vocabulary: int = flag(8000, "SentencePiece pieces learned on the training sources", minimum=8)
    target_vocabulary: int = flag(6000, "SentencePiece pieces learned on the training targets", minimum=8)
    max_length: int = flag(64, "subword tokens per sentence in training (longer ones are cut)", minimum=2)
    patience: int = flag(3, "epochs without a better val BLEU before stopping", minimum=1)
    beam_size: int = flag(5, "beam size of the test evaluation", minimum=1)
    steps_per_epoch: int = flag(0, "batches per epoch (0: one pass over the data, 3 with --smoke)", minimum=0)
    train_file: str = flag("", "your own sentence pairs instead of --pair: a TSV, CSV or Parquet table, or many "
                               "(a directory of shards or a glob, in quotes; tables also .gz), read by --input")
    source_column: str = flag("source", "--train-file's column of source sentences (a number: by position, "
                                        "no header row)")
    target_column: str = flag("target", "--train-file's column of target sentences (a number: by position, "
                                        "no header row)")
    source_file: str = flag("", "your own source sentences, one per line, aligned with --target-file (or many "
                                "files: a directory or a glob, each file aligned with its place in --target-file's)")
    target_file: str = flag("", "your own target sentences, one per line, aligned with --source-file")
    input: str = flag("auto", "how your training files are read: 'memory' (whole, into memory: a full permutation, "
                              "every pair every epoch), 'streaming' (from the files every epoch, tokenized by tf.data, "
                              "shuffled in a "
                              "bounded buffer, each worker its share: for corpora bigger than memory) or 'auto' "
                              "(streaming above 16 MiB of files, and for shards or .gz files)",
                      choices=("auto", "memory", "streaming"))
    vocabulary_sample: int = flag(100_000, "with --input streaming: the tokenizers are learned on a seeded "
                                           "sample of at most this many training pairs", minimum=1)
    shuffle_buffer: int = flag(50_000, "with --input streaming: pairs shuffled together (each epoch in an order "
                                       "drawn from --seed and the epoch)", minimum=1)
    val_file: str = flag("", "validation pairs (a table like --train-file); without it and --test-file, 5%% of "
                             "the pairs each are held out, chosen with --seed (streaming: at most 3,000 each)")
    test_file: str = flag("", "test pairs (a table like --train-file), given together with --val-file")
    source_language: str = flag("", "ISO 639-1 code of the source language, whose rules `translate` splits texts "
                                    "into sentences by (default: that of --init-from's model; else --pair's "
                                    "source; en for your own files)",
                                choices=("",) + SENTENCE_LANGUAGES)
    init_from: str = flag("", "fine-tune from a shipped model (its name) or a model directory, keeping its "
                              "tokenizers and sizes")
    ensemble_with: str = flag("", "comma-separated model directories (a run's model/, or saved_models/<name>) of "
                                  "translators with this run's tokenizers and pair, LSTM or GRU: the model decodes "
                                  "with theirs as one ensemble (the mean of their log-probabilities); the test "
                                  "scores are the ensemble's, each model's own beside them")


def parse_args(argv=None):
    return parse_config(Config, __doc__, argv, validate=check_flags)


def check_flags(cfg):
    """The flags that go together (`FlagError` if not)."""
    if cfg.train_file and (cfg.source_file or cfg.target_file):
        raise FlagError("--train-file: give a table or --source-file/--target-file, not both")
    if bool(cfg.source_file) != bool(cfg.target_file):
        raise FlagError("--source-file and --target-file go together (one sentence per line in each)")
    if bool(cfg.val_file) != bool(cfg.test_file):
        raise FlagError("--val-file and --test-file go together (without both, 5% each are held out)")
    if cfg.val_file and not (cfg.train_file or cfg.source_file):
        raise FlagError("--val-file/--test-file need your training pairs too (--train-file or --source-file)")
    if (cfg.train_file or cfg.source_file) and changed(cfg, "pair"):
        raise FlagError(f"--pair {cfg.pair} names a built-in pair; with --train-file or --source-file your files are "
                        f"the data (leave --pair out)")
    for directory in ensemble_dirs(cfg):
        if not Path(directory, "config.json").is_file():
            raise FlagError(f"--ensemble-with: {directory} holds no model (no config.json)")
    for name in ("input", "vocabulary_sample", "shuffle_buffer"):
        if changed(cfg, name) and not (cfg.train_file or cfg.source_file):
            raise FlagError(f"--{name.replace('_', '-')} is about reading your files (--train-file or "
                            f"--source-file); the built-in pairs are read into memory")
    for side in ("source_column", "target_column"):
        if changed(cfg, side) and not (cfg.train_file or cfg.val_file):
            raise FlagError(f"--{side.replace('_', '-')} chooses a column of --train-file's table (or "
                            f"--val-file's), and none is given")


def data_name(cfg):
    """The data's part of the default run directory: --pair, or the name of
    your file, directory of shards or the folder a glob looks in."""
    spec = cfg.train_file or cfg.source_file
    if not spec:
        return cfg.pair
    plain = Path(*[part for part in Path(spec).parts if not any(c in part for c in "*?[")])
    return plain.name if plain != Path(spec) or Path(spec).is_dir() else Path(spec).stem


def source_language(cfg, init=None):
    """The language the model splits texts into sentences by: --source-language,
    else that of the model it starts from (`init`), else --pair's source."""
    own = cfg.train_file or cfg.source_file
    if cfg.source_language or init is None:
        return cfg.source_language or ("en" if own else cfg.pair.split("-")[0])
    return init.source_language


if __name__ == "__main__":
    CFG = parse_args()  # before TensorFlow loads: --help and a mistaken flag answer at once

from zoo import training  # noqa: I001  before Keras: it imports TensorFlow without its start-up noise

import keras
import numpy as np
import tensorflow as tf

from zoo import optimizers, registry, viz
from zoo.callbacks import BestCheckpoint
from zoo.data import streaming, tokenizers, user_files
from zoo.data.pipeline import count_batches, encode, terminate, translation_dataset
from zoo.tasks.translation import evaluate as evaluate_translation
from zoo.metrics import MaskedAccuracy, masked_cross_entropy, paired_translation_difference, translation_scores
from zoo.io import atomic_write


def build_model(cfg, protos, init=None):
    """The model to train, built (in the current strategy's scope), with its
    tokenizers; with `init` (`starting_point`), its sizes and weights."""
    sizes = {"embedding_dim": cfg.embedding_dim, "units": cfg.units}
    if init:  # its sizes; dropout is this run's
        sizes = {k: init.get_config()[k] for k in sizes}
    model = zoo.build(
        cfg.model,
        source_vocabulary_size=tokenizers.tokenizer(protos[0]).vocabulary_size(),
        target_vocabulary_size=tokenizers.tokenizer(protos[1]).vocabulary_size(),
        dropout=cfg.dropout,
        source_language=source_language(cfg, init),
        right_to_left=cfg.right_to_left,
        **sizes,
    )
    model.set_tokenizers(*protos)
    model.build_for_inference()  # restoring a backup needs a built model
    if init:
        model.set_weights(init.get_weights())  # a backup, if any, is restored over it later
        print(f"initialized from {cfg.init_from}")
    return model


class ValidationBleu(BestCheckpoint):
    """Each epoch: val BLEU (greedy), sample translations and an attention
    heatmap to TensorBoard; the best weights so far to `best.weights.h5`."""

    def __init__(self, sources, references, run_dir, samples=3, keep_last=0):
        super().__init__(run_dir, "bleu", mode="max", keep_last=keep_last)
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
    run = training.setup(cfg, data_name(cfg))  # strategy, seed, precision, run directory locked by the chief

    # -- data: tokenizers are learned on the training split only -------------------
    limit = 300 if cfg.smoke else None
    own = cfg.train_file or cfg.source_file
    reading, why = streaming.choose_input([cfg.train_file, cfg.source_file, cfg.target_file], cfg.input) if own \
        else ("memory", "a built-in pair")
    print(f"input: {reading} ({why})")
    corpus_file, scanned = run.run_dir / "corpus.json", None  # streaming: what the first pass found
    if reading == "streaming":  # the chief reads the files once (a new run): rows checked, pairs counted, samples
        if run.chief and not all(p.exists() for p in (corpus_file, *(run.run_dir / f"{side}.spm" for side in (
                "source", "target")))):
            scanned = streaming.scan(cfg.train_file, cfg.source_column, cfg.target_column, cfg.source_file,
                                     cfg.target_file, cfg.val_file, cfg.test_file, cfg.seed,
                                     sample=limit or cfg.vocabulary_sample)
        texts = dict(zip(("source", "target"), scanned.sample if scanned else ((), ())))
    elif own:
        train, val, test, data_card = user_files.translation_files(
            cfg.train_file, cfg.source_column, cfg.target_column, cfg.source_file, cfg.target_file, cfg.val_file,
            cfg.test_file, cfg.seed)
        (train_src, train_tgt), (val_src, val_tgt) = (train.sources[:limit], train.targets[:limit]), \
            (val.sources[: 50 if cfg.smoke else None], val.targets[: 50 if cfg.smoke else None])
        test_pairs = (test.sources, test.targets)
    else:
        train_src, train_tgt = load_pairs(cfg.pair, "train", limit=limit)
        val_src, val_tgt = load_pairs(cfg.pair, "val", limit=50 if cfg.smoke else None)
        test_pairs, data_card = cfg.pair, {
            "pair": cfg.pair,
            "train": "multi30k train (29,000)" if "es" not in cfg.pair else "spa-eng train",
            "test": "test_2016_flickr (1,000)" if "es" not in cfg.pair else "spa-eng test",
        }
    if reading == "memory":
        texts = {"source": train_src, "target": train_tgt}
    else:
        for name in ("subword_sampling", "right_to_left"):
            if getattr(cfg, name):
                raise FlagError(f"--{name.replace('_', '-')} is for pairs read into memory; with --input streaming "
                                f"the pieces are made in the graph (use --input memory, or leave it out)")
    init = training.starting_point(cfg)  # its tokenizers: words it never saw split into known pieces
    sizes = {"source": cfg.source_vocabulary, "target": cfg.target_vocabulary}
    missing = [side for side in texts if not (run.run_dir / f"{side}.spm").exists()]  # reused on resume: same ids
    if run.chief and missing:
        made = [getattr(init, f"{side}_proto") for side in missing] if init else tokenizers.train_sentencepieces(
            [(texts[side], 300 if cfg.smoke else sizes[side]) for side in missing])  # both sides at once
        for side, proto in zip(missing, made):
            atomic_write(run.run_dir / f"{side}.spm", proto)
    if scanned and not corpus_file.exists():
        atomic_write(corpus_file, scanned.to_json())  # after the tokenizers: a run killed before scans again
    if reading == "streaming":
        texts = scanned = None  # the tokenizers' sample: not kept through training
    run.barrier()  # every worker uses the chief's tokenizers (and corpus.json)
    protos = [training.read_run_file(run.run_dir / f"{side}.spm", tokenizers.check_sentencepiece)
              for side in ("source", "target")]
    src_tok, tgt_tok = (tokenizers.tokenizer(p) for p in protos)
    for side, tok, asked in (("source", src_tok, cfg.source_vocabulary), ("target", tgt_tok, cfg.target_vocabulary)):
        if not init and tok.vocabulary_size() < asked and not cfg.smoke:
            print(f"--{side}-vocabulary {asked}: the training {side}s yield {tok.vocabulary_size()} pieces, so the "
                  f"{side} vocabulary is {tok.vocabulary_size()}")
    if cfg.beam_size > tgt_tok.vocabulary_size():  # found now, not after the training (`translate` refuses it)
        raise FlagError(f"--beam-size must be at most the target vocabulary size ({tgt_tok.vocabulary_size()}), "
                        f"got {cfg.beam_size}")
    global_batch = run.global_batch(cfg.batch_size)
    wanted = cfg.steps_per_epoch or (3 if cfg.smoke else None)  # steps per epoch asked for
    if reading == "streaming":  # each worker reads its own share of the files, tokenized in the graph
        corpus = training.read_run_file(corpus_file, streaming.Corpus.check)
        (val_src, val_tgt), test_pairs, data_card = (x[: 50 if cfg.smoke else None] for x in corpus.val), \
            tuple(corpus.test), corpus.card()
        most = streaming.epoch_steps(corpus, global_batch, streaming.input_pipelines(run.strategy))
        steps = min(training.epoch_steps(cfg, most), wanted or most)

        def train_stream(epochs, skip=0):  # epoch e in an order drawn from (seed, e): a resumed run sees the same
            return streaming.distribute(run.strategy, corpus, protos, global_batch, cfg.max_length, seed=cfg.seed,
                                        epochs=epochs, skip=skip, steps=steps, shuffle_buffer=cfg.shuffle_buffer)
    else:
        train_src_ids = encode(src_tok, train_src, cfg.max_length)
        train_tgt_ids = encode(tgt_tok, train_tgt, cfg.max_length, add_bos=True, reverse=cfg.right_to_left)

        def sampled(epoch):  # --subword-sampling: epoch e's segmentation, drawn from (seed, e) in any process
            return tuple(terminate(tokenizers.sample_sentencepiece(
                proto, texts, cfg.subword_sampling, seed=np.random.default_rng([cfg.seed, epoch, side]).integers(
                    1, 2**31)), cfg.max_length, add_bos=side == 1,
                reverse=side == 1 and cfg.right_to_left)
                for side, (proto, texts) in enumerate(zip(protos, (train_src, train_tgt))))

        def train_stream(epochs):  # epoch e in the same order in any process: a resumed run sees the same batches
            return translation_dataset(train_src_ids, train_tgt_ids, global_batch, shuffle=True, seed=cfg.seed,
                                       epochs=epochs, steps_per_epoch=wanted,
                                       resample=sampled if cfg.subword_sampling else None)

        steps = training.epoch_steps(cfg, count_batches(train_stream(range(1))))  # per epoch
    data_card.update(selection="val (best epoch by greedy val BLEU)", input=reading, input_reason=why)
    val_ds = translation_dataset(
        encode(src_tok, val_src, cfg.max_length),
        encode(tgt_tok, val_tgt, cfg.max_length, add_bos=True, reverse=cfg.right_to_left), global_batch
    )

    # -- model -------------------------------------------------------------------
    with run.strategy.scope():
        model = build_model(cfg, protos, init)
        model.compile(
            optimizer=optimizers.Adam(cfg.learning_rate, clipnorm=cfg.clipnorm),
            loss=masked_cross_entropy(cfg.label_smoothing),
            metrics=[MaskedAccuracy()],
            jit_compile=cfg.jit_compile,
        )
        backup, start = run.step_backup(model, steps, cfg.backup_every)  # start: batches already trained
    training.check_jit_compile(model, cfg.jit_compile, cfg.model)
    model.summary(print_fn=lambda line, **_: print(line))

    members = ensemble_members(cfg, protos, data_card) if run.chief else []  # checked now, used at the end
    if members:
        model.set_members(members)

    # -- fit ---------------------------------------------------------------------
    bleu = ValidationBleu(val_src, val_tgt, run.out_dir, keep_last=cfg.average_last)
    callbacks = [
        backup,  # first: it ends a resumed epoch early, before the others see its end
        keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=1, min_lr=1e-5),
        bleu,
        keras.callbacks.EarlyStopping("val_bleu", mode="max", patience=cfg.patience),
        keras.callbacks.TensorBoard(str(run.out_dir)),
    ]
    optimizer_steps = training.fit_resumed(
        model, train_stream, start, steps, cfg.epochs, callbacks, val_ds,
        verbose=2 if cfg.smoke else "auto", skip=backup.finished,
    )
    if not run.chief:
        return None  # evaluating and shipping is the chief's

    # -- evaluate the best epoch, as saved, on the test split; write model/ and ship it --
    key = training.decoding_key(cfg.beam_size)

    def evaluate(saved, card):
        beams, limit = sorted({1, cfg.beam_size}), 50 if cfg.smoke else None
        results = evaluate_translation(saved, test_pairs, "test", beam_sizes=beams, limit=limit)
        if members:  # each model's own scores, on the same sentences
            training.score_members(saved, cfg, card, lambda model: evaluate_translation(
                model, test_pairs, "test", beam_sizes=beams, limit=limit))
        if cfg.ship and not cfg.smoke:
            card["compared_with_shipped"] = compare_with_shipped(saved, cfg, test_pairs, card)
        return results, {"test_bleu": results[key]["bleu"], "val_bleu": bleu.state["bleu"]}

    return training.finish(model, cfg, run, tasks.TRANSLATION.name, data_card, bleu, optimizer_steps, evaluate,
                           (key, "bleu"), data_key="pair")


def ensemble_members(cfg, protos, data_card):
    """The models `--ensemble-with` names, checked against this run: the same
    tokenizers and data (an ensemble's members read and write the same pieces)."""
    members = []
    for directory in ensemble_dirs(cfg):
        theirs = training.member_card(directory).get("data", {})
        if theirs.get("pair") != data_card.get("pair"):
            raise ValueError(f"--ensemble-with {directory}: it was trained on {theirs.get('pair')!r}, this run on "
                             f"{data_card.get('pair')!r}: an ensemble's members share their data and test split.")
        member = zoo.load(directory)
        if [member.source_proto, member.target_proto] != list(protos) or member.members:
            raise ValueError(f"--ensemble-with {directory}: its tokenizers are not this run's (or it is an ensemble "
                             f"itself): an ensemble's members are single models that share their pieces.")
        members.append(member)
    return members


def compare_with_shipped(saved, cfg, test_pairs, card):
    """This run's model against the shipped one on the same test sentences:
    beam `--beam-size` BLEU of both and the paired bootstrap interval of the
    difference (`zoo.metrics.paired_translation_difference`); `ship` replaces
    the shipped model only when the interval is above 0. None when none
    ships or it was measured on other data."""
    target = registry.models_dir() / cfg.model
    shipped_card = training.member_card(target)
    if not shipped_card or shipped_card.get("data", {}).get("pair") != card["data"].get("pair"):
        return None
    shipped = zoo.load(target)
    sources, references = load_pairs(test_pairs, "test") if isinstance(test_pairs, str) else test_pairs
    ours, theirs = (m.translate(sources, beam_size=cfg.beam_size) for m in (saved, shipped))
    return {"shipped_weights_sha256": shipped_card.get("weights_sha256"),
            "beam_size": cfg.beam_size, "bleu": translation_scores(ours, references)["bleu"],
            "shipped_bleu": translation_scores(theirs, references)["bleu"],
            **paired_translation_difference(ours, theirs, references)}


if __name__ == "__main__":
    training.run(main, CFG)
