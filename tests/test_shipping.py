"""Recipes never replace a shipped model by accident: flags, the run
directory's lock, corrupt run files, and the `--ship` decision."""

import fcntl
import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import zoo
from zoo import registry, saving, training

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("translate.py", "generate_text.py", "caption.py")


def recipe_module(script):
    spec = importlib.util.spec_from_file_location(script[:-3], ROOT / "recipes" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["--learning-rate", "-0.1"], "--learning-rate must be > 0, got -0.1"),
        (["--learning-rate", "nan"], "--learning-rate must be a finite number"),
        (["--dropout", "1.5"], "--dropout must be < 1, got 1.5"),
        (["--run-dir", "README.md"], "--run-dir 'README.md' is a file; give a directory"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--backup-every", "-1"], "--backup-every must be >= 0, got -1"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),  # with the flags, not from TensorFlow after loading it
        (["--seed", str(2**32)], "--seed must be < 4294967296"),
        (["--smoke", "--ship"], "--ship: a --smoke run is never shipped"),
        (["--force"], "--force only applies with --ship"),
        (["--model", "no-such-model"], "--model must be one of"),
        (["--strategy", "tpu"], "--strategy must be one of"),
    ],
)
def test_bad_flags_are_one_line_errors(script, flags, message, capsys):
    module = recipe_module(script)
    with pytest.raises(SystemExit) as exit:
        module.parse_args(flags)
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1 and ": error: " in err, err
    assert message in err


@pytest.mark.parametrize(
    "script, flags, message",
    [
        ("translate.py", ["--label-smoothing", "1"], "--label-smoothing must be < 1, got 1.0"),
        ("caption.py", ["--label-smoothing", "2"], "--label-smoothing must be < 1, got 2.0"),
        ("caption.py", ["--ema", "1.5"], "--ema must be < 1, got 1.5"),
        ("caption.py", ["--word-dropout", "1"], "--word-dropout must be < 1, got 1.0"),
        ("caption.py", ["--augment", "bogus"], "--augment must be 'mirror', 'crops' or 'mirror,crops', got 'bogus'"),
        ("caption.py", ["--train-fraction", "0"], "--train-fraction must be in (0, 1], got 0.0"),
        ("translate.py", ["--source-file", "a"], "--source-file and --target-file go together"),
    ],
)
def test_flags_checked_together_are_one_line_errors_too(script, flags, message, capsys):
    test_bad_flags_are_one_line_errors(script, flags, message, capsys)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_and_a_flag_error_answer_before_tensorflow_loads(script):
    probe = ("import runpy, sys\n"
             "recipe = sys.argv[1]\n"
             "for flags in (['--help'], ['--epochs', '0']):\n"
             "    sys.argv = [recipe, *flags]\n"
             "    try:\n"
             "        runpy.run_path(recipe, run_name='__main__')\n"
             "    except SystemExit as e:\n"
             "        print('exit', e.code, 'tensorflow' in sys.modules, 'keras' in sys.modules, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", probe, str(ROOT / "recipes" / script)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert "usage:" in result.stdout, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    error = f"{script}: error: --epochs must be >= 1, got 0 (--help lists the flags)"
    assert lines[-3:] == ["exit 0 False False", error, "exit 2 False False"], result.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "saved_models").iterdir() if p.is_dir()))
def test_a_shipped_cards_command_uses_todays_flags(name, capsys, tmp_path, monkeypatch):
    """The card's command (or, where a flag has gone since, its `command_today`) parses with today's recipe."""
    card = json.loads((ROOT / "saved_models" / name / "card.json").read_text())
    words = shlex.split(card.get("command_today", card["command"]))
    assert words[0] == "python" and words[1].startswith("recipes/"), words
    monkeypatch.chdir(tmp_path)  # the runs an ensemble's command names, as they were: finished
    for member in card.get("ensemble", []):
        directory = tmp_path / (member["directory"] if "directory" in member else Path(member["run_dir"]) / "model")
        directory.mkdir(parents=True)
        for name in ("card.json", "config.json"):  # what caption.py and translate.py check a member by
            (directory / name).write_text("{}")
    try:
        recipe_module(Path(words[1]).name).parse_args(words[2:])
    except SystemExit:
        raise AssertionError(capsys.readouterr().err) from None


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_flag_has_help_and_default(script, capsys):
    module = recipe_module(script)
    with pytest.raises(SystemExit):
        module.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in module.Config.__dataclass_fields__.values():
        flag = "--" + field.name.replace("_", "-")
        assert field.metadata.get("help"), f"{flag} has no help"
        assert flag in text
    assert "(default: 12)" in text or "(default: 8)" in text or "(default: 30)" in text  # --epochs
    assert "--smoke a tiny run" in text


