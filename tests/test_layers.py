"""Every layer under bert_tf/layers (and the heads and CRF) round-trips through get_config:
the same constructor arguments under the same names, so `from_config` rebuilds it."""

import pytest

from bert_tf.crf import CrfLayer
from bert_tf.heads import OutputHead
from bert_tf.layers import (BertAttention, BertEmbeddings, BertSelfAttention,
                            DenseResidualNorm, Intermediate, TransformerBlock)

# Odd sizes, each different (as the tiny config): a swapped argument shows.
LAYERS = {
    "embeddings": lambda: BertEmbeddings(vocab_size=99, hidden_size=32, type_vocab_size=3,
                                         max_position_embeddings=11, initializer_range=0.03,
                                         hidden_dropout_prob=0.15),
    "self_attention": lambda: BertSelfAttention(num_attention_heads=4, head_size=8,
                                                attention_probs_dropout_prob=0.05,
                                                initializer_range=0.03),
    "attention": lambda: BertAttention(hidden_size=32, num_attention_heads=4,
                                       attention_probs_dropout_prob=0.05,
                                       hidden_dropout_prob=0.15, initializer_range=0.03),
    "dense_residual_norm": lambda: DenseResidualNorm(hidden_size=32, hidden_dropout_prob=0.15,
                                                     initializer_range=0.03),
    "intermediate": lambda: Intermediate(intermediate_size=37, hidden_act="relu",
                                         initializer_range=0.03),
    "transformer_block": lambda: TransformerBlock(
        hidden_size=32, num_attention_heads=4, intermediate_size=37, hidden_act="gelu",
        hidden_dropout_prob=0.15, attention_probs_dropout_prob=0.05, initializer_range=0.03,
        name="layer_1"),
    "output_head": lambda: OutputHead(num_labels=5, classifier_dropout=0.2,
                                      checkpoint_scope="cls/squad"),
    "crf": lambda: CrfLayer(num_labels=5, use_boundary_transitions=True),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_get_config_round_trip(name):
    layer = LAYERS[name]()
    config = layer.get_config()
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == config
    assert rebuilt.name == layer.name


def test_every_layer_class_is_covered():
    import bert_tf.layers as layers
    import tf_keras
    classes = {obj for obj in vars(layers).values()
               if isinstance(obj, type) and issubclass(obj, tf_keras.layers.Layer)}
    covered = {type(make()) for make in LAYERS.values()}
    assert classes - covered == set()
