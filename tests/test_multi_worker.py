"""multi_worker_mirrored with real processes: workers on 127.0.0.1 ports, each with its own
TF_CONFIG, CPU collectives (gRPC rings), started by tests/multi_worker.py.

A cluster trains to the weights and eval metrics of one process with the same global batch
(no dropout: its masks depend on the replica); only the chief writes output_dir; a killed
worker stops the others with a line that names it, and the same command on every worker
resumes; SIGTERM to one worker makes all of them checkpoint and stop, and the restart loses
no step; a bad TF_CONFIG is one line, and a missing peer stops the wait at
--worker_timeout_secs.
"""

import json
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.outputs.glue import read_eval_results
from tests.multi_worker import ENV, free_ports, run_alone, run_cluster, tf_config
from tests.runner_fixtures import (NER_LABELS, write_tiny_bert, write_toy_ner,
                                   write_toy_pretraining_records, write_toy_task)

# 64 examples, global batch 8 (or 6 on three workers): 8 (10) steps; a loop call and a
# checkpoint every 2 steps.
CLASSIFIER = dict(task_name="custom", text_a_column="sentence", label_column="label",
                  max_seq_length=16, train_batch_size=8, eval_batch_size=6,
                  predict_batch_size=6, learning_rate=1e-3, num_train_epochs=1.0,
                  classifier_dropout=0.0, save_checkpoints_steps=2, log_every_n_steps=2,
                  keep_checkpoint_max=10, do_train=True, do_eval=True, do_predict=True)
WATCHED = ("bert/encoder/layer_1/output/dense/kernel", "bert/pooler/dense/kernel")
# Worker 0 is the chief; a worker silent this long is lost (tests: quick).
TIMEOUT = dict(distribution_strategy="multi_worker_mirrored", worker_timeout_secs=20)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    work = tmp_path_factory.mktemp("multi_worker")
    return dict(write_tiny_bert(work / "bert", dropout=0.0), data_dir=write_toy_task(
        work / "data"))


def _weights(out, names=WATCHED):
    reader = tf.train.load_checkpoint(str(out))
    return {name: reader.get_tensor(name) for name in names}


def _files(out):
    """output_dir's files, run-specific names (paths, temporaries) aside."""
    return sorted(str(p.relative_to(out)) for p in pathlib.Path(out).rglob("*")
                  if p.is_file() and "events.out" not in p.name)


def _assert_ok(results):
    for i, result in enumerate(results):
        assert result.returncode == 0, f"worker {i}:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def reference(toy, tmp_path_factory):
    """The classifier trained by one process and by two workers, same flags."""
    work = tmp_path_factory.mktemp("reference")
    alone = run_alone("run_classifier.py", dict(CLASSIFIER, **toy, output_dir=work / "alone",
                                                export_dir=work / "alone-export"))
    assert alone.returncode == 0, alone.stderr[-3000:]
    cluster = run_cluster("run_classifier.py", dict(CLASSIFIER, **toy, **TIMEOUT,
                                                    output_dir=work / "cluster",
                                                    export_dir=work / "cluster-export"), work)
    _assert_ok(cluster)
    return work, cluster


def test_two_workers_train_as_one_process(reference):
    work, cluster = reference
    alone, together = read_eval_results(work / "alone" / "eval_results.txt"), \
        read_eval_results(work / "cluster" / "eval_results.txt")
    assert together["global_step"] == alone["global_step"] == 8
    assert together["eval_loss"] == pytest.approx(alone["eval_loss"], rel=1e-5)
    assert together["eval_accuracy"] == alone["eval_accuracy"]
    for name, value in _weights(work / "alone").items():
        np.testing.assert_allclose(_weights(work / "cluster")[name], value, atol=1e-5)
    np.testing.assert_allclose(
        np.loadtxt(work / "cluster" / "test_results.tsv"),
        np.loadtxt(work / "alone" / "test_results.tsv"), atol=1e-5)
    assert "2 replicas" in cluster[0].stderr and "2 replicas" in cluster[1].stderr


