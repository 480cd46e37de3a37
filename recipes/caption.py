"""Train an image captioner of the zoo on Flickr8k.

    python recipes/caption.py --model sat-lstm-squeezenet
    python recipes/caption.py --model lstm-squeezenet                          # no attention
    python recipes/caption.py --train-fraction 0.25                            # less data
    python recipes/caption.py --ema 0.995 --augment mirror                     # averaged weights, mirror images
    python recipes/caption.py --text multi30k                                  # + descriptions without images
    python recipes/caption.py --images DIR --captions FILE --init-from sat-lstm-squeezenet   # fine-tune, own data
    python recipes/caption.py --run-dir runs/a --ensemble-with runs/b                   # decode with b's model too
    for i in 0 1 2 3 4; do python recipes/caption.py --folds 5 --fold $i --run-dir runs/sat-cv$i; done
    python benchmarks/caption_cv.py --runs runs/sat-cv*                   # their cross-validated scores

Reads top to bottom: config -> setup -> data -> model -> features -> fit -> evaluate and save
(`zoo.training.finish`). The split is fixed by image name (`zoo.data.flickr8k`), or with --folds K
--fold I it is fold I of K-fold cross-validation (test = the images of fold I, every image in one
fold; val and train from the others, also by name); the word vocabulary comes from the training
captions (with --init-from, from the starting point: new words are <unk>). The frozen CNN encodes
each image once: its feature grids are cached in <run-dir>/features.npz, and training reads them,
not the images. Killing the run and re-running the same command resumes from the last backup (every
--backup-every steps and every epoch end), mid-epoch included. Several workers: `python -m
zoo.launch --workers 2 recipes/caption.py ...`. Watch it with `tensorboard --logdir runs/`: losses,
token accuracy, val BLEU-4 and CIDEr-D, sample captions and attention overlays (each word's attention
over the image), hparams. At the end the best epoch (by greedy val BLEU-4, or CIDEr-D with --select
cider) is scored on the test split, greedy and beam, beside a nearest-neighbour retrieval baseline
on the same features, and written with its card.json to <run-dir>/model/ (load it with
`zoo.load(name, weights="<run-dir>/model")`); `--ship` also installs it into saved_models/<model>/ if
its test BLEU-4 beats the shipped card's.
"""

import dataclasses
import json
from pathlib import Path

import zoo
from zoo import tasks
from zoo.data.captions import (
    VIEWS,
    cache_features,
    caption_dataset,
    caption_pairs,
    caption_splits,
    pairs_per_pass,
    text_captions,
)
from zoo.flags import FlagError, RunConfig, changed, flag, parse_config


