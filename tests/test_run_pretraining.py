"""run_pretraining.py end to end on a tiny BERT and records made by create_pretraining_data:
the masked-LM loss falls, eval_results.txt equals a NumPy computation from the model's own
logits, the checkpoints fine-tune with run_classifier.py, the original's records train, and
mistakes get one line before anything is written."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import run_classifier
import run_pretraining
from bert_tf.config import BertConfig
from bert_tf.data.pretraining_records import training_records
from bert_tf.errors import InputError
from bert_tf.pretraining_model import (MASKED_LM_LOGITS, NEXT_SENTENCE_LOGITS,
                                       BertPretrainingModel)
from bert_tf.weights.checkpoints import load_checkpoint, save_checkpoint
from tests.conftest import random_original_weights, run_main
from tests.reference import original_names
from tests.reference.tf1_checkpoint import write_tf1_checkpoint
from tests.runner_fixtures import (TINY_16, write_tiny_bert, write_toy_pretraining_records,
                                   write_toy_task)

NO_DROPOUT = dict(TINY_16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
ROOT = pathlib.Path(__file__).resolve().parents[1]
GOLDENS = ROOT / "tests" / "data" / "pretraining"
FLAGS = dict(max_seq_length=16, max_predictions_per_seq=3, train_batch_size=8,
             eval_batch_size=4, max_eval_steps=5, num_warmup_steps=4, learning_rate=2e-3,
             save_checkpoints_steps=150, log_every_n_steps=50, iterations_per_loop=50)
STEPS = 300


def _results(path):
    values = {}
    for line in pathlib.Path(path).read_text().splitlines():
        key, value = line.split(" = ")
        values[key] = float(value)
    return values


def _fresh_checkpoint(prefix):
    """A newly initialized model (BERT's 0.02 init; write_tiny_bert's weights are larger
    random values, which a few hundred steps do not untangle)."""
    tf_keras.utils.set_random_seed(0)
    model = BertPretrainingModel(BertConfig(**NO_DROPOUT)).build_with_dummy_inputs()
    return save_checkpoint(model, prefix)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A new tiny BERT evaluated as initialized, then pretrained 300 steps and evaluated."""
    directory = tmp_path_factory.mktemp("pretraining")
    model = write_tiny_bert(directory / "bert", dropout=0.0)
    model["init_checkpoint"] = _fresh_checkpoint(str(directory / "new" / "model.ckpt-0"))
    records = write_toy_pretraining_records(directory / "data")
    common = dict(FLAGS, input_file=records, bert_config_file=model["bert_config_file"],
                  init_checkpoint=model["init_checkpoint"])
    run_main(run_pretraining.main, do_eval=True, output_dir=str(directory / "before"),
             **common)
    run_main(run_pretraining.main, do_train=True, do_eval=True, num_train_steps=STEPS,
             vocab_file=model["vocab_file"], output_dir=str(directory / "out"), **common)
    return directory, model, records


def test_further_pretraining_lowers_the_masked_lm_loss(pretrained):
    directory, _, _ = pretrained
    before = _results(directory / "before" / "eval_results.txt")
    after = _results(directory / "out" / "eval_results.txt")
    assert sorted(after) == ["global_step", "loss", "masked_lm_accuracy", "masked_lm_loss",
                             "next_sentence_accuracy", "next_sentence_loss"]
    assert before["global_step"] == 0 and after["global_step"] == STEPS
    assert after["masked_lm_loss"] < 0.6 * before["masked_lm_loss"], (before, after)
    assert after["masked_lm_accuracy"] > before["masked_lm_accuracy"] + 0.2
    assert after["loss"] < before["loss"]
    # The run record: config, vocabulary and the settings a later run must keep.
    record = json.loads((directory / "out" / "run_config.json").read_text())
    assert record["runner"] == "run_pretraining"
    assert record["settings"] == {"max_seq_length": 16, "max_predictions_per_seq": 3,
                                  "masked_lm_only": False}
    assert (directory / "out" / "vocab.txt").exists()


