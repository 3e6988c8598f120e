"""The runners' guarantees, tested by breaking them: a trained output_dir is never damaged by a
later command, every input is checked before the first training step (and before anything is
written), and operating-system faults and Ctrl-C are one line that says what to do.

Each test makes the exact mistake, checks the one-line message (and the exit status where a
process runs) and compares the output directory's files before and after.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import run_classifier
import run_ner
import run_squad
from bert_tf.config import BertConfig
from bert_tf.errors import InputError, TrainingDiverged
from bert_tf.optimization import WarmupLinearDecay
from bert_tf.outputs.glue import read_eval_results
from tests.conftest import TINY_VOCAB, run_main, snapshot, write_vocab
from tests.runner_fixtures import (NER_LABELS, write_tiny_bert, write_toy_ner, write_toy_squad,
                                   write_toy_task)
from tests.test_kill_resume import _argv, _assert_resumed, _event_files, _run, _scalars

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
TOY = dict(task_name="custom", text_a_column="sentence", label_column="label",
           max_seq_length=16, train_batch_size=8, eval_batch_size=4, predict_batch_size=4,
           learning_rate=2e-3, num_train_epochs=1.0, save_checkpoints_steps=2,
           log_every_n_steps=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier output_dir trained for 2 steps, with its model and data."""
    root = tmp_path_factory.mktemp("trained")
    model = write_tiny_bert(root / "bert", dropout=0.0)
    data_dir = write_toy_task(root / "data", n_train=16, n_dev=8)
    out = root / "out"
    run_main(run_classifier.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             do_eval=True, **model, **TOY)
    return root, model, data_dir, out


@pytest.fixture
def trained_copy(trained, tmp_path):
    root, model, data_dir, out = trained
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return root, model, data_dir, copy


# ---- a trained output_dir is never damaged ----


@pytest.mark.parametrize("command", ["resume", "eval"])
@pytest.mark.parametrize("other, message", [
    ("bert_config_file", r"bert_config \(hidden_act\): saved \['gelu'\], now \['relu'\]"),
    # The same size, other tokens: this rerun used to replace vocab.txt silently (accuracy
    # 0.975 -> 0.433).
    ("vocab_file", r"vocabulary: .*other_vocab.txt is not the vocab.txt the model was "
                   r"trained with"),
])
def test_other_model_files_are_refused_and_nothing_is_touched(trained_copy, tmp_path, command,
                                                              other, message):
    root, model, data_dir, out = trained_copy
    other_files = {
        "bert_config_file": tmp_path / "other_config.json",
        "vocab_file": pathlib.Path(write_vocab(tmp_path / "other_vocab.txt", TINY_VOCAB[::-1])),
    }
    config = json.loads(pathlib.Path(model["bert_config_file"]).read_text())
    other_files["bert_config_file"].write_text(json.dumps(dict(config, hidden_act="relu")))
    before = snapshot(out)
    values = dict(model, **{other: str(other_files[other])})
    if command == "resume":
        values.update(TOY, data_dir=data_dir, do_train=True, do_eval=True,
                      num_train_epochs=2.0)
    else:
        values.update(do_eval=True)
    with pytest.raises(InputError, match=message) as e:
        run_main(run_classifier.main, output_dir=str(out), **values)
    assert "\n" not in str(e.value)
    assert snapshot(out) == before


def test_a_run_that_failed_before_its_first_checkpoint_does_not_block_the_rerun(tmp_path):
    model = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    data_dir = write_toy_task(tmp_path / "data", n_train=16, n_dev=8)
    out = tmp_path / "out"
    with pytest.raises(TrainingDiverged):
        run_main(run_classifier.main, data_dir=data_dir, output_dir=str(out), do_train=True,
                 **model, **dict(TOY, learning_rate=1e38, save_checkpoints_steps=100,
                                 warmup_proportion=0.0))
    assert (out / "run_config.json").exists() and not list(out.glob("model.ckpt-*"))
    # The corrected rerun, with another --max_seq_length: refused before ("holds a run with
    # other settings ... use a new --output_dir").
    run_main(run_classifier.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             do_eval=True, **model, **dict(TOY, max_seq_length=12))
    assert read_eval_results(out / "eval_results.txt")["global_step"] == 2
    assert json.loads((out / "run_config.json").read_text())["settings"]["max_seq_length"] == 12


