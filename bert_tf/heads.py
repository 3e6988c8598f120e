"""Task heads of the original runners: `output_weights [C, H]` and `output_bias [C]`, and the
pretraining's masked-LM head.

The original classifier creates them at the top of the checkpoint (`output_weights`,
`output_bias`); run_squad under `cls/squad/`, the next-sentence head of run_pretraining under
`cls/seq_relationship/`. Their weights are stored [out, in], unlike dense kernels. The
masked-LM head (`cls/predictions/`) ties its output matrix to the word embeddings. A head says
which checkpoint name each of its variables has.
Axes: B batch, S sequence, P masked positions, H hidden, C outputs, V vocab.
"""

from typing import Dict

import tensorflow as tf
import tf_keras

from bert_tf.layers.activations import get_activation
from bert_tf.layers.dropout import dropout
from bert_tf.layers.embeddings import LAYER_NORM_EPSILON
from bert_tf.layers.initializers import truncated_normal

# The original runners initialize heads with a fixed stddev of 0.02, not initializer_range.
HEAD_INITIALIZER_STDDEV = 0.02


class OutputHead(tf_keras.layers.Layer):
    """Dropout, then `x @ output_weights^T + output_bias`, logits in float32.

    Args:
        num_labels: C (labels; 1 for regression; 2 for SQuAD start/end).
        classifier_dropout: dropout on the head's input while training; the original classifier
            uses 0.1, run_squad none.
        checkpoint_scope: "" for the classifier, "cls/squad" for SQuAD,
            "cls/seq_relationship" for next-sentence prediction.
        initializer_stddev: of `output_weights`; the fine-tuning runners fix 0.02, the
            pretraining's next-sentence head uses the config's initializer_range.

    Call with [B, H] (pooled) or [B, S, H] (per token) -> [B, C] or [B, S, C].
    """

    def __init__(self, num_labels: int, classifier_dropout: float = 0.1,
                 checkpoint_scope: str = "",
                 initializer_stddev: float = HEAD_INITIALIZER_STDDEV,
                 name: str = "output_head", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_labels = num_labels
        self.classifier_dropout = classifier_dropout
        self.checkpoint_scope = checkpoint_scope
        self.initializer_stddev = initializer_stddev

    def build(self, input_shape):
        self.output_weights = self.add_weight(
            "output_weights", shape=[self.num_labels, input_shape[-1]],
            initializer=tf_keras.initializers.TruncatedNormal(stddev=self.initializer_stddev))
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
                      checkpoint_scope=self.checkpoint_scope,
                      initializer_stddev=self.initializer_stddev)
        return config


class MaskedLMHead(tf_keras.layers.Layer):
    """The original's `cls/predictions`: dense + activation + LayerNorm (`transform`), then
    logits against the word embeddings (tied: the checkpoint has no output matrix of its own)
    plus `output_bias [V]`. No dropout, as the original.

    Args:
        hidden_size, hidden_act, initializer_range, vocab_size: as in `BertConfig`.

    Call with the hidden states at the masked positions [B, P, H] and the word embeddings
    [V, H] -> float32 logits [B, P, V]. Only the P gathered positions reach the vocabulary
    matmul, never all S.
    """

    CHECKPOINT_SCOPE = "cls/predictions"

    def __init__(self, hidden_size: int, hidden_act: str, initializer_range: float,
                 vocab_size: int, name: str = "masked_lm", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hidden_size = hidden_size
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.vocab_size = vocab_size
        self.dense = tf_keras.layers.Dense(
            hidden_size, activation=get_activation(hidden_act),
            kernel_initializer=truncated_normal(initializer_range), name="dense")
        self.layer_norm = tf_keras.layers.LayerNormalization(
            axis=-1, epsilon=LAYER_NORM_EPSILON, name="LayerNorm")

    def build(self, input_shape):
        self.output_bias = self.add_weight("output_bias", shape=[self.vocab_size],
                                           initializer="zeros")
        super().build(input_shape)

    def call(self, masked_states, word_embeddings):
        x = self.layer_norm(self.dense(masked_states))                       # [B, P, H]
        logits = tf.einsum("bph,vh->bpv", x, tf.cast(word_embeddings, x.dtype))  # [B, P, V]
        return tf.cast(logits + self.output_bias, tf.float32)

    def checkpoint_variables(self) -> Dict[str, tf.Variable]:
        scope = self.CHECKPOINT_SCOPE
        return {f"{scope}/transform/dense/kernel": self.dense.kernel,
                f"{scope}/transform/dense/bias": self.dense.bias,
                f"{scope}/transform/LayerNorm/gamma": self.layer_norm.gamma,
                f"{scope}/transform/LayerNorm/beta": self.layer_norm.beta,
                f"{scope}/output_bias": self.output_bias}

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, hidden_act=self.hidden_act,
                      initializer_range=self.initializer_range, vocab_size=self.vocab_size)
        return config