def test_only_the_chief_writes_output_dir(reference):
    work, cluster = reference
    # The same files as one process writes, once: the chief's.
    assert _files(work / "cluster") == _files(work / "alone")
    assert _files(work / "cluster-export") == _files(work / "alone-export")
    assert "(the chief)" in cluster[0].stderr
    scratch = re.search(r"worker 1 \(127\.0\.0\.1:\d+\) writes into (\S+) \(removed at exit\)",
                        cluster[1].stderr)
    assert scratch and scratch.group(1).startswith(str(work / "tmp-1"))
    # Worker 1 saved its checkpoint copies there and ran the whole job, export included; the
    # directory is gone now.
    assert not any((work / "tmp-1").iterdir())
    assert not any((work / "tmp-0").iterdir())
    # Nothing of worker 1 in the TensorBoard logs: one event file per directory.
    for name in ("train", "eval"):
        assert len(list((work / "cluster" / name).glob("events.out*"))) == 1


def test_the_export_of_a_cluster_serves_as_one_process(reference):
    work, _ = reference
    features = {"input_ids": tf.constant([[2, 5, 6, 3] + [0] * 12]),
                "input_mask": tf.constant([[1] * 4 + [0] * 12]),
                "segment_ids": tf.zeros([1, 16], tf.int32)}
    served = [tf.saved_model.load(str(work / d)).signatures["serving_default"](**{
        k: tf.cast(v, tf.int32) for k, v in features.items()})["probabilities"].numpy()
        for d in ("alone-export", "cluster-export")]
    np.testing.assert_allclose(served[1], served[0], atol=1e-5)


def _same_training(work, runner, flag_values, watched, num_workers=2, results="eval_results.txt"):
    """Trains with one process and with `num_workers` workers; returns both eval results
    after checking the watched weights agree."""
    alone = run_alone(runner, dict(flag_values, output_dir=work / "alone"))
    assert alone.returncode == 0, alone.stderr[-3000:]
    cluster = run_cluster(runner, dict(flag_values, **TIMEOUT, output_dir=work / "cluster"),
                          work, num_workers=num_workers)
    _assert_ok(cluster)
    assert all(f"{num_workers} replicas" in r.stderr for r in cluster)
    for name, value in _weights(work / "alone", watched).items():
        np.testing.assert_allclose(_weights(work / "cluster", watched)[name], value, atol=1e-5)
    assert _files(work / "cluster") == _files(work / "alone")
    return (read_eval_results(work / "alone" / results),
            read_eval_results(work / "cluster" / results))


@pytest.mark.slow
def test_three_workers_train_as_one_process(toy, tmp_path):
    alone, together = _same_training(
        tmp_path, "run_classifier.py", dict(CLASSIFIER, **toy, train_batch_size=6,
                                            do_predict=False), WATCHED, num_workers=3)
    assert together["global_step"] == alone["global_step"] == 10
    assert together["eval_loss"] == pytest.approx(alone["eval_loss"], rel=1e-5)


@pytest.mark.slow
def test_two_workers_train_ner_with_crf_as_one_process(tmp_path):
    flag_values = dict(write_tiny_bert(tmp_path / "bert", dropout=0.0),
                       data_dir=write_toy_ner(tmp_path / "data", n_train=64),
                       labels=",".join(NER_LABELS), use_crf=True, doc_stride=6,
                       max_seq_length=16, train_batch_size=8, eval_batch_size=6,
                       learning_rate=1e-3, num_train_epochs=1.0, classifier_dropout=0.0,
                       do_train=True, do_eval=True)
    alone, together = _same_training(tmp_path, "run_ner.py", flag_values,
                                     WATCHED[:1] + ("crf/transitions",))
    assert together["global_step"] == alone["global_step"] == 8
    assert together["eval_loss"] == pytest.approx(alone["eval_loss"], rel=1e-5)
    assert together["eval_f1"] == alone["eval_f1"]


