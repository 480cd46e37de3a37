"""The `zoo` command: list, info, translate, generate, caption, evaluate, export, serve.

`zoo --help`, `zoo list` and `zoo info` read the registry's catalogue and the
model cards only: they never import TensorFlow, and answer at once. The other
commands import TensorFlow without its start-up noise (`zoo.quiet`).

Every user error (a bad flag value, a model of the wrong task, an unknown name,
a missing or corrupt file) is one line on stderr, `zoo <command>: error: ...`,
and exit status 2; anything unexpected is one line and exit status 1. `--debug`
shows the traceback instead and keeps TensorFlow's start-up lines.

What differs between tasks (the verb that runs a model, how it is evaluated
and exported, its headline metric) is read from `zoo.tasks`; a model's task
comes from the registry for a name, from its card for a `--weights` directory.
"""

import argparse
import contextlib
import json
import math
import os
import sys
import warnings
from pathlib import Path

from zoo import quiet, tasks  # standard library only: no TensorFlow at start
from zoo.io import read_json


class UserError(ValueError):
    """A bad command line: reported as one line, never with a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line instead of argparse's usage block."""
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _number(kind, text, check, allowed):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not check(value):
        raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
    return value


def positive_int(text):
    return _number(int, text, lambda v: v >= 1, "a positive integer")


def non_negative_int(text):
    return _number(int, text, lambda v: v >= 0, "a non-negative integer")


def temperature(text):
    return _number(float, text, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0 (0 for greedy)")


def probability(text):
    return _number(float, text, lambda v: 0 < v <= 1, "a number in (0, 1]")


def port(text):
    return _number(int, text, lambda v: 0 <= v <= 65535, "a port number in [0, 65535] (0: any free port)")


def milliseconds(text):
    return _number(float, text, lambda v: 0 <= v <= 10_000, "milliseconds in [0, 10000]")


CHECKERS = {"positive_int": positive_int, "non_negative_int": non_negative_int, "temperature": temperature,
            "probability": probability}
WEIGHTS = {"default": "pretrained", "metavar": "DIR",
           "help": "a model directory a recipe wrote (<run-dir>/model) instead of the shipped model"}


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="show the traceback of an error and TensorFlow's start-up lines")
    parser = _Parser(prog="zoo", description="Recurrent sequence models with attention.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = commands.add_parser("list", parents=[common], help="registered models: task, trained weights, metric")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. '*lstm*'")
    p = commands.add_parser("info", parents=[common], help="task, description and card of a model")
    p.add_argument("name", help="a registered name, or a directory a recipe saved (a run's model/)")
    for task in tasks.TASKS.values():  # each task's verb, with the flags its table entry declares
        p = commands.add_parser(task.verb, parents=[common], help=task.help)
        for flags, options in task.arguments:
            options = dict(options)
            if isinstance(options.get("type"), str):  # a checked number, by the name of its checker here
                options["type"] = CHECKERS[options["type"]]
            p.add_argument(*flags, **options)
        p.add_argument("--weights", **WEIGHTS)
    p = commands.add_parser("export", parents=[common],
                            help="write a TF SavedModel of a model (serving, no zoo needed)")
    p.add_argument("name")
    p.add_argument("directory", help="where the SavedModel goes (must not exist yet)")
    p.add_argument("--litert", choices=["float32", "int8"], default=None,
                   help="text generation: write a LiteRT file (model.tflite) with weights of this type instead")
    p.add_argument("--weights", **WEIGHTS)
    p = commands.add_parser("serve", parents=[common], help="serve shipped models over HTTP, batching requests "
                                                             "(needs `pip install 'rnn-zoo[serve]'`)")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="models to serve, loaded at start (default: every shipped model, each loaded on first use)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=port, default=8080, help="(default: %(default)s)")
    p.add_argument("--max-wait-ms", type=milliseconds, default=5.0,
                   help="how long a request waits for others to join its model call (default: %(default)s)")
    p.add_argument("--max-batch", type=positive_int, default=32,
                   help="most texts or images in one model call; 1 turns batching off (default: %(default)s)")
    p = commands.add_parser("evaluate", parents=[common], help="score a shipped model on its test split")
    p.add_argument("name")
    p.add_argument("--split", default=None, choices=["val", "test"],
                   help="default: test; val for text generation (no test split)")
    p.add_argument("--beam-size", type=positive_int, default=None,
                   help="default: 5 for translation, 3 for captions")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="only the first N sentences (or images, or characters)")
    p.add_argument("--format", default="json", choices=["json", "csv", "markdown"],
                   help="json (default), or a table with one row per decoding: csv or markdown")
    p.add_argument("--weights", **WEIGHTS)
    return parser


