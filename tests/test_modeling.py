import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from bert_tf.config import BertConfig
from bert_tf.modeling import BertModel
from bert_tf.weights.checkpoints import WeightSource, assign_weights, checkpoint_names
from tests.conftest import TINY, random_batch, random_original_weights
from tests.reference import numpy_bert, original_names


def _built(config):
    return BertModel(config).build_with_dummy_inputs()


def test_variable_names_and_shapes_are_the_originals(tiny_config):
    model = _built(tiny_config)
    ours = {v.name: tuple(v.shape) for v in model.variables}
    expected = {name + ":0": shape for name, shape in original_names.encoder_variables(TINY)}
    assert ours == expected


def test_all_variables_trainable_and_distinct_initial_values(tiny_config):
    model = _built(tiny_config)
    assert len(model.trainable_variables) == len(model.variables)
    q, k, v = (model.encoder.blocks[0].attention.self_attention.query.kernel,
               model.encoder.blocks[0].attention.self_attention.key.kernel,
               model.encoder.blocks[0].attention.self_attention.value.kernel)
    assert not np.allclose(q.numpy(), k.numpy()) and not np.allclose(k.numpy(), v.numpy())
    # Truncated normal at 2 stddev, as the original's initializer.
    word = model.embeddings.word_embeddings.numpy()
    assert np.abs(word).max() <= 2 * TINY["initializer_range"] + 1e-7
    assert 0.5 * 0.02 < word.std() < 0.02


@pytest.fixture
def float64_policy():
    """Layers built inside compute in float64, as the NumPy reference does."""
    tf_keras.mixed_precision.set_global_policy("float64")
    yield
    tf_keras.mixed_precision.set_global_policy("float32")


# float32: the precision models run in (the difference is rounding, about 1e-6 here).
# float64: the reference's own precision, so any change of the computation itself (a LayerNorm
# epsilon of 1e-7 instead of 1e-12, a constant rounded to float32) is far above rounding
# (about 2e-15 here).
@pytest.mark.parametrize("dtype, atol", [("float32", 1e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_exact", "relu"])
def test_outputs_match_numpy_transcription_of_original(request, hidden_act, dtype, atol):
    if dtype == "float64":
        request.getfixturevalue("float64_policy")
    config = BertConfig(**dict(TINY, hidden_act=hidden_act))
    model = _built(config)
    assert {v.dtype for v in model.variables} == {tf.as_dtype(dtype)}
    weights = random_original_weights(seed=3)
    assign_weights(model, WeightSource.from_arrays("random", weights))
    input_ids, input_mask, segment_ids = random_batch()
    out = model({"input_ids": input_ids, "input_mask": input_mask,
                 "segment_ids": segment_ids}, training=False)
    ref = numpy_bert.bert_forward(weights, input_ids, input_mask, segment_ids,
                                  TINY["num_attention_heads"], TINY["num_hidden_layers"],
                                  hidden_act)
    for key in ("sequence_output", "pooled_output", "embedding_output"):
        assert out[key].dtype == dtype, key
        np.testing.assert_allclose(out[key].numpy(), ref[key], atol=atol, rtol=0, err_msg=key)
    assert len(out["all_encoder_layers"]) == TINY["num_hidden_layers"]
    for ours, theirs in zip(out["all_encoder_layers"], ref["all_encoder_layers"]):
        np.testing.assert_allclose(ours.numpy(), theirs, atol=atol, rtol=0)


def test_padding_does_not_change_real_positions(tiny_config):
    model = _built(tiny_config)
    input_ids, input_mask, segment_ids = random_batch()
    short = model({"input_ids": input_ids[1:2, :4], "input_mask": input_mask[1:2, :4],
                   "segment_ids": segment_ids[1:2, :4]})
    padded = model({"input_ids": input_ids[1:2], "input_mask": input_mask[1:2],
                    "segment_ids": segment_ids[1:2]})
    np.testing.assert_allclose(padded["sequence_output"].numpy()[:, :4],
                               short["sequence_output"].numpy(), atol=1e-5)


def test_defaults_for_mask_and_segments(tiny_config):
    model = _built(tiny_config)
    ids = tf.constant([[5, 6, 7]])
    a = model(ids)["pooled_output"]
    b = model({"input_ids": ids, "input_mask": tf.ones_like(ids),
               "segment_ids": tf.zeros_like(ids)})["pooled_output"]
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_dropout_only_in_training(tiny_config):
    model = _built(tiny_config)
    ids = tf.constant([[5, 6, 7, 8]])
    np.testing.assert_array_equal(model(ids, training=False)["sequence_output"].numpy(),
                                  model(ids, training=False)["sequence_output"].numpy())
    assert not np.allclose(model(ids, training=True)["sequence_output"].numpy(),
                           model(ids, training=False)["sequence_output"].numpy())


def test_nested_in_task_model_keeps_checkpoint_names(tiny_config):
    class Classifier(tf_keras.Model):
        def __init__(self):
            super().__init__(name="my_classifier")
            self.bert = BertModel(tiny_config)

        def build(self, input_shape):
            self.output_weights = self.add_weight("output_weights", shape=[5, 32])
            self.built = True  # Model.build(shape) would trace call() on float placeholders

        def call(self, ids):
            return tf.matmul(self.bert(ids)["pooled_output"], self.output_weights,
                             transpose_b=True)

    model = Classifier()
    model(tf.constant([[1, 2]]))
    names = set(checkpoint_names(model))
    assert "output_weights" in names
    assert "bert/encoder/layer_1/output/LayerNorm/gamma" in names
    assert len(names) == len(original_names.encoder_variables(TINY)) + 1


def test_get_config_round_trip(tiny_config):
    model = BertModel(tiny_config)
    clone = BertModel.from_config(model.get_config())
    assert clone.config == tiny_config and clone.name == "bert"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_seeded_dropout_keeps_one_minus_rate_in_every_dtype(dtype):
    from bert_tf.layers.dropout import dropout
    seed = tf.constant([3, 4], tf.int64)
    x = tf.ones([1000, 1000], dtype)
    out = dropout(x, 0.1, True, seed).numpy().astype(np.float32)
    kept = out != 0
    # 1e6 draws (the keep rate's standard deviation is 3e-4; the seed makes it
    # deterministic). bfloat16 uniforms are multiples of 1/128: drawn in bfloat16, the mask
    # keeps 115/128 = 0.8984 (0.8990 with this seed).
    assert abs(kept.mean() - 0.9) < 5e-4
    np.testing.assert_allclose(out[kept], np.float32(tf.cast(1 / 0.9, dtype)))
    if dtype == "float32":  # the mask of TF's own stateless dropout, the same seed
        reference = tf.nn.experimental.stateless_dropout(x, rate=0.1, seed=seed).numpy()
        np.testing.assert_array_equal(out, reference)


def test_seeded_dropout_is_a_function_of_the_seed(tiny_config):
    model = _built(tiny_config)
    ids = tf.constant([[5, 6, 7, 8]] * 2)

    def run(seed):
        return model({"input_ids": ids, "dropout_seed": tf.constant(seed, tf.int64)},
                     training=True)["sequence_output"].numpy()

    np.testing.assert_array_equal(run([1, 2]), run([1, 2]))
    assert not np.allclose(run([1, 2]), run([1, 3]))
    # Without training the seed changes nothing.
    eval_out = model({"input_ids": ids, "dropout_seed": tf.constant([1, 2], tf.int64)})
    np.testing.assert_array_equal(eval_out["sequence_output"].numpy(),
                                  model(ids)["sequence_output"].numpy())
