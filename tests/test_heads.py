"""OutputHead: the original runners' `output_weights [C, H]` / `output_bias [C]` head."""

import numpy as np

from bert_tf.heads import OutputHead


def test_output_head_is_x_times_weights_transposed_plus_bias():
    head = OutputHead(num_labels=5, classifier_dropout=0.5)
    x = np.random.default_rng(0).standard_normal((3, 7, 32)).astype(np.float32)
    logits = head(x, training=False).numpy()  # no dropout outside training
    weights, bias = head.output_weights.numpy(), head.output_bias.numpy()
    assert weights.shape == (5, 32)  # stored [out, in], as the original's output_weights
    np.testing.assert_allclose(logits, x @ weights.T + bias, rtol=1e-5, atol=1e-6)


def test_output_head_checkpoint_names():
    for scope, prefix in (("", ""), ("cls/squad", "cls/squad/")):
        head = OutputHead(num_labels=2, checkpoint_scope=scope)
        head.build((None, 32))
        assert sorted(head.checkpoint_variables()) == [f"{prefix}output_bias",
                                                       f"{prefix}output_weights"]
