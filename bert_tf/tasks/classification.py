"""Sentence(-pair) classification and regression as an engine `Task`, as run_classifier does.

Classification: softmax cross-entropy over `output_weights [C, H]` on the pooled output
(dropout 0.1), as the original `create_model`. Regression (STS-B, custom): one output, mean
squared error, the prediction is the score.
Axes: B batch, C labels.
"""

import tensorflow as tf

from bert_tf.config import BertConfig
from bert_tf.task_model import BertTaskModel
from bert_tf.tasks.base import IS_REAL_EXAMPLE, Task

# The original classifier's dropout on the pooled output.
CLASSIFIER_DROPOUT_PROB = 0.1


class ClassificationTask(Task):
    """Args:
        config: encoder config.
        num_labels: C; ignored for regression (one output).
        is_regression: mean squared error on a single score instead of cross-entropy.
        classifier_dropout: dropout on the pooled output while training (the original: 0.1).
    """

    def __init__(self, config: BertConfig, num_labels: int, is_regression: bool = False,
                 classifier_dropout: float = CLASSIFIER_DROPOUT_PROB):
        self.config = config
        self.classifier_dropout = classifier_dropout
        self.num_labels = 1 if is_regression else num_labels
        self.is_regression = is_regression

    def build_model(self):
        return BertTaskModel(self.config, self.num_labels, per_token=False,
                             classifier_dropout=self.classifier_dropout,
                             name="bert_classifier")

    def loss(self, logits, features):
        real = tf.cast(features[IS_REAL_EXAMPLE], tf.float32)                     # [B]
        if self.is_regression:
            per_example = tf.square(logits[:, 0] - tf.cast(features["label_ids"], tf.float32))
        else:
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=features["label_ids"], logits=logits)                        # [B]
        return tf.reduce_sum(per_example * real), tf.reduce_sum(real)

    def outputs(self, logits, features):
        if self.is_regression:
            return {"score": logits[:, 0]}
        return {"probabilities": tf.nn.softmax(logits, axis=-1)}