def _eval_records(records, count):
    """The first `count` records of the files in order, repeated (read without bert_tf)."""
    examples = []
    while len(examples) < count:
        for path in records.split(","):
            for raw in tf.data.TFRecordDataset(path):
                example = tf.train.Example.FromString(raw.numpy()).features.feature
                examples.append({k: np.array(v.int64_list.value or v.float_list.value)
                                 for k, v in example.items()})
    return examples[:count]


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_eval_results_equal_numpy_metrics_of_the_models_own_logits(pretrained):
    directory, model, records = pretrained
    ours = BertPretrainingModel(BertConfig(**NO_DROPOUT)).build_with_dummy_inputs()
    load_checkpoint(ours, str(directory / "out"))
    batch, steps = FLAGS["eval_batch_size"], FLAGS["max_eval_steps"]
    examples = _eval_records(records, batch * steps)
    ce_sum = w_sum = correct = nsp_ce = nsp_correct = 0.0
    batch_losses = []
    for b in range(steps):
        part = examples[b * batch:(b + 1) * batch]
        stack = {k: np.stack([e[k] for e in part]) for k in part[0]}
        logits = ours({k: stack[k].astype(np.int32) for k in
                       ("input_ids", "input_mask", "segment_ids", "masked_lm_positions")},
                      training=False)
        mlm = _log_softmax(logits[MASKED_LM_LOGITS].numpy().astype(np.float64))  # [B, P, V]
        ids, weights = stack["masked_lm_ids"], stack["masked_lm_weights"]
        ce = -np.take_along_axis(mlm, ids[..., None], -1)[..., 0]                 # [B, P]
        nsp = _log_softmax(logits[NEXT_SENTENCE_LOGITS].numpy().astype(np.float64))
        labels = stack["next_sentence_labels"][:, 0]
        nsp_example = -nsp[np.arange(len(labels)), labels]
        ce_sum += (ce * weights).sum()
        w_sum += weights.sum()
        correct += ((mlm.argmax(-1) == ids) * weights).sum()
        nsp_ce += nsp_example.sum()
        nsp_correct += (nsp.argmax(-1) == labels).sum()
        # The original's training loss of one batch: weighted MLM mean + NSP mean.
        batch_losses.append((ce * weights).sum() / (weights.sum() + 1e-5) + nsp_example.mean())
    n = batch * steps
    expected = {"masked_lm_loss": ce_sum / w_sum, "masked_lm_accuracy": correct / w_sum,
                "next_sentence_loss": nsp_ce / n, "next_sentence_accuracy": nsp_correct / n,
                "loss": np.mean(batch_losses), "global_step": STEPS}
    results = _results(directory / "out" / "eval_results.txt")
    assert results.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(results[key], value, rtol=2e-5, err_msg=key)


def test_the_pretrained_checkpoint_fine_tunes_with_run_classifier(pretrained, tmp_path):
    directory, model, _ = pretrained
    out = tmp_path / "classifier"
    run_main(run_classifier.main, task_name="custom", text_a_column="sentence",
             label_column="label", data_dir=write_toy_task(tmp_path / "data", n_train=16),
             bert_config_file=model["bert_config_file"], vocab_file=model["vocab_file"],
             init_checkpoint=str(directory / "out"), output_dir=str(out), do_train=True,
             do_eval=True, max_seq_length=16, train_batch_size=8, num_train_epochs=1.0)
    report = (out / "init_checkpoint_report.txt").read_text()
    assert f"**** Variables from {directory / 'out' / f'model.ckpt-{STEPS}'} ****" in report
    initialized = [line for line in report.splitlines() if "*INIT_FROM_CKPT*" in line]
    assert len(initialized) == 39  # every encoder variable; the head is new
    # Its own cls/ heads are the unused ones (the optimizer slots are not counted).
    unused = report.split("unused variables of the source ****\n")[1].split()
    assert unused and all(name.startswith("cls/") for name in unused)
    assert "eval_accuracy" in (out / "eval_results.txt").read_text()


def test_masked_lm_only_leaves_the_next_sentence_head_as_loaded(pretrained, tmp_path, caplog):
    directory, model, records = pretrained
    out = tmp_path / "mlm_only"
    with caplog.at_level("INFO"):
        run_main(run_pretraining.main, **dict(
            FLAGS, input_file=records, bert_config_file=model["bert_config_file"],
            init_checkpoint=str(directory / "out"), output_dir=str(out), do_train=True,
            do_eval=True, num_train_steps=6, masked_lm_only=True, optimizer="lamb"))
    assert any(r.getMessage().startswith("LAMB: init_lr=0.002") for r in caplog.records)
    start = tf.train.load_checkpoint(str(directory / "out"))
    end = tf.train.load_checkpoint(str(out))
    for name in ("cls/seq_relationship/output_weights", "cls/seq_relationship/output_bias"):
        np.testing.assert_array_equal(end.get_tensor(name), start.get_tensor(name))
    changed = start.get_tensor("cls/predictions/output_bias") - end.get_tensor(
        "cls/predictions/output_bias")
    assert np.abs(changed).max() > 0
    assert sorted(_results(out / "eval_results.txt")) == [
        "global_step", "loss", "masked_lm_accuracy", "masked_lm_loss"]


