"""The tasks: the one place where translation, captioning and text generation
differ for the command line, evaluation and export.

`TASKS` maps each task (`ZooModel.task`, the registry's "task") to a `Task`:
the `zoo` verb that runs its models, how to evaluate one on the data its card
names, how to export one, and what the command line prints about it. Adding a
task is one entry here, its functions in `zoo.evaluate` and `zoo.export`, and
its verb in `zoo.cli`.

Standard library only: the command line reads this table before it imports
TensorFlow; the functions are named as "module:function" and imported when
called.

>>> sorted(TASKS)
['captioning', 'text-generation', 'translation']
>>> get("translation").usage.format(name="lstm-seq2seq-attn")
'zoo translate SENTENCE --model lstm-seq2seq-attn'
"""

import dataclasses
import importlib
import re

# How a card's `data.pair` / `data.corpus` / `data.dataset` begins for a model trained on a user's files.
OWN_FILES = "own files: "


def _import(target):
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def _decodings_headline(key, label):
    """The headline of a task scored per decoding: its best "greedy"/"beam<k>" score."""

    def headline(metrics):
        decodings = {
            name: scores[key] for name, scores in metrics.items()
            if re.fullmatch(r"greedy|beam\d+", name) and isinstance(scores, dict)
            and isinstance(scores.get(key), (int, float))
        }
        if not decodings:
            return "-"
        best = max(decodings, key=decodings.get)
        decoding = "greedy" if best == "greedy" else f"beam {best[4:]}"
        return f"{metrics.get('split', 'test')} {label} {decodings[best]:.2f} ({decoding})"

    return headline


def _loss_headline(metrics):
    loss = metrics.get("val_log_loss")
    return f"val {loss:.4f} nats/char" if isinstance(loss, (int, float)) else "-"


@dataclasses.dataclass(frozen=True)
class Task:
    """What differs between tasks.

    Attributes:
        name: the task, as `ZooModel.task` and the registry name it.
        verb: the `zoo` command that runs its models.
        usage: that command for a model `{name}`, for error messages.
        evaluate: "module:function" called as `function(model, [card["data"][data],]
            split, [beam_sizes=...,] limit=..., progress=...)`; returns the results dict.
        data: the key of `card["data"]` that names the built-in data to
            evaluate on (None: the task has one dataset, and a `data.dataset`
            of a user's files gives `evaluate` the items of the split instead
            of its name).
        splits: the splits it can be evaluated on, the default first.
        no_split: why a split outside `splits` is refused (None: a plain message).
        beam: the default beam size of `zoo evaluate` (None: no beam search;
            greedy is always scored beside it).
        export: "module:function" writing its SavedModel: `function(model, directory)`.
        serves: what the exported `serving_default` maps, for `zoo export`'s message.
        headline: `card["metrics"]` -> the metric a model is known by (`zoo list`).
    """

    name: str
    verb: str
    usage: str
    evaluate: str
    data: str | None
    splits: tuple
    beam: int | None
    export: str
    serves: str
    headline: object
    no_split: str | None = None

    def check_split(self, split=None):
        """`split`, or the default split when None; a ValueError for a split it has not."""
        split = split or self.splits[0]
        if split not in self.splits:
            raise ValueError(self.no_split or f"`split` must be one of {list(self.splits)} for a {self.name} model, "
                                              f"got {split!r}.")
        return split

    def evaluate_card(self, model, card, split=None, beam_size=None, limit=None, progress=False):
        """Scores `model` on the built-in data its `card` names (see `evaluate`)."""
        return self.card_evaluation(card, split, beam_size, limit, progress)(model)

    def card_evaluation(self, card, split=None, beam_size=None, limit=None, progress=False):
        """`score(model)`, the evaluation `evaluate_card` runs: the data the
        card names is found (a user's files read and checked) now, so a
        missing file is named before a model is loaded."""
        split = self.check_split(split)
        data_args, data = [], card.get("data") if isinstance(card.get("data"), dict) else {}
        split_arg = split
        if self.data is None and str(data.get("dataset", "")).startswith(OWN_FILES):  # a user's images: the split's
            split_arg = _import("zoo.data.user_files:held_out")(card, split)  # items, as its recipe split them
        elif self.data is not None:
            if not isinstance(data.get(self.data), str):
                raise ValueError(f"the model's card names no built-in data to evaluate on (no data.{self.data}): "
                                 f"evaluate it on your own data with zoo.evaluate.")
            if data[self.data].startswith(OWN_FILES):
                data_args.append(_import("zoo.data.user_files:held_out")(card, split))
            else:
                data_args.append(data[self.data])
        kwargs = {"limit": limit, "progress": progress}
        if data.get("folds"):  # trained on one fold of a cross-validation: its splits are that fold's
            kwargs["fold"] = (data.get("fold"), data["folds"])
        if self.beam is not None:
            beam = beam_size or self.beam
            kwargs["beam_sizes"] = (1, beam) if beam > 1 else (1,)

        def score(model):
            results = _import(self.evaluate)(model, *data_args, split_arg, **kwargs)
            return results if split_arg is split else {**results, "split": split}

        return score

    def export_model(self, model, directory):
        """Writes the SavedModel of `model` to `directory`."""
        return _import(self.export)(model, directory)


TASKS = {
    "translation": Task(
        name="translation", verb="translate", usage="zoo translate SENTENCE --model {name}",
        evaluate="zoo.evaluate:evaluate_translation", data="pair", splits=("test", "val"), beam=5,
        export="zoo.export:export_translator",
        serves="a batch of strings to translations (after `import tensorflow_text`)",
        headline=_decodings_headline("bleu", "BLEU"),
    ),
    "captioning": Task(
        name="captioning", verb="caption", usage="zoo caption IMAGE --model {name}",
        evaluate="zoo.evaluate:evaluate_captioning", data=None, splits=("test", "val"), beam=3,
        export="zoo.export:export_captioner", serves="a batch of encoded images to captions",
        headline=_decodings_headline("bleu4", "BLEU-4"),
    ),
    "text-generation": Task(
        name="text-generation", verb="generate", usage="zoo generate {name}",
        evaluate="zoo.evaluate:evaluate_text_generation", data="corpus", splits=("val",), beam=None,
        export="zoo.export:export_generator", serves="(prompt, length, temperature, seed) to the generated text",
        headline=_loss_headline,
        no_split="the text corpora have no test split (first 90% train, last 10% val): use --split val.",
    ),
}


def get(task):
    """The `Task` of `task`; a ValueError naming the known tasks for any other."""
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {sorted(TASKS)}, got {task!r}.")
    return TASKS[task]


def for_verb(verb):
    """The `Task` whose models the `zoo` command `verb` runs."""
    for task in TASKS.values():
        if task.verb == verb:
            return task
    raise ValueError(f"`verb` must be one of {sorted(t.verb for t in TASKS.values())}, got {verb!r}.")
