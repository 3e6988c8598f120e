"""TrainingConfig: how to train, every hyperparameter of a run with the original's defaults."""

import dataclasses
from typing import Optional


@dataclasses.dataclass
class TrainingConfig:
    """How to train. Steps are optimizer updates of one global batch."""

    train_batch_size: int
    num_train_steps: int
    num_warmup_steps: int
    learning_rate: float
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    iterations_per_loop: int = 1000
    log_every_n_steps: int = 50
    seed: int = 12345
    shuffle_buffer_size: int = 10000
    # Micro-batches per step: each replica runs its share of the batch in this many
    # pieces and sums their gradients, so only one piece's activations are in memory.
    gradient_accumulation_steps: int = 1
    # The optimizer, defaults of the original `create_optimizer`: AdamWeightDecay ("adamw")
    # with decoupled weight decay (not on LayerNorm or bias), Adam epsilon, global-norm
    # clipping. "lamb": LAMB with the same settings, for large-batch pretraining as NVIDIA's
    # and Model Garden's BERT (see `bert_tf.optimization.create_optimizer`).
    optimizer: str = "adamw"
    weight_decay_rate: float = 0.01
    adam_epsilon: float = 1e-6
    clip_norm: Optional[float] = 1.0  # None: no clipping
