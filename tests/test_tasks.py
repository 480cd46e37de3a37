"""zoo.tasks: one entry per task of the registry, and what the CLI and
evaluation read from it."""

import math

import pytest

import zoo
from zoo import registry, tasks
from zoo.cli import build_parser
from zoo.models.base import TASKS as MODEL_TASKS


def test_the_task_table_covers_every_task_of_the_registry():
    registered = {registry.describe(name)["task"] for name in zoo.list_models()}
    assert registered <= set(tasks.TASKS) and set(MODEL_TASKS) == set(tasks.TASKS)
    verbs = build_parser()._subparsers._group_actions[0].choices
    for name, task in tasks.TASKS.items():
        assert task.name == name and task.verb in verbs and tasks.for_verb(task.verb) is task
        module = task.module()
        assert all(callable(getattr(module, f)) for f in ("evaluate", "quick_check", "export", "held_out", "command"))
        assert set(task.models()) == {n for n in zoo.list_models() if registry.describe(n)["task"] == name}
        assert "{name}" in task.usage and task.splits


def test_an_unknown_task_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"`task` must be one of \['captioning', 'text-generation', 'translation'\], "
                                         r"got 'summarization'"):
        tasks.get("summarization")


@pytest.mark.filterwarnings("ignore:`text` has characters outside")
def test_text_generation_is_evaluated_on_the_first_characters_of_the_val_split(mirror, tiny_char_model):
    from zoo.data.text import load_text

    model = tiny_char_model("char-lstm")
    card = {"task": "text-generation", "data": {"corpus": "tinyshakespeare"}}
    results = tasks.get("text-generation").evaluate_card(model, card, limit=500)
    nats = model.log_loss(load_text("tinyshakespeare", "val")[:500])
    assert results == {"split": "val", "log_loss": round(nats, 4), "bits_per_character": round(nats / math.log(2), 4)}
    with pytest.raises(ValueError, match="no test split"):
        tasks.get("text-generation").evaluate_card(model, card, "test")
    with pytest.raises(ValueError, match="names no built-in data"):
        tasks.get("text-generation").evaluate_card(model, {"task": "text-generation", "data": {}})


@pytest.mark.filterwarnings("ignore:`text` has characters outside")
def test_zoo_evaluate_reads_task_and_data_from_the_card_of_a_weights_directory(mirror, tiny_char_model, tmp_path,
                                                                               capsys):
    import json

    from zoo import saving
    from zoo.cli import main
    from zoo.data.text import load_text

    model = tiny_char_model("char-gru")
    card = {"task": "text-generation", "data": {"corpus": "tinyshakespeare"}}
    directory = saving.save(model, tmp_path / "model", "char-gru", card)
    assert main(["evaluate", "char-gru", "--weights", str(directory), "--limit", "300"]) == 0
    nats = zoo.load("char-gru", weights=directory).log_loss(load_text("tinyshakespeare", "val")[:300])
    assert json.loads(capsys.readouterr().out)["log_loss"] == round(nats, 4)
    (directory / "card.json").unlink()
    assert main(["evaluate", "char-gru", "--weights", str(directory)]) == 2
    assert "has no card.json" in capsys.readouterr().err
