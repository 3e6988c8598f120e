"""What the engine needs to know about a task, and the feature names it adds itself.

A task builds its model (encoder + heads), turns the model's logits into a loss, and names the
per-example outputs prediction collects. Logits may be one tensor or a dict of tensors (one per
head, e.g. MLM + NSP): the engine only passes them from the model to `loss` and `outputs`.
"""

import abc
from typing import Dict, Tuple

import tensorflow as tf
import tf_keras

from bert_tf.data.dynamic_padding import SEQUENCE_FEATURES

# Features the engine adds: 1 for a real example, 0 for the padding that fills the last batch.
IS_REAL_EXAMPLE = "is_real_example"
# Position of an example in its dataset; prediction puts its outputs back in this order.
EXAMPLE_INDEX = "example_index"


class Task(abc.ABC):
    """What the engine needs to know about a task."""

    # Per-token features ([S]) that dynamic padding may cut; a task with others adds them.
    sequence_features: Tuple[str, ...] = SEQUENCE_FEATURES
    # True when the loss reads the padded positions too (SQuAD's softmax over all S
    # positions, as the original): the engine then trains on batches padded to S, since a
    # cut batch would drop those terms and train another loss.
    loss_reads_padding: bool = False
    # True when the loss is a mean over the batch rather than a sum of per-example terms
    # (pretraining's masked-LM loss divides by the batch's number of masked positions):
    # grouping examples by length would reweight them, so the engine keeps every batch in
    # input order at max_seq_length, training and predicting.
    loss_is_batch_mean: bool = False

    @abc.abstractmethod
    def build_model(self) -> tf_keras.Model:
        """A new task model (e.g. `BertTaskModel`) taking the feature dict; returns logits:
        one float32 tensor, or a dict of them for a model with several heads.

        Called again (under a float32 policy) for the serving twin of `Engine.export`:
        state that `loss`/`outputs` use (a CRF) must be shared by every model built.
        """

    @abc.abstractmethod
    def loss(self, logits, features) -> Tuple[tf.Tensor, tf.Tensor]:
        """(sum of per-example losses, number of examples counted), float32 scalars.

        Examples with features["is_real_example"] == 0 (padding) must count zero.
        """

    @abc.abstractmethod
    def outputs(self, logits, features) -> Dict[str, tf.Tensor]:
        """Per-example tensors to collect during prediction (first axis = examples)."""
