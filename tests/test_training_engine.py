"""Dynamic padding, gradient accumulation, XLA and the float32 export of the engine.

Each speed feature must change nothing but speed (and memory): the same logits per example
as fixed padding, the same update as one big batch, the same weights with XLA.
"""

import logging
import threading
import weakref

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from absl import logging as absl_logging

from bert_tf.config import BertConfig
from bert_tf.data.dynamic_padding import (LENGTH_GROUP_BATCHES, cut_batch,
                                          length_grouped_batches, sequence_feature_names)
from bert_tf.errors import InputError, TrainingDiverged
from bert_tf.optimization import LAMB, AdamWeightDecay
from bert_tf.tasks.classification import ClassificationTask
from bert_tf.tasks.ner import TokenClassificationTask
from bert_tf.tasks.squad import SquadTask
from bert_tf.training import Engine, TrainingConfig, create_strategy, engine as engine_module
from bert_tf.weights.checkpoints import checkpoint_names
from tests.conftest import TINY, random_original_weights
from tests.reference.tf1_checkpoint import write_tf1_checkpoint

S = 24  # max_seq_length of the toy features
NO_DROPOUT = BertConfig(**dict(TINY, max_position_embeddings=S, hidden_dropout_prob=0.0,
                               attention_probs_dropout_prob=0.0))