def test_a_second_process_on_a_run_directory_stops_at_once(mirror, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / ".lock", "w") as held:  # another run holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(str(os.getpid()))
        held.flush()
        result = subprocess.run([sys.executable, str(ROOT / "recipes" / "generate_text.py"), "--smoke",
                                 "--run-dir", str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"--run-dir {run_dir} is in use by process {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr and not (run_dir / "vocabulary.json").exists()


@pytest.mark.parametrize(
    "script, file, content, message",
    [
        ("translate.py", "source.spm", b"garbage", "source.spm is not a SentencePiece model"),
        ("generate_text.py", "vocabulary.json", b"[1, 2", "vocabulary.json"),
        ("generate_text.py", "best.json", b'{"epoch": 1}', "best.json is corrupt: it lacks"),
    ],
)
def test_corrupt_run_files_are_one_line_errors(mirror, tmp_path, script, file, content, message):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / file).write_bytes(content)
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / script), "--smoke", "--run-dir", str(run_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert message in last and str(run_dir) in last and "--run-dir" in last
    assert "Traceback" not in result.stderr


def test_a_run_that_fails_before_training_leaves_no_new_run_directory(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    for run_dir, kept in ((tmp_path / "runs" / "new", False), (tmp_path / "mine", True)):
        if kept:
            run_dir.mkdir()
        result = subprocess.run([sys.executable, str(ROOT / "recipes" / "generate_text.py"), "--smoke", "--text-file",
                                 str(tmp_path / "empty.txt"), "--run-dir", str(run_dir)],
                                cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 2 and "empty.txt" in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
        assert run_dir.is_dir() == kept  # a directory the user made stays, with what the run wrote in it
    assert (tmp_path / "runs").is_dir()  # only the run directory itself is removed, not its parents


# -- the --ship decision (in process, a tiny model) -----------------------------------


@pytest.fixture
def shipping(tiny_char_model, tmp_path, monkeypatch):
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path / "shipped"))
    model = tiny_char_model("char-lstm")
    saving.save(model, tmp_path / "run" / "model", "char-lstm")  # what the recipe wrote before shipping

    def ship(loss, corpus="tinyshakespeare", force=False, interval=None):
        cfg = SimpleNamespace(model="char-lstm", ship=True, force=force, weights_dtype="float16")
        card = {"data": {"corpus": corpus}, "metrics": {"val_log_loss": loss}}
        if interval:  # what the recipe measured against the shipped model on the same text
            card["compared_with_shipped"] = {"val_log_loss": loss, "shipped_val_log_loss": 1.5,
                                             "difference": round(loss - 1.5, 4), "interval": interval}
        return training.ship(model, cfg, tmp_path / "run", card, ("val_log_loss",), higher_is_better=False,
                             data_key="corpus")

    return ship, tmp_path / "shipped" / "char-lstm" / "card.json"


def test_ship_installs_only_what_beats_the_shipped_model(shipping):
    ship, card = shipping
    ship(2.0)  # nothing shipped yet
    assert json.loads(card.read_text())["metrics"]["val_log_loss"] == 2.0
    with pytest.raises(SystemExit, match="refused: test val_log_loss 2.5 does not beat the shipped model's 2.0"):
        ship(2.5)
    with pytest.raises(SystemExit, match="refused"):
        ship(2.0)  # a tie is no improvement
    assert json.loads(card.read_text())["metrics"]["val_log_loss"] == 2.0
    ship(1.5)
    assert json.loads(card.read_text())["metrics"]["val_log_loss"] == 1.5
    # lower, but the paired interval of the difference reaches 0: not shown to be better
    with pytest.raises(SystemExit, match=r"refused: val_log_loss 1.49 against the shipped model's 1.5 on the same "
                                         r"data, a difference of -0.01 whose 95% paired bootstrap interval "
                                         r"\[-0.03, 0.01\] reaches 0"):
        ship(1.49, interval=(-0.03, 0.01))
    ship(1.49, interval=(-0.015, -0.005))
    assert json.loads(card.read_text())["metrics"]["val_log_loss"] == 1.49
    with pytest.raises(SystemExit, match="measured on corpus 'tinyshakespeare', this run on 'nietzsche'"):
        ship(1.0, corpus="nietzsche")
    ship(3.0, force=True)
    assert json.loads(card.read_text())["metrics"]["val_log_loss"] == 3.0
    assert zoo.load("char-lstm").vocabulary_size == 11


def test_without_ship_nothing_is_installed(tiny_char_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path / "shipped"))
    cfg = SimpleNamespace(model="char-lstm", ship=False, force=False, weights_dtype="float16")
    assert training.ship(tiny_char_model("char-lstm"), cfg, tmp_path / "run", {}, ("val_log_loss",)) is None
    assert not (tmp_path / "shipped").exists() and "--ship installs it" in capsys.readouterr().out


