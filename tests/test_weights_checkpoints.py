import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.config import BertConfig
from bert_tf.modeling import BertModel
from bert_tf.weights.checkpoints import (CheckpointError, load_checkpoint, resolve_checkpoint,
                                 save_checkpoint, write_load_report)
from tests.conftest import TINY, random_batch, random_original_weights
from tests.reference import numpy_bert, original_names
from tests.reference.tf1_checkpoint import read_with_tf1_saver, write_tf1_checkpoint


def _pretraining_weights(seed=0):
    weights = random_original_weights(seed)
    rng = np.random.default_rng(seed + 100)
    for name, shape in original_names.pretraining_head_variables(TINY):
        weights[name] = rng.standard_normal(shape).astype(np.float32)
    return weights


@pytest.fixture
def released_checkpoint(tmp_path):
    """A tiny 'released' checkpoint: encoder + cls/ heads, written by the TF1 Saver."""
    weights = _pretraining_weights()
    directory = tmp_path / "uncased_L-2_H-32_A-4"
    directory.mkdir()
    prefix = write_tf1_checkpoint(weights, str(directory / "bert_model.ckpt"))
    return prefix, weights


def test_tf1_checkpoint_loads_and_matches_reference(released_checkpoint, tiny_config):
    prefix, weights = released_checkpoint
    model = BertModel(tiny_config)
    report = load_checkpoint(model, prefix)
    encoder_names = [n for n, _ in original_names.encoder_variables(TINY)]
    assert sorted(report.initialized) == sorted(encoder_names)
    assert report.new == []
    assert report.unused == sorted(n for n, _ in original_names.pretraining_head_variables(TINY))
    input_ids, input_mask, segment_ids = random_batch()
    out = model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})
    ref = numpy_bert.bert_forward(weights, input_ids, input_mask, segment_ids,
                                  TINY["num_attention_heads"], TINY["num_hidden_layers"])
    np.testing.assert_allclose(out["sequence_output"].numpy(), ref["sequence_output"],
                               atol=1e-5)
    np.testing.assert_allclose(out["pooled_output"].numpy(), ref["pooled_output"], atol=1e-5)


def test_the_load_logs_one_line_and_writes_the_original_list_on_request(
        released_checkpoint, tiny_config, tmp_path, caplog):
    # The original logs `name = ..., shape = [...], *INIT_FROM_CKPT*` per variable: 103 lines
    # for a classifier on BERT-Base, in every run. Now one summary line; the list in a file.
    prefix, _ = released_checkpoint
    model = BertModel(tiny_config)
    with caplog.at_level(logging.INFO):
        report = load_checkpoint(model, prefix)
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if "INIT_FROM_CKPT" in line or "name = " in line]
    unused = sorted(n for n, _ in original_names.pretraining_head_variables(TINY))
    summary = [line for line in lines if line.startswith("Initialized ")]
    assert summary == [f"Initialized {len(report.initialized)} variables from {prefix}; new: "
                       f"none; unused: {', '.join(unused[:4])} and {len(unused) - 4} more"]
    write_load_report(report, str(tmp_path / "report.txt"))
    listed = (tmp_path / "report.txt").read_text().splitlines()
    encoder = original_names.encoder_variables(TINY)
    assert sorted(listed[1:1 + len(encoder)]) == sorted(
        f"  name = {name}, shape = {list(shape)}, *INIT_FROM_CKPT*" for name, shape in encoder)
    assert listed[2 + len(encoder):] == [f"  {name}" for name in unused]

def test_path_forms_resolve(released_checkpoint):
    prefix, _ = released_checkpoint
    for form in (prefix, prefix + ".index", prefix + ".data-00000-of-00001",
                 os.path.dirname(prefix)):
        assert resolve_checkpoint(form) == prefix