def _features(n, seed=0, lengths=None):
    """n feature dicts of length S with real lengths 2..S (or `lengths`), both tasks' labels."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, S + 1, size=n) if lengths is None else np.asarray(lengths)
    mask = (np.arange(S)[None] < lengths[:, None]).astype(np.int32)
    label_mask = mask.copy()
    label_mask[:, 0] = 0
    label_mask[np.arange(n), lengths - 1] = 0                       # no [CLS], [SEP]
    label_mask &= rng.integers(0, 2, size=(n, S)).astype(np.int32)  # first pieces only
    return {"input_ids": rng.integers(1, TINY["vocab_size"], size=(n, S)).astype(np.int32) * mask,
            "input_mask": mask,
            "segment_ids": (rng.integers(0, 2, size=(n, S)) * mask).astype(np.int32),
            "label_ids": rng.integers(0, 3, size=(n, S)).astype(np.int32) * mask,
            "label_mask": label_mask,
            "class_ids": rng.integers(0, 3, size=n).astype(np.int32)}


def _dataset(features, task):
    features = dict(features)
    if isinstance(task, ClassificationTask):
        features["label_ids"] = features["class_ids"]
        del features["label_mask"]
    del features["class_ids"]
    return tf.data.Dataset.from_tensor_slices(features)


def _engine(task, tmp_path, name, strategy="one_device", **kwargs):
    return Engine(task, create_strategy(strategy), str(tmp_path / name), seed=3, **kwargs)


def _tasks():
    return {"classifier": lambda: ClassificationTask(NO_DROPOUT, 3, classifier_dropout=0.0),
            "ner": lambda: TokenClassificationTask(NO_DROPOUT, 3, classifier_dropout=0.0),
            "ner_crf": lambda: TokenClassificationTask(NO_DROPOUT, 3, use_crf=True,
                                                       classifier_dropout=0.0)}


def test_cut_batch_keeps_scalars_and_rounds_up():
    features = _features(4, lengths=[3, 9, 5, 2])
    batch = {k: tf.constant(v) for k, v in features.items()}
    cut = cut_batch(batch, ["input_ids", "input_mask", "label_ids"], multiple=8)
    assert cut["input_ids"].shape == (4, 16) and cut["label_ids"].shape == (4, 16)
    assert cut["label_mask"].shape == (4, S)  # not named: untouched
    assert cut["class_ids"].shape == (4,)
    np.testing.assert_array_equal(cut["input_ids"], features["input_ids"][:, :16])
    assert cut_batch(batch, ["input_ids"], multiple=32)["input_ids"].shape == (4, S)  # <= S


def test_length_grouped_batches_hold_every_example_once_with_similar_lengths():
    features = _features(64, seed=1)
    features["index"] = np.arange(64)
    dataset = tf.data.Dataset.from_tensor_slices(features)
    batches = list(length_grouped_batches(dataset, 8, multiple=4, group_batches=8))
    seen = np.concatenate([b["index"].numpy() for b in batches])
    assert sorted(seen) == list(range(64))
    for b in batches:
        lengths = b["input_mask"].numpy().sum(axis=1)
        width = b["input_ids"].shape[1]
        assert width % 4 == 0 and lengths.max() <= width < lengths.max() + 4
        np.testing.assert_array_equal(b["input_ids"].numpy(),
                                      features["input_ids"][b["index"].numpy(), :width])
    # Sorted windows: far less padding than batches in input order.
    assert sum(b["input_ids"].shape[1] for b in batches) < 0.8 * 8 * S


@pytest.mark.parametrize("name", ["classifier", "ner", "ner_crf"])
def test_dynamic_padding_gives_the_fixed_padding_outputs_in_input_order(tmp_path, name):
    task_fn = _tasks()[name]
    features = _features(37, seed=2)  # not a multiple of the batch: padding examples too
    results = {}
    for dynamic in (False, True):
        engine = _engine(task_fn(), tmp_path, f"{name}-{dynamic}", dynamic_padding=dynamic)
        results[dynamic] = engine.predict(_dataset(features, engine.task), 37, batch_size=5)
    (fixed, fixed_loss), (dynamic, dynamic_loss) = results[False], results[True]
    assert fixed.keys() == dynamic.keys()
    real = features["input_mask"].astype(bool)
    for key in fixed:
        assert fixed[key].shape == dynamic[key].shape, key
        # Per-token outputs: compared at the real tokens (the rest is padding, whose
        # outputs nothing reads; a cut batch has zeros there).
        pick = (lambda x: x[real]) if fixed[key].shape[1:2] == (S,) else (lambda x: x)
        np.testing.assert_allclose(pick(dynamic[key]), pick(fixed[key]), atol=1e-5,
                                   err_msg=key)
    assert dynamic_loss == pytest.approx(fixed_loss, rel=1e-5)
    # Outputs in input order: example i's output does not depend on the batch it ran in.
    alone, _ = _engine(task_fn(), tmp_path, f"{name}-alone").predict(
        _dataset({k: v[[20]] for k, v in features.items()}, task_fn()), 1, batch_size=1)
    for key in fixed:
        pick = (lambda x: x[real[20]]) if fixed[key].shape[1:2] == (S,) else (lambda x: x)
        np.testing.assert_allclose(pick(dynamic[key][20]), pick(alone[key][0]), atol=1e-5)


@pytest.mark.parametrize("name", ["classifier", "ner", "ner_crf"])
def test_training_on_a_cut_batch_gives_the_loss_and_gradients_of_the_uncut_batch(tmp_path,
                                                                                 name):
    # What dynamic padding promises for training: the same examples give the same loss and
    # gradients cut to their longest example as padded to S (no dropout: its masks are drawn
    # for the tensor's shape, so a cut batch gets other masks, as another seed would).
    features = _features(6, seed=7, lengths=[3, 11, 5, 2, 9, 7])
    engine = _engine(_tasks()[name](), tmp_path, name)
    batch = {k: tf.constant(v) for k, v in
             next(iter(_dataset(_with_real_flag(features), engine.task).batch(6))).items()}
    cut = cut_batch(batch, sequence_feature_names(batch, engine.task.sequence_features), 8)
    assert cut["input_ids"].shape == (6, 16)
    seed = tf.constant([1, 2], tf.int64)
    padded_grads, padded_loss, padded_count = engine._micro_batch_gradients(batch, seed)
    cut_grads, cut_loss, cut_count = engine._micro_batch_gradients(cut, seed)
    assert float(cut_count) == float(padded_count) > 0
    assert float(cut_loss) == pytest.approx(float(padded_loss), rel=1e-6)
    for variable, a, b in zip(engine.model.trainable_variables, padded_grads, cut_grads):
        assert (a is None) == (b is None), variable.name
        if a is not None:
            np.testing.assert_allclose(tf.convert_to_tensor(b), tf.convert_to_tensor(a),
                                       rtol=1e-4, atol=1e-7, err_msg=variable.name)


def _training_batches(tmp_path, name, features, num_batches, seed, dynamic_padding):
    """The first `num_batches` training batches the engine would run, as example indices."""
    engine = _engine(_tasks()["classifier"](), tmp_path, name, dynamic_padding=dynamic_padding)
    config = TrainingConfig(train_batch_size=4, num_train_steps=num_batches,
                            num_warmup_steps=0, learning_rate=1e-3, seed=seed,
                            shuffle_buffer_size=1000)
    dataset = _dataset(features, engine.task).map(
        lambda f: dict(f, index=f["input_ids"][-1]))  # the index rides in the last token id
    _, iterator, _ = engine.prepare_training(dataset, config)
    return [next(iterator)["index"].numpy() for _ in range(num_batches)]


def test_length_grouped_training_order_is_a_seeded_permutation_of_each_window(tmp_path):
    # Length grouping changes which examples share a batch, nothing else: each window of
    # LENGTH_GROUP_BATCHES batches holds exactly the examples of the same window of the
    # fixed-padding order (the same seeded shuffle, epoch after epoch), and the order is a
    # function of the seed.
    window = LENGTH_GROUP_BATCHES
    features = _features(64, seed=8, lengths=np.random.default_rng(8).integers(2, S, 64))
    features["input_ids"][:, -1] = np.arange(64)  # beyond every length: never read
    steps = 2 * window  # 4 windows of 32 batches of 4 = 8 epochs of 64 examples
    grouped = _training_batches(tmp_path, "grouped", features, steps, 5, True)
    fixed = _training_batches(tmp_path, "fixed", features, steps, 5, False)
    for start in range(0, steps, window):
        in_window = np.concatenate(grouped[start:start + window])
        np.testing.assert_array_equal(np.sort(in_window),
                                      np.sort(np.concatenate(fixed[start:start + window])))
        assert np.array_equal(np.bincount(in_window, minlength=64), np.full(64, 2))
    assert not np.array_equal(np.concatenate(grouped), np.concatenate(fixed))
    # Batches of similar length: the grouped batches pad far less than the fixed ones.
    lengths = features["input_mask"].sum(1)
    spread = [np.ptp(lengths[b]) for b in grouped], [np.ptp(lengths[b]) for b in fixed]
    assert np.mean(spread[0]) < 0.5 * np.mean(spread[1])
    again = _training_batches(tmp_path, "again", features, steps, 5, True)
    other = _training_batches(tmp_path, "other", features, steps, 6, True)
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate(grouped))
    assert not np.array_equal(np.concatenate(other), np.concatenate(grouped))


def _log_softmax(logits):
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _crf_log_likelihood(emissions, tags, mask, transitions):
    """Per sequence: the gold path's score minus log Z over the positions where mask = 1
    (transitions between consecutive labelled positions), by the forward algorithm."""
    out = []
    for e, y, m in zip(emissions.astype(np.float64), tags, mask):
        positions = np.flatnonzero(m)
        if not len(positions):
            out.append(0.0)
            continue
        e, y = e[positions], y[positions]
        score = e[np.arange(len(y)), y].sum() + transitions[y[:-1], y[1:]].sum()
        alpha = e[0]
        for t in range(1, len(e)):
            scores = alpha[:, None] + transitions + e[t][None]          # [C, C]
            top = scores.max(0)
            alpha = top + np.log(np.exp(scores - top).sum(0))
        out.append(score - (alpha.max() + np.log(np.exp(alpha - alpha.max()).sum())))
    return np.array(out)


@pytest.mark.parametrize("name", ["classifier", "regression", "ner", "ner_crf", "squad"])
def test_eval_loss_is_the_numpy_mean_loss_of_the_real_examples(tmp_path, name):
    # eval_loss, computed in NumPy from the logits: mean cross-entropy over the real examples
    # (the classifier, SQuAD's mean of start and end), mean squared error (regression), mean
    # over labelled tokens (NER), mean negative log-likelihood per sentence (CRF). 37
    # examples in batches of 5: the 3 padding examples of the last batch must not count.
    features = _features(37, seed=9)
    rng = np.random.default_rng(9)
    tasks = dict(_tasks(), regression=lambda: ClassificationTask(NO_DROPOUT, 1,
                                                                 is_regression=True),
                 squad=lambda: SquadTask(NO_DROPOUT))
    # SQuAD's loss reads the padded positions (see SquadTask): only fixed padding gives it.
    engine = _engine(tasks[name](), tmp_path, name, dynamic_padding=name != "squad")
    for variable in engine.model.trainable_variables:  # logits far from uniform
        if "output_weights" in variable.name:
            variable.assign(variable * 50.0)
    if name == "regression":
        features["class_ids"] = rng.normal(size=37).astype(np.float32)
    if name == "squad":
        lengths = features["input_mask"].sum(1)
        features["start_positions"] = rng.integers(0, lengths).astype(np.int32)
        features["end_positions"] = rng.integers(0, lengths).astype(np.int32)
        for key in ("label_ids", "label_mask", "class_ids"):
            del features[key]
        dataset = tf.data.Dataset.from_tensor_slices(features)
    else:
        dataset = _dataset(features, engine.task)
    _, loss = engine.predict(dataset, 37, batch_size=5)
    logits = engine.model({k: tf.constant(v) for k, v in features.items()},
                          training=False).numpy().astype(np.float64)
    rows = np.arange(37)
    if name == "classifier":
        expected = -_log_softmax(logits)[rows, features["class_ids"]].mean()
    elif name == "regression":
        expected = ((logits[:, 0] - features["class_ids"]) ** 2).mean()
    elif name == "squad":
        log_p = _log_softmax(np.moveaxis(logits, -1, 1))                         # [B, 2, S]
        expected = -(log_p[rows, 0, features["start_positions"]] +
                     log_p[rows, 1, features["end_positions"]]).mean() / 2
    elif name == "ner":
        mask = features["label_mask"].astype(bool)
        log_p = np.take_along_axis(_log_softmax(logits), features["label_ids"][..., None], -1)
        expected = -log_p[..., 0][mask].mean()
    else:
        log_likelihood = _crf_log_likelihood(logits, features["label_ids"],
                                             features["label_mask"],
                                             engine.task.crf.transitions.numpy())
        expected = -log_likelihood[features["label_mask"].any(1)].mean()
    assert loss == pytest.approx(expected, rel=1e-5)


def test_squad_trains_on_whole_windows_as_the_original(tmp_path):
    # The original's start/end softmax runs over all S positions, padding included: cut
    # batches would train another loss (and their eval loss is not that loss: NaN).
    features = _features(8, seed=10)
    features = {k: features[k] for k in ("input_ids", "input_mask", "segment_ids")}
    features["start_positions"] = features["end_positions"] = np.ones(8, np.int32)
    engine = _engine(SquadTask(NO_DROPOUT), tmp_path, "squad")
    assert engine.dynamic_padding
    config = TrainingConfig(train_batch_size=4, num_train_steps=2, num_warmup_steps=0,
                            learning_rate=1e-3, shuffle_buffer_size=1)
    dataset = tf.data.Dataset.from_tensor_slices(features)
    _, iterator, _ = engine.prepare_training(dataset, config)
    assert [next(iterator)["input_ids"].shape for _ in range(2)] == [(4, S)] * 2
    outputs, loss = engine.predict(dataset, 8, batch_size=4)
    assert np.isnan(loss) and outputs["start_logits"].shape == (8, S)


def _one_step(tmp_path, name, task_fn, features, batch_size, strategy="one_device", **kwargs):
    accumulation = kwargs.pop("gradient_accumulation_steps", 1)
    engine = _engine(task_fn(), tmp_path, name, strategy, **kwargs)
    config = TrainingConfig(train_batch_size=batch_size, num_train_steps=1,
                            num_warmup_steps=0, learning_rate=1e-2, shuffle_buffer_size=1,
                            gradient_accumulation_steps=accumulation)
    engine.train(_dataset(features, engine.task), config)
    return [v.numpy() for v in engine.model.trainable_variables]


def _with_real_flag(features):
    return dict(features, is_real_example=np.ones(len(features["input_ids"]), np.int32))


def _gradient_applied(tmp_path, name, task_fn, features, monkeypatch, **kwargs):
    """The gradient the engine's first step applies, read off one plain-SGD step.

    With SGD at learning rate 1 (no moments, no clipping) the update is the gradient itself,
    so a weighting error shows in its values, not only in its signs as after one Adam step.
    Returns {variable name: float64 gradient} (variables without a gradient: zero).
    """
    monkeypatch.setattr(engine_module, "create_optimizer",
                        lambda *args, **kw: tf_keras.optimizers.SGD(learning_rate=1.0))
    accumulation = kwargs.pop("gradient_accumulation_steps", 1)
    # Fixed padding: the first batch is then the whole of `features`, in order (length
    # grouping would fill it from a window of several repeats of so small a dataset).
    engine = _engine(task_fn(), tmp_path, name, dynamic_padding=False, **kwargs)
    config = TrainingConfig(train_batch_size=len(features["input_ids"]), num_train_steps=1,
                            num_warmup_steps=0, learning_rate=1.0, shuffle_buffer_size=1,
                            gradient_accumulation_steps=accumulation)
    _, iterator, train_loop = engine.prepare_training(_dataset(features, engine.task), config)
    before = {v.name: v.numpy().astype(np.float64) for v in engine.model.trainable_variables}
    train_loop(iterator, tf.constant(1))
    return {v.name: before[v.name] - v.numpy() for v in engine.model.trainable_variables}


def _whole_batch_gradient(tmp_path, task_fn, features):
    """Reference: the gradient of the whole batch's mean loss, one tape, no engine step."""
    engine = _engine(task_fn(), tmp_path, "reference")
    batch = {k: tf.constant(v) for k, v in _with_real_flag(features).items()}
    if isinstance(engine.task, ClassificationTask):
        batch["label_ids"] = batch["class_ids"]
    variables = engine.model.trainable_variables
    with tf.GradientTape() as tape:
        loss_sum, count = engine.task.loss(engine.model(batch, training=True), batch)
        loss = loss_sum / count
    return {v.name: np.zeros(v.shape) if g is None else tf.convert_to_tensor(g).numpy()
            for v, g in zip(variables, tape.gradient(loss, variables))}