def test_two_workers_pretrain_as_one_process(tmp_path):
    model = write_tiny_bert(tmp_path / "bert", dropout=0.0)
    flag_values = dict(input_file=write_toy_pretraining_records(tmp_path / "data"),
                       bert_config_file=model["bert_config_file"],
                       init_checkpoint=model["init_checkpoint"], max_seq_length=16,
                       max_predictions_per_seq=3, train_batch_size=8, eval_batch_size=4,
                       max_eval_steps=5, num_train_steps=6, num_warmup_steps=2,
                       learning_rate=2e-3, save_checkpoints_steps=3, log_every_n_steps=3,
                       do_train=True, do_eval=True)
    alone, together = _same_training(tmp_path, "run_pretraining.py", flag_values,
                                     WATCHED[:1] + ("cls/predictions/output_bias",))
    for key in ("masked_lm_loss", "next_sentence_loss", "masked_lm_accuracy"):
        assert together[key] == pytest.approx(alone[key], rel=1e-5), key


def _resumed_from(stderr):
    """The optimizer step the first training-loop call of a run starts at (kill_at's line)."""
    return int(re.search(r"training loop call 1 starts at optimizer step (\d+)", stderr)[1])


def test_a_killed_worker_stops_the_others_and_the_job_resumes(toy, reference, tmp_path):
    uninterrupted, _ = reference
    ports = free_ports(2)
    flag_values = dict(CLASSIFIER, **toy, **TIMEOUT, output_dir=tmp_path / "out",
                       export_dir=tmp_path / "export")
    # Worker 1 dies (SIGKILL) before its 3rd loop call: step 4 is saved, steps 5-6 are not.
    chief, killed = run_cluster("run_classifier.py", flag_values, tmp_path, ports=ports,
                                kill_at={1: "train_loop:3"}, timeout=180)
    assert killed.returncode == -9
    assert chief.returncode == 1, chief.stderr[-3000:]
    last = chief.stderr.strip().splitlines()[-1]
    assert last == (f"run_classifier.py: error: worker 1 (127.0.0.1:{ports[1]}) of the "
                    "cluster was lost (it stopped answering: killed, crashed or its machine "
                    f"went down); worker 0 (127.0.0.1:{ports[0]}) stopped too; "
                    f"{tmp_path / 'out'} holds model.ckpt-4 (intact): the same command "
                    "resumes from step 4"), last
    # Bounded: the heartbeat timeout (20 s here) plus start-up, not a hang.
    assert chief.seconds < 120
    # The same command on every worker resumes from step 4 and ends as if never stopped.
    again = run_cluster("run_classifier.py", flag_values, tmp_path / "again", timeout=300)
    _assert_ok(again)
    assert [_resumed_from(r.stderr) for r in again] == [4, 4]
    for name, value in _weights(uninterrupted / "cluster").items():
        np.testing.assert_allclose(_weights(tmp_path / "out")[name], value, atol=1e-6)
    assert (tmp_path / "out" / "eval_results.txt").read_text() == \
        (uninterrupted / "cluster" / "eval_results.txt").read_text()


def test_sigterm_to_one_worker_checkpoints_and_the_restart_loses_no_step(toy, reference,
                                                                        tmp_path):
    uninterrupted, _ = reference
    flag_values = dict(CLASSIFIER, **toy, **TIMEOUT, output_dir=tmp_path / "out",
                       save_checkpoints_steps=4)
    # SIGTERM to worker 1 before its 3rd loop call (steps 5-6): the call still runs, then
    # both workers agree to stop, and step 6 (no regular save: they come every 4) is saved.
    results = run_cluster("run_classifier.py", flag_values, tmp_path,
                          kill_at={1: "train_loop:3"}, signal_name="TERM", timeout=180)
    for result, who in zip(results, ("SIGTERM to another worker", "SIGTERM")):
        assert result.returncode == 143, result.stderr[-3000:]
        assert result.stderr.strip().splitlines()[-1] == (
            f"run_classifier.py: stopped by {who} (a preemption notice) at step 6 of 8: "
            f"saved {tmp_path / 'out' / 'model.ckpt-6'}; the same command resumes from step 6")
    assert tf.train.latest_checkpoint(str(tmp_path / "out")).endswith("model.ckpt-6")
    again = run_cluster("run_classifier.py", flag_values, tmp_path / "again", timeout=300)
    _assert_ok(again)
    assert [_resumed_from(r.stderr) for r in again] == [6, 6]
    for name, value in _weights(uninterrupted / "cluster").items():
        np.testing.assert_allclose(_weights(tmp_path / "out")[name], value, atol=1e-6)


