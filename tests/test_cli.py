"""The `zoo` command: every user error is one line on stderr with a non-zero exit
status and no traceback; `list`, `info` and `--help` answer without TensorFlow."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import registry
from zoo.cli import headline, main

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "saved_models"

# (argv, words the one-line error must contain); every case exits with status 2.
USER_ERRORS = [
    (["translate", "Ein Hund.", "--model", "char-lstm"], ["char-lstm is a text-generation model",
                                                          "use `zoo generate char-lstm`"]),
    (["caption", "img.jpg", "--model", "char-lstm"], ["char-lstm is a text-generation model",
                                                      "use `zoo generate char-lstm`"]),
    (["caption", "img.jpg", "--model", "lstm-seq2seq-attn"], ["translation model", "zoo translate SENTENCE --model"]),
    (["generate", "lstm-seq2seq-attn"], ["lstm-seq2seq-attn is a translation model", "zoo translate"]),
    (["generate", "sat-lstm-squeezenet"], ["captioning model", "zoo caption IMAGE --model sat-lstm-squeezenet"]),
    (["translate", "Ein Hund.", "--model", "transformer"], ["Unknown model name 'transformer'"]),
    (["info", "lstm-seq2seq-atn"], ["Did you mean 'lstm-seq2seq-attn'"]),
    (["generate", "char-lstm", "--weights", "no/such/dir"], ["weights='no/such/dir' is not a directory"]),
    (["evaluate", "char-lstm", "--split", "test"], ["no test split", "--split val"]),
    (["evaluate", "char-gru", "--beam-size", "3"], ["--beam-size is for translation and captioning",
                                                    "char-gru is a text-generation model"]),
    (["evaluate", "char-lstm", "--split", "train"], ["--split", "invalid choice", "'train'"]),
    (["evaluate", "lstm-seq2seq-attn", "--limit", "0"], ["--limit", "positive integer", "'0'"]),
    (["evaluate", "lstm-seq2seq-attn", "--limit", "-1"], ["--limit", "positive integer", "'-1'"]),
    (["evaluate", "lstm-seq2seq-attn", "--beam-size", "0"], ["--beam-size", "positive integer", "'0'"]),
    (["translate", "Ein Hund.", "--beam-size", "0"], ["--beam-size", "positive integer", "'0'"]),
    (["translate", "Ein Hund.", "--beam-size", "two"], ["--beam-size", "positive integer", "'two'"]),
    (["caption", "img.jpg", "--beam-size", "-3"], ["--beam-size", "positive integer", "'-3'"]),
    (["generate", "char-lstm", "--prompt", ""], ["--prompt must be non-empty text; leave it out"]),
    (["generate", "--length", "-5"], ["--length", "positive integer", "'-5'"]),
    (["generate", "--length", "0"], ["--length", "positive integer", "'0'"]),
    (["generate", "--temperature", "nan"], ["--temperature", "finite number >= 0", "'nan'"]),
    (["generate", "--temperature", "inf"], ["--temperature", "finite number >= 0", "'inf'"]),
    (["generate", "--temperature", "-0.5"], ["--temperature", "finite number >= 0", "'-0.5'"]),
    (["generate", "--top-p", "0"], ["--top-p", "(0, 1]", "'0'"]),
    (["generate", "--top-p", "1.5"], ["--top-p", "(0, 1]", "'1.5'"]),
    (["generate", "--top-k", "0"], ["--top-k", "positive integer"]),
    (["generate", "--num-samples", "0"], ["--num-samples", "positive integer"]),
    (["generate", "--num-samples", "1000000", "--length", "10"], ["`num_samples`", "[1, 16384]", "1000000"]),
    (["generate", "--seed", "-1"], ["--seed", "non-negative integer", "'-1'"]),
    (["translate", "\udcff"], ["sentences", "b'\\xff'", "not valid UTF-8"]),  # what the shell's $'\xff' becomes
    (["generate", "--prompt", "ROMEO\udcff:"], ["--prompt", "not valid UTF-8"]),
    (["info", "char\udce9-lstm"], ["name", "not valid UTF-8"]),
    (["translate"], ["required", "sentences"]),
    ([], ["required", "COMMAND"]),
    (["frob"], ["invalid choice", "'frob'"]),
    (["export", "lstm-seq2seq-attn", "."], [". already exists", "new directory"]),
    (["export", "lstm-seq2seq-attn", "OUT", "--litert", "int8"], ["--litert", "text-generation", "translation"]),
    (["export", "char-lstm", ""], ["directory must be a path, got ''"]),
    (["evaluate", "char-lstm", "--limit", "1"], ["limit must be at least 2 for text generation"]),
    (["list", "zzz*"], ["no model matches 'zzz*'"]),
    (["export", "char-lstm", "README.md/serving"], ["'README.md' is a file, not a directory"]),
    (["caption", "tests/data/does-not-matter.jpg", "--attention", ""], ["--attention must be a path, got ''"]),
    (["caption", "x.jpg", "--attention", "tests"], ["--attention 'tests' is a directory"]),
    (["caption", "x.jpg", "--attention", "README.md/where.png"], ["'README.md' is a file, not a directory"]),
    (["translate", "Hallo", "--weights", "saved_models/char-lstm"],
     ["--weights saved_models/char-lstm holds a text-generation model (char-lstm)",
      "`zoo generate char-lstm --weights saved_models/char-lstm`"]),
    (["export", "char-lstm", "OUT", "--litert", "int4"], ["--litert", "invalid choice", "'int4'"]),
    (["translate", "Ein Hund.", "--weights", "no/such/dir"], ["weights='no/such/dir' is not a directory"]),
]


def run_cli(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


# A registered model without shipped weights: saved_models/ pointed at an empty folder.
NOT_SHIPPED = [
    (["translate", "Ein Hund.", "--model", "lstm-seq2seq"], ["No trained model ships for 'lstm-seq2seq'",
                                                              "--weights <run-dir>/model"]),
    (["evaluate", "lstm-seq2seq"], ["no trained model ships for lstm-seq2seq"]),
    (["export", "lstm-seq2seq", "OUT"], ["No trained model ships for 'lstm-seq2seq'"]),
]


@pytest.mark.parametrize("argv, words", NOT_SHIPPED, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_model_that_does_not_ship_is_a_one_line_error(argv, words, capsys, tmp_path, monkeypatch):
    from zoo import registry

    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path / "models"))
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    test_user_errors_are_one_line_without_traceback(argv, words, capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, words", USER_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_user_errors_are_one_line_without_traceback(argv, words, capsys):
    status, out, err = run_cli(argv, capsys)
    assert status == 2, (status, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err  # one line
    assert "Traceback" not in err and "\x1b[" not in err
    assert err.startswith("zoo"), err
    for word in words:
        assert word in err, (word, err)


def test_translate_reads_standard_input_a_text_a_line(monkeypatch, capsys):
    import io

    import zoo

    texts = ["Ein Mann fährt Fahrrad.", "", "Zwei Hunde spielen im Schnee. Es ist kalt."]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(texts).encode() + b"\n")))
    status, out, err = run_cli(["translate", "-", "--beam-size", "1"], capsys)
    assert status == 0 and out.splitlines() == zoo.load("lstm-seq2seq-attn").translate(texts, beam_size=1)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"ok\nGr\xfc\xdf\n")))
    status, out, err = run_cli(["translate", "-"], capsys)
    assert status == 2 and out == "" and err == "zoo translate: error: standard input: line 2 is not UTF-8 text " \
                                               "(byte 0xfc).\n"
    status, _, err = run_cli(["translate", "-", "Hallo"], capsys)
    assert status == 2 and "'-' reads the texts from standard input" in err


def test_debug_shows_the_exception_instead():
    with pytest.raises(ValueError, match="Did you mean 'lstm-seq2seq-attn'"):
        main(["info", "lstm-seq2seq-atn", "--debug"])


def test_an_unexpected_error_is_one_line_with_a_hint(monkeypatch, capsys):
    def broken(name):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(registry, "describe", broken)
    status, out, err = run_cli(["translate", "x"], capsys)
    assert status == 1 and err == "zoo translate: error: RuntimeError: something broke (run again with --debug " \
                                  "for the traceback)\n"


def test_help_lists_the_commands(capsys):
    status, out, err = run_cli(["--help"], capsys)
    assert status == 0 and err == ""
    for command in ["list", "info", "translate", "generate", "caption", "evaluate"]:
        assert command in out


def rows(out):
    return {line.split()[0]: line for line in out.splitlines()[1:]}


def test_list_is_a_table_of_task_weights_parameters_and_metric(capsys):
    status, out, err = run_cli(["list"], capsys)
    assert status == 0 and err == ""
    table = rows(out)
    assert sorted(table) == registry.list_models()
    assert out.splitlines()[0].split() == ["name", "task", "trained", "params", "metric"]
    for name, line in table.items():
        card_path = SHIPPED / name / "card.json"
        assert registry.describe(name)["task"] in line.split()
        if not card_path.is_file():
            assert line.split()[2:] == ["no", "-", "-"]
            continue
        card = json.loads(card_path.read_text())
        counts = [card["parameters"]] + [member["parameters"] for member in card.get("ensemble", [])]
        assert line.split()[2] == "yes" and f"{card['parameters'] / 1e6:.2f}M" in line.split()[3:6]
        assert (f"{len(counts)} x " in line) == (len(counts) > 1)
    sat = json.loads((SHIPPED / "sat-lstm-squeezenet" / "card.json").read_text())  # an ensemble of two equal models:
    assert f"2 x {sat['parameters'] / 1e6:.2f}M" in table["sat-lstm-squeezenet"]  # each one's size, not a sum
    attn = json.loads((SHIPPED / "lstm-seq2seq-attn" / "card.json").read_text())["metrics"]
    assert table["lstm-seq2seq-attn"].endswith(f"test BLEU {attn['beam5']['bleu']:.2f} (beam 5)")
    char = json.loads((SHIPPED / "char-lstm" / "card.json").read_text())["metrics"]
    assert table["char-lstm"].endswith(f"val {char['val_log_loss']:.4f} nats/char")


def test_list_filters_with_a_pattern(capsys):
    status, out, _ = run_cli(["list", "char-*"], capsys)
    assert status == 0 and sorted(rows(out)) == ["char-gru", "char-lstm"]


@pytest.mark.parametrize("card, expected", [
    ({"task": "translation", "metrics": {"split": "test", "greedy": {"bleu": 39.11}, "beam5": {"bleu": 40.4}}},
     "test BLEU 40.40 (beam 5)"),
    ({"task": "translation", "metrics": {"split": "val", "greedy": {"bleu": 3.0}, "beam5": {"bleu": 2.5}}},
     "val BLEU 3.00 (greedy)"),
    ({"task": "captioning", "metrics": {"split": "test", "greedy": {"bleu4": 15.0}, "beam3": {"bleu4": 16.85},
                                        "nearest_neighbour": {"bleu4": 99.0}}}, "test BLEU-4 16.85 (beam 3)"),
    ({"task": "text-generation", "metrics": {"val_log_loss": 1.44831}}, "val 1.4483 nats/char"),
    ({"task": "translation", "metrics": "n/a"}, "-"),
    ({"task": "other", "metrics": {"greedy": {"bleu": 1.0}}}, "-"),
    ({}, "-"),
])
def test_headline_metric_of_a_card(card, expected):
    assert headline(card) == expected


@pytest.fixture
def corrupt_cards(tmp_path, monkeypatch):
    """The shipped cards (cards only) in a models directory, char-gru's truncated."""
    for card in SHIPPED.glob("*/card.json"):
        (tmp_path / card.parent.name).mkdir()
        shutil.copy(card, tmp_path / card.parent.name / "card.json")
    broken = tmp_path / "char-gru" / "card.json"
    broken.write_text(broken.read_text()[:200])
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path))
    return broken