def _assert_same_gradients(got, want):
    assert got.keys() == want.keys()
    scale = max(np.abs(g).max() for g in want.values())
    for name in want:
        # float32 rounding of the weights read back (|w| ~ 0.05) and of the sums: 1e-6 of
        # the largest gradient; a wrong micro-batch weighting moves them by percents.
        np.testing.assert_allclose(got[name], want[name], rtol=1e-3, atol=1e-6 * scale,
                                   err_msg=name)


@pytest.mark.parametrize("name", ["classifier", "ner", "ner_crf"])
def test_gradient_accumulation_equals_one_step_on_the_whole_batch(tmp_path, name, monkeypatch):
    # NER micro-batches count different numbers of labelled tokens: the weighting must make
    # the update that of the whole batch's mean loss, not the mean of micro-batch means.
    features = _features(16, seed=4)
    want = _whole_batch_gradient(tmp_path, _tasks()[name], features)
    for accumulation in (1, 4):
        _assert_same_gradients(_gradient_applied(
            tmp_path, f"k{accumulation}", _tasks()[name], features, monkeypatch,
            gradient_accumulation_steps=accumulation), want)
    if name == "ner":  # the case the weighting exists for: unequal counts per micro-batch
        counts = features["label_mask"].reshape(4, 4, S).sum(axis=(1, 2))
        assert len(set(counts)) > 1, counts


