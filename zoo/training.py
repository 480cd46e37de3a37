"""The few pieces every recipe shares besides its flags (`zoo.flags`): the
set-up of a run (`setup`: strategy, seed, precision, run directory and its
lock, chief), its step backups (`Run.step_backup`), fit with resume
(`fit_resumed`), and the end of a run (`finish`: best weights, card, save,
evaluate what ships, hparams, `--ship`).

Kept to what would otherwise be copied word for word: each recipe still reads
top to bottom on its own (config -> setup -> data -> model -> fit -> finish),
and keeps what is its own: data, model, callbacks, and how its model is
evaluated (a function `finish` calls on the saved model).
"""

import dataclasses
import fcntl
import inspect
import json
import os
import platform
import re
import shlex
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from zoo import quiet
from zoo.flags import changed, ensemble_dirs

quiet.quiet_tensorflow()  # before Keras imports TensorFlow: no start-up noise a user cannot act on

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorboard.plugins.hparams import api as hp  # noqa: E402

from zoo import distribute, registry, saving  # noqa: E402
from zoo.callbacks import StepBackup, kept_epochs  # noqa: E402
from zoo.data.pipeline import count_batches  # noqa: E402
from zoo.evaluate import quick_check  # noqa: E402
from zoo.io import atomic_write, data_files, named_paths, read_json, sha256  # noqa: E402

_LOCKS = []  # open lock files: released when the process ends, however it ends
_NEW_RUN_DIRS = []  # run directories this process made (removed again if the run fails before training)
_RUN_DIRS = []  # every run directory this process locked


def lock_run_dir(run_dir):
    """Takes `<run_dir>/.lock` for this process, or exits naming the process
    that holds it. `flock` is released by the OS when the holder dies, so a
    killed run never leaves a stale lock (re-running it resumes)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        _NEW_RUN_DIRS.append(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _RUN_DIRS.append(run_dir)
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SystemExit(
            f"error: --run-dir {run_dir} is in use by process {holder}; wait for it to end, "
            f"stop it, or pass another --run-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _LOCKS.append(fd)
    return run_dir


@dataclasses.dataclass
class Run:
    """A run as `setup` prepared it.

    Attributes:
        strategy: the `tf.distribute` strategy (build and compile in its scope).
        run_dir: the run directory: logs, backups, best weights, model/.
        out_dir: where this process writes: `run_dir` on the chief, a
            temporary directory on the other workers.
        chief: whether this process evaluates, saves and ships.
    """

    strategy: object
    run_dir: Path
    out_dir: Path
    chief: bool

    @property
    def replicas(self):
        return self.strategy.num_replicas_in_sync

    def global_batch(self, batch_size):
        """The batch of one step over every replica, from `--batch-size` (per replica)."""
        return batch_size * self.replicas

    def barrier(self):
        """Waits for every worker (after the chief wrote a file they all read)."""
        distribute.barrier(self.strategy)

    def shared_file(self, name, make, check):
        """The run file `name` (a tokenizer, a vocabulary): written once by the
        chief as `make()` (str or bytes) and kept on resume, so the ids never
        change; every worker waits for it and reads it back through
        `check(bytes, path)` (`read_run_file`: a corrupt file says how to recover)."""
        path = self.run_dir / name
        if self.chief and not path.exists():
            atomic_write(path, make())
        self.barrier()
        return read_run_file(path, check)

    def step_backup(self, model, steps, every):
        """`(StepBackup, batches already trained)`: the backups of `run_dir/backup`
        (written to `out_dir/backup`), restored into `model` (0 on a fresh run).
        Call it in the strategy's scope, after `compile`."""
        backup = StepBackup(self.run_dir / "backup", steps, every, write_dir=self.out_dir / "backup")
        return backup, backup.restore(model)


def setup(cfg, data_name):
    """The start every recipe shares: the strategy (first: it may set up
    devices), the seed, the mixed-precision policy, the run directory
    (`--run-dir`, default `runs/<model>-<data_name>[-smoke]`) locked by the
    chief (a second process on it stops here). Returns a `Run`."""
    strategy = distribute.get_strategy(cfg.strategy, cfg.cpu_devices)
    print(f"strategy: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)")
    keras.utils.set_random_seed(cfg.seed)
    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy(cfg.mixed_precision)
    run_dir = Path(cfg.run_dir or f"runs/{cfg.model}-{data_name}" + ("-smoke" if cfg.smoke else ""))
    chief = distribute.is_chief(strategy)
    if chief:
        lock_run_dir(run_dir)
        check_resume(run_dir, cfg)
    return Run(strategy, run_dir, distribute.worker_dir(run_dir, strategy), chief)


