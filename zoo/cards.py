"""Model cards: `README.md` of a model directory, written from its `card.json`.

The layout model hubs render: YAML front matter (license, tags, datasets,
the metrics as `model-index` results), then intended use, how to load it,
the training data and command, the evaluation and the limitations. Every
number comes from the card; `zoo.saving.save` writes the file beside it, so a
shipped directory can be published to a hub as it is.

>>> import zoo
>>> card = zoo.info("char-lstm")["card"]
>>> metric = front_matter(model_card(card))["model-index"][0]["results"][0]["metrics"][0]
>>> metric["value"] == card["metrics"]["val_log_loss"], metric["name"]
(True, 'nats per character, val')
"""

import json

import yaml

from zoo import registry, tasks

LICENSE = "apache-2.0"  # the zoo's code and the weights it trains; each dataset keeps its own terms


def model_card(card):
    """The Markdown model card of `card` (a card.json object)."""
    task = tasks.get(card["task"])
    name, data = card["name"], card.get("data") or {}
    dataset, dataset_id = _dataset(data)
    results = [
        {"task": {"type": task.pipeline_tag, "name": task.name},
         "dataset": {"type": dataset_id, "name": dataset, "split": card["metrics"].get("split", "val")},
         "metrics": metrics}
        for metrics in [task_metrics(task, card["metrics"])] if metrics
    ]
    meta = {"license": LICENSE, "library_name": "keras", "pipeline_tag": task.pipeline_tag,
            "tags": ["rnn-zoo", task.name, *name.split("-")[:2]], "datasets": [dataset_id],
            "model-index": [{"name": name, "results": results}]}
    lines = [
        "---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
        f"# {name}", "",
        f"A {task.name} model of rnn-zoo (Keras 3 / TensorFlow): {registry.describe(name)['description']}.", "",
        "## How to use it", "",
        "```python", "import zoo", "",
        f"model = zoo.load({name!r})  # or zoo.load(\"path/to/this/directory\")",
        f"{task.card_example}", "```", "",
        "## Training", "",
        f"- data: {json.dumps(data, ensure_ascii=False)}",
        f"- command: `{card.get('command', '-')}`",
        f"- training time: {card.get('train_seconds', '-')} s on {card.get('hardware', '-')}",
        f"- parameters: {card.get('parameters', '-')}"
        + (", stored as int8 (each matrix in 8 bits with a float32 scale per column; every score below is of "
           "these weights)" if card.get("weights_dtype") == "int8" else ""), "",
        "## Evaluation", "",
        "| metric | value |", "|---|---:|",
        *[f"| {m['name']} | {m['value']} |" for result in results for m in result["metrics"]], "",
        "## Limitations", "",
        f"{task.card_limitations}", "",
        *([f"- {note}" for note in card["notes"]] + [""] if card.get("notes") else []),
        f"weights sha256: `{card.get('weights_sha256', '-')}`", "",
    ]
    return "\n".join(lines)


def _dataset(data):
    """`(name, id)` of the data a card names: the built-in corpus, or the user's files."""
    named = next((str(data[k]) for k in ("dataset", "corpus", "pair") if data.get(k)), "-")
    if named.startswith(tasks.OWN_FILES):
        return named, "own-files"
    if data.get("pair") and str(data.get("train", "")).startswith("multi30k"):
        return f"multi30k {named}", "multi30k"
    return named, named.split(" ")[0]


def task_metrics(task, metrics):
    """`[{"type", "value", "name"}]`: the card's numbers that its task's table names."""
    found = []
    for path, label in task.card_metrics:
        value = metrics
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append({"type": path[-1], "value": value, "name": label})
    return found


def front_matter(text):
    """The YAML front matter of a model card, as a dict."""
    _, head, _ = text.split("---\n", 2)
    return yaml.safe_load(head)
