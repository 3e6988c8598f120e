"""export_saved_model: a SavedModel that loads without project code and gives the model's
outputs; the export directory is replaced whole, never half-written."""

import os

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.export import export_saved_model
from bert_tf.task_model import BertTaskModel
from tests.conftest import random_batch


def _outputs(logits, features):
    return {"probabilities": tf.nn.softmax(logits, axis=-1),
            "label": tf.argmax(logits, axis=-1, output_type=tf.int32)}


def test_signature_gives_the_model_outputs_and_replaces_the_old_export(tmp_path, tiny_config):
    model = BertTaskModel(tiny_config, 3, classifier_dropout=0.0).build_with_dummy_inputs()
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "stale.txt").write_text("from an older export")
    assert export_saved_model(model, str(export_dir), _outputs) == str(export_dir)
    assert not (export_dir / "stale.txt").exists()
    assert [p for p in os.listdir(tmp_path) if p != "export"] == []  # no temporary left

    input_ids, input_mask, segment_ids = random_batch()
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    served = serve(input_ids=tf.constant(input_ids), input_mask=tf.constant(input_mask),
                   segment_ids=tf.constant(segment_ids))
    logits = model({"input_ids": input_ids, "input_mask": input_mask,
                    "segment_ids": segment_ids}, training=False).numpy()
    expected = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(served["label"].numpy(), logits.argmax(-1))
    assert served["label"].dtype == tf.int32


def test_untraced_functions_message_is_dropped_and_other_messages_pass(tmp_path, tiny_config,
                                                                        caplog):
    model = BertTaskModel(tiny_config, 3, classifier_dropout=0.0).build_with_dummy_inputs()

    def outputs(logits, features):  # traced while saving: its message comes from inside
        logging.warning("tracing the serving outputs")
        return _outputs(logits, features)

    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.INFO)
    try:
        with caplog.at_level("INFO"):
            export_saved_model(model, str(tmp_path / "export"), outputs)
    finally:
        logging.set_verbosity(verbosity)
    assert "tracing the serving outputs" in caplog.text
    assert "Exported SavedModel to" in caplog.text
    assert "untraced functions" not in caplog.text
    assert logging.get_absl_logger().filters == []  # dropped only while saving


def test_killed_exports_temporaries_are_removed_by_the_next_export(tmp_path, tiny_config,
                                                                  dead_pid):
    stale = tmp_path / f".export.tmp-{dead_pid}-0123abcd"
    (stale / "variables").mkdir(parents=True)
    (tmp_path / f".export.tmp-{dead_pid}-0123abcd.old").mkdir()
    model = BertTaskModel(tiny_config, 3, classifier_dropout=0.0).build_with_dummy_inputs()
    export_saved_model(model, str(tmp_path / "export"), _outputs)
    assert os.listdir(tmp_path) == ["export"]