# Flags that fix what a run trains: the model's shapes, the data and the order of its batches. A
# run resumes only with the values it started with (`check_resume`); the others (--epochs, the
# learning rate, dropout, evaluation and sampling flags) may change between tries.
FIXED = ("model", "pair", "corpus", "text", "smoke", "seed", "batch_size", "embedding_dim", "units", "num_layers",
         "sequence_length", "steps_per_epoch", "source_vocabulary", "target_vocabulary", "max_length", "min_count",
         "image_size", "train_fraction", "folds", "fold", "mixed_precision", "init_from", "source_column",
         "target_column", "train_file", "source_file", "target_file", "val_file", "test_file", "text_file",
         "images", "captions", "input", "vocabulary_sample", "shuffle_buffer", "right_to_left")
DATA_FILES = ("train_file", "source_file", "target_file", "val_file", "test_file", "text_file", "captions")


def check_resume(run_dir, cfg):
    """Records in `<run_dir>/run.json` the `FIXED` flags of a new run and the
    sha256 of its data files; when the run resumes, a ValueError names every
    such flag given another value and every data file that changed since (a
    run trained on with another --units would not load its backup, one with
    another --text-file would silently train on two texts). A run directory
    made before this record is recorded, not checked. A directory or glob
    of shards is recorded file by file, so a shard added, removed or changed
    is named too."""
    given = dataclasses.asdict(cfg)
    flags = json.loads(json.dumps({k: v for k, v in given.items() if k in FIXED}))  # tuples as lists, as read back
    files = {}
    for spec in named_paths(given, DATA_FILES):
        named = [Path(spec)] if Path(spec).is_file() else data_files(spec)
        files.update({str(spec) if Path(spec).is_file() else str(p): sha256(p) for p in named} or {str(spec): None})
    record = Path(run_dir) / "run.json"
    if not record.exists():
        atomic_write(record, json.dumps({"flags": flags, "files": files}, indent=1).encode())
        return
    try:
        started = json.loads(record.read_text())
        before, before_files = dict(started["flags"]), dict(started["files"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{record} is not readable JSON of a run's flags; delete it to resume without the "
                         f"check, or pass another --run-dir.") from None
    changed = [f"--{k.replace('_', '-')} {before[k]!r}, not {v!r}" for k, v in flags.items()
               if k in before and before[k] != v]
    changed += [f"{path} as it was (sha256 {(before_files[path] or 'none: no file')[:12]}...)"
                for path, sha in files.items() if path in before_files and before_files[path] != sha]
    specs = {*named_paths(given, DATA_FILES), *named_paths(before, DATA_FILES)}  # shards: the files of a glob
    changed += [f"{path} as it was (a shard gone since)" for path in before_files if path not in files.keys() | specs]
    changed += [f"{path} absent (a shard added since)" for path in files if path not in before_files.keys() | specs]
    if changed:
        raise ValueError(f"--run-dir {run_dir} resumes a run started with {'; '.join(changed)}: resume it with the "
                         f"flags and files it started with, or pass another --run-dir.")


# Flags that say how a run is carried out, not what it trains: left out of the hparams dashboard.
MECHANICS = ("run_dir", "ship", "force", "strategy", "cpu_devices", "backup_every", "smoke")


def log_hparams(run_dir, cfg=None, scalars=None):
    """Writes to `<run_dir>/hparams` the config's flags (the hparams dashboard,
    one row named after the run directory; skipped when `cfg` is None) and
    `scalars` (name -> number, at step 0). With `cfg`, what earlier calls
    wrote there is replaced, so a run evaluated again shows once, with its
    latest numbers."""
    directory = Path(run_dir) / "hparams"
    for old in directory.glob("events.out.tfevents.*") if cfg is not None else ():
        old.unlink()
    with tf.summary.create_file_writer(str(directory)).as_default():
        if cfg is not None:
            flags = {k: v for k, v in dataclasses.asdict(cfg).items()
                     if isinstance(v, (int, float, str, bool)) and k not in MECHANICS}
            hp.hparams(flags, trial_id=Path(run_dir).resolve().name)
        for name, value in (scalars or {}).items():
            tf.summary.scalar(name, value, step=0)


def finish(model, cfg, run, task, data, best, optimizer_steps, evaluate, headline, higher_is_better=True,
           data_key=None, hparams=True):
    """The end every recipe shares, on the chief: the best epoch's weights
    (`best.weights.h5`, if any), the card, `<run_dir>/model` saved, the model
    loaded back from it (float16 weights: what ships is what is evaluated),
    `evaluate(loaded_model, card) -> (metrics, scalars)` (it may add to the
    card), the card saved again with its metrics, the scalars (and, with
    `hparams`, the flags) logged to `<run_dir>/hparams`, the metrics printed,
    and `ship`.

    Args:
        task, data: the card's "task" and "data".
        best: the run's `zoo.callbacks.BestCheckpoint` (best epoch, train time).
        optimizer_steps: what `fit_resumed` returned.
        headline, higher_is_better, data_key: what `ship` compares.

    Returns:
        The metrics.
    """

    kept = kept_epochs(run.run_dir)[-cfg.average_last :] if cfg.average_last else []
    if kept:
        average_weights(model, kept)
        print(f"--average-last {cfg.average_last}: the model is the mean of the weights of epochs "
              f"{', '.join(str(int(p.name[:4])) for p in kept)}")
    elif (run.run_dir / "best.weights.h5").exists():
        model.load_weights(run.run_dir / "best.weights.h5")
    card = {
        "task": task,
        "data": data,
        "config": dataclasses.asdict(cfg),
        "model_config": model.get_config(),  # the sizes built, where a flag left the builder's default (0)
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "best_epoch": best.state["epoch"],
        **({"averaged_epochs": [int(p.name[:4]) for p in kept]} if kept else {}),
        "optimizer_steps": optimizer_steps,
        "train_seconds": round(best.state["train_seconds"]),
        "hardware": hardware(),
        "replicas": run.replicas,
        "parameters": model.count_params(),
    }
    model_dir = saving.save(model, run.run_dir / "model", cfg.model, card, weights_dtype=cfg.weights_dtype)
    metrics, scalars = evaluate(saving.load(cfg.model, weights=model_dir), card)  # the weights as stored
    card["metrics"] = metrics
    saving.save(model, model_dir, cfg.model, card, weights_dtype=cfg.weights_dtype)
    log_hparams(run.run_dir, cfg if hparams else None, scalars)
    print(json.dumps(metrics, indent=2))
    ship(model, cfg, run.run_dir, card, headline, higher_is_better=higher_is_better, data_key=data_key)
    return metrics


# What an ensemble's card keeps of each member's card.
MEMBER_CARD = ("name", "command", "best_epoch", "train_seconds", "parameters", "weights_sha256")


def member_card(directory):
    """The card.json of a model directory, {} without one."""
    path = Path(directory, "card.json")
    return read_json(path) if path.is_file() else {}


def score_members(saved, cfg, card, score):
    """Each model of the ensemble `--ensemble-with` made, scored alone: `card["ensemble"]`
    gets an entry per member (its directory and `MEMBER_CARD` keys of its card), and the
    card and each entry get `metrics_alone = score(that model alone)`."""
    card["ensemble"] = [{"directory": d, **{k: member_card(d).get(k) for k in MEMBER_CARD}}
                        for d in ensemble_dirs(cfg)]
    alone = [saved, *saved.members]
    saved.set_members(())
    try:
        for entry, model in zip([card, *card["ensemble"]], alone):
            entry["metrics_alone"] = score(model)
    finally:
        saved.set_members(alone[1:])


def average_weights(model, paths):
    """Checkpoint averaging: sets each floating-point weight of `model` to
    its mean over the weight files `paths` (`.weights.h5` files of this
    model, e.g. the epochs `--average-last` kept: `zoo.callbacks.kept_epochs`).
    Other variables (seed counters) keep the last file's values. Returns `model`."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("`paths` must name at least one weights file, got none.")
    total = None
    for path in paths:
        model.load_weights(path)
        values = [np.asarray(w.numpy(), np.float64) for w in model.weights]
        total = values if total is None else [t + v for t, v in zip(total, values)]
    for weight, value in zip(model.weights, total):
        if np.issubdtype(np.dtype(weight.dtype), np.floating):
            weight.assign((value / len(paths)).astype(weight.dtype))
    return model


def epoch_steps(cfg, steps):
    """`steps`, the batches an epoch of the training data holds, said aloud
    when --steps-per-epoch asked for more (an epoch is one pass at most)."""
    if getattr(cfg, "steps_per_epoch", 0) and steps < cfg.steps_per_epoch:
        print(f"--steps-per-epoch {cfg.steps_per_epoch}: the training data holds {steps} batches, so an epoch is "
              f"{steps} steps")
    return steps


def read_run_file(path, check):
    """`check(bytes, path)` of a file the run wrote earlier (a tokenizer, a
    vocabulary); if it is corrupt, the error says how to recover."""
    try:
        return check(Path(path).read_bytes(), str(path))
    except (ValueError, UnicodeDecodeError) as e:
        text = str(e) if str(path) in str(e) else f"{path}: {e}"
        raise ValueError(f"{text} Delete it to make it again, or pass another --run-dir.") from None


def run(main, cfg):
    """Runs a recipe's `main(cfg)`: a user's mistake (a bad file, a value a
    library refuses) ends as one line on stderr and exit status 2, with the
    traceback only when `ZOO_DEBUG=1`; so does running out of memory (the
    sizes to lower named). Ctrl-C ends it with one line saying how to resume.
    TensorFlow's start-up lines that a user cannot act on (printed at the
    first model calls) are filtered out, and a warning is one line
    ("warning: ..."), once, without Python's file and source line."""
    _RUN_DIRS.clear()  # this run's only
    try:
        with quiet.filtered_stderr(), warnings.catch_warnings():  # restores showwarning afterwards
            if os.environ.get("ZOO_DEBUG") != "1":
                warnings.showwarning = quiet.one_line_warnings()
            return main(cfg)
    except KeyboardInterrupt:
        _remove_unstarted_run_dirs()
        if os.environ.get("ZOO_DEBUG") == "1":
            raise
        resume = "; the same command resumes it" if any(map(_kept_something, _RUN_DIRS)) else ""
        start = "\n" if sys.stdout.isatty() else ""  # a progress bar's line may be open
        print(f"{start}interrupted{resume}", file=sys.stderr)
        raise SystemExit(130) from None
    except (ValueError, OSError, tf.errors.ResourceExhaustedError) as e:
        _remove_unstarted_run_dirs()
        if os.environ.get("ZOO_DEBUG") == "1":
            raise
        if isinstance(e, tf.errors.ResourceExhaustedError):
            sizes = [f"--{k.replace('_', '-')} {v}" for k, v in vars(cfg).items()
                     if k in ("units", "embedding_dim", "batch_size", "sequence_length", "max_length")]
            first = re.sub(r"\{\{.*?\}\}\s*", "", e.message).strip().split("\n")[0][:200]  # no {{function_node}}
            e = f"out of memory ({first}); lower the sizes: {', '.join(sizes)}"
        print(f"error: {e} (ZOO_DEBUG=1 shows the traceback)", file=sys.stderr)
        raise SystemExit(2) from None


