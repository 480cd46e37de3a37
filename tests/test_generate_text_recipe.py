"""The text-generation recipe end to end, in its --smoke size (a few steps)."""

import importlib.util
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing import event_accumulator

import zoo
from zoo.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "generate_text.py"


def recipe(tmp_path, *flags):
    return [
        sys.executable,
        str(RECIPE),
        "--smoke",
        "--run-dir",
        str(tmp_path / "run"),
        *flags,
    ]


def tags(directory):
    """Every summary tag in the event files of `directory` (TF2 summaries,
    scalars included, are stored as tensors)."""
    found = set()
    for events in Path(directory).glob("events.out.tfevents.*"):
        acc = event_accumulator.EventAccumulator(
            str(events), size_guidance={"tensors": 0}
        )
        acc.Reload()
        found.update(acc.Tags()["tensors"])
    return found


@pytest.mark.slow  # 48 s; resuming after a kill (zoo.training, shared) is checked by default on translate.py
def test_smoke_run_resumes_after_kill_logs_and_saves_in_its_run(
    mirror, tmp_path, monkeypatch, capsys, shipped_untouched
):
    # 3 epochs of 3 steps, a backup every 2 steps: killed once step 2 is backed up,
    # mid-epoch, the run resumes there and still trains exactly 9 steps.
    command = recipe(tmp_path, "--epochs", "3", "--backup-every", "2")
    backup = tmp_path / "run" / "backup" / "step-000000002.weights.h5"
    first = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 300
    while not backup.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.01)  # smoke steps take a fraction of a second: look often
    assert first.poll() is None, first.stdout.read()[-3000:]
    first.send_signal(signal.SIGKILL)
    first.wait()

    second = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    resumed = re.search(r"resuming after (\d+) steps: epoch (\d), (\d) of its 3 batches done", second.stdout)
    assert resumed and int(resumed.group(1)) >= 2, second.stdout[-3000:]
    assert "trained 9 optimizer steps" in second.stdout

    # More epochs continue a finished run rather than starting over.
    third = subprocess.run(
        recipe(tmp_path, "--epochs", "4", "--backup-every", "2"), cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert "resuming after 9 steps: epoch 4" in third.stdout and "trained 12 optimizer steps" in third.stdout
    # Resumed with a flag that fixes what it trains given another value: one line, the run left as it was.
    other = subprocess.run(recipe(tmp_path, "--epochs", "5", "--seed", "1"), cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert other.returncode == 2 and "Traceback" not in other.stderr, other.stderr[-3000:]
    assert "resumes a run started with --seed 0, not 1" in other.stderr and "resuming" not in other.stdout

    shipped = tmp_path / "run" / "model"
    card = json.loads((shipped / "card.json").read_text())
    metrics = card["metrics"]
    assert metrics["val_bits_per_character"] == pytest.approx(
        metrics["val_log_loss"] / math.log(2), abs=2e-4
    )
    assert (
        metrics["target_log_loss"] == 1.45 and metrics["generate_chars_per_second"] > 0
    )
    assert (
        card["data"]["corpus"] == "tinyshakespeare"
        and card["task"] == "text-generation"
    )
    assert card["command"].startswith("python ") and "--smoke" in card["command"]
    assert (
        card["train_seconds"] > 0 and card["weights_sha256"] and card["parameters"] > 0
    )
    assert card["sample"]["text"].startswith("ROMEO:")
    # the sizes built, where the flags say 0 (the builder's default; --smoke's 16 units)
    assert card["config"]["units"] == 0 and card["model_config"]["units"] == 16
    assert card["model_config"] == json.loads((shipped / "config.json").read_text())["config"]
    model = zoo.load("char-lstm", weights=shipped)
    assert (
        shipped / "vocabulary.json"
    ).is_file() and model.vocabulary.size == model.vocabulary_size
    assert len(model.generate("ROMEO:", 20, seed=0)) == 20
    run_vocabulary = json.loads((tmp_path / "run" / "vocabulary.json").read_text())
    assert run_vocabulary["chars"] == model.vocabulary.chars

    # `zoo evaluate` scores the shipped model on the whole validation text (val is
    # the default split of text models); the smoke vocabulary lacks some of its
    # characters, which are scored as unknown rather than failing.
    shutil.copytree(shipped, tmp_path / "models" / "char-lstm")
    monkeypatch.setenv("ZOO_MODELS_DIR", str(tmp_path / "models"))
    capsys.readouterr()
    assert cli(["evaluate", "char-lstm"]) == 0
    out, err = capsys.readouterr()
    assert "zoo evaluate: warning: `text` has characters outside the model's vocabulary" in err  # one line
    scored = json.loads(out)
    assert (
        scored["split"] == "val"
        and abs(scored["log_loss"] - metrics["val_log_loss"]) < 0.2
    )
    assert cli(["evaluate", "char-lstm", "--split", "test"]) == 2
    assert "no test split" in capsys.readouterr().err

    run = tmp_path / "run"
    assert (run / "gates.png").read_bytes().startswith(b"\x89PNG")
    assert {"epoch_loss", "epoch_bits_per_character", "epoch_learning_rate"} <= tags(
        run / "train"
    )
    assert {"epoch_loss", "epoch_bits_per_character", "samples", "gates", "gradient_flow"} <= tags(
        run / "validation"
    )
    assert {
        "_hparams_/session_start_info",
        "val_log_loss",
        "val_bits_per_character",
    } <= tags(run / "hparams")


def test_smoke_gru_with_time_budget_stops_after_one_epoch(mirror, tmp_path):
    result = subprocess.run(
        recipe(
            tmp_path,
            "--model",
            "char-gru",
            "--epochs",
            "3",
            "--time-budget-minutes",
            "0.0001",
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "time budget" in result.stdout and "Epoch 2/3" not in result.stdout
    card = json.loads((tmp_path / "run" / "model" / "card.json").read_text())
    assert card["best_epoch"] == 1 and card["config"]["model"] == "char-gru"


def test_average_last_and_ensemble_with(mirror, tmp_path):
    """--average-last: the model is the mean of the last epochs' weights; --ensemble-with: the val scores
    are the ensemble's (the mean of the models' probabilities), each model's own beside them."""
    import numpy as np

    from zoo.data.text import load_text
    from zoo.tasks.text_generation import character_log_losses

    first = subprocess.run(recipe(tmp_path / "a", "--epochs", "1"), cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    member = tmp_path / "a" / "run" / "model"
    second = subprocess.run(recipe(tmp_path, "--epochs", "3", "--average-last", "2", "--seed", "1",
                                   "--ensemble-with", str(member)), cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    run = tmp_path / "run"
    assert "--average-last 2: the model is the mean of the weights of epochs 2, 3" in second.stdout
    assert sorted(p.name for p in (run / "epochs").iterdir()) == ["0002.weights.h5", "0003.weights.h5"]
    card = json.loads((run / "model" / "card.json").read_text())
    assert card["averaged_epochs"] == [2, 3]
    assert card["ensemble"][0]["directory"] == str(member) and (run / "model" / "members" / "0").is_dir()
    ensemble = zoo.load("char-lstm", weights=run / "model")
    alone = [ensemble, *ensemble.members]
    ensemble.set_members(())
    # averaging, against each kept epoch loaded on its own and averaged in NumPy
    reference = zoo.load(member)
    epochs = []
    for path in sorted((run / "epochs").iterdir()):
        reference.load_weights(path)
        epochs.append([w.numpy().astype(np.float64) for w in reference.trainable_weights])
    for stored, *kept in zip(ensemble.trainable_weights, *epochs):
        np.testing.assert_allclose(stored.numpy(), np.mean(kept, axis=0), rtol=2e-3, atol=2e-3)  # float16 storage
    # the ensemble, against the mean of the two models' probabilities
    val = load_text("tinyshakespeare", "val")[:3_000]  # --smoke's validation text
    losses = np.stack([character_log_losses(m, val) for m in alone])
    assert [card["metrics_alone"]["val_log_loss"], card["ensemble"][0]["metrics_alone"]["val_log_loss"]] == [
        round(x, 4) for x in losses.mean(axis=1)]
    mixed = -np.log(np.exp(-losses).mean(axis=0))
    assert card["metrics"]["val_log_loss"] == pytest.approx(mixed.mean(), abs=2e-4)
    bad = subprocess.run(recipe(tmp_path / "b", "--ensemble-with", str(tmp_path)), cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert bad.returncode == 2 and f"--ensemble-with: {tmp_path} holds no model" in bad.stderr


def test_bad_flags_are_named(capsys):
    spec = importlib.util.spec_from_file_location("generate_text", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.parse_args([]).batch_size == 32
    for flags, message in [
        (["--corpus", "hamlet"], "--corpus must be one of"),
        (["--model", "lstm-seq2seq-attn"], "--model must be one of"),
        (["--strategy", "tpu"], "--strategy must be one of"),
    ]:
        with pytest.raises(SystemExit):
            module.parse_args(flags)
        assert message in capsys.readouterr().err