@dataclasses.dataclass
class Config(RunConfig):
    model: str = flag("sat-lstm-squeezenet", "registered captioner", choices=tuple(tasks.CAPTIONING.models()))
    epochs: int = flag(30, "passes over the training captions", minimum=1)
    batch_size: int = flag(32, "captions per replica and step", minimum=1)
    learning_rate: float = flag(1e-3, "Adam's learning rate (halved when val loss stalls)", exclusive_minimum=0)
    embedding_dim: int = flag(256, "size of the word embedding", minimum=1)
    units: int = flag(256, "size of the decoder and the attention", minimum=1)
    dropout: float = flag(0.5, "dropout on the features, embeddings and the output layer", minimum=0,
                          exclusive_maximum=1)
    attention_penalty: float = flag(1.0, "doubly stochastic attention regularization (Xu et al. 2015)", minimum=0)
    label_smoothing: float = flag(0.0, "label smoothing of the cross-entropy", minimum=0, exclusive_maximum=1)
    word_dropout: float = flag(0.0, "share of the decoder's input words replaced by <unk> in training, in [0, 1)",
                               minimum=0, exclusive_maximum=1)
    ema: float = flag(0.0, "momentum of an exponential moving average of the weights (Polyak averaging) that is "
                           "validated, checkpointed and kept instead of the raw weights, in [0, 1) (0: off)", minimum=0,
                           exclusive_maximum=1)
    augment: str = flag("", "train on other views of each image too, their features cached: 'mirror' (flipped left "
                            "to right), 'crops' (the centre and four corners, 87.5%% of the side) or 'mirror,crops'; "
                            "one view drawn per caption and epoch")
    text: str = flag("", "'multi30k': also train the decoder as a language model on Multi30k's English descriptions "
                         "of Flickr30k images, with no image (as many per epoch as image captions; those equal to one "
                         "of the captions, or with a word outside the vocabulary, left out)", choices=("", "multi30k"))
    clipnorm: float = flag(5.0, "gradient norm clipping", exclusive_minimum=0)
    min_count: int = flag(3, "words seen fewer times in the training captions are <unk>", minimum=1)
    max_length: int = flag(20, "words per caption in training (longer ones are cut)", minimum=2)
    image_size: int = flag(224, "images are resized to this square size for the CNN", minimum=32)
    train_fraction: float = flag(1.0, "keep this share of the training images (a seeded choice), in (0, 1]")
    folds: int = flag(0, "k-fold cross-validation over Flickr8k with K folds, K >= 2, tested on --fold "
                         "(0: the fixed 82/9/9 split)", minimum=0)
    fold: int = flag(0, "with --folds: the fold whose images are the test set, in [0, K)", minimum=0)
    select: str = flag("bleu4", "the greedy val score that picks the best epoch and stops training: BLEU-4 or "
                                "CIDEr-D", choices=("bleu4", "cider"))
    patience: int = flag(5, "epochs without a better val score (--select) before stopping", minimum=1)
    beam_size: int = flag(3, "beam size of the test evaluation", minimum=1)
    steps_per_epoch: int = flag(0, "batches per epoch (0: one pass over the captions, 3 with --smoke)", minimum=0)
    images: str = flag("", "your own images instead of Flickr8k: a folder, with --captions")
    captions: str = flag("", "captions of --images: a CSV 'image,caption' or Flickr8k's 'name.jpg#k<TAB>caption' "
                             "lines; images it names but the folder lacks are left out and listed")
    ensemble_with: str = flag("", "comma-separated run directories of this recipe, finished on the same data, fold "
                                  "and vocabulary: the model decodes with theirs as one ensemble (the mean of their "
                                  "log-probabilities at each step), and the test scores, <run-dir>/model and --ship "
                                  "are the ensemble's")
    init_from: str = flag("", "fine-tune from the shipped model (its name, = --model; of an ensemble, its first "
                              "model) or a model directory a caption run wrote (<run-dir>/model), keeping its word "
                              "vocabulary, sizes and weights: words of your captions it never saw are <unk>")


def parse_args(argv=None):
    return parse_config(Config, __doc__, argv, validate=check_flags)


def check_flags(cfg):
    """The flags that go together (`FlagError` if not)."""
    if not 0.0 < cfg.train_fraction <= 1.0:
        raise FlagError(f"--train-fraction must be in (0, 1], got {cfg.train_fraction}")
    if bool(cfg.images) != bool(cfg.captions):
        raise FlagError("--images and --captions go together (a folder of images and their captions file)")
    augmentation_views(cfg.augment)
    if cfg.folds == 1:
        raise FlagError(f"--folds must be 0 (the fixed split) or an integer >= 2, got {cfg.folds}")
    if cfg.folds and cfg.fold >= cfg.folds:
        raise FlagError(f"--fold must be in [0, {cfg.folds}) with --folds {cfg.folds}, got {cfg.fold}")
    if cfg.fold and not cfg.folds:
        raise FlagError(f"--fold {cfg.fold} needs --folds K (K >= 2, the number of folds)")
    if cfg.folds and cfg.images:
        raise FlagError("--folds is for Flickr8k; with --images your own files are split by a hash of their names")
    for run_dir in ensemble_runs(cfg):
        if not (Path(run_dir) / "model" / "card.json").is_file():
            raise FlagError(f"--ensemble-with: {run_dir} holds no finished run of this recipe (no model/card.json)")


def ensemble_runs(cfg):
    """The run directories `--ensemble-with` names."""
    return [d for d in cfg.ensemble_with.split(",") if d]


