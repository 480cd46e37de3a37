"""Every model in saved_models/: it loads, its card is complete, it still
scores on a fixed slice of its data what its card recorded when it shipped,
and its training logs are there (or the card says why not)."""

import json
import math
from pathlib import Path

import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import zoo
from zoo import registry
from zoo.evaluate import quick_check

SAVED_MODELS = Path(__file__).resolve().parent.parent / "saved_models"

SHIPPED = sorted(p.parent.name for p in registry.models_dir().glob("*/card.json"))
TOLERANCE = {"bleu": 0.5, "bleu4": 0.5, "log_loss": 2e-3}  # other CPUs round differently, a broken model does not


@pytest.mark.parametrize("name", SHIPPED)
def test_card_is_complete_and_the_model_is_small(name):
    directory = registry.models_dir() / name
    card = json.loads((directory / "card.json").read_text())
    assert {"task", "data", "metrics", "command", "train_seconds", "hardware", "weights_sha256", "check"} <= set(card)
    assert card["name"] == name and card["task"] == zoo.info(name)["task"]
    assert sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) < 25e6


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_scores_what_its_card_recorded(mirror, name):
    card = zoo.info(name)["card"]
    model = zoo.load(name)  # also checks the weights' sha256 against the card
    measured = quick_check(model, card)
    assert measured["slice"] == card["check"]["slice"]
    for key, tolerance in TOLERANCE.items():
        if key in card["check"]:
            assert math.isclose(measured[key], card["check"][key], abs_tol=tolerance), (key, measured, card["check"])


def _final_scalars(directory):
    values = {}
    for events in sorted(directory.glob("events.out.tfevents.*")):
        acc = event_accumulator.EventAccumulator(str(events), size_guidance={"tensors": 0})
        acc.Reload()
        for tag in acc.Tags()["tensors"]:
            values[tag] = tf.make_ndarray(acc.Tensors(tag)[-1].tensor_proto)
    return values


@pytest.mark.parametrize("name", SHIPPED)
def test_training_logs_ship_or_the_card_says_why_not(name):
    directory = registry.models_dir() / name
    card = json.loads((directory / "card.json").read_text())
    logs = directory / "logs"
    if not logs.is_dir():
        assert card["logs"].startswith("not available:")
        return
    assert {"train", "validation", "hparams"} <= {p.name for p in logs.iterdir()}
    hparams = _final_scalars(logs / "hparams")
    assert "_hparams_/session_start_info" in hparams
    test_tag = {"translation": "test_bleu", "captioning": "test_bleu4", "text-generation": "val_log_loss"}[card["task"]]
    metric = {"translation": ("bleu",), "captioning": ("bleu4",), "text-generation": ()}[card["task"]]
    expected = card["metrics"]
    if card["task"] != "text-generation":
        beam = card["config"]["beam_size"]
        expected = expected["greedy" if beam == 1 else f"beam{beam}"]
    for key in metric or ("val_log_loss",):
        expected = expected[key]
    assert math.isclose(float(hparams[test_tag]), expected, abs_tol=1e-3)
    assert {"epoch_loss"} <= set(_final_scalars(logs / "train"))


@pytest.mark.parametrize("name", sorted(p.name for p in SAVED_MODELS.iterdir()))
def test_every_shipped_model_has_a_model_card_whose_numbers_are_its_card_json(name):
    from zoo.cards import front_matter, model_card

    directory = SAVED_MODELS / name
    card = json.loads((directory / "card.json").read_text(encoding="utf-8"))
    text = (directory / "README.md").read_text(encoding="utf-8")
    assert text == model_card(card)  # written from card.json, nothing typed by hand
    results = front_matter(text)["model-index"][0]["results"][0]
    for metric in results["metrics"]:  # each number is one of card.json's
        assert metric["value"] in _numbers(card["metrics"])
    assert results["metrics"] and results["dataset"]["split"] == card["metrics"].get("split", "val")


def _numbers(tree):
    if isinstance(tree, dict):
        return [n for value in tree.values() for n in _numbers(value)]
    return [tree] if isinstance(tree, (int, float)) and not isinstance(tree, bool) else []
