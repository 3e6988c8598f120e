"""Every runner end to end with mixed precision, gradient accumulation, XLA and dynamic
padding: the speed flags run, the output files are those of fixed padding, and the export of
a mixed-precision model serves float32 outputs equal to a float32 --do_predict of the same
output_dir (1e-5), and close to the runner's own mixed-precision prediction.

How close (`_mixed_precision_atol`): 8 u times the outputs' scale (max(1, largest |value|)),
u the unit roundoff of the 16-bit format (bf16 2**-8, fp16 2**-11): one rounding of a
value to 16 bits changes it by at most u of itself. The activations are of order 1
(LayerNorm), and an output inherits the roundings of the embeddings, of every matmul's inputs
through the two tiny layers and the head, and of its own 16-bit value: a few u. Measured max
here: probabilities 0.3 u (bf16) and 0.2 u (fp16), SQuAD fp16 logits 1.5 u. A weight the
float32 twin lacks moves outputs far more; an export computing in bf16/fp16 fails the 1e-5
checks.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import run_classifier
import run_ner
import run_squad
from bert_tf.training import Engine
from tests.conftest import run_main
from tests.runner_fixtures import (NER_LABELS, write_tiny_bert, write_toy_ner, write_toy_squad,
                                   write_toy_task)
from tests.test_run_classifier import TOY_FLAGS, _read_tsv_probabilities
from tests.test_run_ner import TOY as NER_TOY
from tests.test_run_squad import TOY as SQUAD_TOY, check_nbest_logits, read_nbest

# Cut lengths in steps of 4 so the toy batches (up to 16 tokens) really vary in length.
DYNAMIC = dict(dynamic_padding=True, pad_to_multiple_of=4)
# The unit roundoff of each 16-bit format: 2**-p for p bits of precision (bf16 8, fp16 11),
# half the spacing of its numbers just above 1.
UNIT_ROUNDOFF = {"bf16": 2.0 ** -8, "fp16": 2.0 ** -11}


def _mixed_precision_atol(mixed_precision, outputs):
    """How far a mixed-precision prediction may be from float32 (see the module docstring)."""
    return 8 * UNIT_ROUNDOFF[mixed_precision] * max(1.0, float(np.abs(outputs).max()))


def _predict_both_ways(main, out, outputs, **flag_values):
    """Runs --do_predict in float32 (--mixed_precision left empty: the run record does not
    fix it) with dynamic and with fixed padding; returns {dynamic: {file: text}}."""
    texts = {}
    for dynamic in (True, False):
        run_main(main, output_dir=str(out), do_predict=True, mixed_precision="",
                 dynamic_padding=dynamic, pad_to_multiple_of=4, **flag_values)
        texts[dynamic] = {name: (out / name).read_text() for name in outputs}
    return texts


def _read_record(record_file, seq_length, names=("input_ids", "input_mask", "segment_ids")):
    """The features the runner cached in `record_file`: name -> int32 [N, S]."""
    spec = {k: tf.io.FixedLenFeature([seq_length], tf.int64) for k in names}
    rows = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(record_file)]
    return {k: tf.cast(tf.stack([r[k] for r in rows]), tf.int32) for k in spec}


def _serve(export_dir, record_file, seq_length):
    """The SavedModel's outputs on the features the runner cached in `record_file`."""
    inputs = _read_record(record_file, seq_length)
    return tf.saved_model.load(str(export_dir)).signatures["serving_default"](**inputs)


def test_classifier_bf16_with_xla_and_accumulation(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=32)
    out, export = tmp_path / "out", tmp_path / "export"
    run_main(run_classifier.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             do_eval=True, do_predict=True, export_dir=str(export), mixed_precision="bf16",
             use_xla=True, gradient_accumulation_steps=2, **model, **DYNAMIC,
             **dict(TOY_FLAGS, num_train_epochs=2.0))
    assert (out / "eval_results.txt").exists()
    bf16 = _read_tsv_probabilities(out / "test_results.tsv")  # predicted in bf16
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
    # ... and close to what the runner predicted in bf16.
    np.testing.assert_allclose(served.numpy(), bf16,
                               atol=_mixed_precision_atol("bf16", served.numpy()))


