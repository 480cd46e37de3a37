"""The tasks: the one place where translation, captioning and text generation
differ.

`TASKS` maps each task (`ZooModel.task`, the catalogue's "task") to a `Task`:
its module (`zoo.tasks.translation`, `.captioning`, `.text_generation`),
which turns a network into its product and holds its evaluation, exports,
held-out split of a user's files and `zoo` verb; that verb and how the
command line speaks of it; and the data its models are scored on. Adding a
task is one module in this package and one entry here.

Standard library only: the command line reads this table before it imports
TensorFlow; a task's module is imported when it is first needed
(`Task.module()`). Each module defines `evaluate`, `quick_check`, `export`,
`held_out` and `command` (see `zoo.tasks.translation`).

>>> sorted(TASKS)
['captioning', 'text-generation', 'translation']
>>> get("translation").usage.format(name="lstm-seq2seq-attn")
'zoo translate SENTENCE --model lstm-seq2seq-attn'
"""

import dataclasses
import importlib
import re

from zoo import registry

# How a card's `data.pair` / `data.corpus` / `data.dataset` begins for a model trained on a user's files.
OWN_FILES = "own files: "




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
        name: the task, as `ZooModel.task` and the catalogue name it.
        path: its module, imported by `module()`. Its `evaluate` is called as
            `evaluate(model, [card["data"][data],] split, [beam_sizes=...,]
            limit=..., progress=...)` and returns the results dict; `export(model,
            directory)` writes its SavedModel; `command(args, load)` runs its verb.
        verb: the `zoo` command that runs its models.
        help: what `zoo --help` says of it.
        arguments: its flags, `((names...), {argparse options})` each; a
            `type` is named ("positive_int", ...) and `zoo.cli` checks it.
        usage: that command for a model `{name}`, for error messages.
        data: the key of `card["data"]` that names the built-in data to
            evaluate on (None: the task has one dataset, and a `data.dataset`
            of a user's files gives `evaluate` the items of the split instead
            of its name).
        splits: the splits it can be evaluated on, the default first.
        no_split: why a split outside `splits` is refused (None: a plain message).
        beam: the default beam size of `zoo evaluate` (None: no beam search;
            greedy is always scored beside it).
        serves: what the exported `serving_default` maps, for `zoo export`'s message.
        headline: `card["metrics"]` -> the metric a model is known by (`zoo list`).
        pipeline_tag: the task's name on model hubs, for the model card (`zoo.cards`).
        card_metrics: `((path in card["metrics"]), label)` of the numbers a model card lists.
        card_example: the line of the model card's example that runs the model.
        card_limitations: what the model card says a model of this task is not for.
    """

    name: str
    path: str
    verb: str
    help: str
    arguments: tuple
    usage: str
    data: str | None
    splits: tuple
    beam: int | None
    serves: str
    headline: object
    pipeline_tag: str
    card_metrics: tuple
    card_example: str
    card_limitations: str
    no_split: str | None = None

    def module(self):
        """The task's module (imported at the first call: it imports TensorFlow)."""
        return importlib.import_module(self.path)

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
            split_arg = self.module().held_out(card, split)  # items, as its recipe split them
        elif self.data is not None:
            if not isinstance(data.get(self.data), str):
                raise ValueError(f"the model's card names no built-in data to evaluate on (no data.{self.data}): "
                                 f"evaluate it on your own data with zoo.evaluate.")
            if data[self.data].startswith(OWN_FILES):
                data_args.append(self.module().held_out(card, split))
            else:
                data_args.append(data[self.data])
        kwargs = {"limit": limit, "progress": progress}
        if data.get("folds"):  # trained on one fold of a cross-validation: its splits are that fold's
            kwargs["fold"] = (data.get("fold"), data["folds"])
        if self.beam is not None:
            beam = beam_size or self.beam
            kwargs["beam_sizes"] = (1, beam) if beam > 1 else (1,)

        def score(model):
            results = self.module().evaluate(model, *data_args, split_arg, **kwargs)
            return results if split_arg is split else {**results, "split": split}

        return score

    def models(self):
        """The registered models of this task (what its recipe may train)."""
        return [name for name in registry.list_models() if registry.describe(name)["task"] == self.name]


