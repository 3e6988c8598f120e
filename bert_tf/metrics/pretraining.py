"""The pretraining eval metrics of the original run_pretraining.py, in NumPy.

The original's `metric_fn` feeds `tf.metrics` the flattened per-position values: the masked-LM
accuracy and loss are weighted by `masked_lm_weights` (padding positions weigh 0), the
next-sentence accuracy and loss are plain means over examples. Over several eval batches
`tf.metrics` accumulates sums, so these are the totals' ratios, not means of batch means.
Axes: N examples, P masked positions.
"""

from typing import Dict, Optional

import numpy as np


def _weighted_mean(values, weights):
    total = float(np.sum(weights))
    return float(np.sum(values * weights) / total) if total else 0.0


def pretraining_metrics(masked_lm_ids, masked_lm_weights, masked_lm_predictions,
                        masked_lm_example_loss, next_sentence_labels: Optional[np.ndarray] = None,
                        next_sentence_predictions: Optional[np.ndarray] = None,
                        next_sentence_example_loss: Optional[np.ndarray] = None
                        ) -> Dict[str, float]:
    """Args:
        masked_lm_ids, masked_lm_weights, masked_lm_predictions, masked_lm_example_loss:
            [N, P] (the records' features; the model's argmax and per-position loss).
        next_sentence_labels, next_sentence_predictions, next_sentence_example_loss: [N]
            (or [N, 1]); left out for a masked-LM-only model.

    Returns:
        masked_lm_accuracy, masked_lm_loss, and with the next-sentence inputs
        next_sentence_accuracy, next_sentence_loss (tf.metrics gives 0 where nothing counts).
    """
    weights = np.asarray(masked_lm_weights, np.float64)
    correct = (np.asarray(masked_lm_predictions) == np.asarray(masked_lm_ids))
    metrics = {
        "masked_lm_accuracy": _weighted_mean(correct, weights),
        "masked_lm_loss": _weighted_mean(np.asarray(masked_lm_example_loss, np.float64),
                                         weights),
    }
    if next_sentence_example_loss is not None:
        labels = np.reshape(next_sentence_labels, [-1])
        predictions = np.reshape(next_sentence_predictions, [-1])
        losses = np.reshape(next_sentence_example_loss, [-1]).astype(np.float64)
        metrics["next_sentence_accuracy"] = float(np.mean(predictions == labels)) if len(
            labels) else 0.0
        metrics["next_sentence_loss"] = float(np.mean(losses)) if len(losses) else 0.0
    return metrics