def test_another_runners_output_dir_is_one_line(trained_copy):
    # Was `KeyError: 'task'` (run_classifier on an NER directory).
    *_, out = trained_copy
    before = snapshot(out)
    with pytest.raises(InputError, match=r"holds a model trained by run_classifier.py, not "
                                         r"run_ner.py: run run_classifier.py on it"):
        run_main(run_ner.main, output_dir=str(out), do_eval=True)
    assert snapshot(out) == before


# ---- every input is checked before the first training step ----


def _bad_dev_label(data_dir):
    dev = data_dir / "dev.tsv"
    lines = dev.read_text().splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\tmaybe"
    dev.write_text("\n".join(lines) + "\n")


def _bad_test_row(data_dir):
    test = data_dir / "test.tsv"
    test.write_text(test.read_text() + "only one column and\ttoo\tmany\n")


def _hf_config(model, tmp_path):
    hf = dict(json.loads(pathlib.Path(model["bert_config_file"]).read_text()),
              model_type="bert", architectures=["BertModel"])
    (tmp_path / "config.json").write_text(json.dumps(hf))
    model["bert_config_file"] = str(tmp_path / "config.json")


# (case, flags changed, a change to the files, error, message)
CLASSIFIER_CASES = [
    ("bad_dev_label", {}, _bad_dev_label, InputError, "dev.tsv:4: label 'maybe'"),
    ("bad_test_row", {"do_predict": True}, _bad_test_row, InputError, "test.tsv:10:"),
    ("eval_batch_size_0", {"eval_batch_size": 0}, None, flags.ValidationError,
     "--eval_batch_size=0: expected at least 1"),
    ("train_batch_size_0", {"train_batch_size": 0}, None, flags.ValidationError,
     "--train_batch_size=0: expected at least 1"),  # a ZeroDivisionError before
    ("learning_rate_0", {"learning_rate": 0.0}, None, flags.ValidationError,
     "--learning_rate=0.0: expected greater than 0"),
    ("warmup_1.5", {"warmup_proportion": 1.5}, None, flags.ValidationError,
     "--warmup_proportion=1.5: expected between 0 and 1"),
    ("num_gpus", {"num_gpus": 4, "distribution_strategy": "mirrored"}, None, InputError,
     "--num_gpus=4: this machine has 0 GPU(s)"),  # silently one CPU replica before
    ("use_tpu", {"use_tpu": True}, None, InputError,
     "--use_tpu / --distribution_strategy=tpu: no TPU found"),  # a ValueError traceback
    ("hf_config", {}, "hf_config", InputError,
     "a Hugging Face config.json, not an original bert_config.json; convert the model with "
     "`python -m bert_tf.convert hf-to-tf"),
    ("no_step", {"num_train_epochs": 0.1}, None, InputError, "make no training step"),
]


@pytest.mark.parametrize("case, changed, change, error, message", CLASSIFIER_CASES,
                         ids=[c[0] for c in CLASSIFIER_CASES])
def test_classifier_inputs_are_checked_before_anything_is_written(tmp_path, case, changed,
                                                                   change, error, message):
    if case == "num_gpus" and tf.config.list_physical_devices("GPU"):
        pytest.skip("counts on a machine without GPUs")
    model = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    data_dir = pathlib.Path(write_toy_task(tmp_path / "data", n_train=16, n_dev=8))
    if change == "hf_config":
        _hf_config(model, tmp_path)
    elif change:
        change(data_dir)
    out = tmp_path / "out"
    values = dict(TOY, data_dir=str(data_dir), output_dir=str(out), do_train=True,
                  do_eval=True, **model)
    values.update(changed)
    with pytest.raises(error) as e:
        run_main(run_classifier.main, **values)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert snapshot(out) == {}


