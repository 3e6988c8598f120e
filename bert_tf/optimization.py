"""AdamWeightDecay and the warmup / linear-decay learning rate of google-research/bert; LAMB.

This is the TF2 / tf-keras counterpart of the original `optimization.py`:

- `WarmupLinearDecay`: the original schedule (linear warmup, then `polynomial_decay` with
  power 1.0 to 0 over `num_train_steps`), with an opt-in continuous join.
- `AdamWeightDecay`: the original `AdamWeightDecayOptimizer` update rule (Adam without bias
  correction, decoupled weight decay, slots named `adam_m` / `adam_v`) on top of
  `tf_keras.optimizers.Optimizer`, so it works in `model.fit`, custom loops, `tf.function`,
  XLA and `tf.distribute`.
- `LAMB`: the large-batch optimizer of You et al. 2019 (Adam with bias correction, decoupled
  decay, a per-variable trust ratio), as TF Model Garden's and NVIDIA's BERT pretraining use;
  same slots as `AdamWeightDecay`, so checkpoints and resume work unchanged.
- `create_optimizer`: the original `create_optimizer` hyperparameters, including clipping to a
  global norm of 1.0; `optimizer="lamb"` picks LAMB instead.

Checkpoint mapping to the original (for code that reads or writes original checkpoints):

  original name                     here
  `<var name>/adam_m`               `optimizer.slots_for(var)["adam_m"]`
  `<var name>/adam_v`               `optimizer.slots_for(var)["adam_v"]`
  `global_step`                     `optimizer.iterations` (int64, the number of applied updates)

where `<var name>` is `checkpoint_variable_name(var.name)`, the variable name without ":0".
"""

import platform
import re

from absl import logging
import tensorflow as tf
import tf_keras

from bert_tf.variable_names import checkpoint_variable_name

# Slot names, in the order `slots_for` returns them. The original's checkpoints store each
# slot as `<variable name>/<slot name>`.
SLOT_NAMES = ("adam_m", "adam_v")

# The original `create_optimizer` hard-codes this list.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")

WARMUP_DECAY_JOINS = ("original", "continuous")

# The names `create_optimizer(optimizer=...)` accepts.
OPTIMIZERS = ("adamw", "lamb")


