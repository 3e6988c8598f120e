"""A task whose model has two heads (as MLM + NSP will): logits as a dict reach the loss and
the outputs, training runs, prediction collects both heads' outputs, and a per-token feature
the task does not name is never cut by dynamic padding."""

import numpy as np
import tensorflow as tf

from bert_tf.config import BertConfig
from bert_tf.heads import OutputHead
from bert_tf.task_model import BertTaskModel
from bert_tf.tasks.base import IS_REAL_EXAMPLE, Task
from bert_tf.training import Engine, TrainingConfig, create_strategy
from tests.conftest import TINY

S = 16


class _TwoHeads(BertTaskModel):
    """A pooled head ("sentence", 2 classes) and a per-token head ("token", 3 classes)."""

    def __init__(self, config):
        super().__init__(config, 2, per_token=False, classifier_dropout=0.0, name="two_heads")
        self.token_head = OutputHead(3, 0.0, "cls/token", name="token_head")

    def call(self, features, training=None):
        outputs = self.bert(features, training=training)
        return {"sentence": self.head(outputs["pooled_output"], training=training),
                "token": self.token_head(outputs["sequence_output"], training=training)}

    def checkpoint_variables(self):
        names = super().checkpoint_variables()
        names.update(self.token_head.checkpoint_variables())
        return names


class _TwoHeadTask(Task):
    def __init__(self, config):
        self.config = config

    def build_model(self):
        return _TwoHeads(self.config)

    def loss(self, logits, features):
        real = tf.cast(features[IS_REAL_EXAMPLE], tf.float32)
        sentence = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=features["sentence_label"], logits=logits["sentence"])        # [B]
        token = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=features["input_ids"] % 3, logits=logits["token"])            # [B, L]
        mask = tf.cast(features["input_mask"], tf.float32)
        per_example = sentence + tf.reduce_sum(token * mask, 1) / tf.reduce_sum(mask, 1)
        return tf.reduce_sum(per_example * real), tf.reduce_sum(real)

    def outputs(self, logits, features):
        # `positions` is [S]-shaped like input_ids but not a per-token feature: it must come
        # through uncut (its last entries are beyond every example's length).
        return {"sentence_probabilities": tf.nn.softmax(logits["sentence"]),
                "token_ids": tf.argmax(logits["token"], -1, output_type=tf.int32),
                "positions": features["positions"]}


def test_dict_logits_train_and_predict(tmp_path):
    config = BertConfig(**dict(TINY, max_position_embeddings=S))
    rng = np.random.default_rng(0)
    n = 12
    lengths = rng.integers(2, 6, size=n)
    mask = (np.arange(S)[None] < lengths[:, None]).astype(np.int32)
    positions = np.tile(np.arange(S, dtype=np.int32)[::-1], (n, 1))  # [n, S], S-1 .. 0
    dataset = tf.data.Dataset.from_tensor_slices({
        "input_ids": rng.integers(1, TINY["vocab_size"], size=(n, S)).astype(np.int32) * mask,
        "input_mask": mask, "segment_ids": np.zeros((n, S), np.int32),
        "sentence_label": rng.integers(0, 2, size=n).astype(np.int32),
        "positions": positions})
    engine = Engine(_TwoHeadTask(config), create_strategy("one_device"), str(tmp_path), seed=1)
    trained = engine.train(dataset, TrainingConfig(train_batch_size=4, num_train_steps=3,
                                                   num_warmup_steps=0, learning_rate=1e-3,
                                                   save_checkpoints_steps=3))
    assert trained["global_step"] == 3 and np.isfinite(trained["loss"])
    assert tf.train.load_checkpoint(str(tmp_path / "model.ckpt-3")).has_tensor(
        "cls/token/output_weights")
    outputs, loss = engine.predict(dataset, n, 4)
    assert outputs["sentence_probabilities"].shape == (n, 2)
    assert outputs["token_ids"].shape == (n, S)  # cut batches padded back to S
    np.testing.assert_array_equal(outputs["positions"], positions)  # never cut
    assert np.isfinite(loss)