def test_glue_predict_without_data_dir_says_what_to_give(tmp_path):
    model = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    with pytest.raises(flags.ValidationError, match=r"--task_name=sst-2 reads its .tsv files "
                                                    r"from --data_dir: give --data_dir"):
        run_main(run_classifier.main, task_name="SST-2", do_predict=True,
                 output_dir=str(tmp_path / "out"), **model)  # a TypeError before


def test_ner_dev_and_test_files_are_checked_before_training(tmp_path):
    model = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    data_dir = pathlib.Path(write_toy_ner(tmp_path / "data", n_train=16, n_dev=8))
    dev = data_dir / "dev.txt"
    dev.write_text(dev.read_text().replace(" B-ANIMAL", " B-ANIMALS", 1))
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"dev.txt:\d+: .*B-ANIMALS"):
        run_main(run_ner.main, data_dir=str(data_dir), output_dir=str(out), do_train=True,
                 do_eval=True, labels=NER_LABELS, max_seq_length=16, train_batch_size=8,
                 num_train_epochs=1.0, **model)
    assert snapshot(out) == {}


def test_ner_predict_alone_on_a_trained_dir_needs_no_other_flag(tmp_path):
    # The README's promise; was "give --test_file or --data_dir".
    model = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    data_dir = write_toy_ner(tmp_path / "data", n_train=16, n_dev=8)
    out = tmp_path / "out"
    run_main(run_ner.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             labels=NER_LABELS, max_seq_length=16, train_batch_size=8, num_train_epochs=1.0,
             **model)
    run_main(run_ner.main, output_dir=str(out), do_predict=True)
    sentences = (out / "test_predictions.txt").read_text().strip().split("\n\n")
    assert len(sentences) == 8  # the test.txt of the training command's --data_dir


def test_squad_2_file_without_the_flag_says_so_before_training(tmp_path):
    model = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    train = write_toy_squad(tmp_path / "train.json", n_paragraphs=6, version_2=True)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"is_impossible is true, so this is a SQuAD 2.0 "
                                         r"file: add --version_2_with_negative=true"):
        run_main(run_squad.main, train_file=train, predict_file=train, output_dir=str(out),
                 do_train=True, do_predict=True, max_seq_length=16, max_query_length=4,
                 doc_stride=4, **model)
    assert snapshot(out) == {}


def test_squad_predict_file_is_checked_before_training(tmp_path):
    model = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    train = write_toy_squad(tmp_path / "train.json", n_paragraphs=6)
    broken = tmp_path / "dev.json"
    broken.write_text('{"data": [{"paragraphs": [{"qas": []}]}]}')
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"dev.json: data\[0\].paragraphs\[0\]: missing "
                                         r"\"context\""):
        run_main(run_squad.main, train_file=train, predict_file=str(broken),
                 output_dir=str(out), do_train=True, do_predict=True, max_seq_length=16,
                 max_query_length=4, doc_stride=4, **model)
    assert snapshot(out) == {}


# ---- operating-system faults and Ctrl-C: one line, the last checkpoint kept ----


def _command(runner, **values):
    return [sys.executable, runner] + [f"--{k}={v}" for k, v in values.items()]


def _last_line(result):
    return result.stderr.strip().splitlines()[-1]


