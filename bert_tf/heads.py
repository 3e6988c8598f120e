"""Task heads of the original runners: `output_weights [C, H]` and `output_bias [C]`.

The original classifier creates them at the top of the checkpoint (`output_weights`,
`output_bias`); run_squad under `cls/squad/`. Their weights are stored [out, in], unlike
dense kernels. A head says which checkpoint name each of its variables has.
Axes: B batch, S sequence, H hidden, C outputs.
"""

from typing import Dict

import tensorflow as tf
import tf_keras

from bert_tf.layers.dropout import dropout

# The original runners initialize heads with a fixed stddev of 0.02, not initializer_range.
HEAD_INITIALIZER_STDDEV = 0.02


class OutputHead(tf_keras.layers.Layer):
    """Dropout, then `x @ output_weights^T + output_bias`, logits in float32.

    Args:
        num_labels: C (labels; 1 for regression; 2 for SQuAD start/end).
        classifier_dropout: dropout on the head's input while training; the original classifier
            uses 0.1, run_squad none.
        checkpoint_scope: "" for the classifier, "cls/squad" for SQuAD.

    Call with [B, H] (pooled) or [B, S, H] (per token) -> [B, C] or [B, S, C].
    """

    def __init__(self, num_labels: int, classifier_dropout: float = 0.1,
                 checkpoint_scope: str = "", name: str = "output_head", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_labels = num_labels
        self.classifier_dropout = classifier_dropout
        self.checkpoint_scope = checkpoint_scope

    def build(self, input_shape):
        self.output_weights = self.add_weight(
            "output_weights", shape=[self.num_labels, input_shape[-1]],
            initializer=tf_keras.initializers.TruncatedNormal(stddev=HEAD_INITIALIZER_STDDEV))
        self.output_bias = self.add_weight("output_bias", shape=[self.num_labels],
                                           initializer="zeros")
        super().build(input_shape)

    def call(self, x, training=None, seed=None):
        x = dropout(x, self.classifier_dropout, training, seed)
        logits = tf.einsum("...h,ch->...c", x, self.output_weights) + self.output_bias
        return tf.cast(logits, tf.float32)

    def checkpoint_variables(self) -> Dict[str, tf.Variable]:
        prefix = f"{self.checkpoint_scope}/" if self.checkpoint_scope else ""
        return {f"{prefix}output_weights": self.output_weights,
                f"{prefix}output_bias": self.output_bias}

    def get_config(self):
        config = super().get_config()
        config.update(num_labels=self.num_labels, classifier_dropout=self.classifier_dropout,
                      checkpoint_scope=self.checkpoint_scope)
        return config