def main(argv=None):
    """Runs the `zoo` command; returns its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a flag error, already reported in one line (2)
        return e.code
    try:
        _check_text(args)
        with warnings.catch_warnings():  # restores showwarning afterwards
            # A warning for the user (an unknown prompt character) is one line, without Python's file and source.
            warnings.showwarning = quiet.one_line_warnings(f"zoo {args.command}: ")
            return _run(args) or 0
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"zoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `zoo list | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  no second error at exit
        return 0
    except Exception as e:
        if args.debug:
            raise
        user_error = isinstance(e, (ValueError, TypeError, OSError))
        prefix = "" if user_error else f"{type(e).__name__}: "
        hint = "" if user_error else " (run again with --debug for the traceback)"
        print(f"zoo {args.command}: error: {prefix}{_one_line(e)}{hint}", file=sys.stderr)
        return 2 if user_error else 1


def _one_line(error):
    return " ".join(str(error).split()) or type(error).__name__


def _check_text(args):
    """Arguments that are text (not file names) must be valid UTF-8: the shell
    passes raw bytes, which Python keeps as lone surrogates."""
    for flag, dest in [("pattern", "pattern"), ("name", "name"), ("--model", "model"),
                       ("sentences", "sentences"), ("--prompt", "prompt"), ("NAME", "names"), ("--host", "host")]:
        values = getattr(args, dest, None)
        for value in [values] if isinstance(values, str) else values or []:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raw = os.fsencode(value)
                raise UserError(f"argument {flag}: {raw!r} is not valid UTF-8 text; pass UTF-8.") from None


def _task_and_card(name, weights="pretrained"):
    """The `zoo.tasks.Task` and the card (None if none) of the model a command
    loads: for a name, the registry's task and the shipped card; for a
    `--weights` directory, its card's task (the registry's if it has no card)."""
    import zoo

    task = zoo.registry.describe(name)["task"]
    if weights == "pretrained":
        return tasks.get(task), zoo.registry.read_card(name)
    directory = Path(os.fsdecode(weights))
    if not directory.is_dir():
        raise FileNotFoundError(f"weights={weights!r} is not a directory: pass a directory written by a recipe "
                                f"(<run-dir>/model) or zoo.saving.save.")
    card = read_json(directory / "card.json") if (directory / "card.json").is_file() else None
    return tasks.get(card.get("task", task) if card else task), card


def _check_new_path(name, path, what):
    """Refuses, before any work, a path the command could not write `what`
    ("file": replaced if it exists; "directory": must not exist yet) to:
    empty, taken, or under a file."""
    if not path:
        raise UserError(f"{name} must be a path, got {path!r}.")
    if what == "directory" and os.path.exists(path):
        raise UserError(f"{path} already exists: give a new directory for the export.")
    if what == "file" and os.path.isdir(path):
        raise UserError(f"{name} {path!r} is a directory; give a file name.")
    parent = Path(path).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{name} {path!r}: {str(parent)!r} is a file, not a directory.")


def _check_model(name, command, weights="pretrained"):
    """The `zoo.tasks.Task` of model `name`; refuses, before TensorFlow is
    imported, a model of another task than the one the verb `command` runs
    (naming the command that fits it) and a model that does not ship."""
    import zoo

    task, card = _task_and_card(name, weights)
    verbs = {t.verb: t for t in tasks.TASKS.values()}
    if command in verbs and task is not verbs[command]:
        if weights != "pretrained":  # the model in the directory, not the command's default name
            own = (card or {}).get("name") or name
            raise UserError(f"--weights {weights} holds a {task.name} model ({own}); use "
                            f"`{task.usage.format(name=own)} --weights {weights}`.")
        raise UserError(f"{name} is a {task.name} model; use `{task.usage.format(name=name)}`.")
    if weights == "pretrained" and not (zoo.registry.models_dir() / name).is_dir():
        raise UserError(f"No trained model ships for {name!r}: train one with its recipe in recipes/ and pass "
                        f"the model it writes with --weights <run-dir>/model.")
    return task


def _quiet(args):
    """Imports TensorFlow without its start-up noise and returns the context
    that keeps the model's first calls quiet (`zoo.quiet`); nothing with --debug."""
    if args.debug:
        return contextlib.nullcontext()
    quiet.quiet_tensorflow()
    return quiet.filtered_stderr()