def test_gradient_accumulation_must_divide_each_replicas_batch(tmp_path):
    with pytest.raises(InputError, match="--gradient_accumulation_steps=3"):
        _one_step(tmp_path, "bad", _tasks()["classifier"], _features(16), 16,
                  gradient_accumulation_steps=3)


@pytest.mark.parametrize("name, optimizer_class", [("adamw", AdamWeightDecay), ("lamb", LAMB)])
def test_the_configured_optimizer_is_built(tmp_path, name, optimizer_class):
    engine = _engine(_tasks()["classifier"](), tmp_path, name)
    config = TrainingConfig(train_batch_size=4, num_train_steps=10, num_warmup_steps=1,
                            learning_rate=1e-3, optimizer=name)
    engine._build_optimizer(config)
    assert type(engine.optimizer) is optimizer_class
    assert engine.optimizer.get_config()["global_clipnorm"] == config.clip_norm


@pytest.mark.parametrize("accumulation", [1, 2])
def test_the_unused_pooler_is_neither_trained_nor_warned_about(tmp_path, accumulation):
    # A token head never reads the pooler. tf-keras used to log "Gradients do not exist for
    # variables [...pooler...]" twice per trace; the pooler must still be saved, unchanged.
    engine = _engine(_tasks()["ner"](), tmp_path, "ner")
    initial = {name: variable.numpy() for name, variable in checkpoint_names(engine.model).items()}
    config = TrainingConfig(train_batch_size=4, num_train_steps=2, num_warmup_steps=0,
                            learning_rate=1e-2, shuffle_buffer_size=1,
                            gradient_accumulation_steps=accumulation)
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("tensorflow").addHandler(handler)
    try:
        engine.train(_dataset(_features(8), engine.task), config)
    finally:
        logging.getLogger("tensorflow").removeHandler(handler)
    assert [w for w in warnings if "Gradients do not exist" in w] == []
    saved = tf.train.load_checkpoint(engine.latest_checkpoint())
    for name in ("bert/pooler/dense/kernel", "bert/pooler/dense/bias"):
        np.testing.assert_array_equal(saved.get_tensor(name), initial[name])
        assert not saved.get_tensor(f"{name}/adam_m").any()
    query = "bert/encoder/layer_0/attention/self/query/kernel"
    assert not np.allclose(saved.get_tensor(query), initial[query])  # the encoder trained

