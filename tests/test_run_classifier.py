import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from sklearn.metrics import accuracy_score, f1_score

import run_classifier
from bert_tf.errors import InputError
from bert_tf.outputs.glue import read_eval_results
from tests.conftest import run_main
from tests.runner_fixtures import write_tiny_bert, write_toy_task

TOY_FLAGS = dict(task_name="custom", text_a_column="sentence", label_column="label",
                 max_seq_length=16, train_batch_size=8, eval_batch_size=5,
                 predict_batch_size=7, learning_rate=2e-3, num_train_epochs=6.0,
                 save_checkpoints_steps=16, log_every_n_steps=8)


def _read_tsv_probabilities(path):
    return np.array([[float(x) for x in line.split("\t")]
                     for line in open(path).read().splitlines()])


def test_trains_evaluates_predicts_and_metrics_agree_with_sklearn(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data")
    out = tmp_path / "out"
    run_main(run_classifier.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             do_eval=True, **model, **TOY_FLAGS)
    results = read_eval_results(out / "eval_results.txt")
    assert results["global_step"] == int(64 / 8 * 6.0)
    assert sorted(results) == ["eval_accuracy", "eval_loss", "eval_macro_f1", "global_step",
                               "loss"]
    assert results["eval_accuracy"] > 0.9, results  # learnable: the keyword decides
    # Checkpoints at steps 16, 32, 48 (all kept: fewer than --keep_checkpoint_max) and
    # TensorBoard event files for training and evaluation.
    assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-48")
    assert (out / "model.ckpt-16.index").exists()
    assert list((out / "train").glob("events.out.tfevents.*"))
    assert list((out / "eval").glob("events.out.tfevents.*"))
    run_config = json.loads((out / "run_config.json").read_text())
    assert run_config["settings"]["labels"] == ["neg", "pos"]  # inferred, sorted

    # --do_predict alone on the trained output_dir: no model or task flags repeated. The dev
    # file as test file, so the metrics can be recomputed from test_results.tsv.
    run_main(run_classifier.main, output_dir=str(out), do_predict=True,
             test_file=os.path.join(data_dir, "dev.tsv"))
    probabilities = _read_tsv_probabilities(out / "test_results.tsv")
    assert probabilities.shape == (24, 2)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    truth = [1 if line.endswith("pos") else 0
             for line in open(os.path.join(data_dir, "dev.tsv")).read().splitlines()[1:]]
    predicted = probabilities.argmax(1)
    assert results["eval_accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert results["eval_macro_f1"] == pytest.approx(f1_score(truth, predicted,
                                                              average="macro"))
    submission = (out / "submission" / "test_predictions.tsv").read_text().splitlines()
    assert submission[0] == "index\tprediction" and len(submission) == 25
    assert [row.split("\t")[1] for row in submission[1:]] == [
        ["neg", "pos"][p] for p in predicted]


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}


