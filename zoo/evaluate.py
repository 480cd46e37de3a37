"""Evaluation of trained models with the field's metrics.

Each task scores its models in its own module (`zoo.tasks.translation.evaluate`:
sacreBLEU and chrF; `zoo.tasks.captioning.evaluate`: BLEU-1..4 and CIDEr-D;
`zoo.tasks.text_generation.evaluate`: nats per character); this module holds
what they share (argument checks, batched decoding with a progress bar) and
`quick_check`, the figure a shipped card records.

With `progress=True` a tqdm bar on stderr counts the sentences (or images)
decoded for each beam size. The inputs go to the model one batch at a time,
sentences sorted by length as `translate` itself batches them (the
hypotheses are put back in order), so the progress costs no speed.
"""

import sys

from tqdm import tqdm

from zoo import tasks


def check_limit(limit):
    """A ValueError unless `limit` is None or a positive integer."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be None (everything) or a positive integer, got {limit!r}.")


def check_model(model, method, limit, beam_sizes):
    """`beam_sizes` as a tuple, once `model` has `method` and `limit` and `beam_sizes` are valid."""
    if not callable(getattr(model, method, None)):
        raise TypeError(f"`model` must be a model with `{method}` (a zoo model of that task), "
                        f"got {type(model).__name__}.")
    check_limit(limit)
    if isinstance(beam_sizes, (str, bytes)) or not isinstance(beam_sizes, (list, tuple)):
        raise TypeError(f"beam_sizes must be a tuple or list of positive integers, e.g. (1, 5), got {beam_sizes!r}.")
    beam_sizes = tuple(beam_sizes)
    if not beam_sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in beam_sizes):
        raise ValueError(f"beam_sizes must be positive integers (1 for greedy), got {beam_sizes!r}.")
    return beam_sizes


def own_items(name, items, check_item, shape):
    """Your own evaluation data as a list, each item checked by `check_item(item) -> bool`."""
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        raise TypeError(f"`{name}` must be {shape}, got {type(items).__name__}.")
    items = list(items)
    if not items:
        raise ValueError(f"`{name}` is empty: there is nothing to evaluate.")
    for i, item in enumerate(items):
        if not check_item(item):
            raise TypeError(f"`{name}` must be {shape}; item {i} is {item!r:.80}.")
    return items


def decode_in_batches(decode, inputs, batch, beam, progress, unit, key=None):
    """`decode(chunk)` over `inputs` in chunks of `batch` (taken in the order of
    `key`, outputs returned in the order of `inputs`), with a progress bar."""
    label = "greedy" if beam == 1 else f"beam {beam}"
    order = sorted(range(len(inputs)), key=lambda i: key(inputs[i])) if key else list(range(len(inputs)))
    outputs = [None] * len(inputs)
    with tqdm(total=len(inputs), desc=label, unit=unit, file=sys.stderr, disable=not progress) as bar:
        for start in range(0, len(inputs), batch):
            chunk = order[start : start + batch]
            for i, output in zip(chunk, decode([inputs[i] for i in chunk]), strict=True):
                outputs[i] = output
            bar.update(len(chunk))
    return outputs


def quick_check(model, card):
    """A figure of `model` on a fixed slice of its own data, quick enough for
    every test run, by its task's `quick_check`: greedy BLEU on the first 100
    test sentences (translation), greedy BLEU-4 on the first 20 test images
    (captioning), nats per character on the first 20,000 validation
    characters (text generation). A shipped card records it
    (`card["check"]`) so a test can catch a broken loader or tokenizer.
    Returns None where the card names no built-in data (a model trained on
    own files), unless its recorded check names a built-in pair to check it
    on (`card["check"]["pair"]`).
    """
    if card.get("task") not in tasks.TASKS:  # a card of no known task names no data to check on
        return None
    return tasks.get(card["task"]).module().quick_check(model, card)