def test_init_checkpoint_load_lists_every_variable_in_output_dir(tmp_path):
    prefix = write_tf1_checkpoint(random_original_weights(max_position_embeddings=S),
                                  str(tmp_path / "bert_model.ckpt"))
    engine = _engine(_tasks()["classifier"](), tmp_path, "out")
    assert engine.restore(prefix) == 0
    listed = (tmp_path / "out" / "init_checkpoint_report.txt").read_text().splitlines()
    marked = [line for line in listed if line.endswith(", *INIT_FROM_CKPT*")]
    assert len(marked) == len(random_original_weights()) and all(
        line.startswith("  name = bert/") for line in marked)
    assert {line.split(",")[0] for line in listed if line.startswith("  name = ")} - {
        line.split(",")[0] for line in marked} == {"  name = output_weights",
                                                   "  name = output_bias"}

def test_training_releases_its_input_pipeline_even_when_it_fails(tmp_path, monkeypatch):
    # The iterator's destructor stops the prefetch threads (and may wait for them): train()
    # runs it before it returns or raises. A TrainingDiverged traceback used to keep it.
    engine = _engine(_tasks()["classifier"](), tmp_path, "nan")
    iterators, prepare = [], engine.prepare_training

    def recording_prepare(*args, **kwargs):
        step, iterator, train_loop = prepare(*args, **kwargs)
        iterators.append(weakref.ref(iterator))
        return step, iterator, train_loop

    monkeypatch.setattr(engine, "prepare_training", recording_prepare)
    config = TrainingConfig(train_batch_size=4, num_train_steps=4, num_warmup_steps=0,
                            learning_rate=1e38, log_every_n_steps=1, shuffle_buffer_size=1)
    with pytest.raises(TrainingDiverged) as failure:
        engine.train(_dataset(_features(8), engine.task), config)
    assert failure.tb is not None and len(iterators) == 1
    assert iterators[0]() is None


