"""BertPretrainingModel: the encoder with the original's masked-LM and next-sentence heads.

As the original `run_pretraining.py` builds them: the encoder's sequence output is gathered at
`masked_lm_positions` and goes through `cls/predictions` (logits against the tied word
embeddings); the pooled output goes through `cls/seq_relationship` ([2, H] weights, the
config's initializer_range). Every variable has its original checkpoint name, so a released
`bert_model.ckpt` loads with nothing left over but `global_step`.

Axes: B batch, S sequence, P masked positions (max_predictions_per_seq), H hidden, V vocab.
"""

from typing import Dict

import tensorflow as tf
import tf_keras

from bert_tf.config import BertConfig
from bert_tf.heads import MaskedLMHead, OutputHead
from bert_tf.modeling import BertModel
from bert_tf.variable_names import checkpoint_name

NEXT_SENTENCE_SCOPE = "cls/seq_relationship"
MASKED_LM_LOGITS = "masked_lm_logits"
NEXT_SENTENCE_LOGITS = "next_sentence_logits"


def gather_positions(sequence_output, positions):
    """[B, S, H] at int [B, P] positions -> [B, P, H] (the original's `gather_indexes`)."""
    return tf.gather(sequence_output, tf.cast(positions, tf.int32), batch_dims=1)


class BertPretrainingModel(tf_keras.Model):
    """Encoder + masked-LM head + next-sentence head.

    Args:
        config: the encoder's BertConfig.

    Call with the BertModel input dict plus `masked_lm_positions` (int [B, P]; without it,
    position 0 is predicted, which only the build uses). Returns float32 logits:
        masked_lm_logits: [B, P, V]
        next_sentence_logits: [B, 2] (0 = B follows A, 1 = B is random, as the records' labels)

    Example:
        >>> config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
        ...                     num_attention_heads=4, intermediate_size=37)
        >>> logits = BertPretrainingModel(config)({"input_ids": tf.constant([[2, 7, 4, 3]]),
        ...                                        "masked_lm_positions": tf.constant([[2]])})
        >>> logits["masked_lm_logits"].shape
        TensorShape([1, 1, 99])
    """

    def __init__(self, config: BertConfig, name: str = "bert_pretraining", **kwargs):
        super().__init__(name=name, **kwargs)
        self.config = config
        self.bert = BertModel(config)
        self.masked_lm = MaskedLMHead(config.hidden_size, config.hidden_act,
                                      config.initializer_range, config.vocab_size,
                                      name="masked_lm")
        self.next_sentence = OutputHead(2, classifier_dropout=0.0,
                                        checkpoint_scope=NEXT_SENTENCE_SCOPE,
                                        initializer_stddev=config.initializer_range,
                                        name="next_sentence")

    def call(self, features, training=None):
        outputs = self.bert(features, training=training)
        positions = features.get("masked_lm_positions")
        if positions is None:
            positions = tf.zeros([tf.shape(features["input_ids"])[0], 1], tf.int32)
        masked_states = gather_positions(outputs["sequence_output"], positions)  # [B, P, H]
        return {
            MASKED_LM_LOGITS: self.masked_lm(masked_states,
                                             self.bert.embeddings.word_embeddings),
            NEXT_SENTENCE_LOGITS: self.next_sentence(outputs["pooled_output"],
                                                     training=training),
        }

    def build_with_dummy_inputs(self):
        if not self.built:
            self({"input_ids": tf.zeros([1, 2], tf.int32)}, training=False)
        return self

    def checkpoint_variables(self) -> Dict[str, tf.Variable]:
        """Original checkpoint names: `bert/...`, `cls/predictions/...`,
        `cls/seq_relationship/...`."""
        names = {checkpoint_name(v.name, self.name): v for v in self.bert.variables}
        names.update(self.masked_lm.checkpoint_variables())
        names.update(self.next_sentence.checkpoint_variables())
        return names

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(BertConfig.from_dict(config["config"]), name=config.get("name"))
