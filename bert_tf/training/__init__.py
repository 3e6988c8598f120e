"""Training, evaluation and prediction: the one engine every runner uses.

    engine.py       Engine: train / restore / predict / export with tf.distribute
    config.py       TrainingConfig: steps, batch, schedule and optimizer settings
    distribute.py   strategies by name, mixed precision
"""

from bert_tf.training.config import TrainingConfig
from bert_tf.training.distribute import (MIXED_PRECISION, STRATEGIES, create_strategy,
                                         resolve_mixed_precision, set_mixed_precision)
from bert_tf.training.engine import Engine

__all__ = ["Engine", "MIXED_PRECISION", "STRATEGIES", "TrainingConfig", "create_strategy",
           "resolve_mixed_precision", "set_mixed_precision"]