def test_input_pipelines_run_without_the_autotuning_thread(tmp_path, monkeypatch):
    # tf.data's autotuning thread sleeps up to a minute between runs, and an iterator's
    # destructor waited for it: SQuAD demo runs sat idle 45-57 s after their last checkpoint.
    # On one CPU the iterator is the pipeline's own (the strategy's distributed iterator
    # would rebuild each device's share with default options, autotuning on).
    engine = _engine(_tasks()["ner"](), tmp_path, "ner")
    iterated, iterate = [], engine._iterate

    def recording_iterate(batches, batch_size):
        iterator = iterate(batches, batch_size)
        iterated.append((batches, iterator))
        return iterator

    monkeypatch.setattr(engine, "_iterate", recording_iterate)
    config = TrainingConfig(train_batch_size=4, num_train_steps=1, num_warmup_steps=0,
                            learning_rate=1e-3, shuffle_buffer_size=1)
    engine.train(_dataset(_features(8), engine.task), config)
    engine.predict(_dataset(_features(5), engine.task), 5, batch_size=4)
    assert [b.options().autotune.enabled for b, _ in iterated] == [False, False]
    assert [type(i).__name__ for _, i in iterated] == ["OwnedIterator", "OwnedIterator"]


def test_a_slow_wait_is_announced_while_it_lasts(caplog):
    announced = threading.Event()
    handler = logging.Handler()
    handler.emit = lambda record: (record.getMessage() == "Stopping the pipeline ..." and
                                   announced.set())
    logging.getLogger().addHandler(handler)
    # absl's own verbosity filters logging.info first; a runner test may have lowered it
    # (--verbosity=-1).
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    try:
        with caplog.at_level(logging.INFO):
            with engine_module._notice_if_slow("Quick"):
                pass
            # The block waits for its own notice: no assumption on how long anything takes.
            with engine_module._notice_if_slow("Stopping the pipeline", after_seconds=0.01):
                assert announced.wait(timeout=120)
    finally:
        logging.getLogger().removeHandler(handler)
        absl_logging.set_verbosity(verbosity)
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if m.startswith("Quick")]
    assert messages[0] == "Stopping the pipeline ..."
    assert messages[1].startswith("Stopping the pipeline: done in ")


