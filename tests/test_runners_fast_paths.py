"""Every runner end to end with mixed precision, gradient accumulation, XLA and dynamic
padding: the speed flags run, the output files are those of fixed padding, and the export of
a mixed-precision model serves float32 outputs equal to a float32 prediction."""

import json

import numpy as np
import pytest
import tensorflow as tf

import run_classifier
import run_ner
import run_squad
from tests.conftest import run_main
from tests.runner_fixtures import (NER_LABELS, write_tiny_bert, write_toy_ner, write_toy_squad,
                                   write_toy_task)
from tests.test_run_classifier import TOY_FLAGS, _read_tsv_probabilities
from tests.test_run_ner import TOY as NER_TOY
from tests.test_run_squad import TOY as SQUAD_TOY

# Cut lengths in steps of 4 so the toy batches (up to 16 tokens) really vary in length.
DYNAMIC = dict(dynamic_padding=True, pad_to_multiple_of=4)


def _predict_both_ways(main, out, outputs, **flag_values):
    """Runs --do_predict with dynamic and with fixed padding; returns {dynamic: {file: text}}."""
    texts = {}
    for dynamic in (True, False):
        run_main(main, output_dir=str(out), do_predict=True, dynamic_padding=dynamic,
                 pad_to_multiple_of=4, **flag_values)
        texts[dynamic] = {name: (out / name).read_text() for name in outputs}
    return texts


def _serve(export_dir, record_file, seq_length):
    """The SavedModel's outputs on the features the runner cached in `record_file`."""
    spec = {k: tf.io.FixedLenFeature([seq_length], tf.int64)
            for k in ("input_ids", "input_mask", "segment_ids")}
    rows = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(record_file)]
    inputs = {k: tf.cast(tf.stack([r[k] for r in rows]), tf.int32) for k in spec}
    return tf.saved_model.load(str(export_dir)).signatures["serving_default"](**inputs)


def test_classifier_bf16_with_xla_and_accumulation(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=32)
    out, export = tmp_path / "out", tmp_path / "export"
    run_main(run_classifier.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             do_eval=True, export_dir=str(export), mixed_precision="bf16", use_xla=True,
             gradient_accumulation_steps=2, **model, **DYNAMIC,
             **dict(TOY_FLAGS, num_train_epochs=2.0))
    assert (out / "eval_results.txt").exists()
    texts = _predict_both_ways(run_classifier.main, out, ["test_results.tsv"])
    dynamic = _read_tsv_probabilities(out / "test_results.tsv")
    assert texts[True]["test_results.tsv"].count("\n") == len(dynamic) == 24
    for line_dynamic, line_fixed in zip(texts[True]["test_results.tsv"].splitlines(),
                                        texts[False]["test_results.tsv"].splitlines()):
        np.testing.assert_allclose([float(x) for x in line_dynamic.split("\t")],
                                   [float(x) for x in line_fixed.split("\t")], atol=1e-5)
    # The bf16-trained model is served in float32: as a float32 --do_predict computes.
    served = _serve(export, out / "test.tf_record", 16)["probabilities"]
    assert served.dtype == tf.float32
    np.testing.assert_allclose(served.numpy(), dynamic, atol=1e-5)


@pytest.mark.parametrize("mixed_precision", ["bf16", "fp16"])
def test_ner_mixed_precision_with_accumulation(tmp_path, mixed_precision):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_ner(tmp_path / "data", n_train=24, n_dev=12, long_every=3)
    out, export = tmp_path / "out", tmp_path / "export"
    run_main(run_ner.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             do_eval=True, export_dir=str(export), labels=NER_LABELS, use_crf=True,
             mixed_precision=mixed_precision, gradient_accumulation_steps=4, **model,
             **DYNAMIC, **dict(NER_TOY, num_train_epochs=2.0))
    assert (out / "eval_results.txt").exists()
    texts = _predict_both_ways(run_ner.main, out,
                               ["test_predictions.txt", "test_entities.jsonl"],
                               data_dir=data_dir, doc_stride=NER_TOY["doc_stride"])
    assert texts[True] == texts[False]
    served = _serve(export, out / "test.tf_record", 16)
    assert served["probabilities"].dtype == tf.float32
    assert served["label_ids"].shape == served["probabilities"].shape[:2]


def test_squad_fp16_export_and_dynamic_padding(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    train = write_toy_squad(tmp_path / "train.json", n_paragraphs=12, context_words=4)
    out, export = tmp_path / "out", tmp_path / "export"
    flags = dict(SQUAD_TOY, num_train_epochs=2.0)
    run_main(run_squad.main, train_file=train, output_dir=str(out), do_train=True,
             export_dir=str(export), mixed_precision="fp16", **model, **DYNAMIC, **flags)
    predict_flags = {k: flags[k] for k in ("max_seq_length", "doc_stride", "max_query_length",
                                           "predict_batch_size", "n_best_size",
                                           "max_answer_length")}
    texts = _predict_both_ways(run_squad.main, out, ["predictions.json"],
                               predict_file=train, **predict_flags)
    assert texts[True]["predictions.json"] == texts[False]["predictions.json"]
    questions = [qa["id"] for article in json.loads(open(train).read())["data"]
                 for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    assert sorted(json.loads(texts[True]["predictions.json"])) == sorted(questions)
    served = _serve(export, out / "predict.tf_record", 16)
    assert served["start_logits"].dtype == tf.float32
