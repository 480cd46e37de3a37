"""The translation recipe end to end, in its --smoke size (a few steps)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing import event_accumulator

import zoo

ROOT = Path(__file__).resolve().parent.parent


def recipe(tmp_path, *flags):
    return [sys.executable, str(ROOT / "recipes" / "translate.py"), "--smoke",
            "--run-dir", str(tmp_path / "run"), *flags]


def tags(directory):
    """Every summary tag in the event files of `directory` (TF2 summaries,
    scalars included, are stored as tensors)."""
    found = set()
    for events in Path(directory).glob("events.out.tfevents.*"):
        acc = event_accumulator.EventAccumulator(str(events), size_guidance={"tensors": 0})
        acc.Reload()
        found.update(acc.Tags()["tensors"])
    return found


def test_smoke_run_resumes_after_kill_logs_and_saves_in_its_run(mirror, tmp_path, shipped_untouched):
    command = recipe(tmp_path, "--epochs", "3")
    backups = tmp_path / "run" / "backup"  # step-<n>.weights.h5; a smoke epoch is 3 steps
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not list(backups.glob("step-*.weights.h5")) and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, first.stdout.read()[-3000:]
    first.send_signal(signal.SIGKILL)  # killed after its first finished epoch
    first.wait()
    done = max(int(p.name[5:-11]) for p in backups.glob("step-*.weights.h5")) // 3
    assert done >= 1

    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"Epoch {done + 1}/3" in second.stdout and "Epoch 1/3" not in second.stdout
    assert "ran out of data" not in second.stdout + second.stderr  # Keras's false alarm at a dataset's end

    assert "model written to" in second.stdout and "shipped lstm-seq2seq-attn to" not in second.stdout
    card = json.loads((tmp_path / "run" / "model" / "card.json").read_text())
    for key in ("greedy", "beam5"):
        assert set(card["metrics"][key]) >= {"bleu", "chrf", "bleu_lowercase", "sentences_per_second"}
    assert card["command"].startswith("python ") and "--smoke" in card["command"]
    assert card["train_seconds"] > 0 and card["weights_sha256"]
    model = zoo.load("lstm-seq2seq-attn", weights=tmp_path / "run" / "model")
    assert isinstance(model.translate("Ein Mann fährt Fahrrad.", beam_size=2), str)

    run = tmp_path / "run"
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= tags(run / "train")
    assert {"epoch_loss", "epoch_accuracy", "epoch_bleu", "translations", "attention"} <= tags(run / "validation")
    assert {"_hparams_/session_start_info", "test_bleu"} <= tags(run / "hparams")


# 23 s and more each: run with -m slow; mixed precision is checked by default on caption.py (float16, test_distribute)
@pytest.mark.parametrize("flags", [pytest.param(["--mixed-precision", "mixed_bfloat16"], marks=pytest.mark.slow),
                                   pytest.param(["--model", "gru-seq2seq-attn"], marks=pytest.mark.slow),
                                   pytest.param(["--right-to-left", "--subword-sampling", "0.1"],
                                                marks=pytest.mark.slow)])
def test_smoke_variants_run_one_step(mirror, tmp_path, flags, shipped_untouched):
    result = subprocess.run(recipe(tmp_path, "--epochs", "1", *flags), cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "val BLEU" in result.stdout


def test_bad_flags_are_named(tmp_path):
    result = subprocess.run(recipe(tmp_path, "--strategy", "tpu"), cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and "--strategy must be one of" in result.stderr


def test_a_beam_larger_than_the_vocabulary_is_refused_before_training(tmp_path):
    command = [sys.executable, str(ROOT / "recipes" / "translate.py"), "--train-file", "examples/de-en-small.tsv",
               "--source-vocabulary", "100", "--target-vocabulary", "100", "--beam-size", "5000",
               "--run-dir", str(tmp_path / "run")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    # The vocabularies the 285 training pairs yield are said aloud; the beam is checked against the target's.
    sizes = re.findall(r"--(source|target)-vocabulary 100: the training \w+ yield (\d+) pieces", result.stdout)
    assert [side for side, _ in sizes] == ["source", "target"] and all(int(n) < 100 for _, n in sizes)
    assert f"--beam-size must be at most the target vocabulary size ({sizes[1][1]}), got 5000" in result.stderr
    assert "Epoch 1" not in result.stdout and not (tmp_path / "run").exists()  # nothing trained, nothing left


@pytest.mark.slow
def test_a_run_decodes_as_an_ensemble_with_models_of_its_tokenizers(mirror, tmp_path, shipped_untouched):
    first = subprocess.run(recipe(tmp_path / "a", "--epochs", "1"), cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    member = tmp_path / "a" / "run" / "model"
    second = subprocess.run(recipe(tmp_path / "b", "--epochs", "1", "--model", "gru-seq2seq-attn",
                                   "--ensemble-with", str(member)), cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    card = json.loads((tmp_path / "b" / "run" / "model" / "card.json").read_text())
    assert [m["name"] for m in card["ensemble"]] == ["lstm-seq2seq-attn"]
    assert set(card["metrics_alone"]) >= {"greedy", "beam5"} and set(card["ensemble"][0]["metrics_alone"]) >= {"beam5"}
    model = zoo.load(tmp_path / "b" / "run" / "model")
    assert [type(m).__name__ for m in model.members] == ["Seq2Seq"] and model.members[0].cell_type == "lstm"


def test_an_ensemble_member_that_holds_no_model_is_refused_before_training(tmp_path):
    result = subprocess.run(recipe(tmp_path, "--ensemble-with", str(tmp_path)), cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode != 0 and f"--ensemble-with: {tmp_path} holds no model (no config.json)" in result.stderr


def test_a_directory_of_shards_is_streamed_and_the_card_says_so(tmp_path, de_en_shards, shipped_untouched):
    command = recipe(tmp_path, "--train-file", str(de_en_shards), "--epochs", "1")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "input: streaming (--input auto: a directory, a glob or .gz files)" in result.stdout
    assert "300 sentence pairs in 3 files" in result.stdout and "trained 3 optimizer steps" in result.stdout
    data = json.loads((tmp_path / "run" / "model" / "card.json").read_text())["data"]
    assert data["input"] == "streaming" and data["train"] == "270 pairs (0 with an empty side dropped)"
    assert [f["name"] for f in data["files"]["train"]] == ["part-0.tsv", "part-1.tsv.gz", "part-2.tsv"]
    assert (tmp_path / "run" / "corpus.json").is_file()


@pytest.mark.parametrize("flag", [["--right-to-left"], ["--subword-sampling", "0.1"]])
def test_flags_that_need_the_pairs_in_memory_are_refused_when_streaming(tmp_path, flag):
    command = [sys.executable, str(ROOT / "recipes" / "translate.py"), "--train-file", "examples/de-en-small.tsv",
               "--input", "streaming", *flag, "--run-dir", str(tmp_path / "run")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"{flag[0]} is for pairs read into memory" in result.stderr
    assert not (tmp_path / "run" / "model").exists()


def test_streaming_flags_need_your_files(tmp_path):
    result = subprocess.run(recipe(tmp_path, "--input", "streaming"), cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "--input is about reading your files" in result.stderr
