"""Multi-head self-attention, scoped and named as the original `attention/self` block.

Axes: B batch, F query (from) positions, T key (to) positions, N heads, H head size,
D hidden = N * H.
"""

import math

import tensorflow as tf
import tf_keras

from bert_tf.layers.dropout import dropout
from bert_tf.layers.initializers import truncated_normal

# The original adds -10000 (not -inf) at padded key positions before the softmax: exp()
# underflows to exactly 0 in float32 and the value still fits in float16.
MASK_ADDER = -10000.0


def attention_mask_bias(input_mask, dtype):
    """input_mask: int/float [B, T] with 1 for real tokens -> additive bias [B, 1, 1, T]."""
    mask = tf.cast(input_mask, dtype)[:, tf.newaxis, tf.newaxis, :]
    return (1.0 - mask) * tf.cast(MASK_ADDER, dtype)


class BertSelfAttention(tf_keras.layers.Layer):
    """The original's `attention/self` scope: `query`, `key`, `value` dense layers ([D, D]).

    Args:
        num_attention_heads: N.
        head_size: H.
        attention_probs_dropout_prob: dropout on the attention probabilities.
        initializer_range: stddev of the truncated-normal kernel initializer.
    """

    def __init__(self, num_attention_heads, head_size, attention_probs_dropout_prob,
                 initializer_range, name="self", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_attention_heads = num_attention_heads
        self.head_size = head_size
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        width = num_attention_heads * head_size
        self.query, self.key, self.value = (
            tf_keras.layers.Dense(width, kernel_initializer=truncated_normal(initializer_range),
                                  name=name)
            for name in ("query", "key", "value"))

    def _split_heads(self, x, batch, length):
        return tf.reshape(x, [batch, length, self.num_attention_heads, self.head_size])

    def call(self, hidden_states, attention_bias, training=None, seed=None):
        """hidden_states: [B, S, D]; attention_bias: [B, 1, 1, S] -> context [B, S, D]."""
        batch, length = tf.shape(hidden_states)[0], tf.shape(hidden_states)[1]
        q = self._split_heads(self.query(hidden_states), batch, length)   # [B, F, N, H]
        k = self._split_heads(self.key(hidden_states), batch, length)     # [B, T, N, H]
        v = self._split_heads(self.value(hidden_states), batch, length)   # [B, T, N, H]
        # einsum reads the [B, S, N, H] layout directly: no transposes around the matmuls.
        scores = tf.einsum("bfnh,btnh->bnft", q, k)                       # [B, N, F, T]
        scores = scores * tf.constant(1.0 / math.sqrt(self.head_size), scores.dtype)
        scores += tf.cast(attention_bias, scores.dtype)
        # Softmax in float32 even under mixed precision (the -10000 bias and large logits);
        # a float64 model (the tests' reference comparison) keeps float64.
        softmax_dtype = tf.float64 if scores.dtype == tf.float64 else tf.float32
        probs = tf.nn.softmax(tf.cast(scores, softmax_dtype), axis=-1)
        probs = dropout(tf.cast(probs, self.compute_dtype), self.attention_probs_dropout_prob,
                        training, seed)
        context = tf.einsum("bnft,btnh->bfnh", probs, v)                  # [B, F, N, H]
        return tf.reshape(context, [batch, length, self.num_attention_heads * self.head_size])

    def get_config(self):
        config = super().get_config()
        config.update(num_attention_heads=self.num_attention_heads, head_size=self.head_size,
                      attention_probs_dropout_prob=self.attention_probs_dropout_prob,
                      initializer_range=self.initializer_range)
        return config