def test_save_is_original_format_and_round_trips(tmp_path, released_checkpoint, tiny_config):
    prefix, weights = released_checkpoint
    model = BertModel(tiny_config)
    load_checkpoint(model, prefix)
    out_prefix = save_checkpoint(model, str(tmp_path / "out" / "model.ckpt-7"), global_step=7)
    # Any name-based reader sees exactly the original names and shapes, no optimizer slots.
    reader = tf.train.load_checkpoint(out_prefix)
    shapes = reader.get_variable_to_shape_map()
    expected = dict(original_names.encoder_variables(TINY))
    assert {k: tuple(v) for k, v in shapes.items() if k != "global_step"} == expected
    assert reader.get_tensor("global_step") == 7
    assert tf.train.latest_checkpoint(str(tmp_path / "out")) == out_prefix
    # The original TF1 Saver restores it by name.
    restored = read_with_tf1_saver(original_names.encoder_variables(TINY), out_prefix)
    for name in expected:
        np.testing.assert_array_equal(restored[name], weights[name])
    # Save -> load into a fresh model is exact.
    fresh = BertModel(tiny_config)
    load_checkpoint(fresh, out_prefix)
    for a, b in zip(model.variables, fresh.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not [f for f in os.listdir(tmp_path / "out") if ".tmp-" in f]


def test_other_model_size_is_a_clear_error(tmp_path, released_checkpoint):
    prefix, _ = released_checkpoint
    bigger = BertModel(BertConfig(**dict(TINY, hidden_size=48, num_attention_heads=4)))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(bigger, prefix)
    message = str(e.value)
    assert "bert/embeddings/word_embeddings: source [99, 32], model [99, 48]" in message
    assert "hidden_size=32" in message and "num_hidden_layers=2" in message


def test_missing_encoder_variables_are_a_clear_error(tmp_path):
    weights = random_original_weights()
    one_layer = {k: v for k, v in weights.items() if "layer_1/" not in k}
    prefix = write_tf1_checkpoint(one_layer, str(tmp_path / "bert_model.ckpt"))
    with pytest.raises(CheckpointError, match=r"lacks 16 encoder variable\(s\).*layer_1.*"
                                              r"num_hidden_layers=1"):
        load_checkpoint(BertModel(BertConfig(**TINY)), prefix)


def test_missing_and_corrupt_files(tmp_path, tiny_config):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(BertModel(tiny_config), str(tmp_path / "bert_model.ckpt"))
    with pytest.raises(CheckpointError, match="directory holds no checkpoint"):
        load_checkpoint(BertModel(tiny_config), str(tmp_path))
    (tmp_path / "bad.ckpt.index").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable TensorFlow checkpoint"):
        load_checkpoint(BertModel(tiny_config), str(tmp_path / "bad.ckpt"))


def test_fine_tuned_checkpoint_optimizer_state_is_understood(tmp_path, tiny_config):
    weights = random_original_weights()
    weights["output_weights"] = np.zeros((3, 32), np.float32)
    weights["output_bias"] = np.zeros((3,), np.float32)
    for name in list(weights):
        weights[name + "/adam_m"] = np.ones_like(weights[name])
        weights[name + "/adam_v"] = np.ones_like(weights[name])
    prefix = write_tf1_checkpoint(weights, str(tmp_path / "model.ckpt"), global_step=123)
    report = load_checkpoint(BertModel(tiny_config), prefix)
    assert report.unused == ["output_bias", "output_weights"]
    assert "global_step" in report.optimizer_state
    assert len(report.optimizer_state) == 1 + 2 * (len(weights) // 3)
    assert not report.optimizer_restored


def _train_steps(model, optimizer, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        grads = [tf.constant(rng.standard_normal(v.shape).astype(np.float32))
                 for v in model.trainable_variables]
        optimizer.apply_gradients(zip(grads, model.trainable_variables))


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_optimizer_state_saves_and_resumes_exactly(tmp_path, tiny_config, name):
    from bert_tf.optimization import create_optimizer
    model = BertModel(tiny_config).build_with_dummy_inputs()
    optimizer = create_optimizer(1e-3, num_train_steps=10, num_warmup_steps=2, optimizer=name)
    _train_steps(model, optimizer, 3, seed=1)
    plain = save_checkpoint(model, str(tmp_path / "plain.ckpt"), optimizer=optimizer)
    full = save_checkpoint(model, str(tmp_path / "full.ckpt"), optimizer=optimizer,
                           include_optimizer_slots=True)
    n = len(model.variables)
    plain_names = tf.train.load_checkpoint(plain).get_variable_to_shape_map()
    full_reader = tf.train.load_checkpoint(full)
    full_names = full_reader.get_variable_to_shape_map()
    assert len(plain_names) == n + 1 and len(full_names) == 3 * n + 1
    assert full_reader.get_tensor("global_step") == 3
    assert full_names["bert/pooler/dense/kernel/adam_m"] == [32, 32]
    assert full_names["bert/pooler/dense/kernel/adam_v"] == [32, 32]

    resumed_model = BertModel(tiny_config).build_with_dummy_inputs()
    resumed = create_optimizer(1e-3, num_train_steps=10, num_warmup_steps=2, optimizer=name)
    resumed.build(resumed_model.trainable_variables)
    report = load_checkpoint(resumed_model, full, optimizer=resumed)
    assert report.optimizer_restored and int(resumed.iterations.numpy()) == 3
    # One more identical step from the original and from the restored state agree exactly.
    _train_steps(model, optimizer, 1, seed=2)
    _train_steps(resumed_model, resumed, 1, seed=2)
    for a, b in zip(model.variables, resumed_model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_state_file_lists_checkpoints_relative_and_latest_last(tmp_path, tiny_config):
    from bert_tf.weights.checkpoints import list_checkpoints
    model = BertModel(tiny_config).build_with_dummy_inputs()
    first = save_checkpoint(model, str(tmp_path / "run" / "model.ckpt-1"))
    second = save_checkpoint(model, str(tmp_path / "run" / "model.ckpt-2"))
    save_checkpoint(model, first)  # re-saving moves it to the end, no duplicate
    assert list_checkpoints(str(tmp_path / "run")) == [second, first]
    text = (tmp_path / "run" / "checkpoint").read_text()
    assert text.startswith('model_checkpoint_path: "model.ckpt-1"\n')
    os.rename(tmp_path / "run", tmp_path / "moved")
    assert tf.train.latest_checkpoint(str(tmp_path / "moved")) == str(
        tmp_path / "moved" / "model.ckpt-1")


def test_prune_keeps_the_newest_and_deletes_the_rest(tmp_path, tiny_config, live_pid):
    from bert_tf.weights.checkpoints import list_checkpoints, prune_checkpoints
    model = BertModel(tiny_config).build_with_dummy_inputs()
    prefixes = [save_checkpoint(model, str(tmp_path / f"model.ckpt-{step}"))
                for step in (1, 2, 3, 4)]
    # Another run (sharing the directory by mistake) saving step 1 again right now.
    in_progress = f"model.ckpt-1.tmp-{live_pid}-ab12.index"
    (tmp_path / in_progress).write_bytes(b"being written")
    assert prune_checkpoints(str(tmp_path), keep=2) == prefixes[2:]
    assert list_checkpoints(str(tmp_path)) == prefixes[2:]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("model")) == [
        in_progress, "model.ckpt-3.data-00000-of-00001", "model.ckpt-3.index",
        "model.ckpt-4.data-00000-of-00001", "model.ckpt-4.index"]


def test_saving_removes_what_a_killed_save_of_the_same_checkpoint_left(tmp_path, tiny_config,
                                                                       dead_pid):
    left = [f"model.ckpt-1.tmp-{dead_pid}-ab12.index",
            f"model.ckpt-1.tmp-{dead_pid}-ab12.data-00000-of-00001.tempstate42",
            f"checkpoint.tmp-{dead_pid}-cd34"]
    for name in left:
        (tmp_path / name).write_bytes(b"half")
    model = BertModel(tiny_config).build_with_dummy_inputs()
    save_checkpoint(model, str(tmp_path / "model.ckpt-1"))
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint", "model.ckpt-1.data-00000-of-00001", "model.ckpt-1.index"]
