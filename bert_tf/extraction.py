"""Per-token hidden states as JSON lines, the output of the original `extract_features.py`.

Each line: {"linex_index": i, "features": [{"token": t, "layers": [{"index": -1,
"values": [...]}, ...]}, ...]} with values rounded to 6 decimals, keys in the original's order.
Axes: B batch, S sequence, D hidden, K requested layers.
"""

import json
import time
from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.data.feature_extraction import LineExample, convert_examples_to_features
from bert_tf.errors import InputError
from bert_tf.files import atomic_open


def parse_layer_indexes(text: str, num_hidden_layers: Optional[int] = None) -> List[int]:
    """"-1,-2,-3,-4" -> [-1, -2, -3, -4], each checked against the number of layers (when
    given).

    Raises:
        InputError naming --layers and the valid range.
    """
    try:
        indexes = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"--layers={text!r}: expected comma-separated integers such as "
                         "-1,-2,-3,-4") from None
    if num_hidden_layers is None:
        return indexes
    bad = [i for i in indexes if not -num_hidden_layers <= i < num_hidden_layers]
    if bad:
        raise InputError(f"--layers={text!r}: {bad} out of range for a model with "
                         f"{num_hidden_layers} layers (valid: {-num_hidden_layers} to "
                         f"{num_hidden_layers - 1})")
    return indexes


def _feature_json(unique_id, tokens, layer_values, layer_indexes):
    """layer_values: [K, S, D] for one example."""
    features = []
    for position, token in enumerate(tokens):
        layers = [{"index": index, "values": [round(x, 6) for x in
                                              layer_values[k, position].tolist()]}
                  for k, index in enumerate(layer_indexes)]
        features.append({"token": token, "layers": layers})
    return json.dumps({"linex_index": unique_id, "features": features})


def extract_features(model, tokenizer, examples: Sequence[LineExample],
                     layer_indexes: Sequence[int], max_seq_length: int, batch_size: int,
                     output_file: str, log_every_seconds: float = 10.0) -> int:
    """Runs the encoder over `examples` and writes one JSON line per example, atomically.

    Returns:
        The number of lines written.
    """
    @tf.function(input_signature=[tf.TensorSpec([None, max_seq_length], tf.int32)] * 3)
    def selected_layers(input_ids, input_mask, segment_ids):
        outputs = model({"input_ids": input_ids, "input_mask": input_mask,
                         "segment_ids": segment_ids}, training=False)
        layers = outputs["all_encoder_layers"]
        return tf.stack([layers[i] for i in layer_indexes])  # [K, B, S, D]

    written, start, last_log = 0, time.time(), time.time()
    features = convert_examples_to_features(examples, max_seq_length, tokenizer)
    with atomic_open(output_file) as writer:
        while True:
            batch = [f for _, f in zip(range(batch_size), features)]
            if not batch:
                break
            arrays = [np.array([getattr(f, key) for f in batch], np.int32)
                      for key in ("input_ids", "input_mask", "segment_ids")]
            values = selected_layers(*arrays).numpy()
            for row, feature in enumerate(batch):
                example = examples[written]
                writer.write(_feature_json(example.unique_id, feature.tokens,
                                           values[:, row], layer_indexes) + "\n")
                written += 1
            if time.time() - last_log >= log_every_seconds:
                last_log = time.time()
                logging.info("extract_features: %d/%d examples, %.1f examples/s", written,
                             len(examples), written / (last_log - start))
    logging.info("Wrote %d lines to %s in %.1fs", written, output_file, time.time() - start)
    return written
