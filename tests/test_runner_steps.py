"""runner_steps: the steps every runner shares, on the real flags (those of run_classifier)."""

import json
import pathlib
import subprocess
import sys
import types

import pytest
from absl import flags
from absl.testing import flagsaver

import run_classifier  # noqa: F401  (defines the shared flags and the classifier's)
import runner_steps
from bert_tf.config import BertConfig
from bert_tf.errors import InputError
from bert_tf.run_record import save_run_record
from tests.conftest import TINY, TINY_VOCAB, snapshot, write_vocab

FLAGS = flags.FLAGS
ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def parsed_flags():
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver():
        yield


def test_training_config_steps_as_the_original_and_every_optimizer_flag():
    with flagsaver.flagsaver(train_batch_size=32, num_train_epochs=3.0, warmup_proportion=0.1,
                             learning_rate=3e-5, weight_decay_rate=0.02, adam_epsilon=1e-8,
                             clip_norm=5.0, gradient_accumulation_steps=2):
        config = runner_steps.training_config(FLAGS, 100)
    assert config.num_train_steps == 9   # int(100 / 32 * 3.0) = int(9.375)
    assert config.num_warmup_steps == 0  # int(9 * 0.1)
    assert (config.learning_rate, config.weight_decay_rate, config.adam_epsilon,
            config.clip_norm, config.gradient_accumulation_steps) == (3e-5, 0.02, 1e-8, 5.0, 2)


def test_training_config_defaults_are_the_originals_and_zero_clip_norm_is_off():
    config = runner_steps.training_config(FLAGS, 64)
    assert (config.weight_decay_rate, config.adam_epsilon, config.clip_norm) == (0.01, 1e-6, 1.0)
    with flagsaver.flagsaver(clip_norm=0.0):
        assert runner_steps.training_config(FLAGS, 64).clip_norm is None


def test_no_training_step_is_an_input_error():
    with flagsaver.flagsaver(train_batch_size=32, num_train_epochs=1.0):
        with pytest.raises(InputError, match="10 training examples.*make no training step"):
            runner_steps.training_config(FLAGS, 10)


def _trained_dir(tmp_path, checkpoint=True):
    vocab = write_vocab(tmp_path / "vocab_src.txt", TINY_VOCAB)
    (tmp_path / "bert_config.json").write_text(json.dumps(TINY))
    out = tmp_path / "out"
    settings = {"task": {"task_name": "sst-2"}, "labels": ["0", "1"], "max_seq_length": 7,
                "do_lower_case": True}
    save_run_record(str(out), "run_classifier", BertConfig(**TINY), vocab, settings,
                    {"max_seq_length": 7, "do_lower_case": True, "task_name": "sst-2",
                     "data_dir": "/data/SST-2"})
    if checkpoint:
        (out / "model.ckpt-8.index").write_bytes(b"")
    return out, settings


def test_resolve_run_takes_a_trained_output_dir_settings(tmp_path):
    out, settings = _trained_dir(tmp_path)
    with flagsaver.flagsaver(output_dir=str(out), do_train=False, do_predict=True):
        run = runner_steps.resolve_run(
            FLAGS, "run_classifier", ("max_seq_length",),
            lambda: pytest.fail("a trained dir needs no settings"))
        # A file flag not given now is the training command's.
        assert run.trained_flag(FLAGS, "data_dir") == "/data/SST-2"
        with flagsaver.flagsaver(data_dir="/elsewhere"):
            assert run.trained_flag(FLAGS, "data_dir") == "/elsewhere"
    assert run.record is not None and run.settings == settings
    assert (run.bert_config_file, run.vocab_file) == (str(out / "bert_config.json"),
                                                      str(out / "vocab.txt"))
    assert run.config.to_dict() == BertConfig(**TINY).to_dict()


def test_resolve_run_refuses_a_flag_that_differs_from_the_trained_model(tmp_path):
    out, _ = _trained_dir(tmp_path)
    with flagsaver.flagsaver(output_dir=str(out), do_train=False, max_seq_length=9):
        FLAGS["max_seq_length"].present = 1  # as if given on the command line
        try:
            with pytest.raises(flags.ValidationError, match=r"--max_seq_length=9 differs "
                                                            r"from the trained model.*\(7\)"):
                runner_steps.resolve_run(FLAGS, "run_classifier", ("max_seq_length",), dict)
        finally:
            FLAGS["max_seq_length"].present = 0


def test_resolve_run_refuses_another_runners_output_dir_in_one_line(tmp_path):
    # Was `KeyError: 'task'` from deep in run_classifier for an NER directory.
    out, _ = _trained_dir(tmp_path)
    with flagsaver.flagsaver(output_dir=str(out), do_train=False, do_eval=True):
        with pytest.raises(InputError, match=r"holds a model trained by run_classifier.py, "
                                             r"not run_ner.py: run run_classifier.py on it"):
            runner_steps.resolve_run(FLAGS, "run_ner", (), dict)