@tf_keras.saving.register_keras_serializable(package="bert_tf")
class WarmupLinearDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup then linear decay to 0, exactly as the original `create_optimizer`.

    `step` is the optimizer's `iterations` before the update it is used for (the original's
    `global_step`), so the first update uses `lr(0)`.

    With `warmup_decay_join="original"` (default, mirrors the original on purpose):

      lr(step) = init_lr * step / num_warmup_steps                 if step < num_warmup_steps
      lr(step) = init_lr * (1 - min(step, num_train_steps) / num_train_steps)   otherwise

    The decay is measured from step 0, not from the end of warmup, so the curve jumps down at
    the join from `init_lr` (approached from below) to `init_lr * (1 - W / T)`. The first
    update has lr 0 when there is warmup (it still moves the Adam slots). Past
    `num_train_steps` the lr stays 0 (`cycle=False`).

    With `warmup_decay_join="continuous"` the decay runs from the end of warmup instead:

      lr(step) = init_lr * (1 - (min(step, T) - W) / (T - W))      if step >= W

    so lr reaches `init_lr` at step W and 0 at step T, with no jump.

    Arithmetic is float32, as the original's.

    Args:
      init_lr: float, the peak learning rate.
      num_train_steps: int > 0, the step at which the lr reaches 0 (T).
      num_warmup_steps: int >= 0, the number of warmup steps (W); 0 disables warmup.
      warmup_decay_join: "original" or "continuous", see above.
      name: optional str, a name scope for the ops.

    Raises:
      ValueError: for a non-positive `num_train_steps`, a negative `num_warmup_steps`, an
        unknown `warmup_decay_join`, or `"continuous"` with `num_warmup_steps >=
        num_train_steps`.

    Example:
      >>> schedule = WarmupLinearDecay(1e-3, num_train_steps=10, num_warmup_steps=2)
      >>> [round(float(schedule(s)), 6) for s in (0, 1, 2, 5, 10, 11)]
      [0.0, 0.0005, 0.0008, 0.0005, 0.0, 0.0]
    """

    def __init__(
        self,
        init_lr,
        num_train_steps,
        num_warmup_steps=0,
        warmup_decay_join="original",
        name=None,
    ):
        super().__init__()
        if num_train_steps <= 0:
            raise ValueError(f"num_train_steps must be > 0, got {num_train_steps}.")
        if num_warmup_steps < 0:
            raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}.")
        if warmup_decay_join not in WARMUP_DECAY_JOINS:
            raise ValueError(
                f"warmup_decay_join must be one of {WARMUP_DECAY_JOINS}, "
                f"got {warmup_decay_join!r}."
            )
        if warmup_decay_join == "continuous" and num_warmup_steps >= num_train_steps:
            raise ValueError(
                'warmup_decay_join="continuous" needs num_warmup_steps < num_train_steps, '
                f"got {num_warmup_steps} >= {num_train_steps}."
            )
        self.init_lr = init_lr
        self.num_train_steps = num_train_steps
        self.num_warmup_steps = num_warmup_steps
        self.warmup_decay_join = warmup_decay_join
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name or "WarmupLinearDecay"):
            step = tf.cast(step, tf.float32)
            init_lr = tf.constant(self.init_lr, tf.float32)
            total = float(self.num_train_steps)
            warmup = float(self.num_warmup_steps)
            if self.warmup_decay_join == "original":
                # tf.train.polynomial_decay(power=1.0, end_learning_rate=0.0, cycle=False).
                decay_start, decay_steps = 0.0, total
            else:
                decay_start, decay_steps = warmup, total - warmup
            done = (tf.minimum(step, total) - decay_start) / decay_steps
            learning_rate = init_lr * (1.0 - done)
            if self.num_warmup_steps > 0:
                warmup_learning_rate = init_lr * (step / warmup)
                learning_rate = tf.where(step < warmup, warmup_learning_rate, learning_rate)
            return learning_rate

    def get_config(self):
        return {
            "init_lr": self.init_lr,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
            "warmup_decay_join": self.warmup_decay_join,
            "name": self.name,
        }


@tf_keras.saving.register_keras_serializable(package="bert_tf")
class AdamWeightDecay(tf_keras.optimizers.Optimizer):
    """Adam with decoupled weight decay, the update rule of the original BERT optimizer.

    For each variable `x` with gradient `g`, at step `t = iterations` (0-based):

      m = beta_1 * m + (1 - beta_1) * g
      v = beta_2 * v + (1 - beta_2) * g**2
      update = m / (sqrt(v) + epsilon)
      update += weight_decay_rate * x     # only if weight_decay_applies_to(x.name)
      x = x - lr(t) * update

    Mirrors the original `AdamWeightDecayOptimizer` on purpose:
    - no Adam bias correction by default (`bias_correction=True` divides m and v by
      `1 - beta**(t + 1)` first, like standard Adam);
    - the decay term uses `x` before this step's update and is scaled by lr, so it does not
      pass through m / v (adding `x**2` to the loss would);
    - a variable is decayed unless one of the `exclude_from_weight_decay` regexes
      `re.search`es its name without ":0".

    Gradient clipping is not part of the update rule, as in the original, where
    `create_optimizer` clipped before `apply_gradients`. Pass tf-keras's `global_clipnorm`
    (what `create_optimizer(clip_norm=...)` does): tf-keras clips with
    `tf.clip_by_global_norm` over all gradients together, after summing them across
    replicas under a `tf.distribute` strategy, so a multi-replica step equals a
    single-device step on the combined batch. (On TPU the original clipped each core's
    gradients before `CrossShardOptimizer` summed them; we do not reproduce that.)

    Sparse gradients (`tf.IndexedSlices` from embedding lookups) are turned into dense
    tensors before aggregation and clipping. The update is dense anyway (m and v decay in
    every row), and it makes the global norm that of the true gradient: the original's
    `tf.clip_by_global_norm` took the norm of the raw slices, which differs when a token id
    repeats in the batch.

    `iterations` is the original's `global_step`: the number of updates applied, which is
    also the step the schedule is evaluated at. Restoring an original checkpoint means
    assigning `global_step` to it and the `adam_m` / `adam_v` values to `slots_for(var)`.

    Args:
      learning_rate: float or `LearningRateSchedule` (called with `iterations`).
      weight_decay_rate: float, decoupled weight decay; 0 disables it.
      beta_1: float, decay of the first moment m.
      beta_2: float, decay of the second moment v.
      epsilon: float, added to sqrt(v); the original uses 1e-6 (Keras Adam uses 1e-7).
      exclude_from_weight_decay: sequence of regex str, or None for "decay everything".
      bias_correction: bool, use Adam's bias-corrected m / v (not the original).
      name: str, the optimizer's name.
      **kwargs: other `tf_keras.optimizers.Optimizer` arguments (`global_clipnorm`, ...);
        `jit_compile` (default True) compiles the update with XLA, on CPUs too.
        `weight_decay` is not accepted: use `weight_decay_rate`.

    Example:
      >>> opt = AdamWeightDecay(1e-3, weight_decay_rate=0.01, global_clipnorm=1.0,
      ...                       exclude_from_weight_decay=["LayerNorm", "bias"])
      >>> opt.weight_decay_applies_to("bert/encoder/layer_0/output/LayerNorm/gamma:0")
      False
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay_rate=0.0,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=None,
        bias_correction=False,
        name="AdamWeightDecay",
        **kwargs,
    ):
        # tf-keras's own `weight_decay` is applied in a separate pass with different name
        # matching; the decay here is part of the update, as in the original. `get_config`
        # of the base class writes `weight_decay: None`, which from_config passes back.
        weight_decay = kwargs.pop("weight_decay", None)
        if weight_decay:
            raise ValueError(
                "AdamWeightDecay takes `weight_decay_rate`, not `weight_decay` "
                f"(got weight_decay={weight_decay})."
            )
        # tf-keras compiles the update with XLA on GPUs only, and traces it once per
        # variable. Ours is compiled on CPUs too (XLA fuses the ~10 element-wise passes over
        # a variable and its slots into one: BERT-Small, 29M weights, 2 cores, 74 -> 28 ms
        # per update) and traced once per shape, dtype and decay (see `_update`).
        self._xla_update = bool(kwargs.pop("jit_compile", True)) and _xla_available()
        super().__init__(name=name, weight_decay=None, jit_compile=False, **kwargs)
        # One function per optimizer: a trace shared between optimizers would keep
        # references to the variables of one that is gone.
        self._update_fn = (tf.function(_update, jit_compile=True) if self._xla_update
                           else _update)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.weight_decay_rate = weight_decay_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self._exclude_patterns = tuple(exclude_from_weight_decay or ())
        self.bias_correction = bias_correction

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Not supported: pass `exclude_from_weight_decay=` to the constructor instead."""
        raise TypeError(
            "AdamWeightDecay takes its exclusion regexes as the constructor argument "
            "`exclude_from_weight_decay`."
        )

    def weight_decay_applies_to(self, variable_name):
        """Whether the variable named `variable_name` gets weight decay.

        Same rule as the original `_do_use_weight_decay`: False when `weight_decay_rate` is 0
        or when any exclusion regex `re.search`es the name with its ":0" suffix removed.

        Args:
          variable_name: str, e.g. `variable.name`.

        Returns:
          bool.
        """
        if not self.weight_decay_rate:
            return False
        return not _matches_any(self._exclude_patterns, variable_name)

    def trust_ratio_applies_to(self, variable_name):
        """Whether the update of `variable_name` is scaled by a LAMB trust ratio: never here.

        Args:
          variable_name: str, e.g. `variable.name`.

        Returns:
          bool (`LAMB` overrides this).
        """
        del variable_name
        return False

    def build(self, var_list):
        """Creates the `adam_m` and `adam_v` slots (zeros, like the variable) per variable."""
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._adam_m = []
        self._adam_v = []
        for variable in var_list:
            self._adam_m.append(self.add_variable_from_reference(variable, "adam_m"))
            self._adam_v.append(self.add_variable_from_reference(variable, "adam_v"))
        # Decided once from the model variable's own name: inside a distributed update the
        # per-replica copies are named ".../replica_1:0".
        self._decays = self._no_dependency(
            [self.weight_decay_applies_to(variable.name) for variable in var_list]
        )
        self._trust_ratios = self._no_dependency(
            [self.trust_ratio_applies_to(variable.name) for variable in var_list]
        )

    def slots_for(self, variable):
        """Returns the Adam slots of a model variable, keyed as the original names them.

        Args:
          variable: a variable this optimizer was built with (any `tf.distribute` copy of
            it works too).

        Returns:
          dict {"adam_m": tf.Variable, "adam_v": tf.Variable}, each shaped like `variable`.
          The original checkpoint keys are `f"{checkpoint_variable_name(variable.name)}/adam_m"`
          and `.../adam_v`.

        Raises:
          ValueError: if the optimizer is not built yet (call `build(var_list)` or apply
            gradients once).
          KeyError: if the optimizer was not built with `variable`.
        """
        if not getattr(self, "_built", False):
            raise ValueError(
                "The optimizer has no slots yet: call optimizer.build(var_list) first."
            )
        key = self._var_key(variable)
        if key not in self._index_dict:
            raise KeyError(f"The optimizer was not built with variable {variable.name!r}.")
        index = self._index_dict[key]
        return {"adam_m": self._adam_m[index], "adam_v": self._adam_v[index]}

    def apply_gradients(
        self, grads_and_vars, name=None, skip_gradients_aggregation=False, **kwargs
    ):
        """Applies one update: sum across replicas, clip (if set), then `update_step`.

        Same as `tf_keras.optimizers.Optimizer.apply_gradients`, except that
        `tf.IndexedSlices` gradients are first made dense (see the class docstring).
        """
        grads_and_vars = [(dense_gradient(g, v), v) for g, v in grads_and_vars]
        return super().apply_gradients(
            grads_and_vars,
            name=name,
            skip_gradients_aggregation=skip_gradients_aggregation,
            **kwargs,
        )

    def update_step(self, gradient, variable):
        """Updates `variable` and its slots with one (already aggregated, clipped) gradient."""
        index = self._index_dict[self._var_key(variable)]
        m, v = self._adam_m[index], self._adam_v[index]
        update = _update
        if self._xla_update and not isinstance(variable, tf.distribute.DistributedValues):
            # A strategy that keeps a copy per device (mirrored) updates each copy in turn:
            # the compiled function is given the slots' copies on the same device. (Where
            # the variable itself is distributed, on TPUs, everything is compiled anyway.)
            m, v = _copy_on_device(m, variable.device), _copy_on_device(v, variable.device)
            update = self._update_fn
        update(variable, m, v, dense_gradient(gradient, variable),
               tf.cast(self.learning_rate, variable.dtype), self.iterations,
               beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
               weight_decay_rate=self.weight_decay_rate if self._decays[index] else 0.0,
               bias_correction=self.bias_correction, trust_ratio=self._trust_ratios[index])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "learning_rate": self._serialize_hyperparameter(self._learning_rate),
                "weight_decay_rate": self.weight_decay_rate,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "exclude_from_weight_decay": list(self._exclude_patterns),
                "bias_correction": self.bias_correction,
                "jit_compile": self._xla_update,
            }
        )
        return config


@tf_keras.saving.register_keras_serializable(package="bert_tf")
class LAMB(AdamWeightDecay):
    """LAMB, the layer-wise adaptive optimizer of large-batch BERT pretraining.

    From You et al. 2019, "Large Batch Optimization for Deep Learning: Training BERT in 76
    minutes" (Algorithm 2, with phi the identity). For each variable `x` with gradient `g`, at step `t = iterations` (0-based):

      m = beta_1 * m + (1 - beta_1) * g
      v = beta_2 * v + (1 - beta_2) * g**2
      m_hat = m / (1 - beta_1**(t + 1));  v_hat = v / (1 - beta_2**(t + 1))
      r = m_hat / (sqrt(v_hat) + epsilon)
      r += weight_decay_rate * x          # only if weight_decay_applies_to(x.name)
      ratio = ||x|| / ||r|| if both norms > 0 else 1   # only if trust_ratio_applies_to(x.name)
      x = x - lr(t) * ratio * r

    with `||.||` the L2 norm of the whole variable (one ratio per variable, "layer-wise").
    Follows TF Model Garden's `official/modeling/optimization/lamb.py`: bias-corrected
    moments, epsilon outside the square root, the norms taken of `x` before this step's
    update, and the trust ratio left out (ratio 1) for the variables matching
    `exclude_from_layer_adaptation`, which defaults to the weight-decay exclusions
    (LayerNorm and bias under `create_optimizer`). Unlike the weight decay, whether a
    variable gets a trust ratio depends on the patterns only, not on `weight_decay_rate`.
    Gradient clipping comes before LAMB, as in NVIDIA's BERT (global norm 1.0 under
    `create_optimizer`).

    Everything else is `AdamWeightDecay`'s: the slots `adam_m` / `adam_v` (so checkpoints
    and resume need no change), `slots_for`, the dense handling of sparse gradients, the XLA
    update.

    Args:
      learning_rate: float or `LearningRateSchedule` (called with `iterations`).
      weight_decay_rate: float, decoupled weight decay; 0 disables it.
      beta_1: float, decay of the first moment m.
      beta_2: float, decay of the second moment v.
      epsilon: float, added to sqrt(v_hat); 1e-6 as Model Garden's LAMB.
      exclude_from_weight_decay: sequence of regex str, or None for "decay everything".
      exclude_from_layer_adaptation: sequence of regex str; None: the same as
        `exclude_from_weight_decay`.
      name: str, the optimizer's name.
      **kwargs: other `AdamWeightDecay` / `tf_keras.optimizers.Optimizer` arguments
        (`global_clipnorm`, `jit_compile`, ...).

    Raises:
      ValueError: for `bias_correction=False` (LAMB always corrects) or `weight_decay`.

    Example:
      >>> opt = LAMB(1e-3, exclude_from_weight_decay=["LayerNorm", "bias"])
      >>> opt.trust_ratio_applies_to("bert/encoder/layer_0/output/LayerNorm/gamma:0")
      False
      >>> opt.trust_ratio_applies_to("bert/encoder/layer_0/output/dense/kernel:0")
      True
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay_rate=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=None,
        exclude_from_layer_adaptation=None,
        name="LAMB",
        **kwargs,
    ):
        # LAMB always uses the bias-corrected moments; get_config leaves the flag out.
        if not kwargs.pop("bias_correction", True):
            raise ValueError("LAMB always uses bias-corrected moments (bias_correction=True).")
        super().__init__(
            learning_rate=learning_rate,
            weight_decay_rate=weight_decay_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            exclude_from_weight_decay=exclude_from_weight_decay,
            bias_correction=True,
            name=name,
            **kwargs,
        )
        if exclude_from_layer_adaptation is None:
            exclude_from_layer_adaptation = self._exclude_patterns
        self._layer_adaptation_exclude_patterns = tuple(exclude_from_layer_adaptation)

    def trust_ratio_applies_to(self, variable_name):
        """Whether the update of `variable_name` is scaled by the trust ratio ||x|| / ||r||.

        False when any `exclude_from_layer_adaptation` regex `re.search`es the name with its
        ":0" suffix removed (as Model Garden's `_do_layer_adaptation`).

        Args:
          variable_name: str, e.g. `variable.name`.

        Returns:
          bool.
        """
        return not _matches_any(self._layer_adaptation_exclude_patterns, variable_name)

    def get_config(self):
        config = super().get_config()
        del config["bias_correction"]
        config["exclude_from_layer_adaptation"] = list(self._layer_adaptation_exclude_patterns)
        return config