def test_sigterm_to_one_process_checkpoints_before_it_exits(toy, reference, tmp_path):
    uninterrupted, _ = reference
    flag_values = dict(CLASSIFIER, **toy, output_dir=tmp_path / "out", save_checkpoints_steps=4)
    stopped = run_alone("run_classifier.py", flag_values,
                        env_extra=dict(BERT_TF_KILL_AT="train_loop:3", BERT_TF_KILL_SIGNAL="TERM"))
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "stopped by SIGTERM (a preemption notice) at step 6 of 8" in stopped.stderr
    again = run_alone("run_classifier.py", flag_values)
    assert again.returncode == 0 and _resumed_from(again.stderr) == 6
    for name, value in _weights(uninterrupted / "alone").items():
        np.testing.assert_allclose(_weights(tmp_path / "out")[name], value, atol=1e-6)


# Every case of read_tf_config is in test_training_cluster.py; here, the runner's line.
@pytest.mark.parametrize("config, expected", [
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": ', "not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "evaluator", "index": 0}}',
     'task type "evaluator" is not one multi_worker_mirrored trains with'),
])
def test_a_bad_tf_config_is_one_line(toy, tmp_path, config, expected):
    result = run_alone("run_classifier.py", dict(CLASSIFIER, **toy, **TIMEOUT,
                                                 output_dir=tmp_path / "out"),
                       env_extra=dict(TF_CONFIG=config))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("run_classifier.py: error: TF_CONFIG: ") and expected in last, last
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # checked before anything is written


@pytest.mark.parametrize("present", [0, 1])
def test_a_peer_that_never_starts_stops_the_wait_at_the_timeout(toy, tmp_path, present):
    ports = free_ports(2)
    [result] = run_cluster("run_classifier.py", dict(
        CLASSIFIER, **toy, distribution_strategy="multi_worker_mirrored",
        worker_timeout_secs=5, output_dir=tmp_path / "out"), tmp_path, ports=ports,
        start=[present], timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    absent = f"worker {1 - present} (127.0.0.1:{ports[1 - present]})"
    expected = (f"{absent} did not join the cluster within --worker_timeout_secs=5"
                if present == 0 else f"could not join the cluster of the chief, {absent}, "
                "within --worker_timeout_secs=5")
    assert last.startswith("run_classifier.py: error: TF_CONFIG: ") and expected in last, last
    assert result.seconds < 60


@pytest.mark.slow
def test_a_killed_chief_is_named_by_the_other_worker(toy, tmp_path):
    ports = free_ports(2)
    killed, survivor = run_cluster("run_classifier.py", dict(
        CLASSIFIER, **toy, **TIMEOUT, output_dir=tmp_path / "out"), tmp_path, ports=ports,
        kill_at={0: "train_loop:3"}, timeout=180)
    assert killed.returncode == -9 and survivor.returncode == 1, survivor.stderr[-3000:]
    last = survivor.stderr.strip().splitlines()[-1]
    assert last.startswith(f"run_classifier.py: error: worker 0 (127.0.0.1:{ports[0]}) of the "
                           "cluster was lost"), last
    assert last.endswith("holds model.ckpt-4 (intact): the same command resumes from step 4")
