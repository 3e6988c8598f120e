"""What survives a kill: a runner SIGKILLed at one phase (tests/kill_at.py says where), then
run again with the same command, ends exactly as a run never interrupted (same eval results,
predictions and final checkpoint) and leaves no temporary file behind. Killed in training,
the rerun also has to show that it resumed rather than started over (training from step 0
from a deterministic start ends with the same weights too): it trains only the steps after
the checkpoint, its optimizer counts on from there, and it logs the uninterrupted run's loss
and learning rate at each of those steps.

The README's "What survives a kill" lists the matrix. The default suite runs the kill at the
export (the largest temporary) and in training for each runner; the rest is marked slow
(`make test-slow`).
"""

import os
import pathlib
import re
import signal
import subprocess
import sys
from typing import Dict, NamedTuple

import numpy as np
import pytest
import tensorflow as tf

import run_classifier
from tests.conftest import run_main
from tests.runner_fixtures import (NER_LABELS, write_tiny_bert, write_toy_ner,
                                   write_toy_pretraining_records, write_toy_squad,
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


def _run(argv, kill_at=None, signal_name="KILL"):
    """Runs `argv`, killed at `kill_at` by the signal `signal_name` (see tests/kill_at.py)."""
    env = dict(ENV, BERT_TF_KILL_AT=kill_at, BERT_TF_KILL_SIGNAL=signal_name) if kill_at \
        else ENV
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


def _event_files(out):
    return set((pathlib.Path(out) / "train").glob("events.out.tfevents.*"))


def _scalars(paths):
    """tag -> {step: value} of the TensorBoard scalars in the event files `paths`."""
    scalars = {}
    for path in sorted(paths):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = float(
                    tf.make_ndarray(value.tensor))
    return scalars


TRAINING_LINE = re.compile(r"\*{5} Training: steps (\d+) to (\d+),")
PROGRESS_LINE = re.compile(r"\] step (\d+)/\d+ \(")
LOOP_LINE = re.compile(r"^kill_at: training loop call \d+ starts at optimizer step (\d+)$", re.M)


def _assert_resumed(log, scalars, out, step, expected):
    """Asserts that a rerun on output_dir `out`, which logged `log` (its stderr) and wrote the
    TensorBoard training scalars `scalars`, resumed from the checkpoint of `step`.

    It restored model.ckpt-<step>, trained the steps after it and no others, its optimizer
    counted on from `step` (kill_at.py reports its iterations before each training-loop
    call), and at each step it logged the values `expected` holds (tag -> {step: value}, e.g.
    an uninterrupted run's scalars; its `learning_rate` names every logged step).
    """
    logged = sorted(expected["learning_rate"])
    later = [s for s in logged if s > step]
    assert f"Restoring {out}/model.ckpt-{step}" in log
    assert TRAINING_LINE.findall(log) == [(str(step), str(logged[-1]))]
    assert [int(s) for s in PROGRESS_LINE.findall(log)] == later
    # Each training-loop call runs the steps up to the next logged one.
    assert [int(s) for s in LOOP_LINE.findall(log)] == [step] + later[:-1]
    for tag, values in expected.items():
        assert scalars.get(tag) == {s: values[s] for s in later}, tag


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
    output directory `directory/run` (with `export`, the export in a directory of its own)."""

    def __init__(self, directory, script, flag_values, files, export=True):
        self.directory, self.script, self.files = directory, script, files
        self.flag_values, self.export = flag_values, export

    def values(self, run):
        values = dict(self.flag_values, output_dir=str(self.directory / run))
        if self.export:
            values["export_dir"] = str(self.directory / f"{run}-serving" / "export")
        return values

    def outcome(self, run):
        if self.export:
            assert (self.directory / f"{run}-serving" / "export" / "saved_model.pb").exists()
        return _outcome(self.directory / run, self.files)

    def kill_then_rerun(self, run, kill_at, leaves_temp):
        """Runs the command killed at `kill_at`, then again; returns the `Rerun`."""
        argv = _argv(self.script, self.values(run))
        killed = _run(argv, kill_at)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        left = _temps(self.directory / run) + _temps(self.directory / f"{run}-serving")
        assert bool(left) == leaves_temp, left  # a temp left: the rerun must remove it
        killed_events = _event_files(self.directory / run)
        rerun = _run(argv)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert _temps(self.directory / run) == _temps(self.directory / f"{run}-serving") == []
        return Rerun(self.outcome(run), rerun.stderr,
                     _scalars(_event_files(self.directory / run) - killed_events))


class Rerun(NamedTuple):
    """What the rerun after a kill ended with and what its own process logged."""
    outcome: dict  # see _outcome
    log: str  # its stderr
    scalars: Dict[str, Dict[int, float]]  # the TensorBoard training scalars it wrote


class Uninterrupted(NamedTuple):
    runner: Runner
    outcome: dict
    scalars: Dict[str, Dict[int, float]]  # its loss and learning rate at each logged step


def _uninterrupted(runner):
    done = _run(_argv(runner.script, runner.values("uninterrupted")))
    assert done.returncode == 0, done.stderr[-3000:]
    scalars = _scalars(_event_files(runner.directory / "uninterrupted"))
    return Uninterrupted(runner, runner.outcome("uninterrupted"),
                         {tag: scalars[tag] for tag in ("loss", "learning_rate")})


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
    runner, expected, _ = classifier
    _assert_same(runner.kill_then_rerun(phase, kill_at, leaves_temp).outcome, expected)


# NER and SQuAD without the export: the export's kill is the classifier's (the engine's code,
# the same for every runner), test_run_ner/test_run_squad export; it would add about 10 s to
# each of their runs in the default suite.
@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ner")
    return _uninterrupted(Runner(
        directory, "run_ner.py",
        dict(data_dir=write_toy_ner(directory / "data"), labels=",".join(NER_LABELS),
             max_seq_length=16, doc_stride=6, train_batch_size=8, eval_batch_size=5,
             predict_batch_size=7, learning_rate=3e-3, num_train_epochs=2.0,
             save_checkpoints_steps=8, log_every_n_steps=4, use_crf=True, do_train=True,
             do_eval=True, do_predict=True, **write_tiny_bert(directory / "bert")),
        ("eval_results.txt", "test_predictions.txt", "test_entities.jsonl"), export=False))


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
         "eval_results.json"), export=False))


@pytest.fixture(scope="module")
def pretraining(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pretraining")
    model = write_tiny_bert(directory / "bert")  # dropout on: its masks resume too
    return _uninterrupted(Runner(
        directory, "run_pretraining.py",
        dict(input_file=write_toy_pretraining_records(directory / "data", num_files=2),
             bert_config_file=model["bert_config_file"],
             init_checkpoint=model["init_checkpoint"], max_seq_length=16,
             max_predictions_per_seq=3, train_batch_size=8, eval_batch_size=4,
             max_eval_steps=3, num_train_steps=24, num_warmup_steps=2, learning_rate=2e-3,
             save_checkpoints_steps=8, log_every_n_steps=4, do_train=True, do_eval=True),
        ("eval_results.txt",), export=False))


@pytest.mark.slow
@pytest.mark.parametrize("runner_name, phase, kill_at, leaves_temp", [
    ("ner", "predictions", "replace:test_predictions.txt", True),
    ("squad", "predictions", "replace:nbest_predictions.json", True),
])
def test_ner_and_squad_killed_then_rerun_end_as_uninterrupted(request, runner_name, phase,
                                                              kill_at, leaves_temp):
    runner, expected, _ = request.getfixturevalue(runner_name)
    _assert_same(runner.kill_then_rerun(phase, kill_at, leaves_temp).outcome, expected)


@pytest.mark.parametrize("runner_name", ["classifier", "ner", "squad", "pretraining"])
def test_killed_in_training_the_rerun_resumes_and_ends_as_uninterrupted(request, runner_name):
    runner, expected, expected_scalars = request.getfixturevalue(runner_name)
    # Before the 4th training-loop call: steps 1-12 done, model.ckpt-8 the latest.
    rerun = runner.kill_then_rerun("training", "train_loop:4", leaves_temp=False)
    _assert_resumed(rerun.log, rerun.scalars, runner.directory / "training", 8,
                    expected_scalars)
    _assert_same(rerun.outcome, expected)
