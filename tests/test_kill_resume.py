"""What survives a kill: a runner SIGKILLed at one phase (tests/kill_at.py says where), then
run again with the same command, ends exactly as a run never interrupted (same eval results,
predictions and final checkpoint) and leaves no temporary file behind.

The README's "What survives a kill" lists the matrix. The default suite runs one kill (at the
export, the largest temporary); the rest is marked slow (`make test-slow`).
"""

import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import run_classifier
from tests.conftest import run_main
from tests.runner_fixtures import (NER_LABELS, write_tiny_bert, write_toy_ner, write_toy_squad,
                                   write_toy_task)

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
# 64 examples, batch 8, 4 epochs: 32 steps; a checkpoint every 8 (the last 2 kept), a
# training-loop call every 4.
CLASSIFIER = dict(task_name="custom", text_a_column="sentence", label_column="label",
                  max_seq_length=16, train_batch_size=8, eval_batch_size=5,
                  predict_batch_size=7, learning_rate=2e-3, num_train_epochs=4.0,
                  save_checkpoints_steps=8, log_every_n_steps=4, keep_checkpoint_max=2,
                  do_train=True, do_eval=True, do_predict=True)
CLASSIFIER_FILES = ("eval_results.txt", "test_results.tsv", "submission/test_predictions.tsv")


def _argv(runner, values):
    return [sys.executable, str(ROOT / "tests" / "kill_at.py"), runner] + [
        f"--{k}={v}" for k, v in values.items()]


def _run(argv, kill_at=None):
    env = dict(ENV, BERT_TF_KILL_AT=kill_at) if kill_at else ENV
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _temps(directory):
    return sorted(str(p) for p in pathlib.Path(directory).rglob("*") if ".tmp-" in p.name)


def _outcome(out, files):
    """The result files' texts and the final checkpoint's tensors of an output_dir."""
    latest = tf.train.latest_checkpoint(str(out))
    reader = tf.train.load_checkpoint(latest)
    return dict({name: (out / name).read_text() for name in files},
                checkpoint=os.path.basename(latest),
                tensors={name: reader.get_tensor(name)
                         for name in reader.get_variable_to_shape_map()})


def _assert_same(outcome, expected):
    assert outcome.keys() == expected.keys()
    for key in expected:
        if key == "tensors":
            assert outcome[key].keys() == expected[key].keys()
            for name in expected[key]:
                np.testing.assert_array_equal(outcome[key][name], expected[key][name],
                                              err_msg=name)
        else:
            assert outcome[key] == expected[key], key


class Runner:
    """One runner's command on fixtures in `directory`; `values(run)` are its flags for the
    output directory `directory/run` (export in a directory of its own)."""

    def __init__(self, directory, script, flag_values, files):
        self.directory, self.script, self.files = directory, script, files
        self.flag_values = flag_values

    def values(self, run):
        return dict(self.flag_values, output_dir=str(self.directory / run),
                    export_dir=str(self.directory / f"{run}-serving" / "export"))

    def outcome(self, run):
        assert (self.directory / f"{run}-serving" / "export" / "saved_model.pb").exists()
        return _outcome(self.directory / run, self.files)

    def kill_then_rerun(self, run, kill_at, leaves_temp):
        """Runs the command killed at `kill_at`, then again; returns the final outcome."""
        argv = _argv(self.script, self.values(run))
        killed = _run(argv, kill_at)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        left = _temps(self.directory / run) + _temps(self.directory / f"{run}-serving")
        assert bool(left) == leaves_temp, left  # a temp left: the rerun must remove it
        rerun = _run(argv)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert _temps(self.directory / run) == _temps(self.directory / f"{run}-serving") == []
        return self.outcome(run)


def _uninterrupted(runner):
    done = _run(_argv(runner.script, runner.values("uninterrupted")))
    assert done.returncode == 0, done.stderr[-3000:]
    return runner, runner.outcome("uninterrupted")


