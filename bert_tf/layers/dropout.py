"""Dropout whose mask can be a pure function of a seed, for exact resume.

A training run killed and resumed from a checkpoint must end with the same weights as an
uninterrupted run. Keras' stateful dropout cannot be restored from a checkpoint, so the
training engine passes an int64 [2] `seed` derived from (run seed, global step, replica);
each dropout site folds in its own constant salt. Without a seed, dropout is the usual
stateful op.
"""

import tensorflow as tf


def fold_seed(seed, salt: int):
    """A distinct seed for one dropout site (None stays None)."""
    if seed is None:
        return None
    return tf.random.experimental.stateless_fold_in(seed, salt)


def dropout(x, rate: float, training, seed=None):
    """Inverted dropout as the original (`tf.nn.dropout`), identity unless training.

    Args:
        x: float tensor.
        rate: fraction of units dropped.
        training: Python bool, None (= False) or a bool tensor.
        seed: optional int64 [2]; with it the mask depends on nothing else.
    """
    if rate == 0.0 or training is None or training is False:
        return x

    def drop():
        if seed is None:
            return tf.nn.dropout(x, rate=rate)
        # What tf.nn.experimental.stateless_dropout computes, with the uniform draw in float32
        # whatever x's dtype (the same mask for float32): bfloat16 uniforms are multiples of
        # 1/128, so rate 0.1 would keep 115/128 of the units instead of 0.9, and on CPUs
        # they are slower to draw.
        keep = tf.random.stateless_uniform(tf.shape(x), seed=seed, dtype=tf.float32) >= rate
        return tf.where(keep, x * tf.cast(1.0 / (1.0 - rate), x.dtype), tf.zeros([], x.dtype))

    if tf.is_tensor(training):
        return tf.cond(training, drop, lambda: tf.identity(x))
    return drop()