def test_mirrored_over_two_devices_equals_one_device(tmp_path):
    result = subprocess.run([sys.executable, "tests/distributed_check.py", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.split("RESULT ", 1)[1])
    mirrored, single = report["mirrored"], report["one_device"]
    assert mirrored["replicas"] == 2 and single["replicas"] == 1
    assert mirrored["eval"]["global_step"] == single["eval"]["global_step"] == 8
    assert mirrored["eval"]["eval_loss"] == pytest.approx(single["eval"]["eval_loss"],
                                                          rel=1e-5)
    np.testing.assert_allclose(mirrored["kernel"], single["kernel"], atol=1e-5)
    np.testing.assert_allclose(mirrored["head"], single["head"], atol=1e-5)


def test_export_in_a_fresh_process_matches_predict(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=16)
    out, export = tmp_path / "out", tmp_path / "export"
    run_main(run_classifier.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             do_predict=True, export_dir=str(export), **model,
             **dict(TOY_FLAGS, num_train_epochs=1.0))
    expected = _read_tsv_probabilities(out / "test_results.tsv")
    # The features the runner cached, read back with plain TensorFlow in the child.
    script = f"""
import json, numpy as np, tensorflow as tf
spec = {{k: tf.io.FixedLenFeature([16], tf.int64) for k in
        ("input_ids", "input_mask", "segment_ids")}}
rows = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(
    {str(out / "test.tf_record")!r})]
inputs = {{k: tf.cast(tf.stack([r[k] for r in rows]), tf.int32) for k in spec}}
serve = tf.saved_model.load({str(export)!r}).signatures["serving_default"]
print("RESULT", json.dumps(serve(**inputs)["probabilities"].numpy().tolist()))
"""
    # Outside the repository: the SavedModel needs no project code.
    result = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.array(json.loads(result.stdout.split("RESULT ", 1)[1]))
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_feature_cache_is_reused_and_rebuilt_on_change(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=16)
    out = tmp_path / "out"
    common = dict(data_dir=data_dir, output_dir=str(out), do_eval=True, **model,
                  **dict(TOY_FLAGS, num_train_epochs=1.0))
    run_main(run_classifier.main, do_train=True, **common)
    record = out / "dev.tf_record"
    first = record.stat().st_mtime_ns
    run_main(run_classifier.main, **common)
    assert record.stat().st_mtime_ns == first  # unchanged inputs: reused
    dev = pathlib.Path(data_dir) / "dev.tsv"
    dev.write_text(dev.read_text().replace("hello", "hello hello", 1))
    run_main(run_classifier.main, **common)
    assert record.stat().st_mtime_ns != first  # the dev file changed: rebuilt


@pytest.mark.parametrize("case, error, message", [
    ("no_do_flag", flags.ValidationError, "At least one of `do_train`, `do_eval`"),
    ("long_sequence", flags.ValidationError,
     "--max_seq_length=64 is longer than the model's max_position_embeddings (16"),
    ("missing_file", InputError, "train.tsv"),
    ("wrong_columns", InputError, "train.tsv:3:"),
    ("unknown_dev_label", InputError, "dev.tsv:2:"),
])
def test_bad_input_is_a_clear_error_and_leaves_no_partial_output(tmp_path, case, error,
                                                                 message):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = pathlib.Path(write_toy_task(tmp_path / "data", n_train=16))
    values = dict(TOY_FLAGS, data_dir=str(data_dir), output_dir=str(tmp_path / "out"),
                  do_train=True, do_eval=True, num_train_epochs=1.0, **model)
    if case == "no_do_flag":
        values.update(do_train=False, do_eval=False)
    elif case == "long_sequence":
        values["max_seq_length"] = 64
    elif case == "missing_file":
        (data_dir / "train.tsv").unlink()
    elif case == "wrong_columns":
        train = data_dir / "train.tsv"
        lines = train.read_text().splitlines()
        lines[2] += "\textra"
        train.write_text("\n".join(lines) + "\n")
    elif case == "unknown_dev_label":
        dev = data_dir / "dev.tsv"
        lines = dev.read_text().splitlines()
        lines[1] = lines[1].rsplit("\t", 1)[0] + "\tmaybe"
        dev.write_text("\n".join(lines) + "\n")
    with pytest.raises(error) as e:
        run_main(run_classifier.main, **values)
    assert message in str(e.value)
    out = tmp_path / "out"
    left = sorted(os.listdir(out)) if out.exists() else []
    assert not [f for f in left if ".tmp" in f or f.startswith(("eval_results", "test_"))]


def test_command_line_errors_are_one_line(tmp_path):
    result = subprocess.run([sys.executable, "run_classifier.py", "--task_name=mrpc",
                             f"--output_dir={tmp_path / 'out'}", f"--data_dir={tmp_path}"],
                            cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("run_classifier.py: error: "
                                                             "At least one of `do_train`")
    assert "Traceback" not in result.stderr


def test_nan_loss_stops_with_a_clear_message_keeping_the_last_checkpoint(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=64)
    out = tmp_path / "out"
    from bert_tf.errors import TrainingDiverged
    with pytest.raises(TrainingDiverged, match=r"training loss became (nan|inf) at step \d+; "
                                               r"stopped\. The last good checkpoint is"):
        run_main(run_classifier.main, data_dir=data_dir, output_dir=str(out), do_train=True,
                 **model, **dict(TOY_FLAGS, learning_rate=1e38, save_checkpoints_steps=1,
                                 log_every_n_steps=1, warmup_proportion=0.0))
    latest = tf.train.latest_checkpoint(str(out))
    assert latest is not None
    reader = tf.train.load_checkpoint(latest)
    assert all(np.all(np.isfinite(reader.get_tensor(n)))
               for n in reader.get_variable_to_shape_map() if n != "global_step")


GLUE_DATA = pathlib.Path(ROOT) / "tests" / "data" / "glue"


def test_mnli_evaluates_both_dev_sets_and_predicts_every_test_set(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    out = tmp_path / "out"
    run_main(run_classifier.main, data_dir=str(GLUE_DATA / "MNLI"),
             output_dir=str(out), do_train=True, do_eval=True, do_predict=True,
             **model, **dict(TOY_FLAGS, task_name="MNLI", train_batch_size=2,
                             num_train_epochs=1.0))
    results = read_eval_results(out / "eval_results.txt")
    assert {"eval_accuracy", "eval_loss", "eval_mismatched_accuracy",
            "eval_mismatched_loss", "global_step", "loss"} <= set(results)
    for name, glue_file in (("test_results.tsv", "MNLI-m.tsv"),
                            ("test_results_mismatched.tsv", "MNLI-mm.tsv"),
                            ("test_results_ax.tsv", "AX.tsv")):
        probabilities = _read_tsv_probabilities(out / name)
        assert probabilities.shape[1] == 3
        rows = (out / "submission" / glue_file).read_text().splitlines()
        assert len(rows) == len(probabilities) + 1
        assert {r.split("\t")[1] for r in rows[1:]} <= {"contradiction", "entailment",
                                                        "neutral"}


def test_stsb_is_regression_with_correlations(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    out = tmp_path / "out"
    run_main(run_classifier.main, data_dir=str(GLUE_DATA / "STS-B"), output_dir=str(out),
             do_train=True, do_eval=True, do_predict=True,
             **model, **dict(TOY_FLAGS, task_name="STS-B", train_batch_size=2,
                             num_train_epochs=1.0))
    results = read_eval_results(out / "eval_results.txt")
    assert {"eval_pearson", "eval_spearman", "eval_loss"} <= set(results)
    assert "eval_accuracy" not in results
    scores = (out / "test_results.tsv").read_text().splitlines()
    assert all(len(line.split("\t")) == 1 for line in scores)
    rows = (out / "submission" / "STS-B.tsv").read_text().splitlines()
    assert len(rows) == len(scores) + 1


def test_demo_flagfile_runs_and_learns(tmp_path):
    """`make demo` runs configs/demo_sst2.flags; here with outputs in a temporary directory."""
    argv = [sys.executable, "run_classifier.py", "--flagfile=configs/demo_sst2.flags",
            f"--output_dir={tmp_path / 'demo'}", f"--export_dir={tmp_path / 'demo' / 'export'}"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=ENV,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = read_eval_results(tmp_path / "demo" / "eval_results.txt")
    assert results["global_step"] == 400 and results["eval_accuracy"] > 0.85
    assert len((tmp_path / "demo" / "submission" / "SST-2.tsv").read_text().splitlines()) == 121
    assert (tmp_path / "demo" / "export" / "saved_model.pb").exists()
