"""The flags of a recipe: a config dataclass whose fields carry their `--help`
line and allowed values (`flag`), the flags every run has (`RunConfig`), and
`parse_config`, which reads them into the dataclass.

Light on purpose (the standard library only, no TensorFlow): a recipe reads its
flags before it imports TensorFlow, so `--help` and a mistaken flag answer at
once, not after the seconds TensorFlow takes to load.
"""

import argparse
import dataclasses
import json
import math
import os
from pathlib import Path

STRATEGIES = ("auto", "default", "mirrored", "multi-worker")  # zoo.distribute.get_strategy's names
PRECISIONS = ("", "mixed_float16", "mixed_bfloat16")


def flag(default, help, choices=None, minimum=None, exclusive_minimum=None, exclusive_maximum=None, nargs=None):
    """A config field with its `--help` line and the values it allows:
    `choices`, or numbers >= `minimum` / > `exclusive_minimum` and <
    `exclusive_maximum`; `nargs="+"` for a tuple of strings (e.g. several files)."""
    metadata = {"help": help, "choices": choices, "minimum": minimum, "exclusive_minimum": exclusive_minimum,
                "exclusive_maximum": exclusive_maximum, "nargs": nargs}
    return dataclasses.field(default=default, metadata=metadata)


class FlagError(ValueError):
    """Flags that do not go together, raised by a recipe's `validate`:
    `parse_config` prints it as one line, exit status 2."""


class _OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line (`recipe.py: error:
    ...`, exit status 2), without the usage block, as the `zoo` command's."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


@dataclasses.dataclass
class RunConfig:
    """The flags of every recipe: where the run lives, shipping, hardware, resume."""

    run_dir: str = flag("", "where the run writes logs, backups and model/ (default: runs/<model>-<data>)")
    ship: bool = flag(False, "also install the model into saved_models/<model>/, only if its test metric "
                             "beats the shipped card's (never with --smoke)")
    force: bool = flag(False, "with --ship: ship even if the shipped model scores better or used other data")
    strategy: str = flag("auto", "tf.distribute strategy", choices=STRATEGIES)
    cpu_devices: int = flag(0, "split the CPU into N logical devices, for --strategy mirrored without GPUs",
                            minimum=0)
    backup_every: int = flag(100, "steps between backups, besides every epoch end (0: epoch ends only)", minimum=0)
    mixed_precision: str = flag("", "mixed precision policy ('' for float32)", choices=PRECISIONS)
    weights_dtype: str = flag("float16", "how model/ (and --ship) store the weights: int8 keeps each matrix in "
                                         "8 bits with a scale per column, a quarter of float32; the test scores "
                                         "are the stored model's", choices=("float16", "int8"))
    average_last: int = flag(0, "the model is the mean of the weights of the last N epochs (checkpoint averaging; "
                                "they are kept in <run-dir>/epochs/) instead of the best epoch's (0)", minimum=0)
    jit_compile: bool = flag(False, "compile the train step with XLA")
    seed: int = flag(0, "seed of the weights, data order and dropout masks", minimum=0, exclusive_maximum=2**32)
    smoke: bool = flag(False, "a tiny run of a few steps on a few examples, to check the set-up (what the tests "
                              "run); never shipped")


def ensemble_dirs(cfg):
    """The model directories `--ensemble-with` names."""
    return [d for d in cfg.ensemble_with.split(",") if d]


def changed(cfg, name):
    """Whether flag `name` of `cfg` holds another value than its default (a
    flag the recipe would otherwise ignore, or a size --init-from replaces)."""
    default = {field.name: field.default for field in dataclasses.fields(cfg)}[name]
    return getattr(cfg, name) != default


def parse_config(config_class, description, argv=None, checks=None, validate=None):
    """`--flag-name` for every field of `config_class` (booleans are switches,
    each with its help and default); returns a `config_class`.

    The allowed values come from each field's `flag(...)` metadata, and
    `checks` maps more field names to their allowed values; `validate(cfg)`
    checks the flags together, raising `FlagError`. A value outside them, a
    `--run-dir` that is a file, a `--ship` of a `--smoke` run or a
    `FlagError` is one line on stderr (exit status 2) naming the flag, the
    value and what is allowed.
    """
    parser = _OneLineParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    fields = dataclasses.fields(config_class)
    for field in fields:
        name = "--" + field.name.replace("_", "-")
        text = field.metadata.get("help", "")
        if field.type is bool:
            parser.add_argument(name, action="store_true", help=text)
        elif field.metadata.get("nargs"):
            parser.add_argument(name, nargs=field.metadata["nargs"], default=field.default, metavar="FILE", help=text)
        else:
            choices = field.metadata.get("choices")
            text += f"; one of {', '.join(map(repr, choices))}" if choices else ""
            if "default" not in text:
                text += f" (default: {field.default!r})" if field.type is str else f" (default: {field.default})"
            parser.add_argument(name, type=field.type, default=field.default, metavar=field.type.__name__.upper(),
                                help=text)
    args = parser.parse_args(argv)
    for field in fields:
        value, name = getattr(args, field.name), "--" + field.name.replace("_", "-")
        allowed = (checks or {}).get(field.name, field.metadata.get("choices"))
        if allowed is not None and value not in allowed:
            parser.error(f"{name} must be one of {list(allowed)}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            parser.error(f"{name} must be a finite number, got {value!r}")
        minimum, above = field.metadata.get("minimum"), field.metadata.get("exclusive_minimum")
        if minimum is not None and value < minimum:
            parser.error(f"{name} must be >= {minimum}, got {value!r}")
        if above is not None and value <= above:
            parser.error(f"{name} must be > {above}, got {value!r}")
        below = field.metadata.get("exclusive_maximum")
        if below is not None and value >= below:
            parser.error(f"{name} must be < {below}, got {value!r}")
    if getattr(args, "ship", False) and getattr(args, "smoke", False):
        parser.error("--ship: a --smoke run is never shipped (drop one of the two flags)")
    if getattr(args, "force", False) and not getattr(args, "ship", False):
        parser.error("--force only applies with --ship")
    run_dir = getattr(args, "run_dir", "")
    if run_dir and Path(run_dir).exists() and not Path(run_dir).is_dir():
        parser.error(f"--run-dir {run_dir!r} is a file; give a directory (new, or a run's to resume it)")
    cfg = config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items()})
    try:
        if validate:
            validate(cfg)
    except FlagError as error:
        parser.error(str(error))
    return cfg


def tasks_in_tf_config():
    """How many tasks (chief and workers) `$TF_CONFIG` names; 0 without it."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))
