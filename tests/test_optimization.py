"""Tests for bert_tf/optimization.py.

Expected values come from references written here, independent of bert_tf code:
- `_reference_lr`: the learning-rate formula of google-research/bert `create_optimizer`
  (tf.train.polynomial_decay, power 1.0, end 0, cycle=False, plus linear warmup), written out
  by hand, and a table of hand-computed values.
- `_reference_step`: a NumPy (float64) transcription of the original update:
  tf.clip_by_global_norm(grads, 1.0), then AdamWeightDecayOptimizer.apply_gradients
  (no bias correction, decoupled decay, exclusion by re.search on the name without ":0").
- `_reference_lamb_step`: a NumPy (float64) transcription of LAMB, Algorithm 2 of You et al.
  2019 ("Large Batch Optimization for Deep Learning: Training BERT in 76 minutes") with
  phi(z) = z, after the same clipping; the variables excluded from weight decay also get no
  trust ratio (the default of TF Model Garden's lamb.py).
- The tf.distribute check compares a 2-replica MirroredStrategy step with a single-device
  step on the combined batch (and shows that clipping each replica's gradient first would
  give a different answer). It runs in a child process; see `test_mirrored_strategy_...`.
"""

import functools
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from bert_tf import optimization

INIT_LR = 0.1
NUM_TRAIN_STEPS = 6
NUM_WARMUP_STEPS = 2
NUM_STEPS = 8  # steps 0..7: warmup (0, 1), join (2), decay, end (6), past the end (7)
EXCLUDE = ("LayerNorm", "layer_norm", "bias")

# Names chosen so each exclusion pattern is hit and two variables are decayed.
SHAPES = {
    "bert/encoder/layer_0/output/LayerNorm/gamma": (5,),
    "bert/encoder/layer_0/output/dense/bias": (5,),
    "bert/encoder/layer_0/output/dense/kernel": (3, 5),
    "head/layer_norm/beta": (5,),
    "output_weights": (2, 5),
}
DECAYED = {"bert/encoder/layer_0/output/dense/kernel", "output_weights"}


# ----------------------------------------------------------------------------- references


def _reference_lr(step, init_lr, num_train_steps, num_warmup_steps, join="original"):
    """The original schedule at `step` (global_step before the update)."""
    if num_warmup_steps and step < num_warmup_steps:
        return init_lr * step / num_warmup_steps
    step = min(step, num_train_steps)
    if join == "original":
        return init_lr * (1.0 - step / num_train_steps)
    return init_lr * (1.0 - (step - num_warmup_steps) / (num_train_steps - num_warmup_steps))


def _clip_by_global_norm(grads, clip_norm):
    """tf.clip_by_global_norm on a dict name -> array."""
    global_norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    scale = clip_norm / max(global_norm, clip_norm)
    return {name: g * scale for name, g in grads.items()}


def _reference_step(params, grads, m, v, *, lr, step, weight_decay_rate=0.01, beta_1=0.9,
                    beta_2=0.999, epsilon=1e-6, clip_norm=1.0, bias_correction=False):
    """One original update on dicts name -> float64 array; updates params, m, v in place."""
    grads = _clip_by_global_norm(grads, clip_norm)
    for name in params:
        g = grads[name]
        m[name] = beta_1 * m[name] + (1 - beta_1) * g
        v[name] = beta_2 * v[name] + (1 - beta_2) * g * g
        m_hat, v_hat = m[name], v[name]
        if bias_correction:
            m_hat = m_hat / (1 - beta_1 ** (step + 1))
            v_hat = v_hat / (1 - beta_2 ** (step + 1))
        update = m_hat / (np.sqrt(v_hat) + epsilon)
        if not any(re.search(p, name) for p in EXCLUDE):
            update = update + weight_decay_rate * params[name]
        params[name] = params[name] - lr * update