def augmentation_views(augment):
    """The `zoo.data.captions.VIEWS` that `--augment` names."""
    groups = {"mirror": ["mirror"], "crops": [v for v in VIEWS if v.startswith("crop-")]}
    names = [n for n in augment.split(",") if n] if augment else []
    if any(n not in groups for n in names) or len(set(names)) != len(names):
        raise FlagError(f"--augment must be 'mirror', 'crops' or 'mirror,crops', got {augment!r}")
    return [view for n in names for view in groups[n]]


if __name__ == "__main__":
    CFG = parse_args()  # before TensorFlow loads: --help and a mistaken flag answer at once

from zoo import training  # noqa: I001  before Keras: it imports TensorFlow without its start-up noise

import keras
import numpy as np

from zoo import optimizers, viz
from zoo.callbacks import CaptionValidation
from zoo.data.flickr8k import load_image, normalize_caption
from zoo.data.tokenizers import WordVocabulary
from zoo.tasks.captioning import evaluate as evaluate_captioning
from zoo.metrics import MaskedAccuracy, caption_scores, masked_cross_entropy
from zoo.tasks.captioning import nearest_neighbour_captions
from zoo.io import atomic_write


def build_model(cfg, vocabulary, init=None):
    """The model to train, built (in the current strategy's scope), with its
    vocabulary; with `init` (`training.starting_point`), its sizes and weights,
    the encoder's included (dropout, word dropout and the attention penalty are
    this run's)."""
    sizes = {"embedding_dim": cfg.embedding_dim, "units": cfg.units, "image_size": cfg.image_size}
    if cfg.smoke:
        sizes |= {"embedding_dim": 16, "units": 16}
    if init:
        sizes = {k: init.get_config()[k] for k in sizes}
    model = zoo.build(
        cfg.model,
        vocabulary_size=vocabulary.size,
        encoder_weights=None if init else "imagenet",  # a starting point brings its own
        dropout=cfg.dropout,
        attention_penalty=cfg.attention_penalty,
        word_dropout=cfg.word_dropout,
        **sizes,
    )
    if not model.use_attention and changed(cfg, "attention_penalty"):
        raise FlagError(f"--attention-penalty regularizes attention, and {cfg.model} has none (leave the flag out)")
    model.set_vocabulary(vocabulary)
    model.build_for_inference()  # restoring a backup needs a built model
    if init:
        model.set_weights(init.get_weights())  # a backup, if any, is restored over it later
        print(f"initialized from {cfg.init_from}")
    return model


