"""Run as a script: trains a toy task with `mirrored` over two logical CPU devices and with
`one_device`, same global batch, no dropout; prints both runs' losses and weights as JSON.
`distributed_check.py WORK_DIR [classifier|ner]` (ner: token classification with a CRF).

A separate process because logical devices must be set before TensorFlow starts.
"""

import json
import pathlib
import sys

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import run_classifier  # noqa: E402
import run_ner  # noqa: E402
from bert_tf.outputs.glue import read_eval_results  # noqa: E402
from tests.conftest import run_main  # noqa: E402
from bert_tf.training import create_strategy  # noqa: E402
from tests.runner_fixtures import (NER_LABELS, write_tiny_bert, write_toy_ner,  # noqa: E402
                                   write_toy_task)


def main(work, mode):
    work = pathlib.Path(work)
    model = write_tiny_bert(work / "bert", dropout=0.0)
    common = dict(output_dir=None, do_train=True, do_eval=True, max_seq_length=16,
                  train_batch_size=8, eval_batch_size=6, learning_rate=1e-3,
                  num_train_epochs=1.0, classifier_dropout=0.0, **model)
    if mode == "ner":
        runner, extra = run_ner.main, dict(data_dir=write_toy_ner(work / "data", n_train=64),
                                           labels=NER_LABELS, use_crf=True, doc_stride=6)
        watched = "crf/transitions"
    else:
        runner, extra = run_classifier.main, dict(
            data_dir=write_toy_task(work / "data"), task_name="custom",
            text_a_column="sentence", label_column="label")
        watched = "output_weights"
    report = {}
    for strategy in ("mirrored", "one_device"):
        out = work / strategy
        run_main(runner, **dict(common, output_dir=str(out), distribution_strategy=strategy,
                                **extra))
        reader = tf.train.load_checkpoint(str(out))
        report[strategy] = {
            "replicas": create_strategy(strategy).num_replicas_in_sync,
            "eval": read_eval_results(out / "eval_results.txt"),
            "kernel": reader.get_tensor("bert/encoder/layer_1/output/dense/kernel").tolist(),
            "head": reader.get_tensor(watched).tolist()}
    print("RESULT " + json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "classifier")
