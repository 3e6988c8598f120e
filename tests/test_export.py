"""export_saved_model: a SavedModel that loads without project code and gives the model's
outputs; the export directory is replaced whole, never half-written."""

import os

import numpy as np
import tensorflow as tf

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


def test_killed_exports_temporaries_are_removed_by_the_next_export(tmp_path, tiny_config,
                                                                  dead_pid):
    stale = tmp_path / f".export.tmp-{dead_pid}-0123abcd"
    (stale / "variables").mkdir(parents=True)
    (tmp_path / f".export.tmp-{dead_pid}-0123abcd.old").mkdir()
    model = BertTaskModel(tiny_config, 3, classifier_dropout=0.0).build_with_dummy_inputs()
    export_saved_model(model, str(tmp_path / "export"), _outputs)
    assert os.listdir(tmp_path) == ["export"]