def _model_directory(args):
    """A directory a recipe wrote, given where a model's name goes (`zoo
    translate --model runs/x/model`, `zoo evaluate runs/x/model`): the name
    it holds, with --weights set to it, as `zoo info DIR` reads it."""
    import zoo

    dest = "model" if hasattr(args, "model") else "name"  # --model, or the first argument
    value = getattr(args, dest, None) if hasattr(args, "weights") else None
    if not isinstance(value, str) or not os.path.isdir(value) or value in zoo.list_models():
        return
    if args.weights != "pretrained":
        raise UserError(f"{value} is a model directory and --weights {args.weights} another: give one of them.")
    setattr(args, dest, zoo.info(value)["name"])  # a directory without config.json: named there
    args.weights = value


def _run(args):
    import zoo

    _model_directory(args)
    if args.command == "list":
        names = zoo.list_models(args.pattern)
        if not names:
            raise UserError(f"no model matches {args.pattern!r}; `zoo list` shows them all.")
        _print_list(names)
    elif args.command == "info":
        print(json.dumps(zoo.info(args.name), indent=2, ensure_ascii=False))
    elif args.command in {task.verb for task in tasks.TASKS.values()}:  # a task's verb: its module runs it
        name = getattr(args, "model", None) or args.name
        task = _check_model(name, args.command, args.weights)
        if getattr(args, "attention", None) is not None:
            _check_new_path("--attention", args.attention, "file")
        with _quiet(args):
            module = task.module()

            def load():
                return zoo.load(name, weights=args.weights)

            return module.command(args, load)
    elif args.command == "export":
        zoo.registry.describe(args.name)  # an unknown name first
        _check_new_path("directory", args.directory, "directory")
        task = _check_model(args.name, "export", args.weights)
        if args.litert and task is not tasks.TEXT_GENERATION:
            raise UserError(f"--litert exports {tasks.TEXT_GENERATION.name} models; {args.name} is a {task.name} "
                            f"model.")
        with _quiet(args):
            model = zoo.load(args.name, weights=args.weights)
            if args.litert:
                task.module().export_litert(model, args.directory, args.litert)
            else:
                from zoo.export import export

                export(model, args.directory)
        if args.litert:
            print(f"wrote {args.directory}: model.tflite (signatures sample and score) and tokens.json; "
                  f"docs/exports.md runs it with ai_edge_litert")
        else:
            print(f"wrote {args.directory}: tf.saved_model.load it; its serving_default maps {task.serves}")
    elif args.command == "evaluate":
        _evaluate(args)
    elif args.command == "serve":
        _serve(args)
    return 0


