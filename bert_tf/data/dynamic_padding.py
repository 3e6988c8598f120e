"""Dynamic padding: each batch cut to its longest example, examples grouped by length.

Features are stored padded to max_seq_length S, but most examples are much shorter, and the
padded positions cost as much compute as real ones. The masked positions change nothing in
the real positions' results (the attention bias of -10000 makes their softmax weight exactly
0 in float32), so a batch can be cut to the length of its longest example, rounded up to a
multiple (fewer distinct shapes for XLA and oneDNN to compile for). Grouping examples of
similar length into the same batch makes the cut worth more.

Sequence features are named, never guessed from a shape: `SEQUENCE_FEATURES` (or a task's
own list) of the features that have one value per token, [S] like input_ids. Anything else
(labels, answer positions, masked_lm_positions [P] even when P == S) is never cut.
Axes: B batch, S max_seq_length, L the batch's cut length.
"""

from typing import Any, Dict, List, Sequence

import numpy as np
import tensorflow as tf

# Batches per length-sorting window: large enough that most batches hold examples of
# similar length, small enough that batches still mix the data (as Hugging Face's
# length-grouped sampler does with 50).
LENGTH_GROUP_BATCHES = 32

# The features with one value per token, [S]; label_ids only where it is per token (NER),
# not the classifier's scalar label.
SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids", "label_ids", "label_mask")


def sequence_feature_names(element_spec,
                           sequence_features: Sequence[str] = SEQUENCE_FEATURES) -> List[str]:
    """The features of `sequence_features` in `element_spec` that are per token (shaped
    like `input_ids`: [S] unbatched, [B, S] batched)."""
    shape = element_spec["input_ids"].shape
    return sorted(name for name in sequence_features
                  if name in element_spec and element_spec[name].shape == shape)


def example_lengths(features) -> tf.Tensor:
    """Real tokens per example: int32 [B] from input_mask [B, S]."""
    return tf.reduce_sum(tf.cast(features["input_mask"], tf.int32), axis=-1)


def cut_batch(features, names, multiple: int):
    """Cuts the sequence features `names` of a batch to L = the longest example rounded up
    to `multiple` (at least `multiple`, at most S)."""
    full = tf.shape(features["input_ids"])[1]
    longest = tf.reduce_max(example_lengths(features))
    width = tf.minimum(tf.maximum((longest + multiple - 1) // multiple * multiple, multiple),
                       full)
    return {name: value[:, :width] if name in names else value
            for name, value in features.items()}


def stack_and_cut(features: Sequence[Dict[str, Any]],
                  names: Sequence[str] = SEQUENCE_FEATURES) -> Dict[str, np.ndarray]:
    """Per-example feature dicts on the NumPy side (a predictor's batch) stacked, the
    sequence features (`names` of input_ids' shape [B, S], as `sequence_feature_names`
    picks them) cut to the longest input_mask (at least 1): [B, L]; the others stacked as
    they are."""
    width = max(1, max(int(np.sum(f["input_mask"])) for f in features))
    batch = {name: np.asarray([f[name] for f in features]) for name in features[0]}
    shape = batch["input_ids"].shape
    return {name: value[:, :width] if name in names and value.shape == shape else value
            for name, value in batch.items()}


def _sort_by_length(features):
    order = tf.argsort(example_lengths(features), stable=True)
    return {name: tf.gather(value, order) for name, value in features.items()}


def length_grouped_batches(dataset: tf.data.Dataset, batch_size: int, multiple: int,
                           shuffle_seed=None, group_batches: int = LENGTH_GROUP_BATCHES,
                           sequence_features: Sequence[str] = SEQUENCE_FEATURES
                           ) -> tf.data.Dataset:
    """Batches of `batch_size` examples of similar length, each cut to its longest example.

    Windows of `group_batches * batch_size` examples are sorted by length and cut into
    batches; with `shuffle_seed` the batches of each window are then put in an order drawn
    from (seed, window number) (training), else they stay in window order (prediction: the
    caller restores the example order from an index feature). Each window holds exactly the
    examples of the same window of the input order; deterministic for an input order and
    seed.

    Args:
        dataset: unbatched feature dicts with `input_ids` and `input_mask` [S]. For whole
            batches its size must be a multiple of `batch_size` (or it must repeat).
        batch_size: examples per batch.
        multiple: cut lengths are rounded up to this.
        shuffle_seed: seed for shuffling batches within a window; None keeps their order.
        group_batches: batches per sorting window.
        sequence_features: the names of the per-token features to cut.

    Returns:
        Batched feature dicts; sequence features [batch_size, L], L varying by batch.
    """
    names = sequence_feature_names(dataset.element_spec, sequence_features)
    windows = (dataset.batch(batch_size * group_batches)
               .map(_sort_by_length, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
    if shuffle_seed is not None:
        # Window w's batches in an order drawn from (seed, w) alone: each window keeps
        # exactly its own examples (a shuffle buffer over the stream of batches would mix
        # neighbouring windows), and a resumed run, which skips the batches already done,
        # sees the same order.
        windows = windows.enumerate().map(
            lambda w, features: _shuffle_batches(features, batch_size, shuffle_seed, w),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = windows.unbatch().batch(batch_size, drop_remainder=True)
    return batches.map(lambda f: cut_batch(f, names, multiple),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _shuffle_batches(window, batch_size: int, seed: int, window_index):
    """A window's whole batches ([W] examples, in batch_size runs) in a seeded random order;
    a last partial batch (the end of a finite dataset) stays last."""
    size = tf.shape(window["input_ids"])[0]
    num_batches = size // batch_size
    draw = tf.random.stateless_uniform(
        [num_batches], seed=tf.stack([tf.cast(seed, tf.int64), window_index]))
    first = tf.argsort(draw) * batch_size                                   # [num_batches]
    order = tf.concat([tf.reshape(first[:, tf.newaxis] + tf.range(batch_size), [-1]),
                       tf.range(num_batches * batch_size, size)], axis=0)   # [W]
    return {name: tf.gather(value, order) for name, value in window.items()}
