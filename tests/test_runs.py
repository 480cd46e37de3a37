"""What a recipe run does with a resume under other flags, Ctrl-C and running
out of memory (`zoo.training.check_resume`, `zoo.training.run`)."""

import dataclasses

import pytest
import tensorflow as tf

from zoo import training


@dataclasses.dataclass
class Config:
    model: str = "char-lstm"
    units: int = 64
    epochs: int = 2
    learning_rate: float = 1e-3
    text_file: tuple = ()
    steps_per_epoch: int = 0
    run_dir: str = ""


def test_a_resume_keeps_the_flags_and_files_it_started_with(tmp_path):
    text = tmp_path / "mine.txt"
    text.write_text("abc" * 10)
    start = Config(text_file=(str(text),))
    (tmp_path / "run").mkdir()
    training.check_resume(tmp_path / "run", start)  # a new run: recorded
    training.check_resume(tmp_path / "run", start)  # the same flags resume
    training.check_resume(tmp_path / "run", dataclasses.replace(start, epochs=5, learning_rate=1e-4))  # may change
    with pytest.raises(ValueError, match=r"started with --units 64, not 32: resume it with the flags"):
        training.check_resume(tmp_path / "run", dataclasses.replace(start, units=32))
    with pytest.raises(ValueError, match=r"--text-file \[.*mine.txt'\], not \[.*other.txt'\]"):
        training.check_resume(tmp_path / "run", dataclasses.replace(start, text_file=(str(tmp_path / "other.txt"),)))
    text.write_text("abd" * 10)
    with pytest.raises(ValueError, match=r"mine.txt as it was \(sha256 [0-9a-f]{12}\.\.\.\)"):
        training.check_resume(tmp_path / "run", start)
    (tmp_path / "run" / "run.json").write_text("{")
    with pytest.raises(ValueError, match="run.json is not readable JSON"):
        training.check_resume(tmp_path / "run", start)


def test_a_directory_of_shards_is_recorded_shard_by_shard(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    for name in ("a.tsv", "b.tsv"):
        (shards / name).write_text(f"{name}\n")
    start = Config(text_file=(str(shards),))
    (tmp_path / "run").mkdir()
    training.check_resume(tmp_path / "run", start)
    training.check_resume(tmp_path / "run", start)
    (shards / "c.tsv").write_text("new\n")
    with pytest.raises(ValueError, match=r"started with .*c.tsv absent \(a shard added since\)"):
        training.check_resume(tmp_path / "run", start)
    (shards / "c.tsv").unlink()
    (shards / "b.tsv").unlink()
    with pytest.raises(ValueError, match=r"started with .*b.tsv as it was \(a shard gone since\)"):
        training.check_resume(tmp_path / "run", start)
    (shards / "b.tsv").write_text("changed\n")
    with pytest.raises(ValueError, match=r"b.tsv as it was \(sha256 [0-9a-f]{12}\.\.\.\)"):
        training.check_resume(tmp_path / "run", start)


def _ended(main, cfg, capsys):
    with pytest.raises(SystemExit) as ended:
        training.run(main, cfg)
    return ended.value.code, capsys.readouterr().err


def test_a_warning_is_one_line_once_without_the_source(capsys, monkeypatch):
    import warnings

    monkeypatch.delenv("ZOO_DEBUG", raising=False)

    def warns(cfg):
        for _ in range(3):  # every epoch, say
            warnings.warn("the validation text has characters outside the vocabulary: 'é'", stacklevel=1)
            warnings.simplefilter("default")  # as libraries do, which makes Python show a warning again
        return 7

    assert training.run(warns, Config()) == 7
    assert capsys.readouterr().err == "warning: the validation text has characters outside the vocabulary: 'é'\n"


def test_ctrl_c_is_one_line_saying_whether_the_run_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ZOO_DEBUG", raising=False)
    run_dir = tmp_path / "run"

    def interrupted(cfg, kept=False):
        training.lock_run_dir(run_dir)
        if kept:
            (run_dir / "backup").mkdir()
            (run_dir / "backup" / "step-000000002.weights.h5").write_bytes(b"")
        raise KeyboardInterrupt

    code, err = _ended(interrupted, Config(), capsys)
    assert (code, err) == (130, "interrupted\n") and not run_dir.exists()  # nothing kept: nothing left
    code, err = _ended(lambda cfg: interrupted(cfg, kept=True), Config(), capsys)
    assert (code, err) == (130, "interrupted; the same command resumes it\n") and run_dir.is_dir()


def test_running_out_of_memory_is_one_line_naming_the_sizes(capsys, monkeypatch):
    monkeypatch.delenv("ZOO_DEBUG", raising=False)

    def too_big(cfg):  # what TensorFlow raises for tf.random.normal((4 * cfg.units, cfg.units)): 160 GB
        raise tf.errors.ResourceExhaustedError(
            None, None, "{{function_node __wrapped__StatelessRandomNormalV2_device_/job:localhost/replica:0/task:0/"
            "device:CPU:0}} OOM when allocating tensor with shape[400000,100000] and type float\n[Op:Random]")

    code, err = _ended(too_big, Config(units=100_000), capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: out of memory (") and "lower the sizes: --units 100000" in err
    assert "function_node" not in err and "OOM when allocating tensor with shape[400000,100000]" in err


def test_an_epoch_asked_longer_than_the_data_is_said_aloud(capsys):
    assert training.epoch_steps(Config(steps_per_epoch=200), 48) == 48
    assert capsys.readouterr().out == ("--steps-per-epoch 200: the training data holds 48 batches, so an epoch is "
                                       "48 steps\n")
    assert training.epoch_steps(Config(steps_per_epoch=40), 40) == 40 and capsys.readouterr().out == ""
    assert training.epoch_steps(Config(), 48) == 48 and capsys.readouterr().out == ""