def _matches_any(patterns, variable_name):
    """Whether a regex of `patterns` `re.search`es the variable name without ":0"."""
    name = checkpoint_variable_name(variable_name)
    return any(re.search(pattern, name) for pattern in patterns)


def _xla_available():
    # tf-keras's own exception: no XLA on Apple ARM.
    return not (platform.system() == "Darwin" and platform.machine() == "arm64")


def _copy_on_device(slot, device):
    """The copy of a (mirrored) slot variable on `device`; a plain variable as it is."""
    copies = tf.distribute.get_strategy().experimental_local_results(slot)
    return next((copy for copy in copies if copy.device == device), slot)


def _update(variable, m, v, gradient, lr, iterations, *, beta_1, beta_2, epsilon,
            weight_decay_rate, bias_correction, trust_ratio):
    """The AdamWeightDecay (or LAMB) update of one variable and its slots (see the classes).

    The variables are arguments, not a closure, so one XLA trace serves every variable of
    the same shape, dtype, decay and trust-ratio choice.
    """
    # Python-float coefficients, so (1 - beta) is rounded to float32 once, as in the original.
    next_m = beta_1 * m + (1.0 - beta_1) * gradient
    next_v = beta_2 * v + (1.0 - beta_2) * tf.square(gradient)
    if bias_correction:
        t = tf.cast(iterations + 1, variable.dtype)
        m_hat = next_m / (1.0 - tf.pow(tf.cast(beta_1, variable.dtype), t))
        v_hat = next_v / (1.0 - tf.pow(tf.cast(beta_2, variable.dtype), t))
    else:
        m_hat, v_hat = next_m, next_v
    update = m_hat / (tf.sqrt(v_hat) + epsilon)
    if weight_decay_rate:
        # Decoupled decay, from the value before this step's update.
        update += weight_decay_rate * variable
    if trust_ratio:
        # LAMB's layer-wise trust ratio ||x|| / ||r||, 1 where either norm is 0 (a variable
        # initialised to zeros, or a zero update); the divisor is kept non-zero for XLA.
        w_norm = tf.norm(variable)
        r_norm = tf.norm(update)
        both_positive = tf.logical_and(w_norm > 0.0, r_norm > 0.0)
        ratio = tf.where(both_positive, w_norm / tf.where(both_positive, r_norm, 1.0), 1.0)
        update *= ratio
    variable.assign_sub(lr * update)
    m.assign(next_m)
    v.assign(next_v)


