"""PretrainingTask's loss against a NumPy transcription of the original's
get_masked_lm_output / get_next_sentence_output, and its per-example outputs."""

import numpy as np
import tensorflow as tf

from bert_tf.config import BertConfig
from bert_tf.pretraining_model import MASKED_LM_LOGITS, NEXT_SENTENCE_LOGITS
from bert_tf.tasks.base import IS_REAL_EXAMPLE
from bert_tf.tasks.pretraining import PretrainingTask
from tests.conftest import TINY

B, P, V = 5, 4, 11


def _case(seed=0):
    rng = np.random.default_rng(seed)
    logits = {MASKED_LM_LOGITS: (3 * rng.standard_normal((B, P, V))).astype(np.float32),
              NEXT_SENTENCE_LOGITS: (3 * rng.standard_normal((B, 2))).astype(np.float32)}
    weights = (np.arange(P)[None] < np.array([4, 2, 1, 3, 4])[:, None]).astype(np.float32)
    features = {"masked_lm_ids": (rng.integers(1, V, (B, P)) * weights).astype(np.int32),
                "masked_lm_weights": weights,
                "next_sentence_labels": rng.integers(0, 2, (B, 1)).astype(np.int32),
                IS_REAL_EXAMPLE: np.array([1, 1, 1, 1, 0], np.int32)}  # one padding example
    return logits, features


def _numpy_loss(logits, features, next_sentence=True):
    real = features[IS_REAL_EXAMPLE].astype(np.float64)
    mlm = logits[MASKED_LM_LOGITS].astype(np.float64)
    log_probs = mlm - np.log(np.exp(mlm).sum(-1, keepdims=True))
    one_hot = np.eye(V)[features["masked_lm_ids"]]
    per_position = -(log_probs * one_hot).sum(-1)                                  # [B, P]
    weights = features["masked_lm_weights"] * real[:, None]
    loss = (weights * per_position).sum() / (weights.sum() + 1e-5)
    if next_sentence:
        nsp = logits[NEXT_SENTENCE_LOGITS].astype(np.float64)
        nsp_log_probs = nsp - np.log(np.exp(nsp).sum(-1, keepdims=True))
        per_example = -(nsp_log_probs * np.eye(2)[features["next_sentence_labels"][:, 0]]).sum(-1)
        loss += (per_example * real).sum() / real.sum()
    return loss


def test_loss_is_the_originals_weighted_masked_lm_mean_plus_next_sentence_mean():
    logits, features = _case()
    for next_sentence in (True, False):
        task = PretrainingTask(BertConfig(**TINY), next_sentence=next_sentence)
        loss_sum, count = task.loss({k: tf.constant(v) for k, v in logits.items()},
                                    {k: tf.constant(v) for k, v in features.items()})
        assert float(count) == 4  # the padding example counts zero
        np.testing.assert_allclose(float(loss_sum) / float(count),
                                   _numpy_loss(logits, features, next_sentence), rtol=1e-6)


def test_outputs_are_per_position_argmax_and_loss():
    logits, features = _case(1)
    task = PretrainingTask(BertConfig(**TINY))
    out = task.outputs({k: tf.constant(v) for k, v in logits.items()},
                       {k: tf.constant(v) for k, v in features.items()})
    np.testing.assert_array_equal(out["masked_lm_predictions"].numpy(),
                                  logits[MASKED_LM_LOGITS].argmax(-1))
    np.testing.assert_array_equal(out["next_sentence_predictions"].numpy(),
                                  logits[NEXT_SENTENCE_LOGITS].argmax(-1))
    mlm = logits[MASKED_LM_LOGITS].astype(np.float64)
    expected = np.log(np.exp(mlm).sum(-1)) - np.take_along_axis(
        mlm, features["masked_lm_ids"][..., None], -1)[..., 0]
    np.testing.assert_allclose(out["masked_lm_example_loss"].numpy(), expected, rtol=1e-5)
    assert "next_sentence_predictions" not in PretrainingTask(
        BertConfig(**TINY), next_sentence=False).outputs(
        {k: tf.constant(v) for k, v in logits.items()},
        {k: tf.constant(v) for k, v in features.items()})


def test_batches_are_never_cut_or_regrouped():
    assert PretrainingTask.loss_is_batch_mean