def test_list_shows_an_unreadable_card_and_lists_the_others(corrupt_cards, capsys):
    status, out, err = run_cli(["list"], capsys)
    assert status == 0
    table = rows(out)
    assert sorted(table) == registry.list_models()
    assert "card unreadable" in table["char-gru"] and "yes" in table["char-lstm"].split()
    assert err.count("\n") == 1 and str(corrupt_cards) in err and "Traceback" not in err


def test_info_names_an_unreadable_card(corrupt_cards, capsys):
    status, out, err = run_cli(["info", "char-gru"], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert str(corrupt_cards) in err and "not valid JSON" in err
    status, out, _ = run_cli(["info", "char-lstm"], capsys)
    assert status == 0 and json.loads(out)["card"]["task"] == "text-generation"


def test_info_reads_a_directory_a_recipe_saved(tmp_path, capsys):
    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    for name in ("config.json", "card.json"):  # info reads no weights
        shutil.copy(ROOT / "saved_models" / "char-lstm" / name, model / name)
    status, out, err = run_cli(["info", str(model)], capsys)
    assert status == 0 and err == ""
    about = json.loads(out)
    assert about["name"] == "char-lstm" and about["directory"] == str(model)
    assert about["card"] == json.loads((model / "card.json").read_text())
    (model / "config.json").write_text('{"config": {}}')
    status, out, err = run_cli(["info", str(model)], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1 and "config.json is corrupt: it names no model" in err


def test_a_model_directory_goes_where_a_name_goes(tiny_char_model, tmp_path, capsys):
    from zoo import saving

    directory = tmp_path / "run" / "model"
    saving.save(tiny_char_model("char-gru"), directory, "char-gru")
    by_weights = run_cli(["generate", "char-gru", "--weights", str(directory), "--prompt", "ab", "--seed", "3"],
                         capsys)
    assert by_weights[0] == 0
    assert run_cli(["generate", str(directory), "--prompt", "ab", "--seed", "3"], capsys) == by_weights
    status, out, err = run_cli(["generate", str(directory), "--weights", str(directory)], capsys)
    assert status == 2 and out == "" and "is a model directory and --weights" in err and err.count("\n") == 1
    status, _, err = run_cli(["generate", str(tmp_path / "run")], capsys)
    assert status == 2 and "is a directory with no saved model in it (no config.json)" in err


def run_python(code, env=None):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_help_list_info_and_user_errors_never_import_tensorflow():
    code = (
        "import sys\n"
        "from zoo.cli import main\n"
        "for argv in (['list'], ['info', 'char-lstm'], ['--help'], ['translate', 'x', '--model', 'char-lstm'],\n"
        "             ['evaluate', 'char-lstm', '--limit', '0']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'numpy', 'pandas'))\n"
        "assert not heavy, heavy[:5]\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]


def test_quiet_tensorflow_imports_tensorflow_without_start_up_noise():
    """A GPU-less machine: no absl preamble, no INFO lines, no cuInit or oneDNN
    DT_BOOL "errors"; a real warning still shows."""
    code = (
        "import warnings\n"
        "from zoo.quiet import filtered_stderr, quiet_tensorflow\n"
        "quiet_tensorflow()\n"
        "import tensorflow as tf\n"
        "with filtered_stderr():\n"
        "    tf.function(lambda x: tf.transpose(x))(tf.constant([[True, False]]))\n"  # oneDNN's DT_BOOL line
        "    warnings.warn('a real warning')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    if not any(Path("/dev").glob("nvidia*")):
        assert result.stderr == "<string>:7: UserWarning: a real warning\n", result.stderr


@pytest.mark.slow
def test_translate_prints_only_the_translation():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "zoo", "translate", "Ein Hund."], cwd=ROOT, capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() and result.stderr == "", result.stderr


def test_caption_names_each_unreadable_image_and_captions_the_others(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3)).astype(np.uint8)).save(good)
    (tmp_path / "notes.jpg").write_text("not an image")
    missing = tmp_path / "missing.jpg"
    assert main(["caption", str(tmp_path / "notes.jpg"), str(good), str(missing),
                 "--attention", str(tmp_path / "where.png")]) == 2
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}\t") and out.count("\n") == 1  # the readable one, captioned
    errors = err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("zoo caption: error: ") for line in errors), err
    assert "notes.jpg" in errors[0] and "missing.jpg" in errors[1]
    assert (tmp_path / "where.png").read_bytes().startswith(b"\x89PNG")  # of the first image captioned
    assert main(["caption", str(missing)]) == 2 and capsys.readouterr().out == ""