def _reference_lamb_step(params, grads, m, v, *, lr, step, weight_decay_rate=0.01,
                         beta_1=0.9, beta_2=0.999, epsilon=1e-6, clip_norm=1.0):
    """One LAMB update (paper, Algorithm 2) on dicts name -> float64 array, in place."""
    grads = _clip_by_global_norm(grads, clip_norm)
    t = step + 1  # the paper counts steps from 1
    for name in params:
        x, g = params[name], grads[name]
        m[name] = beta_1 * m[name] + (1 - beta_1) * g
        v[name] = beta_2 * v[name] + (1 - beta_2) * g * g
        m_hat = m[name] / (1 - beta_1 ** t)
        v_hat = v[name] / (1 - beta_2 ** t)
        r = m_hat / (np.sqrt(v_hat) + epsilon)
        trust = 1.0
        if not any(re.search(p, name) for p in EXCLUDE):
            r = r + weight_decay_rate * x
            x_norm, r_norm = np.linalg.norm(x), np.linalg.norm(r)
            if x_norm > 0 and r_norm > 0:
                trust = x_norm / r_norm
        params[name] = x - lr * trust * r


def _random_problem(seed=0, init_scale=1.0):
    rng = np.random.default_rng(seed)
    init = {n: (init_scale * rng.normal(size=s)).astype(np.float32) for n, s in SHAPES.items()}
    # Norms of ~10-20 per step, so clipping to 1.0 is active on every step.
    grads = [
        {n: (3.0 * rng.normal(size=s)).astype(np.float32) for n, s in SHAPES.items()}
        for _ in range(NUM_STEPS)
    ]
    return init, grads


# ----------------------------------------------------------------------------- schedule


def test_schedule_matches_hand_computed_values():
    original = optimization.WarmupLinearDecay(0.1, num_train_steps=10, num_warmup_steps=4)
    continuous = optimization.WarmupLinearDecay(
        0.1, num_train_steps=10, num_warmup_steps=4, warmup_decay_join="continuous")
    # step: (original, continuous); worked out by hand from the formulas in the docstring.
    expected = {
        0: (0.0, 0.0),
        2: (0.05, 0.05),
        3: (0.075, 0.075),
        4: (0.06, 0.1),  # the join: the original drops from 0.075 to 0.06
        7: (0.03, 0.05),
        10: (0.0, 0.0),
        15: (0.0, 0.0),
    }
    for step, (lr_original, lr_continuous) in expected.items():
        np.testing.assert_allclose(float(original(step)), lr_original, atol=1e-7)
        np.testing.assert_allclose(float(continuous(step)), lr_continuous, atol=1e-7)


@pytest.mark.parametrize(
    "join, num_warmup_steps",
    [("original", 0), ("original", 1), ("original", 30), ("continuous", 1), ("continuous", 30)])