def test_killed_at_export_rerun_removes_the_temp_and_rewrites_the_same_results(tmp_path):
    runner = Runner(tmp_path, "run_classifier.py",
                    dict(CLASSIFIER, data_dir=write_toy_task(tmp_path / "data"),
                         **write_tiny_bert(tmp_path / "bert")), CLASSIFIER_FILES)
    out = tmp_path / "out"
    # The demo's layout: the export inside output_dir, so the engine's cleanup at the start
    # of the run removes the killed export's temporary directory.
    values = dict(runner.values("out"), export_dir=str(out / "export"))
    killed = _run(_argv("run_classifier.py", values), "replace:export")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert [os.path.basename(p).split("-")[0] for p in _temps(out)] == [".export.tmp"]
    before = _outcome(out, CLASSIFIER_FILES)  # written before the export was killed
    run_main(run_classifier.main, **values)  # the same command, in this process
    assert _temps(out) == []
    assert (out / "export" / "saved_model.pb").exists()
    _assert_same(_outcome(out, CLASSIFIER_FILES), before)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    directory = tmp_path_factory.mktemp("classifier")
    return _uninterrupted(Runner(
        directory, "run_classifier.py",
        dict(CLASSIFIER, data_dir=write_toy_task(directory / "data"),
             **write_tiny_bert(directory / "bert")),  # dropout on: its masks resume too
        CLASSIFIER_FILES))


# (phase, where the kill hits, whether it leaves a temporary file)
CLASSIFIER_KILLS = [
    ("cache_half_written", "record:20", True),
    ("cache_before_rename", "replace:train.tf_record", True),
    ("training", "train_loop:4", False),  # steps 8-12 done, ckpt-8 the latest
    # ckpt-24's .data in place, its .index not; ckpt-24 is kept to the end, so pruning
    # (which once deleted a dropped checkpoint's temporaries too) cannot hide a leftover.
    ("checkpoint_bundle", "replace:model.ckpt-24.index", True),
    ("checkpoint_state_file", "replace:checkpoint:2", True),  # ckpt-16 whole, not listed
    ("eval_batches", "predict:2", False),
    ("eval_results", "replace:eval_results.txt", True),
    ("predictions", "replace:test_results.tsv", True),
    ("export", "replace:export", True),
]


@pytest.mark.slow
@pytest.mark.parametrize("phase, kill_at, leaves_temp", CLASSIFIER_KILLS,
                         ids=[c[0] for c in CLASSIFIER_KILLS])
def test_classifier_killed_then_rerun_ends_as_uninterrupted(classifier, phase, kill_at,
                                                            leaves_temp):
    runner, expected = classifier
    _assert_same(runner.kill_then_rerun(phase, kill_at, leaves_temp), expected)


@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ner")
    return _uninterrupted(Runner(
        directory, "run_ner.py",
        dict(data_dir=write_toy_ner(directory / "data"), labels=",".join(NER_LABELS),
             max_seq_length=16, doc_stride=6, train_batch_size=8, eval_batch_size=5,
             predict_batch_size=7, learning_rate=3e-3, num_train_epochs=2.0,
             save_checkpoints_steps=8, log_every_n_steps=4, do_train=True, do_eval=True,
             do_predict=True, **write_tiny_bert(directory / "bert")),
        ("eval_results.txt", "test_predictions.txt", "test_entities.jsonl")))


@pytest.fixture(scope="module")
def squad(tmp_path_factory):
    directory = tmp_path_factory.mktemp("squad")
    return _uninterrupted(Runner(
        directory, "run_squad.py",
        dict(train_file=write_toy_squad(directory / "train.json", n_paragraphs=40,
                                        version_2=True),
             predict_file=write_toy_squad(directory / "dev.json", n_paragraphs=12,
                                          version_2=True, seed=1),
             version_2_with_negative=True, max_seq_length=16, doc_stride=4,
             max_query_length=4, train_batch_size=8, predict_batch_size=5,
             learning_rate=3e-3, num_train_epochs=4.0, save_checkpoints_steps=8,
             log_every_n_steps=4, n_best_size=5, max_answer_length=3, do_train=True,
             do_predict=True, do_eval=True, **write_tiny_bert(directory / "bert")),
        ("predictions.json", "nbest_predictions.json", "null_odds.json",
         "eval_results.json")))


@pytest.mark.slow
@pytest.mark.parametrize("runner_name, phase, kill_at, leaves_temp", [
    ("ner", "training", "train_loop:4", False),
    ("ner", "predictions", "replace:test_predictions.txt", True),
    ("squad", "training", "train_loop:4", False),
    ("squad", "predictions", "replace:nbest_predictions.json", True),
])
def test_ner_and_squad_killed_then_rerun_end_as_uninterrupted(request, runner_name, phase,
                                                              kill_at, leaves_temp):
    runner, expected = request.getfixturevalue(runner_name)
    _assert_same(runner.kill_then_rerun(phase, kill_at, leaves_temp), expected)