def _remove_unstarted_run_dirs():
    """Removes the run directories this process made if the run ended before
    training kept anything (no backup, best weights or model/): a failed first
    try leaves no directory whose vocabulary or tokenizers the corrected
    command would then resume from."""
    while _NEW_RUN_DIRS:
        run_dir = _NEW_RUN_DIRS.pop()
        if not _kept_something(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)


def _kept_something(run_dir):
    """Whether training kept anything in `run_dir` (a backup, best weights, model/)."""
    kept = [run_dir / "best.weights.h5", run_dir / "model", *(run_dir / "backup").glob("*")]
    return any(path.exists() for path in kept)


# The flags that size a model: fine-tuning (--init-from) keeps the starting model's.
SIZE_FLAGS = ("embedding_dim", "units", "num_layers", "attention_units", "image_size")


def starting_point(cfg):
    """The trained model `--init-from` names, to fine-tune, or None: the
    shipped one of `--model` (by its name) or a directory a recipe wrote. The
    recipe keeps its tokenizers or vocabulary and its sizes."""

    if not cfg.init_from:
        return None
    if Path(cfg.init_from).is_dir():
        init = saving.load(cfg.model, weights=cfg.init_from)
    elif cfg.init_from == cfg.model:
        init = saving.load(cfg.model)
    else:
        raise ValueError(f"--init-from must be {cfg.model!r} (the shipped model of --model) or a directory "
                         f"holding a trained {cfg.model}, got {cfg.init_from!r}.")
    if init.members:
        print(f"--init-from {cfg.init_from}: an ensemble of {1 + len(init.members)} models; fine-tuning starts from "
              f"its first model alone")
        init.set_members(())
    sizes = init.get_config()
    for name in SIZE_FLAGS:  # a size flag given another value than the model's is not ignored silently
        if hasattr(cfg, name) and name in sizes and changed(cfg, name) and getattr(cfg, name) != sizes[name]:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} {getattr(cfg, name)}: --init-from {cfg.init_from} keeps its sizes ({flag} "
                             f"{sizes[name]}); leave {flag} out, or train a new model without --init-from.")
    return init