def test_export_writes_a_savedmodel_that_translates_like_the_model(tmp_path, capsys):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  the SentencePiece ops the SavedModel needs

    import zoo

    assert main(["export", "lstm-seq2seq-attn", str(tmp_path / "exp")]) == 0
    assert "wrote" in capsys.readouterr().out
    sentences = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    served = tf.saved_model.load(str(tmp_path / "exp")).signatures["serving_default"](tf.constant(sentences))
    translations = [t.decode() for t in served["translations"].numpy()]
    assert translations == zoo.load("lstm-seq2seq-attn").translate(sentences, beam_size=1)


def test_evaluate_as_csv_and_markdown_tables(mirror, capsys):
    import io

    import pandas as pd

    args = ["evaluate", "lstm-seq2seq-attn", "--limit", "5", "--beam-size", "2"]
    assert main(args) == 0
    scores = json.loads(capsys.readouterr().out)
    assert main([*args, "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("decoding")
    assert list(table.index) == ["greedy", "beam2"] and set(table["sentences"]) == {5}
    for decoding in ("greedy", "beam2"):
        for metric in ("bleu", "chrf", "bleu_lowercase"):
            assert table.loc[decoding, metric] == scores[decoding][metric]
    assert main([*args, "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| decoding | split | sentences | bleu |") and len(lines) == 4


def test_export_of_a_text_model_generates_like_the_model(tmp_path, capsys):
    import tensorflow as tf

    import zoo

    assert main(["export", "char-lstm", str(tmp_path / "exp")]) == 0
    serve = tf.saved_model.load(str(tmp_path / "exp")).signatures["serving_default"]
    model = zoo.load("char-lstm")

    def served(prompt, length, temperature, seed):
        return serve(prompt=tf.constant(prompt), length=tf.constant(length), temperature=tf.constant(temperature),
                     seed=tf.constant(seed, tf.int64))["text"].numpy().decode()

    for temperature, seed in ((0.8, 3), (0.0, 0), (1.2, 7)):
        assert served("ROMEO:", 60, temperature, seed) == model.generate("ROMEO:", 60, temperature=temperature,
                                                                         seed=seed)
    assert served("ROMEO:", 0, 0.8, 1) == "" == model.generate("ROMEO:", 0, seed=1)


def docs_block(first_line, page="docs/exports.md"):
    """The code of the fenced block of `page` that starts with `first_line`."""
    text = (Path(__file__).resolve().parent.parent / page).read_text(encoding="utf-8")
    start = text.index(first_line)
    return text[start : text.index("```", start)]


def test_litert_export_runs_with_the_documented_code_and_generates_like_the_model(tmp_path, capsys, monkeypatch):
    import zoo

    assert main(["export", "char-lstm", str(tmp_path / "serving" / "writer-lite"), "--litert", "int8"]) == 0
    assert "model.tflite" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == ["writer-lite"]  # no staging left
    model = zoo.load("char-lstm")
    meta = json.loads((tmp_path / "serving" / "writer-lite" / "tokens.json").read_text(encoding="utf-8"))
    assert meta["tokens"][1:] == list(model.vocabulary.chars) and meta["weights"] == "int8"

    monkeypatch.chdir(tmp_path)
    code = docs_block("# generate.py: char-lstm from its LiteRT export")
    assert "import zoo" not in code and "tensorflow" not in code
    namespace = {}
    exec(compile(code, "docs/exports.md", "exec"), namespace)  # prints 300 sampled characters
    printed = capsys.readouterr().out
    assert len(printed) == 301 and printed.endswith("\n")
    generate = namespace["generate"]
    # Greedy: what the model's int8 loop writes, across a chunk boundary (300 > 256), with a prompt longer than a
    # chunk, where int8's greedy text leaves float32's at the 7th character, and where it would leave the export's
    # at the 99th if the model read the prompt in float32 (both read it with the int8 scoring loop).
    long_prompt = "ROMEO:\nI do beseech you, sir, have patience.\n" * 7
    for prompt in ("ROMEO:", long_prompt, "First Citizen:\nBefore we proceed", "KING HENRY:\n"):
        assert generate("serving/writer-lite", prompt, 300, temperature=0) == model.generate(
            prompt, 300, temperature=0, litert="int8")
    # Sampled: reproducible for a seed, different across seeds.
    drawn = generate("serving/writer-lite", "ROMEO:", 200, seed=1)
    assert drawn == generate("serving/writer-lite", "ROMEO:", 200, seed=1) != generate(
        "serving/writer-lite", "ROMEO:", 200, seed=2)
    assert main(["export", "char-lstm", "serving/writer-lite", "--litert", "int8"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_warning_for_the_user_is_one_line(capsys):
    assert main(["generate", "--prompt", "ROMEO\u00a7:", "--length", "5"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("zoo generate: warning: `prompt` has characters outside the model's vocabulary: ['\u00a7']")
    assert err.count("\n") == 1 and ".py" not in err, err


def test_evaluate_rebuilds_the_split_of_own_files_from_the_card(mirror, tmp_path, monkeypatch, capsys):
    """A model trained on a user's files (the shipped en-es model: Tatoeba's
    spa.txt through --train-file) is scored on its held-out split, rebuilt from
    the path its card records once the file's sha256 matches; without the file,
    or with another, it is one line naming it."""
    import zipfile

    import zoo
    from zoo.data import user_files
    from zoo.tasks.translation import evaluate as evaluate_translation

    monkeypatch.chdir(tmp_path)  # the card's path, runs/data/spa-eng/spa.txt, is relative to where the recipe ran
    args = ["evaluate", "lstm-seq2seq-attn-en-es", "--limit", "4", "--beam-size", "2"]
    with monkeypatch.context() as patch:  # the file is looked for before the model loads
        patch.setattr(zoo, "load", lambda *a, **k: pytest.fail("loaded the model before finding the data"))
        status, _, err = run_cli(args, capsys)
    assert status == 2 and "runs/data/spa-eng/spa.txt" in err and "not a file here" in err
    with zipfile.ZipFile(Path(mirror) / "spa-eng" / "spa-eng.zip") as archive:
        archive.extract("spa-eng/spa.txt", tmp_path / "runs" / "data")
    assert main(args) == 0
    scores = json.loads(capsys.readouterr().out)
    pairs = user_files.read_pairs(tmp_path / "runs/data/spa-eng/spa.txt", "0", "1")
    test = user_files.split_pairs(pairs, seed=0)[2]
    expected = evaluate_translation(zoo.load("lstm-seq2seq-attn-en-es"), (test.sources[:4], test.targets[:4]),
                                    beam_sizes=(1, 2))
    for decoding in ("greedy", "beam2"):
        assert scores[decoding]["bleu"] == expected[decoding]["bleu"]
    assert scores["sentences"] == 4
    with open(tmp_path / "runs/data/spa-eng/spa.txt", "a", encoding="utf-8") as f:
        f.write("One more.\tUno más.\n")
    status, _, err = run_cli(args, capsys)
    assert status == 2 and "spa.txt is not the file the model was trained on" in err and "6ec60e212f81" in err


def test_evaluate_scores_a_text_model_on_the_last_tenth_of_its_own_files(tiny_char_model, tmp_path, capsys):
    from zoo import saving
    from zoo.data import user_files

    text = tmp_path / "mine.txt"
    text.write_text("abcab cabba " * 50)  # TINY_CHARS only
    model = tiny_char_model("char-lstm")
    card = {"task": "text-generation", "config": {"text_file": [str(text)]},
            "data": {"corpus": "own files: mine.txt", "files": [user_files.file_record(text)]}}
    directory = saving.save(model, tmp_path / "model", "char-lstm", card)
    assert main(["evaluate", "char-lstm", "--weights", str(directory)]) == 0
    scores = json.loads(capsys.readouterr().out)
    val = text.read_text()[int(len(text.read_text()) * 0.9):]
    assert scores["log_loss"] == round(model.log_loss(val), 4)


def test_evaluate_shows_its_progress_in_a_terminal(mirror):
    """With stderr a terminal, `zoo evaluate` reports its progress (here the
    text task's line); the log filter's pipe must not hide that it is one."""
    import pty

    master, slave = pty.openpty()
    result = subprocess.run([sys.executable, "-m", "zoo", "evaluate", "char-lstm", "--limit", "200"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=slave, timeout=300)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other end closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert result.returncode == 0 and b"scoring the val split of tinyshakespeare" in shown, shown[-2000:]
