"""Span question answering (SQuAD) as an engine `Task`, as the original run_squad.py.

Head `cls/squad/output_weights [2, H]`, `cls/squad/output_bias [2]` on every position of the
sequence output (no dropout on it by default, as the original); loss = mean of the start and end
softmax cross-entropies over positions.
Axes: B batch, S sequence.
"""

import tensorflow as tf

from bert_tf.config import BertConfig
from bert_tf.task_model import BertTaskModel
from bert_tf.tasks.base import IS_REAL_EXAMPLE, Task

SQUAD_SCOPE = "cls/squad"


# The original run_squad puts no dropout on the sequence output before its span head.
SQUAD_DROPOUT_PROB = 0.0


class SquadTask(Task):
    """Args: config; classifier_dropout on the sequence output while training (default 0,
    as the original)."""

    # The original's start/end softmax runs over all max_seq_length positions, padding
    # included (its logits are not masked): training batches are never cut (prediction
    # still is: the logits at the real positions are the same).
    loss_reads_padding = True

    def __init__(self, config: BertConfig, classifier_dropout: float = SQUAD_DROPOUT_PROB):
        self.config = config
        self.classifier_dropout = classifier_dropout

    def build_model(self):
        return BertTaskModel(self.config, 2, per_token=True,
                             classifier_dropout=self.classifier_dropout,
                             head_checkpoint_scope=SQUAD_SCOPE, name="bert_squad")

    def loss(self, logits, features):
        real = tf.cast(features[IS_REAL_EXAMPLE], tf.float32)                     # [B]
        start_logits, end_logits = logits[..., 0], logits[..., 1]                 # [B, S]
        start = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=features["start_positions"], logits=start_logits)              # [B]
        end = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=features["end_positions"], logits=end_logits)                  # [B]
        return tf.reduce_sum((start + end) / 2.0 * real), tf.reduce_sum(real)

    def outputs(self, logits, features):
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