def decoding_key(beam_size):
    """The key of a beam size in `zoo.evaluate`'s results: "greedy" or "beam<k>"."""
    return "greedy" if beam_size == 1 else f"beam{beam_size}"


def metric(card, path):
    """The number at `path` (a tuple of keys) in `card["metrics"]`, or None."""
    value = card.get("metrics") or {}
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, (int, float)) else None


def compact_logs(run_dir, destination, images_per_tag=3):
    """Copies the TensorBoard logs of `run_dir` (its subfolders' event files:
    train/, validation/, hparams/) to `destination`, without what makes them
    big: graphs and run metadata are dropped and each image tag keeps
    `images_per_tag` steps, evenly spaced from the first to the last.
    Scalars, text, histograms and the hparams entry are all kept; a file
    with no summary at all (only its header) is left out."""
    run_dir, destination = Path(run_dir), Path(destination)
    destination.mkdir(parents=True, exist_ok=True)  # a run without logs ships an empty logs/
    for events in sorted(run_dir.glob("*/events.out.tfevents.*")):
        parsed = [tf.compat.v1.Event.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(events))]
        if not any(event.HasField("summary") for event in parsed):
            continue  # a writer that wrote nothing (a resumed or scoring-only run): only its header
        steps = {}  # image tag -> the steps it was written at
        for event in parsed:
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images" or value.HasField("image"):
                    steps.setdefault(value.tag, []).append(event.step)
        keep = {tag: {s[i] for i in np.linspace(0, len(s) - 1, min(images_per_tag, len(s))).round().astype(int)}
                for tag, s in steps.items()}
        out = destination / events.parent.name / events.name
        out.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(out)) as writer:
            for event in parsed:
                if event.HasField("graph_def") or event.HasField("meta_graph_def") or \
                        event.HasField("tagged_run_metadata"):
                    continue
                values = [v for v in event.summary.value if v.tag not in keep or event.step in keep[v.tag]]
                if event.HasField("summary") and not values:
                    continue
                if event.HasField("summary"):
                    del event.summary.value[:]
                    event.summary.value.extend(values)
                writer.write(event.SerializeToString())
    return destination