def _record_predictions(monkeypatch):
    """Every Engine.predict the runners make from now on, as (description, outputs) in call
    order: what the runner computed, for runners whose files do not hold it (run_ner writes
    tags, not its probabilities)."""
    calls = []
    predict = Engine.predict

    def recording_predict(engine, *args, **kwargs):
        outputs, loss = predict(engine, *args, **kwargs)
        calls.append((args[3] if len(args) > 3 else kwargs.get("description", "predict"),
                      outputs))
        return outputs, loss
    monkeypatch.setattr(Engine, "predict", recording_predict)
    return calls


@pytest.mark.parametrize("mixed_precision", ["bf16", "fp16"])
def test_ner_mixed_precision_with_accumulation(tmp_path, monkeypatch, mixed_precision):
    predictions = _record_predictions(monkeypatch)
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_ner(tmp_path / "data", n_train=24, n_dev=12, long_every=3)
    out, export = tmp_path / "out", tmp_path / "export"
    run_main(run_ner.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             do_eval=True, do_predict=True, export_dir=str(export), labels=NER_LABELS,
             use_crf=True, mixed_precision=mixed_precision, gradient_accumulation_steps=4,
             **model, **DYNAMIC, **dict(NER_TOY, num_train_epochs=2.0))
    assert (out / "eval_results.txt").exists()
    texts = _predict_both_ways(run_ner.main, out,
                               ["test_predictions.txt", "test_entities.jsonl"],
                               data_dir=data_dir, doc_stride=NER_TOY["doc_stride"])
    assert texts[True] == texts[False]
    # The test set's CRF marginals and Viterbi ids: predicted while training (mixed
    # precision), then in float32 with dynamic and with fixed padding.
    mixed, float32, _ = [outputs for what, outputs in predictions if what == "predict"]
    features = {k: v.numpy() for k, v in _read_record(
        out / "test.tf_record", 16, ("input_ids", "input_mask", "label_mask")).items()}
    # The runner's CRF runs over label_mask (each word's first piece); a SavedModel knows only
    # input_mask and takes every real piece but [CLS] and [SEP]. The toy words are one piece
    # each (long sentences in several windows), so both see the same positions here.
    lengths = features["input_mask"].sum(axis=1, keepdims=True)
    positions = np.arange(16)[np.newaxis]
    np.testing.assert_array_equal(features["label_mask"],
                                  (positions > 0) & (positions < lengths - 1))
    served = _serve(export, out / "test.tf_record", 16)
    assert served["probabilities"].dtype == tf.float32
    probabilities, label_ids = served["probabilities"].numpy(), served["label_ids"].numpy()
    # Served in float32 with the trained weights, CRF transitions included: as float32 predicts.
    np.testing.assert_allclose(probabilities, float32["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(label_ids, float32["label_ids"])
    # ... and close to the runner's own mixed-precision prediction; no Viterbi decision of
    # this toy model is near enough a tie to flip.
    np.testing.assert_allclose(probabilities, mixed["probabilities"],
                               atol=_mixed_precision_atol(mixed_precision, probabilities))
    np.testing.assert_array_equal(label_ids, mixed["label_ids"])


def test_squad_fp16_export_and_dynamic_padding(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    train = write_toy_squad(tmp_path / "train.json", n_paragraphs=12, context_words=4)
    out, export = tmp_path / "out", tmp_path / "export"
    flags = dict(SQUAD_TOY, num_train_epochs=2.0)
    run_main(run_squad.main, train_file=train, predict_file=train, output_dir=str(out),
             do_train=True, do_predict=True, export_dir=str(export), mixed_precision="fp16",
             **model, **DYNAMIC, **flags)
    fp16 = read_nbest(out)  # the logits of the runner's fp16 prediction
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
    start_logits, end_logits = served["start_logits"].numpy(), served["end_logits"].numpy()
    # The float32 --do_predict (its files now in out) wrote the served logits, ...
    assert check_nbest_logits(out, train, start_logits, end_logits, atol=1e-5) >= 12 * 2
    # ... and the fp16 one logits within fp16 rounding of them.
    atol = _mixed_precision_atol("fp16", np.stack([start_logits, end_logits]))
    assert check_nbest_logits(out, train, start_logits, end_logits, atol=atol,
                              written=fp16) >= 12 * 2
