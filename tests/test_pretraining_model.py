"""The pretraining model: original names and shapes, a released checkpoint loads whole, the
logits equal transformers' TFBertForPreTraining on the same weights, HF weights both ways."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.config import BertConfig
from bert_tf.pretraining_model import (MASKED_LM_LOGITS, NEXT_SENTENCE_LOGITS,
                                       BertPretrainingModel)
from bert_tf.weights import hf_weights
from bert_tf.weights.checkpoints import checkpoint_names, load_checkpoint, save_checkpoint
from bert_tf.weights.pretrained import load_weights
from tests.conftest import TINY, random_batch, random_original_weights
from tests.reference import original_names
from tests.reference.hf_layout import (HF_TINY, random_hf_pretraining_state,
                                       transformers_model, write_hf_dir)
from tests.reference.tf1_checkpoint import write_tf1_checkpoint

P = 4  # masked positions per example (max_predictions_per_seq), unlike every other axis


def _model(config=None):
    return BertPretrainingModel(config or BertConfig(**TINY)).build_with_dummy_inputs()


def _released_weights(seed=0):
    weights = random_original_weights(seed)
    rng = np.random.default_rng(seed + 100)
    for name, shape in original_names.pretraining_head_variables(TINY):
        weights[name] = (0.3 * rng.standard_normal(shape)).astype(np.float32)
    return weights


def _features(seed=1):
    input_ids, input_mask, segment_ids = random_batch(seed)
    lengths = input_mask.sum(axis=1)
    rng = np.random.default_rng(seed)
    positions = np.stack([np.sort(rng.choice(np.arange(1, n), size=min(P, n - 1),
                                             replace=False).tolist() + [0] * (P - min(P, n - 1)))
                          for n in lengths]).astype(np.int32)
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids,
            "masked_lm_positions": positions}


def test_variable_names_and_shapes_are_the_originals():
    names = {n: tuple(v.shape) for n, v in checkpoint_names(_model()).items()}
    expected = dict(original_names.encoder_variables(TINY) +
                    original_names.pretraining_head_variables(TINY))
    assert names == expected  # no output matrix of its own: tied to the word embeddings


def test_a_released_checkpoint_loads_with_nothing_unused_but_global_step(tmp_path):
    weights = _released_weights()
    prefix = write_tf1_checkpoint(weights, str(tmp_path / "bert_model.ckpt"), global_step=7)
    model = _model()
    report = load_checkpoint(model, prefix)
    assert report.new == [] and report.unused == []
    assert report.optimizer_state == ["global_step"]
    for name, variable in checkpoint_names(model).items():
        np.testing.assert_array_equal(variable.numpy(), weights[name])


def _their_logits(theirs, features):
    out = theirs(input_ids=features["input_ids"], attention_mask=features["input_mask"],
                 token_type_ids=features["segment_ids"], training=False)
    # transformers computes [B, S, V]; the masked positions are a slice of it.
    mlm = np.take_along_axis(out.prediction_logits.numpy(),
                             features["masked_lm_positions"][:, :, None], axis=1)
    return mlm, out.seq_relationship_logits.numpy()


def test_logits_equal_transformers_tf_bert_for_pretraining(tmp_path):
    directory = write_hf_dir(str(tmp_path / "hf"), dict(HF_TINY,
                                                         architectures=["BertForPreTraining"]),
                             random_hf_pretraining_state(HF_TINY, seed=3))
    config = hf_weights.read_hf_directory(directory).config
    ours = _model(config)
    report = load_weights(ours, directory)
    assert report.new == [] and report.unused == []
    theirs, info = transformers_model(directory, "TFBertForPreTraining")
    assert not any(info.values()), info
    features = _features()
    logits = ours(features, training=False)
    assert logits[MASKED_LM_LOGITS].shape == (3, P, TINY["vocab_size"])
    mlm, nsp = _their_logits(theirs, features)
    np.testing.assert_allclose(logits[MASKED_LM_LOGITS].numpy(), mlm, atol=1e-5)
    np.testing.assert_allclose(logits[NEXT_SENTENCE_LOGITS].numpy(), nsp, atol=1e-5)


def test_our_checkpoint_converts_to_hf_bert_for_pretraining_and_back(tmp_path):
    config = BertConfig(**TINY)
    ours = _model(config)
    weights = _released_weights(seed=5)
    for name, variable in checkpoint_names(ours).items():
        variable.assign(weights[name])
    prefix = save_checkpoint(ours, str(tmp_path / "model.ckpt-3"), global_step=3)
    arrays = {k: v.numpy() for k, v in checkpoint_names(ours).items()}
    directory = str(tmp_path / "hf")
    hf_weights.write_hf_directory(arrays, config, directory)
    with open(os.path.join(directory, "config.json")) as f:
        assert json.load(f)["architectures"] == ["BertForPreTraining"]
    theirs, info = transformers_model(directory, "TFBertForPreTraining")
    assert not any(info.values()), info
    features = _features(seed=2)
    logits = ours(features, training=False)
    mlm, nsp = _their_logits(theirs, features)
    np.testing.assert_allclose(logits[MASKED_LM_LOGITS].numpy(), mlm, atol=1e-5)
    np.testing.assert_allclose(logits[NEXT_SENTENCE_LOGITS].numpy(), nsp, atol=1e-5)
    # Back: the HF directory loads into a new model with the very same values.
    again = _model(config)
    report = load_weights(again, directory)
    assert report.new == [] and report.unused == []
    for name, variable in checkpoint_names(again).items():
        np.testing.assert_array_equal(variable.numpy(), arrays[name])
    assert tf.train.load_checkpoint(prefix).get_tensor("global_step") == 3


def test_masked_lm_logits_follow_the_masked_positions():
    model = _model()
    features = _features()
    base = model(features, training=False)[MASKED_LM_LOGITS].numpy()
    moved = dict(features, masked_lm_positions=np.roll(features["masked_lm_positions"], 1, 1))
    rolled = model(moved, training=False)[MASKED_LM_LOGITS].numpy()
    np.testing.assert_allclose(np.roll(base, 1, 1), rolled, atol=1e-6)


def test_no_tensor_of_the_graph_is_batch_by_sequence_by_vocab():
    # The positions are gathered before the vocabulary matmul: the largest tensor is
    # [B, P, V], never transformers' [B, S, V] (S = 7 here, P = 4, V = 99).
    model = _model()
    features = {k: tf.constant(v) for k, v in _features().items()}
    graph = tf.function(lambda f: model(f, training=True)).get_concrete_function(
        features).graph
    shapes = {tuple(t.shape.as_list()) for op in graph.get_operations() for t in op.outputs
              if t.shape.rank is not None}
    assert (3, P, TINY["vocab_size"]) in shapes
    assert not any(len(s) == 3 and s[-1] == TINY["vocab_size"] and s[1] == 7 for s in shapes)


def test_get_config_round_trip():
    model = _model()
    again = BertPretrainingModel.from_config(model.get_config())
    assert again.config == model.config and again.name == model.name


@pytest.mark.parametrize("policy", ["mixed_bfloat16"])
def test_mixed_precision_logits_are_float32_and_close(policy):
    import tf_keras
    weights = _released_weights(seed=9)
    full = _model()
    for name, variable in checkpoint_names(full).items():
        variable.assign(weights[name])
    tf_keras.mixed_precision.set_global_policy(policy)
    try:
        mixed = _model()
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    for name, variable in checkpoint_names(mixed).items():
        variable.assign(weights[name])
    features = _features()
    a, b = full(features, training=False), mixed(features, training=False)
    for key in (MASKED_LM_LOGITS, NEXT_SENTENCE_LOGITS):
        assert b[key].dtype == tf.float32
        np.testing.assert_allclose(b[key].numpy(), a[key].numpy(), atol=0.15)