def dense_gradient(gradient, variable):
    """Sums a `tf.IndexedSlices` gradient into a dense tensor shaped like `variable`."""
    if not isinstance(gradient, tf.IndexedSlices):
        return gradient
    # unsorted_segment_sum adds up repeated ids; a static row count keeps it XLA-friendly.
    num_rows = variable.shape[0] if variable.shape[0] is not None else tf.shape(variable)[0]
    return tf.math.unsorted_segment_sum(gradient.values, gradient.indices, num_rows)


def create_optimizer(
    init_lr,
    num_train_steps,
    num_warmup_steps,
    *,
    weight_decay_rate=0.01,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-6,
    exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    clip_norm=1.0,
    bias_correction=False,
    warmup_decay_join="original",
    optimizer="adamw",
):
    """Builds the optimizer the original BERT fine-tuning code uses (or LAMB).

    Defaults are the original `create_optimizer`'s: AdamWeightDecay with weight decay 0.01
    (not on LayerNorm or bias variables), beta_1 0.9, beta_2 0.999, epsilon 1e-6, gradients
    clipped to global norm 1.0, lr warmed up linearly for `num_warmup_steps` and decayed
    linearly to 0 at `num_train_steps`. Unlike the original, it returns an optimizer rather
    than a train op: use it with `model.compile` or `apply_gradients`, which also advance
    `iterations` (the original incremented `global_step` by hand).

    Args:
      init_lr: float, the peak learning rate.
      num_train_steps: int > 0, the step at which the lr reaches 0.
      num_warmup_steps: int >= 0, linear warmup steps (0: none).
      weight_decay_rate: float, decoupled weight decay.
      beta_1: float, Adam first-moment decay.
      beta_2: float, Adam second-moment decay.
      epsilon: float, Adam epsilon (added to sqrt(v)).
      exclude_from_weight_decay: sequence of regex str; matching variables are not decayed.
      clip_norm: float, clip all gradients together to this global norm; None disables.
      bias_correction: bool, bias-corrected Adam moments (not the original); LAMB always
        corrects, whatever this says.
      warmup_decay_join: "original" or "continuous", see `WarmupLinearDecay`.
      optimizer: "adamw" (the original's `AdamWeightDecay`) or "lamb" (`LAMB`, with the
        same schedule, decay, exclusions and clipping; its trust ratio is left out for the
        variables excluded from weight decay).

    Returns:
      An `AdamWeightDecay` or `LAMB` whose learning rate is a `WarmupLinearDecay`.

    Raises:
      ValueError: for an unknown `optimizer`, or invalid schedule arguments (see
        `WarmupLinearDecay`).

    Example:
      >>> opt = create_optimizer(5e-5, num_train_steps=1000, num_warmup_steps=100)
      >>> round(float(opt.learning_rate), 8)  # lr of the first update
      0.0
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}.")
    schedule = WarmupLinearDecay(
        init_lr,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        warmup_decay_join=warmup_decay_join,
    )
    if optimizer == "lamb":
        optimizer_class, bias_correction = LAMB, True
    else:
        optimizer_class = AdamWeightDecay
    logging.info(
        "%s: init_lr=%g, num_train_steps=%d, num_warmup_steps=%d (%s join), "
        "weight_decay_rate=%g, clip_norm=%s, bias_correction=%s",
        optimizer_class.__name__,
        init_lr,
        num_train_steps,
        num_warmup_steps,
        warmup_decay_join,
        weight_decay_rate,
        clip_norm,
        bias_correction,
    )
    return optimizer_class(
        learning_rate=schedule,
        weight_decay_rate=weight_decay_rate,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        exclude_from_weight_decay=exclude_from_weight_decay,
        bias_correction=bias_correction,
        global_clipnorm=clip_norm,
    )