def test_schedule_matches_formula_at_every_step(join, num_warmup_steps):
    schedule = optimization.WarmupLinearDecay(
        2e-5, num_train_steps=100, num_warmup_steps=num_warmup_steps, warmup_decay_join=join)
    steps = np.arange(0, 130)
    got = schedule(tf.constant(steps, tf.int64)).numpy()
    want = [_reference_lr(s, 2e-5, 100, num_warmup_steps, join) for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
    assert got.dtype == np.float32


def test_schedule_continuous_join_has_no_jump():
    schedule = optimization.WarmupLinearDecay(
        1.0, num_train_steps=1000, num_warmup_steps=100, warmup_decay_join="continuous")
    lrs = schedule(tf.range(0, 1000)).numpy()
    assert lrs.max() == pytest.approx(1.0)
    assert np.abs(np.diff(lrs)).max() <= 1.0 / 100 + 1e-6


def test_schedule_config_round_trip_and_validation():
    schedule = optimization.WarmupLinearDecay(
        3e-5, num_train_steps=50, num_warmup_steps=5, warmup_decay_join="continuous")
    clone = optimization.WarmupLinearDecay.from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()
    restored = tf_keras.optimizers.schedules.deserialize(
        tf_keras.optimizers.schedules.serialize(schedule))
    assert float(restored(20)) == float(schedule(20))
    with pytest.raises(ValueError):
        optimization.WarmupLinearDecay(1.0, num_train_steps=0)
    with pytest.raises(ValueError):
        optimization.WarmupLinearDecay(1.0, num_train_steps=10, num_warmup_steps=-1)
    with pytest.raises(ValueError):
        optimization.WarmupLinearDecay(1.0, 10, 10, warmup_decay_join="continuous")
    with pytest.raises(ValueError):
        optimization.WarmupLinearDecay(1.0, 10, 2, warmup_decay_join="smooth")


# ----------------------------------------------------------------------------- update rule


def _run_against_reference(mode, bias_correction=False, xla_update=True, optimizer="adamw",
                           init_scale=1.0, **optimizer_args):
    init, grads = _random_problem(init_scale=init_scale)
    variables = {n: tf.Variable(x, name=n) for n, x in init.items()}
    if optimizer == "lamb":
        reference_step = _reference_lamb_step
    else:
        reference_step = functools.partial(_reference_step, bias_correction=bias_correction)
    opt = optimization.create_optimizer(
        INIT_LR, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS, bias_correction=bias_correction,
        optimizer=optimizer, **optimizer_args)
    if not xla_update:
        opt = type(opt).from_config(dict(opt.get_config(), jit_compile=False))
    assert opt.get_config()["jit_compile"] is xla_update

    def apply(grad_list):
        opt.apply_gradients(zip(grad_list, variables.values()))

    if mode != "eager":
        apply = tf.function(apply, jit_compile=(mode == "xla"))

    params = {n: x.astype(np.float64) for n, x in init.items()}
    m = {n: np.zeros(s) for n, s in SHAPES.items()}
    v = {n: np.zeros(s) for n, s in SHAPES.items()}
    for step in range(NUM_STEPS):
        assert int(opt.iterations) == step
        apply([tf.constant(grads[step][n]) for n in variables])
        lr = _reference_lr(step, INIT_LR, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS)
        reference_step(params, {n: g.astype(np.float64) for n, g in grads[step].items()},
                       m, v, lr=lr, step=step, **optimizer_args)
        for n, var in variables.items():
            np.testing.assert_allclose(var.numpy(), params[n], rtol=1e-6, atol=1e-6,
                                       err_msg=f"{n} after step {step}")
    return opt, variables, m, v, init


@pytest.mark.parametrize("mode", ["eager", "tf_function", "xla"])
def test_update_matches_numpy_transcription_of_original(mode):
    opt, variables, m, v, init = _run_against_reference(mode, bias_correction=False)
    assert int(opt.iterations) == NUM_STEPS
    # The first step (lr 0) left the variables alone; the rest moved them.
    for n, var in variables.items():
        assert not np.allclose(var.numpy(), init[n])
    # slots_for: the original's adam_m / adam_v, shaped like the variable.
    for n, var in variables.items():
        slots = opt.slots_for(var)
        assert list(slots) == ["adam_m", "adam_v"]
        assert slots["adam_m"].shape == var.shape == slots["adam_v"].shape
        np.testing.assert_allclose(slots["adam_m"].numpy(), m[n], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(slots["adam_v"].numpy(), v[n], rtol=1e-6, atol=1e-9)


def test_update_with_bias_correction_matches_numpy():
    _run_against_reference("eager", bias_correction=True)


@pytest.mark.parametrize("mode", ["eager", "tf_function"])
def test_update_without_xla_matches_numpy(mode):
    # jit_compile=False: the update runs as plain TF ops, not as the compiled function.
    _run_against_reference(mode, bias_correction=True, xla_update=False)


def test_weight_decay_is_decoupled_and_uses_exclusions():
    # Zero gradient: m = v = 0, so the whole change is lr * rate * x on decayed variables.
    opt = optimization.AdamWeightDecay(
        0.5, weight_decay_rate=0.1, exclude_from_weight_decay=EXCLUDE)
    variables = [tf.Variable(tf.fill(s, 2.0), name=n) for n, s in SHAPES.items()]
    opt.apply_gradients([(tf.zeros_like(x), x) for x in variables])
    for n, var in zip(SHAPES, variables):
        want = 2.0 - 0.5 * 0.1 * 2.0 if n in DECAYED else 2.0
        np.testing.assert_allclose(var.numpy(), np.full(var.shape, want), rtol=1e-7)


def test_weight_decay_applies_to():
    opt = optimization.create_optimizer(1e-4, 10, 1)
    for name in SHAPES:
        assert opt.weight_decay_applies_to(name + ":0") == (name in DECAYED)
    no_decay = optimization.create_optimizer(1e-4, 10, 1, weight_decay_rate=0.0)
    assert not no_decay.weight_decay_applies_to("output_weights:0")
    assert optimization.checkpoint_variable_name("a/b/kernel:0") == "a/b/kernel"
    assert optimization.checkpoint_variable_name("a/b/kernel") == "a/b/kernel"


def test_slots_for_errors():
    opt = optimization.create_optimizer(1e-4, 10, 1)
    x = tf.Variable([1.0], name="x")
    with pytest.raises(ValueError):
        opt.slots_for(x)
    opt.build([x])
    with pytest.raises(KeyError):
        opt.slots_for(tf.Variable([1.0], name="y"))


@pytest.mark.parametrize("optimizer", optimization.OPTIMIZERS)
def test_tf_checkpoint_restores_iterations_and_slots(tmp_path, optimizer):
    grad = tf.constant(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    x = tf.Variable(tf.ones((2, 3)), name="dense/kernel")
    opt = optimization.create_optimizer(0.1, 10, 1, optimizer=optimizer)
    for _ in range(3):
        opt.apply_gradients([(grad, x)])
    path = tf.train.Checkpoint(x=x, optimizer=opt).save(str(tmp_path / "ckpt"))

    x2 = tf.Variable(tf.zeros((2, 3)), name="dense/kernel")
    opt2 = optimization.create_optimizer(0.1, 10, 1, optimizer=optimizer)
    tf.train.Checkpoint(x=x2, optimizer=opt2).restore(path).assert_existing_objects_matched()
    opt2.build([x2])  # slots created after restore() pick up the saved values
    assert int(opt2.iterations) == 3
    assert tuple(opt2.slots_for(x2)) == optimization.SLOT_NAMES
    for slot in optimization.SLOT_NAMES:
        np.testing.assert_array_equal(opt2.slots_for(x2)[slot].numpy(),
                                      opt.slots_for(x)[slot].numpy())


def test_optimizer_config_round_trip():
    opt = optimization.create_optimizer(
        3e-5, 100, 10, bias_correction=True, warmup_decay_join="continuous")
    config = opt.get_config()
    assert config["global_clipnorm"] == 1.0
    assert config["exclude_from_weight_decay"] == list(EXCLUDE)
    clone = optimization.AdamWeightDecay.from_config(dict(config))
    assert clone.get_config() == opt.get_config()
    restored = tf_keras.optimizers.deserialize(tf_keras.optimizers.serialize(opt))
    assert isinstance(restored, optimization.AdamWeightDecay)
    with pytest.raises(ValueError):
        optimization.AdamWeightDecay(1e-3, weight_decay=0.01)


# ----------------------------------------------------------------------------- LAMB


@pytest.mark.parametrize("mode, xla_update", [("eager", True), ("tf_function", True),
                                              ("xla", True), ("eager", False),
                                              ("tf_function", False)])
def test_lamb_matches_numpy_transcription_of_the_paper(mode, xla_update):
    # Weights of scale 0.2 against updates of scale ~1: trust ratios far from 1, so applying
    # (or skipping) one on the wrong variables shows; a decay of 0.1 makes the decay term show.
    opt, variables, m, v, init = _run_against_reference(
        mode, xla_update=xla_update, optimizer="lamb", init_scale=0.2, weight_decay_rate=0.1)
    assert isinstance(opt, optimization.LAMB)
    assert int(opt.iterations) == NUM_STEPS
    for n, var in variables.items():
        assert not np.allclose(var.numpy(), init[n])
        slots = opt.slots_for(var)
        assert tuple(slots) == optimization.SLOT_NAMES
        np.testing.assert_allclose(slots["adam_m"].numpy(), m[n], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(slots["adam_v"].numpy(), v[n], rtol=1e-6, atol=1e-9)


def test_lamb_trust_ratio_is_one_where_a_norm_is_zero():
    opt = optimization.LAMB(0.5, weight_decay_rate=0.0)
    zero = tf.Variable(tf.zeros((2, 3)), name="dense/kernel")  # ||x|| = 0
    still = tf.Variable(tf.fill((4,), 2.0), name="output_weights")  # zero gradient: ||r|| = 0
    grad = tf.constant([[1.0, -2.0, 0.5], [3.0, -0.25, 4.0]])
    opt.apply_gradients([(grad, zero), (tf.zeros((4,)), still)])
    # Hand-computed first step: m_hat = g, v_hat = g**2, so r = g / (|g| + 1e-6) and, with
    # ratio 1, x = 0 - 0.5 * r. (rtol: in float32, 1 - 0.999**1 is 1.3e-5 off, so v_hat is.)
    g = grad.numpy().astype(np.float64)
    np.testing.assert_allclose(zero.numpy(), -0.5 * g / (np.abs(g) + 1e-6), rtol=2e-5)
    np.testing.assert_array_equal(still.numpy(), np.full((4,), 2.0))


def test_lamb_trust_ratio_and_decay_exclusions():
    opt = optimization.create_optimizer(1e-4, 10, 1, optimizer="lamb")
    for name in SHAPES:
        assert opt.weight_decay_applies_to(name + ":0") == (name in DECAYED)
        assert opt.trust_ratio_applies_to(name + ":0") == (name in DECAYED)
    # As Model Garden: the trust ratio follows the patterns, not whether decay is on.
    no_decay = optimization.create_optimizer(1e-4, 10, 1, optimizer="lamb",
                                             weight_decay_rate=0.0)
    assert not no_decay.weight_decay_applies_to("output_weights:0")
    assert no_decay.trust_ratio_applies_to("output_weights:0")
    assert not no_decay.trust_ratio_applies_to("dense/bias:0")
    own = optimization.LAMB(exclude_from_weight_decay=["bias"],
                            exclude_from_layer_adaptation=["LayerNorm"])
    assert own.trust_ratio_applies_to("dense/bias:0")
    assert not own.trust_ratio_applies_to("output/LayerNorm/gamma:0")
    assert not optimization.create_optimizer(1e-4, 10, 1).trust_ratio_applies_to("w:0")


def test_create_optimizer_lamb_has_the_schedule_and_clipping():
    opt = optimization.create_optimizer(0.1, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS,
                                        optimizer="lamb")
    assert isinstance(opt, optimization.LAMB)
    assert isinstance(opt._learning_rate, optimization.WarmupLinearDecay)
    config = opt.get_config()
    assert config["global_clipnorm"] == 1.0
    assert (config["weight_decay_rate"], config["epsilon"]) == (0.01, 1e-6)
    assert (config["beta_1"], config["beta_2"]) == (0.9, 0.999)
    assert config["exclude_from_weight_decay"] == list(EXCLUDE)
    for step in range(NUM_STEPS):
        np.testing.assert_allclose(float(opt._learning_rate(step)),
                                   _reference_lr(step, 0.1, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS),
                                   atol=1e-8)
    assert type(optimization.create_optimizer(0.1, 10, 1)) is optimization.AdamWeightDecay
    with pytest.raises(ValueError, match=r"one of \('adamw', 'lamb'\), got 'sgd'"):
        optimization.create_optimizer(0.1, 10, 1, optimizer="sgd")


def test_lamb_config_round_trip():
    opt = optimization.create_optimizer(3e-5, 100, 10, optimizer="lamb",
                                        warmup_decay_join="continuous")
    config = opt.get_config()
    assert "bias_correction" not in config  # always on
    assert config["exclude_from_layer_adaptation"] == list(EXCLUDE)
    clone = optimization.LAMB.from_config(dict(config))
    assert clone.get_config() == config
    restored = tf_keras.optimizers.deserialize(tf_keras.optimizers.serialize(opt))
    assert type(restored) is optimization.LAMB
    assert restored.get_config() == config
    with pytest.raises(ValueError):
        optimization.LAMB(bias_correction=False)


# ----------------------------------------------------------------------------- sparse


@pytest.mark.parametrize("optimizer", optimization.OPTIMIZERS)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_sparse_gradients_equal_dense(jit_compile, optimizer):
    rng = np.random.default_rng(1)
    table0 = rng.normal(size=(7, 3)).astype(np.float32)
    kernel0 = rng.normal(size=(3, 2)).astype(np.float32)
    ids = tf.constant([1, 4, 1, 1, 6])  # repeated id: the raw slices' norm is not the true norm

    def make():
        table = tf.Variable(table0, name="embeddings/word_embeddings")
        kernel = tf.Variable(kernel0, name="dense/kernel")
        return [table, kernel], optimization.create_optimizer(0.05, 10, 0, optimizer=optimizer)

    def grads_of(variables):
        table, kernel = variables
        with tf.GradientTape() as tape:
            out = tf.matmul(tf.gather(table, ids), kernel)  # [5, 3] @ [3, 2] -> [5, 2]
            loss = tf.reduce_sum((10.0 * out - 1.0) ** 2)
        return tape.gradient(loss, variables)

    def sparse_step(variables, opt):
        grads = grads_of(variables)
        opt.apply_gradients(zip(grads, variables))
        return grads

    def dense_step(variables, opt):
        grads = [tf.convert_to_tensor(g) for g in grads_of(variables)]
        opt.apply_gradients(zip(grads, variables))
        return grads

    sparse_vars, sparse_opt = make()
    dense_vars, dense_opt = make()
    sparse_fn = tf.function(sparse_step, jit_compile=jit_compile)
    dense_fn = tf.function(dense_step, jit_compile=jit_compile)

    first = grads_of(sparse_vars)
    assert isinstance(first[0], tf.IndexedSlices)
    dense_first = tf.convert_to_tensor(first[0])
    assert float(tf.linalg.global_norm([dense_first, first[1]])) > 1.0  # clipping is active
    assert not np.isclose(float(tf.norm(first[0].values)), float(tf.norm(dense_first)))

    for _ in range(3):
        sparse_fn(sparse_vars, sparse_opt)
        dense_fn(dense_vars, dense_opt)
    for s, d in zip(sparse_vars, dense_vars):
        np.testing.assert_allclose(s.numpy(), d.numpy(), rtol=1e-6, atol=1e-7)
        for slot in optimization.SLOT_NAMES:
            np.testing.assert_allclose(sparse_opt.slots_for(s)[slot].numpy(),
                                       dense_opt.slots_for(d)[slot].numpy(),
                                       rtol=1e-6, atol=1e-9)
    assert not np.allclose(sparse_vars[0].numpy(), table0)


# ----------------------------------------------------------------------------- model.fit


@pytest.mark.parametrize("jit_compile", [False, True])
def test_model_fit_matches_numpy(jit_compile):
    tf_keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    y = (20.0 * rng.normal(size=(5, 2))).astype(np.float32)  # large error: clipping active

    inputs = tf_keras.Input(shape=(3,))
    outputs = tf_keras.layers.Dense(2, name="dense", bias_initializer="ones")(inputs)
    model = tf_keras.Model(inputs, outputs)
    kernel0, bias0 = [w.numpy().astype(np.float64) for w in model.weights]
    num_steps = 4
    opt = optimization.create_optimizer(0.1, num_train_steps=num_steps, num_warmup_steps=1)
    model.compile(optimizer=opt, loss="mse", jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=5, epochs=num_steps, shuffle=False, verbose=0)
    assert int(opt.iterations) == num_steps

    params = {"dense/kernel": kernel0, "dense/bias": bias0}
    m = {n: np.zeros_like(p) for n, p in params.items()}
    v = {n: np.zeros_like(p) for n, p in params.items()}
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    losses = []
    for step in range(num_steps):
        err = x64 @ params["dense/kernel"] + params["dense/bias"] - y64  # [5, 2]
        losses.append(np.mean(err ** 2))
        d_out = 2.0 * err / err.size  # d mean((out - y)^2) / d out
        grads = {"dense/kernel": x64.T @ d_out, "dense/bias": d_out.sum(axis=0)}
        lr = _reference_lr(step, 0.1, num_steps, 1)
        _reference_step(params, grads, m, v, lr=lr, step=step)
    np.testing.assert_allclose(model.get_layer("dense").kernel.numpy(), params["dense/kernel"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_layer("dense").bias.numpy(), params["dense/bias"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)
    assert losses[-1] < losses[0]


# ----------------------------------------------------------------------------- tf.distribute


def _mirrored_check():
    """Runs in a fresh process: 2 logical CPUs, MirroredStrategy vs one device.

    Checks that a 2-replica step (each replica: half the batch, loss divided by the global
    batch size, as tf.distribute prescribes) equals a single-device step on the whole batch,
    which holds only if clipping sees the all-reduced gradient. Also runs the alternative
    (clip each half, then sum) to show the check can tell the two apart.
    """
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2

    rng = np.random.default_rng(4)
    init = {
        "embeddings/word_embeddings": rng.normal(size=(9, 4)).astype(np.float32),
        "dense/kernel": rng.normal(size=(4, 3)).astype(np.float32),
        "dense/bias": rng.normal(size=(3,)).astype(np.float32),
    }
    ids = rng.integers(0, 9, size=(4, 5)).astype(np.int32)
    ids[0, :2] = ids[2, :2] = 3  # the same id on both replicas
    labels = (5.0 * rng.normal(size=(4, 3))).astype(np.float32)
    global_batch = ids.shape[0]

    def per_example_loss(variables, ids, labels):
        table, kernel, bias = variables
        pooled = tf.reduce_sum(tf.gather(table, ids), axis=1)  # [b, 5, 4] -> [b, 4]
        logits = tf.matmul(pooled, kernel) + bias  # [b, 4] @ [4, 3] -> [b, 3]
        return tf.reduce_sum((logits - labels) ** 2, axis=1)  # -> [b]

    def new_state(**optimizer_args):
        variables = [tf.Variable(x, name=n) for n, x in init.items()]
        return variables, optimization.create_optimizer(0.1, 5, 1, **optimizer_args)

    with strategy.scope():
        mirrored_vars, mirrored_opt = new_state()

    def replica_step(ids, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(per_example_loss(mirrored_vars, ids, labels)) / global_batch
        grads = tape.gradient(loss, mirrored_vars)
        mirrored_opt.apply_gradients(zip(grads, mirrored_vars))

    def shard(values):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(values[2 * ctx.replica_id_in_sync_group:][:2]))

    mirrored_step = tf.function(lambda i, l: strategy.run(replica_step, args=(i, l)))
    single_vars, single_opt = new_state()
    per_replica_vars, per_replica_opt = new_state(clip_norm=None)

    @tf.function
    def single_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(per_example_loss(single_vars, ids, labels))
        grads = tape.gradient(loss, single_vars)
        norm = tf.linalg.global_norm(grads)
        single_opt.apply_gradients(zip(grads, single_vars))
        return norm

    @tf.function
    def clip_each_replica_step():
        summed = None
        for half in (slice(0, 2), slice(2, 4)):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(
                    per_example_loss(per_replica_vars, ids[half], labels[half])) / global_batch
            grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, per_replica_vars)]
            grads, _ = tf.clip_by_global_norm(grads, 1.0)
            summed = grads if summed is None else [a + b for a, b in zip(summed, grads)]
        per_replica_opt.apply_gradients(zip(summed, per_replica_vars))

    norms = []
    for _ in range(3):
        mirrored_step(shard(ids), shard(labels))
        norms.append(float(single_step()))
        clip_each_replica_step()

    result = {"norms": norms, "max_diff": 0.0, "alternative_diff": 0.0}
    for mirrored, single, other in zip(mirrored_vars, single_vars, per_replica_vars):
        for local in strategy.experimental_local_results(mirrored):
            np.testing.assert_allclose(local.numpy(), single.numpy(), rtol=1e-5, atol=1e-6)
            result["max_diff"] = max(result["max_diff"],
                                     float(np.abs(local.numpy() - single.numpy()).max()))
        for slot in optimization.SLOT_NAMES:
            np.testing.assert_allclose(mirrored_opt.slots_for(mirrored)[slot].numpy(),
                                       single_opt.slots_for(single)[slot].numpy(),
                                       rtol=1e-5, atol=1e-8)
        alternative_diff = float(np.abs(other.numpy() - single.numpy()).max())
        result["alternative_diff"] = max(result["alternative_diff"],
                                         alternative_diff)
    assert int(mirrored_opt.iterations.numpy()) == 3
    assert min(norms) > 1.0, norms  # clipping active on every step
    assert result["alternative_diff"] > 1e-3, result  # the check has teeth
    print(json.dumps(result))


def test_mirrored_strategy_clips_the_all_reduced_gradient():
    # Logical devices must be configured before TF initialises its runtime. In a shared pytest
    # process earlier tests (any module) already ran ops, and splitting the CPU at import time
    # would change the device list every other test sees; a child process has neither problem.
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--mirrored-check"],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["max_diff"] < 1e-5


if __name__ == "__main__" and sys.argv[1:] == ["--mirrored-check"]:
    _mirrored_check()
