"""Token classification (NER) as an engine `Task`: per-token softmax, or a linear-chain CRF.

The head is the classifier's `output_weights [C, H]`, `output_bias [C]` applied to every
position of the sequence output; `--use_crf` adds a CRF (`crf/transitions [C, C]`) over the
labelled positions (`label_mask`: each word's first piece), skipping the others.
Only labelled positions count in the loss and the metrics; [CLS], [SEP], padding and
continuation pieces never do.
Axes: B batch, S sequence, C labels.
"""

import tensorflow as tf

from bert_tf.config import BertConfig
from bert_tf.crf import CrfLayer
from bert_tf.task_model import BertTaskModel
from bert_tf.tasks.base import IS_REAL_EXAMPLE, Task

# Dropout on the sequence output before the token classifier, as on the pooled output of the
# original classifier.
TOKEN_CLASSIFIER_DROPOUT_PROB = 0.1


class BertTokenClassifier(BertTaskModel):
    """Encoder + per-token head (+ CRF). Call -> emissions float32 [B, S, C]."""

    def __init__(self, config: BertConfig, num_labels: int, use_crf: bool = False,
                 classifier_dropout: float = TOKEN_CLASSIFIER_DROPOUT_PROB,
                 name: str = "bert_token_classifier", crf: CrfLayer = None, **kwargs):
        """crf: an existing CrfLayer to use (shared with the task); default a new one."""
        super().__init__(config, num_labels, per_token=True,
                         classifier_dropout=classifier_dropout, name=name, **kwargs)
        self.use_crf = use_crf
        self.crf = (crf or CrfLayer(num_labels, name="crf")) if use_crf else None

    def build_with_dummy_inputs(self):
        super().build_with_dummy_inputs()
        if self.crf is not None and not self.crf.built:
            self.crf.build(None)
        return self

    def checkpoint_variables(self):
        names = super().checkpoint_variables()
        if self.crf is not None:
            names["crf/transitions"] = self.crf.transitions
        return names

    def get_config(self):
        config = super().get_config()
        for key in ("per_token", "head_checkpoint_scope"):
            config.pop(key)
        config.update(use_crf=self.use_crf)
        return config


def serving_label_mask(input_mask):
    """Labelled positions when only the three model inputs are known (a SavedModel): every
    real piece except [CLS] (first) and [SEP] (last real): int32 [B, S]."""
    input_mask = tf.cast(input_mask, tf.int32)
    length = tf.reduce_sum(input_mask, axis=1, keepdims=True)                  # [B, 1]
    positions = tf.range(tf.shape(input_mask)[1])[tf.newaxis]                   # [1, S]
    return input_mask * tf.cast((positions > 0) & (positions < length - 1), tf.int32)


class TokenClassificationTask(Task):
    """Args: config; num_labels C; use_crf; classifier_dropout on the sequence output."""

    def __init__(self, config: BertConfig, num_labels: int, use_crf: bool = False,
                 classifier_dropout: float = TOKEN_CLASSIFIER_DROPOUT_PROB):
        self.config = config
        self.num_labels = num_labels
        self.use_crf = use_crf
        self.classifier_dropout = classifier_dropout
        # The task owns the CRF: loss and outputs need it, and every model the task builds
        # (the trained one, its float32 serving twin) shares it.
        self.crf = CrfLayer(num_labels, name="crf") if use_crf else None

    def build_model(self):
        return BertTokenClassifier(self.config, self.num_labels, self.use_crf,
                                   self.classifier_dropout, crf=self.crf)

    def loss(self, logits, features):
        real = tf.cast(features[IS_REAL_EXAMPLE], tf.float32)                   # [B]
        mask = features["label_mask"]                                           # [B, S]
        if self.use_crf:
            log_likelihood = self.crf.log_likelihood(logits, features["label_ids"],
                                                           mask)                # [B]
            has_labels = tf.cast(tf.reduce_any(mask > 0, axis=1), tf.float32) * real
            return -tf.reduce_sum(log_likelihood * has_labels), tf.reduce_sum(has_labels)
        weights = tf.cast(mask, tf.float32) * real[:, tf.newaxis]               # [B, S]
        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=features["label_ids"], logits=logits)                        # [B, S]
        return tf.reduce_sum(per_token * weights), tf.reduce_sum(weights)

    def outputs(self, logits, features):
        """probabilities [B, S, C] (CRF: marginals) and label_ids [B, S] (CRF: Viterbi)."""
        mask = features.get("label_mask")
        if mask is None:
            mask = serving_label_mask(features["input_mask"])
        if self.use_crf:
            best, _ = self.crf.decode(logits, mask)
            return {"probabilities": self.crf.marginals(logits, mask),
                    "label_ids": tf.cast(best, tf.int32)}
        return {"probabilities": tf.nn.softmax(logits, axis=-1),
                "label_ids": tf.argmax(logits, axis=-1, output_type=tf.int32)}