def test_resolve_run_refuses_other_model_files_for_a_trained_dir_and_writes_nothing(tmp_path):
    out, settings = _trained_dir(tmp_path)
    before = snapshot(out)
    other_vocab = write_vocab(tmp_path / "other_vocab.txt", TINY_VOCAB[::-1])  # same size
    other_config = tmp_path / "other_config.json"
    other_config.write_text(json.dumps(dict(TINY, hidden_act="relu")))
    with flagsaver.flagsaver(output_dir=str(out), do_train=False, do_predict=True,
                             vocab_file=other_vocab):
        with pytest.raises(InputError, match=r"other files \(vocabulary: .*other_vocab.txt "
                                             r"is not the vocab.txt the model was trained"):
            runner_steps.resolve_run(FLAGS, "run_classifier", (), dict)
    with flagsaver.flagsaver(output_dir=str(out), do_train=True, vocab_file=other_vocab,
                             bert_config_file=str(other_config)):
        with pytest.raises(InputError, match=r"holds a trained model of another run "
                                             r"\(bert_config \(hidden_act\): saved \['gelu'\], "
                                             r"now \['relu'\]; vocabulary: "):
            runner_steps.resolve_run(FLAGS, "run_classifier", (), lambda: settings)
    # The same files as the training run's are fine.
    with flagsaver.flagsaver(output_dir=str(out), do_train=True,
                             vocab_file=str(tmp_path / "vocab_src.txt"),
                             bert_config_file=str(tmp_path / "bert_config.json")):
        assert runner_steps.resolve_run(FLAGS, "run_classifier", (),
                                        lambda: settings).settings == settings
    assert snapshot(out) == before


def test_resolve_run_for_training_needs_the_model_files(tmp_path):
    # A stand-in for the flags: extract_features marks --bert_config_file required, so once
    # it is imported (as in the full suite) absl refuses to set it to None.
    unset = types.SimpleNamespace(output_dir=str(tmp_path / "new"), do_train=True,
                                  bert_config_file=None, vocab_file=None)
    with pytest.raises(flags.ValidationError, match="missing --bert_config_file, --vocab_file"):
        runner_steps.resolve_run(unset, "run_classifier", (), dict)
    (tmp_path / "c.json").write_text(json.dumps(TINY))
    with flagsaver.flagsaver(output_dir=str(tmp_path / "new"), do_train=True,
                             bert_config_file=str(tmp_path / "c.json"), vocab_file="v.txt"):
        run = runner_steps.resolve_run(FLAGS, "run_classifier", (), lambda: {"new": True})
    assert (run.settings, run.bert_config_file, run.vocab_file) == (
        {"new": True}, str(tmp_path / "c.json"), "v.txt")


def test_check_model_flags():
    with flagsaver.flagsaver(max_seq_length=12):
        with pytest.raises(flags.ValidationError, match="longer than the model's "
                                                        "max_position_embeddings \\(11"):
            runner_steps.check_model_flags(FLAGS, 11)
        runner_steps.check_model_flags(FLAGS, 12)


def test_run_reports_a_user_error_in_one_line_with_status_2():
    script = ("import runner_steps\nfrom bert_tf.errors import InputError\n"
              "def main(argv):\n    raise InputError('data.tsv line 3: bad label')\n"
              "runner_steps.run(main)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "-c: error: data.tsv line 3: bad label"
    assert "Traceback" not in result.stderr


def test_run_reports_an_os_error_by_the_file_the_user_named_not_a_temporary():
    script = ("import runner_steps\n"
              "def main(argv):\n    raise OSError(28, 'No space left on device', "
              "'/data/out/train.tf_record.tmp-4242-9f3a1c2b')\n"
              "runner_steps.run(main)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "-c: error: /data/out/train.tf_record: No space left on device")


def test_logging_is_info_unless_verbosity_is_given():
    from absl import logging
    previous = logging.get_verbosity()
    try:
        logging.set_verbosity(logging.WARNING)
        runner_steps.start_logging(FLAGS)
        assert logging.get_verbosity() == logging.INFO
        with flagsaver.flagsaver(verbosity=1):
            FLAGS["verbosity"].present = 1  # as if --verbosity=1 were given
            try:
                runner_steps.start_logging(FLAGS)
                assert logging.get_verbosity() == 1  # the load's variable list shows
            finally:
                FLAGS["verbosity"].present = 0
    finally:
        logging.set_verbosity(previous)