def format_results(results, style="json"):
    """`zoo evaluate`'s results as JSON, or as a table (csv, markdown) with one
    row per decoding ("greedy", "beam5", ...) and the split and size in each row."""
    if style == "json":
        return json.dumps(results, indent=2) + "\n"
    import pandas as pd

    common = {k: v for k, v in results.items() if not isinstance(v, dict)}
    rows = [{"decoding": k, **common, **v} for k, v in results.items() if isinstance(v, dict)]
    table = pd.DataFrame(rows or [common])
    if style == "csv":
        return table.to_csv(index=False)
    rule = ["---" if isinstance(v, str) else "---:" for v in table.iloc[0]]
    lines = [f"| {' | '.join(table.columns)} |", f"|{'|'.join(rule)}|"]
    lines += [f"| {' | '.join(map(str, row))} |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _evaluate(args):
    """Scores a model on the split of the data its card names, by its task's
    evaluation (`zoo.tasks`)."""
    import zoo

    task, card = _task_and_card(args.name, args.weights)
    if card is None:
        if args.weights == "pretrained":
            raise UserError(f"no trained model ships for {args.name}: `zoo evaluate` scores shipped models, "
                            f"or a model a recipe wrote (--weights DIR).")
        raise UserError(f"{args.weights} has no card.json: `zoo evaluate` scores a model on the data its card names.")
    try:
        split = task.check_split(args.split)
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.beam_size is not None and task.beam is None:
        decoding = " and ".join(t.name for t in tasks.TASKS.values() if t.beam is not None)
        raise UserError(f"--beam-size is for {decoding}; {args.name} is a {task.name} model, "
                        f"scored by its loss on the text, without decoding.")
    progress = sys.stderr.isatty()  # asked before `_quiet` sends stderr through its filter's pipe
    # the data first (TensorFlow is not imported for it): a missing file is named at once
    score = task.card_evaluation(card, split, beam_size=args.beam_size, limit=args.limit, progress=progress)
    with _quiet(args):
        results = score(zoo.load(args.name, weights=args.weights))
    print(format_results(results, args.format), end="")


def _serve(args):
    """Serves until Ctrl-C or SIGTERM (the requests in flight are answered first)."""
    import zoo

    for name in args.names:  # an unknown name, or one that does not ship, before anything starts
        if zoo.info(name)["card"] is None:
            raise UserError(f"No trained model ships for {name!r}: `zoo serve` serves the shipped models, "
                            f"those `zoo list` marks trained.")
    try:
        from zoo import serve
    except ImportError as e:
        raise UserError(f"`zoo serve` needs the serve extra, which is not installed ({e.name} is missing): "
                        f"pip install 'rnn-zoo[serve]'.") from None
    with _quiet(args):
        server = serve.Server(args.names or None, max_wait_ms=args.max_wait_ms, max_batch=args.max_batch)
        serve.run(server, host=args.host, port=args.port)


def _printable(path):
    """A file name as text, with undecodable bytes replaced (stdout is UTF-8)."""
    return os.fsencode(path).decode("utf-8", "replace")


# -- zoo list --------------------------------------------------------------------


def headline(card):
    """The metric a model is known by, from its card: "test BLEU 40.40 (beam 5)"."""
    metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
    task = tasks.TASKS.get(card.get("task")) if isinstance(card.get("task"), str) else None
    return task.headline(metrics) if task else "-"


def _parameters(card):
    """The card's parameter count, an ensemble's model by model ("2 x 3.01M"; not
    a sum: its models may share weights, as a captioner's share the encoder)."""
    members = card.get("ensemble") if isinstance(card.get("ensemble"), list) else []
    counts = [card.get("parameters")] + [m.get("parameters") if isinstance(m, dict) else None for m in members]
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        return "-"
    if len(set(counts)) == 1:
        return (f"{len(counts)} x " if len(counts) > 1 else "") + f"{counts[0] / 1e6:.2f}M"
    return " + ".join(f"{c / 1e6:.2f}M" for c in counts)


def _print_list(names):
    import zoo

    rows, unreadable = [], []
    for name in names:
        task = zoo.registry.describe(name)["task"]
        try:
            card = zoo.registry.read_card(name)
        except ValueError as e:
            rows.append((name, task, "card unreadable", "-", "-"))
            unreadable.append(_one_line(e))
            continue
        if card is None:
            rows.append((name, task, "no", "-", "-"))
        else:
            rows.append((name, task, "yes", _parameters(card), headline(card)))
    header = ("name", "task", "trained", "params", "metric")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
    for message in unreadable:
        print(f"zoo list: warning: {message}", file=sys.stderr)
