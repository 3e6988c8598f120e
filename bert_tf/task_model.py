"""A task model: the BERT encoder plus one output head; the same class serves every runner."""

from typing import Dict

import tensorflow as tf
import tf_keras

from bert_tf.config import BertConfig
from bert_tf.heads import OutputHead
from bert_tf.layers.dropout import fold_seed
from bert_tf.modeling import BertModel
from bert_tf.variable_names import checkpoint_name

# Dropout-seed salt for the head, distinct from the encoder's (0 and 1, see BertModel).
_HEAD_SEED_SALT = 7


class BertTaskModel(tf_keras.Model):
    """Encoder + `OutputHead` on the pooled output (classification) or every token.

    Args:
        config: the encoder's BertConfig.
        num_labels: head width C (1 for regression, 2 for SQuAD start/end).
        per_token: False: head on `pooled_output` -> [B, C]; True: on `sequence_output`
            -> [B, S, C].
        classifier_dropout: see `OutputHead`.
        head_checkpoint_scope: see `OutputHead`.

    Call with the BertModel input dict (input_ids, input_mask, segment_ids, optional
    dropout_seed); returns float32 logits.
    """

    def __init__(self, config: BertConfig, num_labels: int, per_token: bool = False,
                 classifier_dropout: float = 0.1, head_checkpoint_scope: str = "",
                 name: str = "bert_task", **kwargs):
        super().__init__(name=name, **kwargs)
        self.config = config
        self.num_labels = num_labels
        self.per_token = per_token
        self.classifier_dropout = classifier_dropout
        self.head_checkpoint_scope = head_checkpoint_scope
        self.bert = BertModel(config)
        self.head = OutputHead(num_labels, classifier_dropout, head_checkpoint_scope,
                               name="output_head")

    def call(self, features, training=None):
        outputs = self.bert(features, training=training)
        x = outputs["sequence_output"] if self.per_token else outputs["pooled_output"]
        return self.head(x, training=training,
                         seed=fold_seed(features.get("dropout_seed"), _HEAD_SEED_SALT))

    def build_with_dummy_inputs(self):
        if not self.built:
            self({"input_ids": tf.zeros([1, 2], tf.int32)}, training=False)
        return self

    def checkpoint_variables(self) -> Dict[str, tf.Variable]:
        """Original checkpoint names: `bert/...` for the encoder, the head's own names."""
        names = {checkpoint_name(v.name, self.name): v for v in self.bert.variables}
        names.update(self.head.checkpoint_variables())
        return names

    def get_config(self):
        return {"config": self.config.to_dict(), "num_labels": self.num_labels,
                "per_token": self.per_token, "classifier_dropout": self.classifier_dropout,
                "head_checkpoint_scope": self.head_checkpoint_scope, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)