def ship(model, cfg, run_dir, card, headline, higher_is_better=True, data_key=None):
    """Installs the run's model into `saved_models/<model>/` when `--ship` asks
    and it beats the shipped one (or `--force`).

    `headline` is the path of the compared number in `card["metrics"]` (e.g.
    `("beam5", "bleu")`), `data_key` the `card["data"]` entry that must match
    the shipped card's for the numbers to be comparable (e.g. the pair).
    The shipped directory keeps a compact copy of the run's TensorBoard logs
    in `logs/` (`compact_logs`), so `tensorboard --logdir saved_models` shows
    how every shipped model trained. Refusing is one line and exit status 1;
    the run's own model/ stays.
    """

    run_model = Path(run_dir) / "model"
    if not cfg.ship:
        print(f"model written to {run_model}: zoo.load({cfg.model!r}, weights={str(run_model)!r}); "
              f"--ship installs it into saved_models/ if it beats the shipped one")
        return None
    target = registry.models_dir() / cfg.model
    new = metric(card, headline)
    if (target / "card.json").is_file() and not cfg.force:
        shipped = saving.read_json(target / "card.json")
        old, name = metric(shipped, headline), "/".join(headline)
        if data_key and shipped.get("data", {}).get(data_key) != card.get("data", {}).get(data_key):
            raise SystemExit(
                f"--ship: refused: the shipped {cfg.model} was measured on {data_key} "
                f"{shipped.get('data', {}).get(data_key)!r}, this run on {card['data'].get(data_key)!r}; "
                f"--force replaces it anyway"
            )
        paired, key = card.get("compared_with_shipped"), headline[-1]
        if paired and (paired["interval"][0] <= 0 if higher_is_better else paired["interval"][1] >= 0):
            raise SystemExit(
                f"--ship: refused: {name} {paired[key]} against the shipped model's {paired['shipped_' + key]} "
                f"on the same data, a difference of {paired['difference']:+} whose 95% paired bootstrap "
                f"interval {list(paired['interval'])} reaches 0; the run's model stays in {run_model}; --force "
                f"replaces it anyway"
            )
        if old is not None and (new is None or (new <= old if higher_is_better else new >= old)):
            raise SystemExit(
                f"--ship: refused: test {name} {new} does not beat the shipped model's {old} "
                f"({target / 'card.json'}); the run's model stays in {run_model}; --force replaces it anyway"
            )
    with tempfile.TemporaryDirectory() as logs:
        card = {**card, "logs": "logs/: this run's TensorBoard logs (compact copy)",
                "check": quick_check(saving.load(cfg.model, weights=run_model), card)}
        # A folder made here, not the private (0700) temporary one, so the shipped logs are readable by all.
        saving.save(model, target, cfg.model, card, logs=compact_logs(run_dir, Path(logs) / "logs"),
                    weights_dtype=cfg.weights_dtype)
    print(f"shipped {cfg.model} to {target} (test {'/'.join(headline)} {new})")
    return target