def main(cfg):
    data_name = "-".join([Path(cfg.images).name if cfg.images else "flickr8k",
                          *([f"cv{cfg.fold}of{cfg.folds}"] if cfg.folds else []),
                          *([f"{cfg.train_fraction:g}"] if cfg.train_fraction < 1.0 else [])])
    run = training.setup(cfg, data_name)  # strategy, seed, precision, run directory locked by the chief

    # -- data: a fixed split (or a fold) by image name; the vocabulary from training captions
    # (a fold is another test set: a shipped card measured on the fixed split is not compared with it)
    train, val, test, data = caption_splits(cfg.images, cfg.captions, cfg.folds, cfg.fold, cfg.train_fraction,
                                            cfg.seed)
    if cfg.smoke:
        train, val, test = train[:40], val[:8], test[:8]
    init = training.starting_point(cfg)  # its vocabulary: words it never saw are <unk>
    min_count = 1 if cfg.smoke else cfg.min_count
    vocabulary = run.shared_file(  # the chief's, for every worker; kept on resume, so the ids never change
        "vocabulary.json", lambda: (init.vocabulary if init else WordVocabulary.from_texts(
            [normalize_caption(c) for _, cs in train for c in cs], min_count)).to_json(),
        lambda data, path: WordVocabulary.from_json(data.decode()))
    if init and vocabulary != init.vocabulary:
        raise ValueError(f"--init-from {cfg.init_from}: {run.run_dir / 'vocabulary.json'} holds another vocabulary "
                         f"(the run directory was started without it); pass another --run-dir.")
    if cfg.beam_size > vocabulary.size:  # found now, not after the training (`caption` refuses it)
        raise FlagError(f"--beam-size must be at most the vocabulary size ({vocabulary.size}), got {cfg.beam_size}")

    # -- model ---------------------------------------------------------------------------
    with run.strategy.scope():
        model = build_model(cfg, vocabulary, init)
    if run.chief and cfg.ensemble_with:  # checked before training, used at the end (the chief's)
        members = [ensemble_member(run_dir, cfg, data, vocabulary) for run_dir in ensemble_runs(cfg)]
        try:
            model.set_members([member for member, _ in members])
        except ValueError as e:
            raise ValueError(f"--ensemble-with {cfg.ensemble_with}: {e}") from None
    else:
        members = []

    # -- features: every image through the frozen CNN once ---------------------------------
    features_path = run.run_dir / "features.npz"
    views = augmentation_views(cfg.augment)
    if run.chief:
        cached = cache_features(model, train + val + test, features_path)
        for view in views:
            cached = cache_features(model, train, features_path, view=view)
    run.barrier()
    if not run.chief:
        cached = cache_features(model, [], features_path)
    grid = {split: np.stack([cached[Path(p).name] for p, _ in items]) for split, items in
            (("train", train), ("val", val), ("test", test))}
    # With --augment, the training table holds each view in turn: view j of image i at row i + j * len(train).
    train_table = np.concatenate([grid["train"], *(np.stack([cached[f"{Path(p).name}|{view}"] for p, _ in train])
                                                   for view in views)])
    global_batch = run.global_batch(cfg.batch_size)
    train_rows, train_tokens = caption_pairs(train, grid["train"], vocabulary, cfg.max_length)
    val_rows, val_tokens = caption_pairs(val, grid["val"], vocabulary, cfg.max_length)
    for part, rows, items in (("training", train_rows, train), ("validation", val_rows, val)):
        if len(rows) < global_batch:  # every batch is full: fewer would leave the part without a batch
            raise FlagError(f"the {part} images ({len(items)}) have {len(rows)} captions, fewer than one batch of "
                            f"{global_batch}; lower --batch-size{', or give more images' if cfg.images else ''}")
    steps_per_epoch = cfg.steps_per_epoch or (3 if cfg.smoke else None)
    text_tokens = None
    if cfg.text:  # every caption of every split is kept from the language model, the test images' included
        text_tokens = text_captions(vocabulary, cfg.max_length, [c for _, cs in train + val + test for c in cs])
        print(f"{len(text_tokens)} {cfg.text} descriptions without an image join the training captions")

    def train_stream(epochs):
        return caption_dataset(train_table, train_rows, train_tokens, global_batch, True, cfg.seed, epochs,
                               steps_per_epoch, views=1 + len(views), text_tokens=text_tokens)

    pairs = pairs_per_pass(len(train_rows), text_tokens)
    steps = training.epoch_steps(cfg, min(pairs // global_batch, steps_per_epoch or pairs))
    val_ds = caption_dataset(grid["val"], val_rows, val_tokens, global_batch)

    with run.strategy.scope():
        model.compile(
            optimizer=optimizers.Adam(cfg.learning_rate, clipnorm=cfg.clipnorm, use_ema=cfg.ema > 0,
                                      ema_momentum=cfg.ema or 0.99),
            loss=masked_cross_entropy(cfg.label_smoothing),
            metrics=[MaskedAccuracy()],
            jit_compile=cfg.jit_compile,
        )
        backup, start = run.step_backup(model, steps, cfg.backup_every)  # start: batches already trained
    training.check_jit_compile(model, cfg.jit_compile, cfg.model)
    model.summary(print_fn=lambda line, **_: print(line))

    # -- fit -----------------------------------------------------------------------------
    validation = CaptionValidation(val, grid["val"], run.out_dir, monitor=cfg.select, keep_last=cfg.average_last)
    # With --ema the averaged weights are swapped in at each epoch's end (validation, best epoch) and the raw
    # ones back at the next epoch's start, before the backup saves them.
    callbacks = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if cfg.ema else []
    callbacks += [
        backup,  # before the rest: it ends a resumed epoch early, before the others see its end
        keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=2, min_lr=1e-5),
        validation,
        keras.callbacks.EarlyStopping(f"val_{cfg.select}", mode="max", patience=cfg.patience),
        keras.callbacks.TensorBoard(str(run.out_dir)),
    ]
    optimizer_steps = training.fit_resumed(
        model, train_stream, start, steps, cfg.epochs, callbacks, val_ds,
        verbose=2 if cfg.smoke else "auto", skip=backup.finished,
    )
    if not run.chief:
        return None  # evaluating and shipping is the chief's

    # -- evaluate the best epoch, as saved, on the test split beside retrieval; write model/ and ship it --
    data |= {
        "train_images": len(train),
        "train_captions": len(train_rows),
        "val_images": len(val),
        "test_images": len(test),
        "vocabulary": f"{len(vocabulary.words)} words of {cfg.init_from}'s vocabulary (kept; words it never saw are "
                      f"<unk>)" if init else
                      f"{len(vocabulary.words)} words seen >= {min_count} times in the training captions",
        "selection": f"val (best epoch by greedy val {'BLEU-4' if cfg.select == 'bleu4' else 'CIDEr-D'})",
        "metric": "corpus BLEU-1..4, sacreBLEU 13a, lowercased, all 5 references",
    }
    key = training.decoding_key(cfg.beam_size)

    def evaluate(saved, card):
        beams, limit = sorted({1, cfg.beam_size}), 8 if cfg.smoke else None
        results = evaluate_captioning(saved, test, beam_sizes=beams, limit=limit)
        if members:  # each member's own scores, on the same images
            card["ensemble"] = [{"run_dir": str(run_dir), **{k: member_card.get(k) for k in MEMBER_CARD}}
                                for run_dir, (_, member_card) in zip(ensemble_runs(cfg), members)]
            alone = [saved, *saved.members]
            saved.set_members(())
            try:
                for entry, member in zip([card, *card["ensemble"]], alone):
                    entry["metrics_alone"] = evaluate_captioning(member, test, beam_sizes=beams, limit=limit)
            finally:
                saved.set_members(alone[1:])
        references = [[normalize_caption(c) for c in captions] for _, captions in test]
        retrieved = nearest_neighbour_captions(grid["train"], [[normalize_caption(c) for c in cs] for _, cs in train],
                                               grid["test"])
        results["nearest_neighbour"] = caption_scores(retrieved, references)
        caption, (words, weights) = saved.caption(test[0][0], beam_size=cfg.beam_size, return_attention=True)
        figure = viz.caption_attention_figure(load_image(test[0][0], saved.image_size), words, weights,
                                              f"{Path(test[0][0]).name}: {caption}")
        atomic_write(run.run_dir / "attention.png", viz.to_png(figure))
        return results, {"test_bleu4": results[key]["bleu4"], f"val_{cfg.select}": validation.state[cfg.select]}

    return training.finish(model, cfg, run, tasks.CAPTIONING.name, data, validation, optimizer_steps, evaluate,
                           (key, "bleu4"), data_key="dataset")


# What an ensemble's card keeps of each member's card.
MEMBER_CARD = ("command", "best_epoch", "train_seconds", "parameters", "weights_sha256")


def ensemble_member(run_dir, cfg, data, vocabulary):
    """`(model, card)` of a finished run that `--ensemble-with` names, checked
    against this run: the same registered model, data, split and vocabulary."""
    member_dir = Path(run_dir) / "model"
    card = training.read_run_file(member_dir / "card.json", lambda text, path: json.loads(text))
    theirs, ours = card.get("data", {}), data
    for key in ("dataset", "split", "fold", "folds"):
        if theirs.get(key) != ours.get(key):
            raise ValueError(f"--ensemble-with {run_dir}: it was trained on {key} {theirs.get(key)!r}, this run "
                             f"on {ours.get(key)!r}: an ensemble's members share their data and test split.")
    if card.get("name") != cfg.model or card.get("ensemble"):
        raise ValueError(f"--ensemble-with {run_dir}: it holds {card.get('name')!r}"
                         f"{' (an ensemble)' if card.get('ensemble') else ''}, this run {cfg.model!r}: an "
                         f"ensemble's members are single models of the run's --model.")
    member = zoo.load(cfg.model, weights=member_dir)
    if member.vocabulary != vocabulary:
        raise ValueError(f"--ensemble-with {run_dir}: its vocabulary is not this run's: an ensemble's members share "
                         f"their words.")
    return member, card


if __name__ == "__main__":
    training.run(main, CFG)
