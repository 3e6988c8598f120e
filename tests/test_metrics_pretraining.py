import numpy as np

from bert_tf.metrics.pretraining import pretraining_metrics


def test_weighted_as_tf_metrics_over_all_positions_and_examples():
    ids = np.array([[5, 6, 0], [7, 0, 0]])
    weights = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    predictions = np.array([[5, 9, 0], [7, 3, 3]])   # padding positions "correct" or not:
    losses = np.array([[0.5, 2.0, 9.0], [1.0, 9.0, 9.0]])  # they weigh nothing
    metrics = pretraining_metrics(ids, weights, predictions, losses,
                                  next_sentence_labels=np.array([[0], [1]]),
                                  next_sentence_predictions=np.array([0, 0]),
                                  next_sentence_example_loss=np.array([0.2, 1.4]))
    expected = {"masked_lm_accuracy": 2 / 3, "masked_lm_loss": 3.5 / 3,
                "next_sentence_accuracy": 0.5, "next_sentence_loss": 0.8}
    assert metrics.keys() == expected.keys()
    np.testing.assert_allclose([metrics[k] for k in expected], list(expected.values()),
                               rtol=1e-12)
    assert sorted(pretraining_metrics(ids, weights, predictions, losses)) == [
        "masked_lm_accuracy", "masked_lm_loss"]