def test_xla_trains_and_predicts_like_the_default(tmp_path, monkeypatch):
    features = _features(8, seed=5)
    want = _whole_batch_gradient(tmp_path, _tasks()["ner"], features)
    _assert_same_gradients(_gradient_applied(tmp_path, "xla", _tasks()["ner"], features,
                                             monkeypatch, jit_compile=True), want)
    task = _tasks()["classifier"]
    outputs = [_engine(task(), tmp_path, f"p{jit}", jit_compile=jit).predict(
        _dataset(features, task()), 8, batch_size=4)[0]["probabilities"]
        for jit in (False, True)]
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)


def test_mixed_precision_exports_a_float32_model(tmp_path):
    tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        engine = _engine(_tasks()["ner_crf"](), tmp_path, "bf16")
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    assert engine.model.compute_dtype == "bfloat16"
    features = _features(6, seed=6)
    export_dir = engine.export(str(tmp_path / "export"))
    loaded = tf.saved_model.load(export_dir).signatures["serving_default"]
    served = loaded(**{k: tf.constant(features[k])
                       for k in ("input_ids", "input_mask", "segment_ids")})
    assert served["probabilities"].dtype == tf.float32
    # The same weights in a float32 model give the served outputs to float32 precision.
    reference = _engine(_tasks()["ner_crf"](), tmp_path, "fp32")
    reference.model.set_weights(engine.model.get_weights())
    logits = reference.model({k: tf.constant(v) for k, v in features.items()}, training=False)
    label_mask = tf.constant(features["input_mask"])  # any mask: compare on all real tokens
    from bert_tf.tasks.ner import serving_label_mask
    label_mask = serving_label_mask(label_mask)
    expected = reference.task.outputs(logits, {"label_mask": label_mask})
    np.testing.assert_allclose(served["probabilities"], expected["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(served["label_ids"], expected["label_ids"])


def test_replica_shares_give_each_example_of_a_batch_to_exactly_one_replica():
    # 2 workers x 2 replicas, global batch 8 of rows 0..15: worker w's replicas get rows
    # [4w, 4w + 2) and [4w + 2, 4w + 4) of each batch, in replica order, with static shapes.
    batches = tf.data.Dataset.range(16).map(
        lambda i: {"input_ids": tf.fill([S], i)}).batch(8, drop_remainder=True)
    seen = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                             num_replicas_in_sync=4)
        shares = engine_module.replica_shares(batches, 8, 4)(context)
        assert shares.element_spec["input_ids"].shape == (2, S)
        seen.append([e["input_ids"][:, 0].numpy().tolist() for e in shares])
    assert seen == [[[0, 1], [2, 3], [8, 9], [10, 11]], [[4, 5], [6, 7], [12, 13], [14, 15]]]


@pytest.mark.parametrize("name", ["classifier", "ner_crf"])
def test_static_shapes_train_and_predict_with_the_tpu_settings(tmp_path, name):
    # What a TPUStrategy gets (static_shapes defaults on for it), run on the CPU through the
    # distributed input path: every traced batch is [batch, S]; training drops the last
    # partial batch; the padded last eval batch never reaches an output.
    task_fn = _tasks()[name]
    engine = _engine(task_fn(), tmp_path, "static", strategy="mirrored", static_shapes=True)
    assert engine.static_shapes and not engine.dynamic_padding
    traced = []
    loss = engine.task.loss

    def recording_loss(logits, features):
        traced.append((tuple(features["input_ids"].shape), tuple(logits.shape)))
        return loss(logits, features)
    engine.task.loss = recording_loss
    features = _features(37, seed=4)
    config = TrainingConfig(train_batch_size=4, num_train_steps=10, num_warmup_steps=0,
                            learning_rate=1e-3, seed=1, save_checkpoints_steps=100,
                            log_every_n_steps=5)
    engine.train(_dataset(features, engine.task), config)
    outputs, _ = engine.predict(_dataset(features, engine.task), 37, batch_size=5)
    assert traced and all(None not in ids + logits for ids, logits in traced), traced
    assert {ids for ids, _ in traced} == {(4, S), (5, S)}
    # The same outputs as the default (dynamic padding) engine on the trained weights.
    other = _engine(task_fn(), tmp_path, "dynamic")
    other.model.set_weights(engine.model.get_weights())
    expected, _ = other.predict(_dataset(features, other.task), 37, batch_size=5)
    real = features["input_mask"].astype(bool)
    for key, value in expected.items():
        assert outputs[key].shape[0] == 37
        pick = (lambda x: x[real]) if value.shape[1:2] == (S,) else (lambda x: x)
        np.testing.assert_allclose(pick(outputs[key]), pick(value), atol=1e-5, err_msg=key)
