"""Recipes on a user's own files, and fine-tuning a shipped model."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import training
from zoo.data import tokenizers

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT / "examples" / "de-en-small.tsv"


def recipe_module(script):
    spec = importlib.util.spec_from_file_location(script[:-3], ROOT / "recipes" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(script, *flags):
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / script), *flags], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_the_example_table_is_the_generator_output():
    spec = importlib.util.spec_from_file_location("make_pairs", ROOT / "examples" / "make_pairs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = PAIRS.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "source\ttarget" and rows[1:] == [f"{s}\t{t}" for s, t in module.pairs()]


def test_translation_on_a_table_records_its_files(tmp_path, shipped_untouched):
    out = run("translate.py", "--smoke", "--train-file", str(PAIRS), "--epochs", "1", "--run-dir", str(tmp_path / "r"))
    assert "300 sentence pairs from de-en-small.tsv (0 with an empty side dropped)" in out
    card = json.loads((tmp_path / "r" / "model" / "card.json").read_text())
    train = card["data"]["files"]["train"][0]
    assert train["name"] == "de-en-small.tsv" and train["rows"] == 300 and len(train["sha256"]) == 64
    assert card["data"]["pair"] == "own files: de-en-small.tsv" and card["metrics"]["sentences"] == 15


def test_text_generation_on_own_files(tmp_path, shipped_untouched):
    text = tmp_path / "poem.txt"
    text.write_text("Roses are red, violets are blue.\n" * 400)
    run("generate_text.py", "--smoke", "--text-file", str(text), str(text), "--epochs", "1",
        "--run-dir", str(tmp_path / "r"))
    card = json.loads((tmp_path / "r" / "model" / "card.json").read_text())
    assert card["data"]["corpus"] == "own files: poem.txt, poem.txt"
    assert "target_log_loss" not in card["metrics"] and "meets_target" not in card["metrics"]  # tinyshakespeare's
    assert card["data"]["files"][0]["characters"] == 400 * 33


def test_a_text_too_short_for_one_batch_names_the_part_and_the_flags(tmp_path):
    text = tmp_path / "poem.txt"
    text.write_text("Roses are red, violets are blue.\n" * 900)  # its last 10%: 23 windows of 128 characters
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / "generate_text.py"), "--text-file", str(text),
                             "--run-dir", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr[-3000:]
    assert "the validation part of --text-file (its last 10%) has 2970 characters" in result.stderr
    assert "one batch of 32; lower --batch-size or --sequence-length" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flags, message", [
    (["--train-file", "x.tsv", "--source-file", "a"], "give a table or --source-file/--target-file, not both"),
    (["--source-file", "a"], "--source-file and --target-file go together"),
    (["--train-file", "x.tsv", "--val-file", "v.tsv"], "--val-file and --test-file go together"),
    (["--train-file", "x.tsv", "--pair", "en-es"], "--pair en-es names a built-in pair; with --train-file"),
    (["--source-column", "5"], "--source-column chooses a column of --train-file's table (or --val-file's)"),
    (["--source-file", "a", "--target-file", "b", "--target-column", "de"], "--target-column chooses a column"),
])
def test_own_data_flags_are_checked(flags, message, capsys):
    with pytest.raises(SystemExit) as exit:
        recipe_module("translate.py").parse_args(flags)
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_fine_tuning_starts_from_the_shipped_model_exactly():
    module = recipe_module("translate.py")
    cfg = module.parse_args(["--init-from", "lstm-seq2seq-attn", "--train-file", str(PAIRS)])
    shipped = training.starting_point(cfg)
    model = module.build_model(cfg, (shipped.source_proto, shipped.target_proto), shipped)
    sentences = ["Ein Mann fährt Fahrrad.", "Der Koch ruft die Katze am Strand."]
    first = zoo.load("lstm-seq2seq-attn")
    first.set_members(())  # the shipped model is an ensemble: fine-tuning starts from its first model
    assert model.translate(sentences, beam_size=1) == first.translate(sentences, beam_size=1)
    # It splits texts by German rules, as the shipped model does ("z. B." ends no sentence), unless told otherwise.
    assert model.get_config()["source_language"] == "de"
    text = "Am 3. Mai kommt Dr. Müller, z. B. um 8 Uhr."
    assert model.translate(text, beam_size=1) == first.translate(text, beam_size=1)
    told = module.parse_args(["--init-from", "lstm-seq2seq-attn", "--train-file", str(PAIRS), "--source-language",
                              "en"])
    assert module.build_model(told, (shipped.source_proto, shipped.target_proto), shipped).source_language == "en"
    with pytest.raises(ValueError, match="--init-from must be 'lstm-seq2seq-attn'"):
        training.starting_point(module.parse_args(["--init-from", "char-lstm"]))
    # a size flag that disagrees with the starting model is refused, one that agrees is not
    with pytest.raises(ValueError, match=r"--units 128: --init-from lstm-seq2seq-attn keeps its sizes \(--units "
                                         r"256\); leave --units out"):
        training.starting_point(module.parse_args(["--init-from", "lstm-seq2seq-attn", "--units", "128"]))
    assert training.starting_point(module.parse_args(["--init-from", "lstm-seq2seq-attn", "--units", "256"]))


@pytest.mark.slow  # a recipe run at the shipped model's size; the start point is checked by default
def test_one_fine_tuning_step_changes_the_weights_and_keeps_the_tokenizers(tmp_path, shipped_untouched):
    run("translate.py", "--init-from", "lstm-seq2seq-attn", "--train-file", str(PAIRS), "--epochs", "1",
        "--steps-per-epoch", "1", "--batch-size", "8", "--beam-size", "1", "--run-dir", str(tmp_path / "r"))
    tuned, shipped = zoo.load("lstm-seq2seq-attn", weights=tmp_path / "r" / "model"), zoo.load("lstm-seq2seq-attn")
    assert tuned.source_proto == shipped.source_proto and tuned.target_proto == shipped.target_proto
    changed = [not np.array_equal(a, b) for a, b in zip(tuned.get_weights(), shipped.get_weights())]
    assert any(changed) and len(changed) == len(shipped.weights)
    assert tokenizers.tokenizer(tuned.source_proto).vocabulary_size() == shipped.source_vocabulary_size


def test_captioning_on_own_images(mirror, tmp_path, shipped_untouched, capsys):
    from zoo.cli import main
    from zoo.data import user_files
    from zoo.data.flickr8k import read_captions
    from zoo.tasks.captioning import evaluate as evaluate_captioning

    source = Path(mirror) / "flickr8k"
    captions = read_captions(source / "captions.txt")
    names = sorted(captions)[:60]
    images = tmp_path / "photos"
    images.mkdir()
    for name in names[:-1]:  # the last one is named in the captions but missing
        shutil.copyfile(source / "Images" / name, images / name)  # a symlink leading out of --images is refused
    rows = [f"{name},{caption.replace(',', ' ')}" for name in names for caption in captions[name]]
    (tmp_path / "captions.csv").write_text("image,caption\n" + "\n".join(rows) + "\n")
    flags = ["--smoke", "--images", str(images), "--captions", str(tmp_path / "captions.csv"), "--epochs", "1",
             "--run-dir", str(tmp_path / "r")]
    refused = subprocess.run([sys.executable, str(ROOT / "recipes" / "caption.py"), *flags], cwd=ROOT,
                             capture_output=True, text=True, timeout=900)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-3000:]
    assert "the validation images (5) have 25 captions, fewer than one batch of 32; lower --batch-size" in (
        refused.stderr)  # not an epoch without validation
    assert not (tmp_path / "r").exists()  # and no run directory left behind
    out = run("caption.py", *flags, "--batch-size", "8")
    assert f"1 images named in {tmp_path / 'captions.csv'} are not in {images}, left out: {names[-1]}" in out
    card = json.loads((tmp_path / "r" / "model" / "card.json").read_text())
    assert card["data"]["dataset"] == "own files: captions.csv" and card["data"]["missing_images"] == [names[-1]]
    assert card["data"]["files"][0]["rows"] == len(rows)
    words = json.loads((tmp_path / "r" / "model" / "vocabulary.json").read_text())["words"]
    assert card["data"]["vocabulary"] == f"{len(words)} words seen >= 1 times in the training captions"  # --smoke's

    # zoo evaluate scores it on its own test images (not Flickr8k's), as the recipe split them
    model_dir = tmp_path / "r" / "model"
    evaluate = ["evaluate", card["name"], "--weights", str(model_dir), "--beam-size", "2"]
    assert main(evaluate) == 0
    scores = json.loads(capsys.readouterr().out)
    test = user_files.read_image_captions(images, tmp_path / "captions.csv")[0]["test"]
    assert scores["split"] == "test" and scores["images"] == card["data"]["test_images"] == len(test)
    expected = evaluate_captioning(zoo.load(card["name"], weights=model_dir), test, beam_sizes=(1, 2))
    assert [scores[d]["cider"] for d in ("greedy", "beam2")] == [expected[d]["cider"] for d in ("greedy", "beam2")]
    assert main(evaluate + ["--split", "val"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == card["data"]["val_images"]
    with open(tmp_path / "captions.csv", "a") as f:
        f.write(f"{names[0]},one more caption\n")
    assert main(evaluate) == 2
    assert "captions.csv is not the file the model was trained on" in capsys.readouterr().err
    images.rename(tmp_path / "moved")
    assert main(evaluate) == 2
    assert "rebuilds its test split from that folder" in capsys.readouterr().err


def mirror_images(mirror, count=3):
    return [str(p) for p in sorted((Path(mirror) / "flickr8k" / "Images").glob("*.jpg"))[:count]]


def test_fine_tuning_a_captioner_starts_from_the_shipped_model_exactly(mirror):
    module = recipe_module("caption.py")
    cfg = module.parse_args(["--init-from", "sat-lstm-squeezenet", "--smoke"])  # --smoke's sizes give way to its own
    init = training.starting_point(cfg)
    model = module.build_model(cfg, init.vocabulary, init)
    shipped = zoo.load("sat-lstm-squeezenet")
    shipped.set_members(())  # an ensemble ships; fine-tuning starts from its first model
    assert model.get_config() == shipped.get_config() and model.vocabulary == shipped.vocabulary
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), shipped.get_weights()))
    images = mirror_images(mirror)
    assert model.caption(images, beam_size=1) == shipped.caption(images, beam_size=1)
    assert model.caption(images) == shipped.caption(images)  # beam 3
    with pytest.raises(ValueError, match="--init-from must be 'sat-lstm-squeezenet'"):
        training.starting_point(module.parse_args(["--init-from", "lstm-squeezenet"]))
    with pytest.raises(ValueError, match="holds 'sat-lstm-squeezenet', not 'lstm-squeezenet'"):
        training.starting_point(module.parse_args(["--model", "lstm-squeezenet", "--init-from",
                                                   str(ROOT / "saved_models" / "sat-lstm-squeezenet")]))


@pytest.mark.slow  # a recipe run at the shipped model's size; the start point is checked by default (above)
def test_one_fine_tuning_step_of_a_captioner_changes_the_weights_and_keeps_the_vocabulary(mirror, tmp_path,
                                                                                         shipped_untouched):
    run("caption.py", "--init-from", "sat-lstm-squeezenet", "--smoke", "--epochs", "1", "--steps-per-epoch", "1",
        "--batch-size", "8", "--beam-size", "1", "--run-dir", str(tmp_path / "r"))
    tuned = zoo.load("sat-lstm-squeezenet", weights=tmp_path / "r" / "model")
    shipped = zoo.load("sat-lstm-squeezenet")
    assert tuned.vocabulary == shipped.vocabulary and tuned.get_config() == shipped.get_config()
    encoder = {id(w) for w in shipped.encoder.weights}
    frozen = [np.array_equal(a, b) for w, a, b in zip(shipped.weights, tuned.get_weights(), shipped.get_weights())
              if id(w) in encoder]
    trained = [not np.array_equal(a, b) for w, a, b in zip(shipped.weights, tuned.get_weights(),
                                                            shipped.get_weights()) if id(w) not in encoder]
    assert len(frozen) == len(shipped.encoder.weights) and all(frozen) and any(trained)
    card = json.loads((tmp_path / "r" / "model" / "card.json").read_text())
    assert card["data"]["vocabulary"].startswith(f"{len(shipped.vocabulary.words)} words of sat-lstm-squeezenet's")
    assert card["config"]["init_from"] == "sat-lstm-squeezenet" and card["optimizer_steps"] == 1


@pytest.mark.slow  # a recipe run at the shipped model's size; the start point is checked by default
def test_fine_tuning_a_character_model_keeps_its_vocabulary(tmp_path, shipped_untouched):
    text = tmp_path / "sonnet.txt"
    text.write_text("Shall I compare thee to a summer's day?\n" * 300)
    run("generate_text.py", "--init-from", "char-lstm", "--text-file", str(text), "--epochs", "1",
        "--steps-per-epoch", "1", "--batch-size", "4", "--sequence-length", "32", "--sample-length", "20",
        "--run-dir", str(tmp_path / "r"))
    tuned, shipped = zoo.load("char-lstm", weights=tmp_path / "r" / "model"), zoo.load("char-lstm")
    assert tuned.vocabulary.chars == shipped.vocabulary.chars and tuned.get_config() == shipped.get_config() | {
        "dropout": tuned.get_config()["dropout"]}
    changed = [not np.array_equal(a, b) for a, b in zip(tuned.get_weights(), shipped.get_weights())]
    assert any(changed)
