"""BertTaskModel: encoder + one head, named as the original runners name them."""

import numpy as np
import pytest

from bert_tf.task_model import BertTaskModel
from tests.conftest import BATCH, SEQ, TINY, random_batch
from tests.reference import original_names


def _inputs():
    input_ids, input_mask, segment_ids = random_batch()
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}


@pytest.mark.parametrize("per_token, scope, shape", [
    (False, "", (BATCH, 5)), (True, "cls/squad", (BATCH, SEQ, 5))])
def test_logits_and_checkpoint_names(tiny_config, per_token, scope, shape):
    model = BertTaskModel(tiny_config, 5, per_token=per_token, head_checkpoint_scope=scope)
    logits = model(_inputs(), training=False)
    assert logits.shape == shape and logits.dtype == "float32"
    prefix = f"{scope}/" if scope else ""
    expected = {name: s for name, s in original_names.encoder_variables(TINY)}
    expected.update({f"{prefix}output_weights": (5, TINY["hidden_size"]),
                     f"{prefix}output_bias": (5,)})
    names = model.checkpoint_variables()
    assert {n: tuple(v.shape) for n, v in names.items()} == expected


def test_the_head_reads_the_pooled_output_or_every_token(tiny_config):
    model = BertTaskModel(tiny_config, 3, per_token=False, classifier_dropout=0.0)
    inputs = _inputs()
    logits = model(inputs, training=False).numpy()
    pooled = model.bert(inputs, training=False)["pooled_output"].numpy()
    weights, bias = model.head.output_weights.numpy(), model.head.output_bias.numpy()
    np.testing.assert_allclose(logits, pooled @ weights.T + bias, rtol=1e-5, atol=1e-6)


def test_get_config_round_trip(tiny_config):
    model = BertTaskModel(tiny_config, 2, per_token=True, classifier_dropout=0.0,
                          head_checkpoint_scope="cls/squad", name="bert_squad")
    config = model.get_config()
    assert config["num_labels"] == 2 and config["classifier_dropout"] == 0.0
    rebuilt = BertTaskModel.from_config(config)
    assert rebuilt.get_config() == config