def _write_original_records(path, golden):
    """The original script's records (decoded in golden_default.json), written back with
    plain tf.train.Example as its `write_instance_to_example_files` does."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for instance in golden["output_files"][0]:
            feature = {name: tf.train.Feature(float_list=tf.train.FloatList(value=values))
                       if name == "masked_lm_weights" else
                       tf.train.Feature(int64_list=tf.train.Int64List(value=values))
                       for name, values in instance.items()}
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())
    return str(path)


def test_the_original_scripts_records_train_and_evaluate(tmp_path):
    golden = json.loads((GOLDENS / "golden_default.json").read_text())
    records = _write_original_records(tmp_path / "original.tfrecord", golden)
    vocab_size = len((GOLDENS / "vocab.txt").read_text().splitlines())
    config = dict(TINY_16, vocab_size=vocab_size, max_position_embeddings=32)
    (tmp_path / "bert_config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    run_main(run_pretraining.main, input_file=records, output_dir=str(out),
             bert_config_file=str(tmp_path / "bert_config.json"),
             vocab_file=str(GOLDENS / "vocab.txt"), do_train=True, do_eval=True,
             max_seq_length=golden["flags"]["max_seq_length"],
             max_predictions_per_seq=golden["flags"]["max_predictions_per_seq"],
             train_batch_size=4, eval_batch_size=4, max_eval_steps=2, num_train_steps=3,
             num_warmup_steps=1, mixed_precision="bf16", gradient_accumulation_steps=2,
             use_xla=True)
    results = _results(out / "eval_results.txt")
    assert results["global_step"] == 3 and np.isfinite(list(results.values())).all()


def test_a_released_checkpoint_restores_its_pretraining_heads(pretrained, tmp_path):
    _, model, records = pretrained
    weights = random_original_weights(max_position_embeddings=16)
    rng = np.random.default_rng(0)
    for name, shape in original_names.pretraining_head_variables(TINY_16):
        weights[name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    released = write_tf1_checkpoint(weights, str(tmp_path / "released" / "bert_model.ckpt"))
    out = tmp_path / "out"
    run_main(run_pretraining.main, **dict(
        FLAGS, input_file=records, bert_config_file=model["bert_config_file"],
        init_checkpoint=released, output_dir=str(out), do_eval=True))
    report = (out / "init_checkpoint_report.txt").read_text()
    assert report.count("*INIT_FROM_CKPT*") == len(weights) == 46
    assert "**** 0 unused variables of the source ****" in report


def test_sharded_records_are_interleaved_and_each_read_once_per_pass(tmp_path):
    records = write_toy_pretraining_records(tmp_path, num_files=3)
    counts = [sum(1 for _ in tf.data.TFRecordDataset(p)) for p in records.split(",")]
    files = [[tuple(x["input_ids"]) for x in _eval_records(p, n)]
             for p, n in zip(records.split(","), counts)]
    one_pass = [tuple(r["input_ids"].numpy()) for r in training_records(records, 16, 3, seed=1)]
    assert sorted(one_pass) == sorted(sum(files, []))
    owner = {ids: i for i, f in enumerate(files) for ids in f}
    assert len({owner[ids] for ids in one_pass[:3]}) == 3  # three files read at once
    again = [tuple(r["input_ids"].numpy()) for r in training_records(records, 16, 3, seed=1)]
    assert again == one_pass


def test_records_of_another_length_are_refused_before_anything_is_written(pretrained,
                                                                           tmp_path):
    _, model, records = pretrained
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"records-0.tfrecord: 'input_ids' has length 16, "
                       r"expected 12; run with --max_seq_length=16"):
        run_main(run_pretraining.main, **dict(
            FLAGS, input_file=records, bert_config_file=model["bert_config_file"],
            output_dir=str(out), do_train=True, num_train_steps=2, max_seq_length=12))
    assert list(out.iterdir()) == []


def test_a_fine_tuning_output_dir_is_refused(pretrained, tmp_path):
    directory, model, records = pretrained
    out = tmp_path / "classifier"
    run_main(run_classifier.main, task_name="custom", text_a_column="sentence",
             label_column="label", data_dir=write_toy_task(tmp_path / "data", n_train=8),
             output_dir=str(out), do_train=True, max_seq_length=16, train_batch_size=8,
             num_train_epochs=1.0, **model)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(InputError, match="trained by run_classifier.py, now run_pretraining.py"):
        run_main(run_pretraining.main, **dict(
            FLAGS, input_file=records, bert_config_file=model["bert_config_file"],
            output_dir=str(out), do_train=True, num_train_steps=2))
    assert sorted(p.name for p in out.iterdir()) == before


def test_flags_keep_the_originals_names_and_defaults():
    # In a process of its own: in the test process run_squad.py, imported first, sets the
    # shared --max_seq_length default to 384.
    expected = dict(bert_config_file=None, input_file=None, output_dir=None,
                    init_checkpoint=None, max_seq_length=128, max_predictions_per_seq=20,
                    do_train=False, do_eval=False, train_batch_size=32, eval_batch_size=8,
                    learning_rate=5e-5, num_train_steps=100000, num_warmup_steps=10000,
                    save_checkpoints_steps=1000, iterations_per_loop=1000, max_eval_steps=100,
                    use_tpu=False, tpu_name=None, tpu_zone=None, gcp_project=None, master=None,
                    num_tpu_cores=8)
    code = ("import json, run_pretraining; from absl import flags; "
            f"print(json.dumps({{n: flags.FLAGS[n].default for n in {sorted(expected)!r}}}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                 "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