def hardware():
    """What trained the model, for its card."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s)"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU"


def check_jit_compile(model, requested, name):
    """Raises SystemExit when `--jit-compile` was asked for but Keras turned
    XLA off for `model` (call after `compile`): a layer cannot be compiled,
    and it is named."""
    if requested and not model.jit_compile:
        blockers = {type(layer).__name__ for layer in model._flatten_layers() if not layer.supports_jit}
        raise SystemExit(
            f"--jit-compile: {name} cannot be compiled with XLA here: "
            f"{', '.join(sorted(blockers)) or 'a layer'} does not support it (see its docstring)."
        )


def fit_resumed(model, train_stream, start, steps, epochs, callbacks, validation_data, verbose="auto", skip=False):
    """`model.fit` from `start` batches already trained (`StepBackup.restore`).

    `train_stream(range(e, epochs))` must yield epochs e.. in the order an
    unbroken run sees them; the first `start % steps` batches of the resumed
    epoch are skipped, and `fit` starts at epoch `start // steps`. A stream
    that each worker reads for itself (`zoo.data.streaming.distribute`)
    cannot be skipped once made: a `train_stream(epochs, skip)` that takes
    `skip` is given the steps to skip instead. Nothing is
    trained when every epoch is done or `skip` is true (a finished run).
    `verbose` "auto" shows Keras's progress bar when stdout is a terminal and
    a line per epoch when it is not (a log file).
    Prints the resume point and, at the end, the optimizer steps and a digest
    of the weights per replica (equal on every replica of every worker);
    returns the optimizer steps.
    """
    epoch, done = divmod(start, steps)
    if isinstance(validation_data, tf.data.Dataset) and validation_data.cardinality() < 0:
        # Its length told: Keras 3.15 warns that the input "ran out of data" at the end of a dataset of
        # unknown length, although nothing is wrong (keras-team/keras#23360).
        validation_data = validation_data.apply(tf.data.experimental.assert_cardinality(
            count_batches(validation_data)))
    if start:
        print(f"resuming after {start} steps: epoch {epoch + 1}, {done} of its {steps} batches done")
    if verbose == "auto":  # a progress bar in a terminal; in a log file (nohup) a line an epoch, not a bar's redraws
        verbose = 1 if sys.stdout.isatty() else 2
    if epoch < epochs and not skip:
        if "skip" in inspect.signature(train_stream).parameters:
            stream = train_stream(range(epoch, epochs), skip=done)
        else:
            stream = train_stream(range(epoch, epochs)).skip(done)
        model.fit(
            stream,
            validation_data=validation_data,
            epochs=epochs,
            initial_epoch=epoch,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the stream is shuffled per epoch by seed, so a resumed run sees the same batches
        )
    optimizer_steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    digests = " ".join(distribute.replica_digests(model))
    print(f"trained {optimizer_steps} optimizer steps; weights sha256 per replica: {digests}")
    return optimizer_steps