TASKS = {
    "translation": Task(
        name="translation", path="zoo.tasks.translation", verb="translate",
        help="translate sentences with a shipped model", arguments=(
            (("sentences",), {"nargs": "+", "help": "texts to translate, each printed on a line; '-' reads them "
                                                    "from standard input, a text a line"}),
            (("--model",), {"default": "lstm-seq2seq-attn", "help": "a translation model (default: %(default)s)"}),
            (("--beam-size",), {"type": "positive_int", "default": 5,
                                "help": "1 for greedy decoding (default: %(default)s)"}),
        ),
        usage="zoo translate SENTENCE --model {name}", data="pair", splits=("test", "val"), beam=5,
        serves="a batch of strings to translations (after `import tensorflow_text`)",
        headline=_decodings_headline("bleu", "BLEU"), pipeline_tag="translation",
        card_metrics=((("beam5", "bleu"), "sacreBLEU, beam 5"), (("beam5", "chrf"), "chrF, beam 5"),
                      (("greedy", "bleu"), "sacreBLEU, greedy")),
        card_example='print(model.translate(["Ein Mann fährt Fahrrad."], beam_size=5))',
        card_limitations="Trained on the sentence pairs its card names (Multi30k: short descriptions of photos): it "
                         "translates sentences like them. Other text (news, dialogue, technical prose) comes out "
                         "fluent but often wrong, and words outside its vocabulary are not translated. Texts are "
                         "split into sentences, and long sentences into chunks of at most 64 subword tokens.",
    ),
    "captioning": Task(
        name="captioning", path="zoo.tasks.captioning", verb="caption",
        help="caption image files with a shipped model", arguments=(
            (("images",), {"nargs": "+", "help": "image files (any size; RGB, grayscale or CMYK); one that cannot "
                                                 "be read is an error line, the others are captioned (exit status 2)"}),
            (("--model",), {"default": "sat-lstm-squeezenet", "help": "a captioning model (default: %(default)s)"}),
            (("--beam-size",), {"type": "positive_int", "default": 3,
                                "help": "1 for greedy decoding (default: %(default)s)"}),
            (("--attention",), {"metavar": "PNG", "default": None,
                                "help": "also save the first image captioned with each word's attention over it"}),
        ),
        usage="zoo caption IMAGE --model {name}", data=None, splits=("test", "val"), beam=3,
        serves="a batch of encoded images to captions",
        headline=_decodings_headline("bleu4", "BLEU-4"), pipeline_tag="image-to-text",
        card_metrics=((("beam3", "bleu4"), "BLEU-4, beam 3"), (("beam3", "cider"), "CIDEr-D, beam 3"),
                      (("greedy", "bleu4"), "BLEU-4, greedy")),
        card_example='print(model.caption("photo.jpg"))',
        card_limitations="Trained on a few hundred Flickr8k photos (people, dogs, streets): its captions are short "
                         "and generic, often wrong on details, and it knows nothing of other kinds of image. Not for "
                         "describing images to people who rely on the description.",
    ),
    "text-generation": Task(
        name="text-generation", path="zoo.tasks.text_generation", verb="generate",
        help="continue a prompt with a character model", arguments=(
            (("name",), {"nargs": "?", "default": "char-lstm",
                         "help": "a text-generation model (default: %(default)s)"}),
            (("--prompt",), {"default": "\n", "help": "text to continue (printed first)"}),
            (("--length",), {"type": "positive_int", "default": 300,
                             "help": "characters to generate (default: %(default)s)"}),
            (("--temperature",), {"type": "temperature", "default": 0.8,
                                  "help": "0 for greedy (default: %(default)s)"}),
            (("--top-k",), {"type": "positive_int", "default": None,
                            "help": "sample among the k likeliest characters"}),
            (("--top-p",), {"type": "probability", "default": None,
                            "help": "sample within this probability mass, in (0, 1]"}),
            (("--seed",), {"type": "non_negative_int", "default": None, "help": "for a reproducible sample"}),
            (("--num-samples",), {"type": "positive_int", "default": 1,
                                  "help": "independent samples, at most 16,384 (default: %(default)s)"}),
            (("--litert",), {"choices": ["float32", "int8"], "default": None,
                             "help": "run the sampling loop in LiteRT with weights of this type (int8: about 2x "
                                     "faster)"}),
        ),
        usage="zoo generate {name}",
        data="corpus", splits=("val",), beam=None,
        serves="(prompt, length, temperature, seed) to the generated text",
        headline=_loss_headline, pipeline_tag="text-generation",
        card_metrics=((("val_log_loss",), "nats per character, val"),
                      (("val_bits_per_character",), "bits per character, val")),
        card_example='print(model.generate("ROMEO:", 200, temperature=0.8, seed=0))',
        card_limitations="A character model of the text its card names (Shakespeare's plays): it imitates their "
                         "spelling and layout, knows no facts, and writes text nobody should take as true.",
        no_split="the text corpora have no test split (first 90% train, last 10% val): use --split val.",
    ),
}


TRANSLATION, CAPTIONING, TEXT_GENERATION = TASKS.values()  # for the recipes, which each train one task


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