def test_compact_logs_keep_scalars_text_and_a_few_images(tmp_path):
    import numpy as np
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    run = tmp_path / "run"
    with tf.summary.create_file_writer(str(run / "validation")).as_default():
        for step in range(10):
            tf.summary.scalar("epoch_bleu", float(step), step=step)
            tf.summary.text("translations", f"sample {step}", step=step)
            tf.summary.image("attention", np.random.default_rng(step).random((1, 64, 64, 3)), step=step)
    tf.summary.create_file_writer(str(run / "validation"), filename_suffix=".empty").close()  # nothing written
    training.compact_logs(run, tmp_path / "logs")
    assert len(list((tmp_path / "logs" / "validation").glob("events.out.tfevents.*"))) == 1  # not the empty one

    def read(directory):
        acc = event_accumulator.EventAccumulator(str(directory), size_guidance={"tensors": 0})
        acc.Reload()
        return {tag: [(e.step, tf.make_ndarray(e.tensor_proto).tolist()) for e in acc.Tensors(tag)]
                for tag in acc.Tags()["tensors"]}

    before, after = read(run / "validation"), read(tmp_path / "logs" / "validation")
    assert after["epoch_bleu"] == before["epoch_bleu"] and after["translations"] == before["translations"]
    assert [s for s, _ in after["attention"]] == [0, 4, 9]
    assert after["attention"] == [x for x in before["attention"] if x[0] in (0, 4, 9)]


def test_hparams_show_one_row_per_run_named_after_it_without_run_mechanics(tmp_path):
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = tmp_path / "gru-de-en"
    cfg = recipe_module("translate.py").Config(model="gru-seq2seq-attn", backup_every=7, ship=True)
    training.log_hparams(run, cfg, {"test_bleu": 30.0})
    training.log_hparams(run, cfg, {"test_bleu": 31.0})  # evaluated again: replaces the first
    files = list((run / "hparams").glob("events.out.tfevents.*"))
    assert len(files) == 1
    sessions, bleu = [], []
    for record in tf.data.TFRecordDataset(str(files[0])):
        for value in tf.compat.v1.Event.FromString(record.numpy()).summary.value:
            if value.tag == "_hparams_/session_start_info":
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                sessions.append(data.session_start_info)
            elif value.tag == "test_bleu":
                bleu.append(float(tf.make_ndarray(value.tensor)))
    assert bleu == [31.0] and [s.group_name for s in sessions] == ["gru-de-en"]
    assert sessions[0].hparams["model"].string_value == "gru-seq2seq-attn"
    assert not set(training.MECHANICS) & set(sessions[0].hparams)


def test_ship_end_to_end_with_logs_then_refuse_a_tie(tmp_path, shipped_untouched):
    shipped = tmp_path / "shipped"
    command = [sys.executable, str(ROOT / "recipes" / "translate.py"), "--train-file",
               str(ROOT / "examples" / "de-en-small.tsv"), "--epochs", "1", "--units", "8", "--embedding-dim", "8",
               "--source-vocabulary", "80", "--target-vocabulary", "80", "--beam-size", "1", "--ship",
               "--run-dir", str(tmp_path / "run")]
    env = {**os.environ, registry.MODELS_ENV: str(shipped)}
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    card = json.loads((shipped / "lstm-seq2seq-attn" / "card.json").read_text())
    assert card["logs"].startswith("logs/") and card["check"] is None  # own files: no built-in slice
    assert {"train", "validation", "hparams"} <= {p.name for p in (shipped / "lstm-seq2seq-attn" / "logs").iterdir()}
    logs = shipped / "lstm-seq2seq-attn" / "logs"
    assert logs.stat().st_mode & 0o777 == logs.parent.stat().st_mode & 0o777  # as readable as the model
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    refused = again.stderr.strip().splitlines()[-1]
    assert again.returncode == 1 and "--ship: refused: greedy/bleu 0.0 against the shipped model" in refused
    assert json.loads((shipped / "lstm-seq2seq-attn" / "card.json").read_text()) == card
