"""SavedModel export with a serving signature that needs no project code to load.

    loaded = tf.saved_model.load(export_dir)
    outputs = loaded.signatures["serving_default"](
        input_ids=..., input_mask=..., segment_ids=...)   # int32 [batch, seq] each

Sequence length is dynamic (up to max_position_embeddings). The runners' exports also
have a `text` signature taking raw strings (see `bert_tf.text_signatures`).
"""

import contextlib
import logging as python_logging
import os
import shutil
from typing import Callable, Dict, Iterator, Optional

import tensorflow as tf
from absl import logging

from bert_tf.files import temp_path

# The raw-text signature's name (bert_tf.text_signatures).
TEXT_SIGNATURE = "text"

_INPUT_SIGNATURE = [tf.TensorSpec([None, None], tf.int32, name=name)
                    for name in ("input_ids", "input_mask", "segment_ids")]


# tf.saved_model.save logs this (through absl) for every Keras layer's call function it
# does not trace. Harmless here: the serving signature is traced, and it is all a SavedModel
# loaded without project code offers.
_UNTRACED_MESSAGE = "Found untraced functions such as"


class _DropUntracedFunctionsMessage(python_logging.Filter):
    def filter(self, record):
        return not str(record.msg).startswith(_UNTRACED_MESSAGE)


@contextlib.contextmanager
def _without_untraced_functions_message() -> Iterator[None]:
    """Drops that one message from the absl logger while the block runs; others pass."""
    logger, quiet = logging.get_absl_logger(), _DropUntracedFunctionsMessage()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class _ServingModule(tf.Module):
    def __init__(self, model, outputs_fn):
        super().__init__()
        # The model's variables are tracked, not the Keras model itself: saving a tracked
        # Keras model traces every layer's call for Keras' own loader (7.5 s of a BERT-Small
        # export's 10, 2.4 s without), and nothing but the signatures is served.
        self.model_variables = list(model.variables)
        self._forward = lambda features: model(features, training=False)
        self._outputs_fn = outputs_fn

    def model_outputs(self, features):
        """The task's outputs of a feature dict (float outputs as float32)."""
        outputs = self._outputs_fn(self._forward(features), features)
        return {name: tf.cast(value, tf.float32) if value.dtype.is_floating else value
                for name, value in outputs.items()}

    @tf.function(input_signature=_INPUT_SIGNATURE)
    def serve(self, input_ids, input_mask, segment_ids):
        return self.model_outputs({"input_ids": input_ids, "input_mask": input_mask,
                                   "segment_ids": segment_ids})


def export_saved_model(model, export_dir: str,
                       outputs_fn: Callable[[tf.Tensor, Dict[str, tf.Tensor]],
                                            Dict[str, tf.Tensor]],
                       text_module: Optional[tf.Module] = None) -> str:
    """Writes a SavedModel whose `serving_default` maps the three inputs to `outputs_fn`.

    Args:
        model: a built task model (features dict -> logits).
        export_dir: replaced atomically: written beside it, then renamed into place.
        outputs_fn: (logits, features) -> dict of named outputs (e.g. probabilities).
        text_module: a `bert_tf.text_signatures` module: adds the `text` signature (raw
            strings in, preprocessing in the graph) and its vocab.txt / labels.txt assets.

    Returns:
        export_dir.
    """
    export_dir = os.path.abspath(export_dir)
    parent, name = os.path.split(export_dir)
    os.makedirs(parent, exist_ok=True)
    module = _ServingModule(model, outputs_fn)
    signatures = {"serving_default": module.serve}
    if text_module is not None:
        module.text_module = text_module  # tracked: its tables and assets are saved
        signatures[TEXT_SIGNATURE] = text_module.signature(module.model_outputs)
    # `.<name>.tmp-<pid>-<random>` (and its `.old`): a killed export's directories are
    # removed by the next export to the same place (temp_path).
    with temp_path(os.path.join(parent, f".{name}")) as tmp:
        with _without_untraced_functions_message():
            tf.saved_model.save(module, tmp, signatures=signatures)
        old = None
        if os.path.exists(export_dir):
            old = f"{tmp}.old"
            os.replace(export_dir, old)
        os.replace(tmp, export_dir)
        if old:
            shutil.rmtree(old)
    logging.info("Exported SavedModel to %s", export_dir)
    return export_dir
