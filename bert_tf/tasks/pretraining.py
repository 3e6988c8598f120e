"""Masked-LM and next-sentence pretraining as an engine `Task`, as the original
run_pretraining.py.

Loss, as the original `get_masked_lm_output` / `get_next_sentence_output`: the masked-LM
cross-entropy of each predicted position, weighted by `masked_lm_weights` (0 for the padding
positions) and divided by sum(weights) + 1e-5, plus the mean next-sentence cross-entropy.
Both are means over one batch, not sums over examples: the engine weights every replica's and
micro-batch's loss alike (batches are equal), as the original's TPU shards averaged theirs.
`next_sentence=False` trains the masked LM alone (RoBERTa-style); the next-sentence head then
keeps its loaded weights.

Axes: B batch, P masked positions, V vocab.
"""

import tensorflow as tf

from bert_tf.config import BertConfig
from bert_tf.pretraining_model import (MASKED_LM_LOGITS, NEXT_SENTENCE_LOGITS,
                                       BertPretrainingModel)
from bert_tf.tasks.base import IS_REAL_EXAMPLE, Task

# The original's guard against a batch without a masked position.
MASKED_LM_DENOMINATOR_EPSILON = 1e-5


def masked_lm_example_loss(logits, features):
    """Cross-entropy of each masked position: float32 [B, P] (padding positions included:
    their weight is 0)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(features["masked_lm_ids"], tf.int32), logits=logits[MASKED_LM_LOGITS])


def next_sentence_example_loss(logits, features):
    """Cross-entropy of each example's next-sentence label: float32 [B]."""
    labels = tf.reshape(tf.cast(features["next_sentence_labels"], tf.int32), [-1])
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits[NEXT_SENTENCE_LOGITS])


class PretrainingTask(Task):
    """Args:
        config: encoder config.
        next_sentence: add the next-sentence loss (the original); False: masked LM only.
    """

    loss_is_batch_mean = True

    def __init__(self, config: BertConfig, next_sentence: bool = True):
        self.config = config
        self.next_sentence = next_sentence

    def build_model(self):
        return BertPretrainingModel(self.config)

    def loss(self, logits, features):
        real = tf.cast(features[IS_REAL_EXAMPLE], tf.float32)                      # [B]
        weights = tf.cast(features["masked_lm_weights"], tf.float32) * real[:, None]  # [B, P]
        per_position = masked_lm_example_loss(logits, features)                    # [B, P]
        loss = tf.reduce_sum(weights * per_position) / (
            tf.reduce_sum(weights) + MASKED_LM_DENOMINATOR_EPSILON)
        count = tf.reduce_sum(real)
        if self.next_sentence:
            per_example = next_sentence_example_loss(logits, features)             # [B]
            loss += tf.reduce_sum(per_example * real) / tf.maximum(count, 1.0)
        # The engine divides by count: this batch's loss, as the original computes it.
        return loss * count, count

    def outputs(self, logits, features):
        outputs = {
            "masked_lm_predictions": tf.argmax(logits[MASKED_LM_LOGITS], axis=-1,
                                               output_type=tf.int32),              # [B, P]
            "masked_lm_example_loss": masked_lm_example_loss(logits, features),    # [B, P]
        }
        if self.next_sentence:
            outputs["next_sentence_predictions"] = tf.argmax(
                logits[NEXT_SENTENCE_LOGITS], axis=-1, output_type=tf.int32)      # [B]
            outputs["next_sentence_example_loss"] = next_sentence_example_loss(
                logits, features)                                                  # [B]
        return outputs