def test_a_flag_out_of_range_is_one_line_with_status_2(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(_command("run_classifier.py", task_name="custom", do_train=True,
                                     output_dir=out, train_batch_size=0),
                            cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 2
    assert _last_line(result) == ("run_classifier.py: error: --train_batch_size=0: expected "
                                  "at least 1")
    assert "Traceback" not in result.stderr and not out.exists()


def test_an_output_dir_that_is_a_file_is_named(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    (tmp_path / "out").write_text("notes")
    with pytest.raises(flags.ValidationError, match=r"--output_dir=.*out is a file, not a "
                                                    r"directory"):
        run_main(run_classifier.main, data_dir=str(tmp_path), output_dir=str(tmp_path / "out"),
                 do_train=True, **model, **TOY)
    assert (tmp_path / "out").read_text() == "notes"


@contextlib.contextmanager
def small_filesystem(path, size_kib, read_only=False):
    """A tmpfs of `size_kib` at `path` (root in a container allows it), else a skip."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_read_only_output_dir_is_one_line_before_anything_runs(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=16, n_dev=8)
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        context = contextlib.nullcontext(tmp_path / "ro")
    else:  # root writes through permissions: a read-only file system
        context = small_filesystem(tmp_path / "ro", 64, read_only=True)
    with context as read_only:
        result = subprocess.run(
            _command("run_classifier.py", data_dir=data_dir, output_dir=read_only / "out",
                     do_train=True, **model, **TOY),
            cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert _last_line(result) == (f"run_classifier.py: error: --output_dir={read_only}/out "
                                  "cannot be written: " +
                                  ("Read-only file system" if os.geteuid() == 0 else
                                   "Permission denied"))
    assert "Traceback" not in result.stderr


def test_a_full_disk_is_one_line_and_the_last_checkpoint_stays_intact(tmp_path):
    # Was a 67-line traceback ending in `No space left on device [Op:SaveV2]`.
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=64, n_dev=8)
    with small_filesystem(tmp_path / "disk", 1200) as disk:
        out = disk / "out"
        result = subprocess.run(
            _command("run_classifier.py", data_dir=data_dir, output_dir=out, do_train=True,
                     keep_checkpoint_max=100, **model,
                     **dict(TOY, num_train_epochs=40.0, save_checkpoints_steps=8,
                            log_every_n_steps=8)),
            cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=600)
        assert result.returncode == 2, result.stderr[-3000:]
        line = _last_line(result)
        assert line.startswith("run_classifier.py: error: ") and \
            "No space left on device" in line, line
        assert "Traceback" not in result.stderr
        latest = tf.train.latest_checkpoint(str(out))
        assert latest is not None, "the disk filled before any checkpoint: enlarge it"
        step = int(latest.rsplit("-", 1)[1])
        assert line.endswith(f"{out} holds model.ckpt-{step} (intact): the same command "
                             f"resumes from step {step}"), line
        reader = tf.train.load_checkpoint(latest)
        assert int(reader.get_tensor("global_step")) == step
        assert all(np.all(np.isfinite(reader.get_tensor(n)))
                   for n in reader.get_variable_to_shape_map())


def test_ctrl_c_says_where_the_run_stopped_and_the_same_command_resumes(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=64, n_dev=8)
    out = tmp_path / "out"
    # 64 examples, batch 8, 2 epochs: 16 steps; a training-loop call every 4, a checkpoint
    # every 8.
    argv = _argv("run_classifier.py", dict(
        data_dir=data_dir, output_dir=out, do_train=True, **model,
        **dict(TOY, num_train_epochs=2.0, save_checkpoints_steps=8, log_every_n_steps=4)))
    # Ctrl-C before the 4th training-loop call: steps 1-12 done, model.ckpt-8 the latest.
    interrupted = _run(argv, "train_loop:4", signal_name="INT")
    assert interrupted.returncode == 130, interrupted.stderr[-3000:]
    assert _last_line(interrupted) == (
        f"run_classifier.py: interrupted; {out} holds model.ckpt-8 (intact): the same "
        f"command resumes from step 8")
    assert "Traceback" not in interrupted.stderr
    interrupted_events = _event_files(out)
    resumed = _run(argv)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # The learning rate a run never interrupted has after each logged step (the default
    # --warmup_proportion=0.1: 1 warmup step).
    schedule = WarmupLinearDecay(TOY["learning_rate"], num_train_steps=16, num_warmup_steps=1)
    _assert_resumed(resumed.stderr, _scalars(_event_files(out) - interrupted_events), out, 8,
                    {"learning_rate": {s: float(schedule(s - 1)) for s in (4, 8, 12, 16)}})
    assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-16")


def test_the_record_names_config_vocabulary_and_labels(trained):
    _, model, _, out = trained
    record = json.loads((out / "run_config.json").read_text())
    assert record["runner"] == "run_classifier"
    assert record["bert_config"] == BertConfig.from_json_file(
        model["bert_config_file"]).to_dict()
    assert record["vocab_sha256"] == hashlib.sha256(
        pathlib.Path(model["vocab_file"]).read_bytes()).hexdigest()
    assert record["settings"]["labels"] == ["neg", "pos"]
