import json
import os

import numpy as np
import pytest

from bert_tf.config import BertConfig, ConfigError
from bert_tf.modeling import BertModel
from bert_tf.weights import hf_weights
from bert_tf.weights.checkpoints import (CheckpointError, WeightSource, assign_weights,
                                 checkpoint_names)
from bert_tf.weights.hf_weights import HFFormatError, load_hf_weights, read_hf_directory
from tests.conftest import TINY, random_batch, random_original_weights
from tests.reference.hf_layout import (HF_TINY, random_hf_state, transformers_model,
                                       write_hf_dir)


def _inputs():
    input_ids, input_mask, segment_ids = random_batch()
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}


def _compare_with_transformers(ours, theirs_model):
    inputs = _inputs()
    theirs = theirs_model(input_ids=inputs["input_ids"], attention_mask=inputs["input_mask"],
                          token_type_ids=inputs["segment_ids"], output_hidden_states=True,
                          training=False)
    out = ours(inputs, training=False)
    np.testing.assert_allclose(out["sequence_output"].numpy(),
                               theirs.last_hidden_state.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["pooled_output"].numpy(), theirs.pooler_output.numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(out["embedding_output"].numpy(),
                               theirs.hidden_states[0].numpy(), atol=1e-5)
    for ours_layer, their_layer in zip(out["all_encoder_layers"], theirs.hidden_states[1:]):
        np.testing.assert_allclose(ours_layer.numpy(), their_layer.numpy(), atol=1e-5)


@pytest.mark.parametrize("prefix", ["bert.", ""])
def test_import_matches_transformers(tmp_path, prefix):
    directory = write_hf_dir(str(tmp_path / "hf"), HF_TINY,
                             random_hf_state(HF_TINY, seed=4, prefix=prefix))
    checkpoint = read_hf_directory(directory)
    # HF "gelu" is the exact erf GELU.
    assert checkpoint.config.hidden_act == "gelu_exact"
    model = BertModel(checkpoint.config)
    report = load_hf_weights(model, directory)
    assert report.new == [] and report.unused == []
    theirs, info = transformers_model(directory)
    assert not any(info.values())
    _compare_with_transformers(model, theirs)


def test_export_loads_in_transformers(tmp_path):
    config = BertConfig(**TINY)  # original tanh "gelu" -> HF "gelu_new"
    model = BertModel(config).build_with_dummy_inputs()
    assign_weights(model, WeightSource.from_arrays("random", random_original_weights(seed=5)))
    arrays = {k: v.numpy() for k, v in checkpoint_names(model).items()}
    directory = str(tmp_path / "exported")
    hf_weights.write_hf_directory(arrays, config, directory)
    with open(os.path.join(directory, "config.json")) as f:
        exported = json.load(f)
    assert exported["hidden_act"] == "gelu_new" and exported["architectures"] == ["BertModel"]
    theirs, info = transformers_model(directory)
    assert not any(info.values()), info
    _compare_with_transformers(model, theirs)


def test_classifier_head_exports_as_sequence_classification(tmp_path):
    arrays = random_original_weights(seed=6)
    rng = np.random.default_rng(7)
    arrays["output_weights"] = rng.standard_normal((5, 32)).astype(np.float32)  # [C, H]
    arrays["output_bias"] = rng.standard_normal(5).astype(np.float32)
    directory = str(tmp_path / "clf")
    hf_weights.write_hf_directory(arrays, BertConfig(**TINY), directory)
    theirs, info = transformers_model(directory, "TFBertForSequenceClassification")
    assert not any(info.values()), info
    inputs = _inputs()
    logits = theirs(input_ids=inputs["input_ids"], attention_mask=inputs["input_mask"],
                    token_type_ids=inputs["segment_ids"], training=False).logits.numpy()
    ours = BertModel(BertConfig(**TINY)).build_with_dummy_inputs()
    assign_weights(ours, WeightSource.from_arrays("clf", arrays))
    pooled = ours(inputs, training=False)["pooled_output"].numpy()
    # The original classifier: logits = pooled @ output_weights^T + output_bias.
    np.testing.assert_allclose(logits, pooled @ arrays["output_weights"].T
                               + arrays["output_bias"], atol=1e-5)
    back = read_hf_directory(directory).weights.arrays
    for name, value in arrays.items():
        np.testing.assert_array_equal(back[name], value)


def test_pretraining_heads_round_trip(tmp_path):
    state = random_hf_state(HF_TINY, seed=8)
    rng = np.random.default_rng(9)
    state.update({
        "cls.predictions.transform.dense.weight": rng.standard_normal((32, 32), np.float32),
        "cls.predictions.transform.dense.bias": rng.standard_normal(32, np.float32),
        "cls.predictions.transform.LayerNorm.weight": rng.standard_normal(32, np.float32),
        "cls.predictions.transform.LayerNorm.bias": rng.standard_normal(32, np.float32),
        "cls.predictions.bias": rng.standard_normal(99, np.float32),
        "cls.predictions.decoder.weight": state["bert.embeddings.word_embeddings.weight"],
        "cls.seq_relationship.weight": rng.standard_normal((2, 32), np.float32),
        "cls.seq_relationship.bias": rng.standard_normal(2, np.float32),
    })
    mapped = hf_weights.hf_to_original(state)
    arrays = mapped.arrays
    np.testing.assert_array_equal(arrays["cls/predictions/transform/dense/kernel"],
                                  state["cls.predictions.transform.dense.weight"].T)
    np.testing.assert_array_equal(arrays["cls/seq_relationship/output_weights"],
                                  state["cls.seq_relationship.weight"])
    assert mapped.skipped == ["cls.predictions.decoder.weight"]
    back, architecture = hf_weights.original_to_hf(arrays)
    assert architecture == "BertForPreTraining"
    assert set(back.arrays) == set(state) | {"cls.predictions.decoder.bias"}
    for name, value in state.items():
        np.testing.assert_array_equal(back.arrays[name], value)


@pytest.mark.parametrize("change, message", [
    ({"position_embedding_type": "relative_key"}, "absolute position embeddings"),
    ({"layer_norm_eps": 1e-5}, "layer_norm_eps is 1e-05"),
    ({"model_type": "roberta"}, "model_type is 'roberta'"),
    ({"hidden_act": "silu"}, "hidden_act 'silu' has no equivalent"),
])
def test_unsupported_configs_are_clear_errors(tmp_path, change, message):
    directory = write_hf_dir(str(tmp_path / "hf"), {**HF_TINY, **change},
                             random_hf_state(HF_TINY))
    with pytest.raises(ConfigError, match="config.json: .*" + message.replace("(", r"\(")):
        read_hf_directory(directory)


def test_bad_directories_are_clear_errors(tmp_path):
    with pytest.raises(HFFormatError, match="no config.json"):
        read_hf_directory(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(HF_TINY))
    with pytest.raises(HFFormatError, match="no Hugging Face weights found"):
        read_hf_directory(str(tmp_path))
    state = random_hf_state(HF_TINY)
    state["bert.encoder.layer.0.attention.self.rotary.weight"] = np.zeros(3, np.float32)
    write_hf_dir(str(tmp_path), HF_TINY, state)
    with pytest.raises(HFFormatError, match="not BERT weights.*rotary"):
        read_hf_directory(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(HFFormatError, match="not a readable safetensors file"):
        read_hf_directory(str(tmp_path))


def test_model_with_other_activation_is_refused(tmp_path):
    directory = write_hf_dir(str(tmp_path / "hf"), HF_TINY, random_hf_state(HF_TINY))
    with pytest.raises(ConfigError, match="hidden_act: config.json 'gelu_exact', model 'gelu'"):
        load_hf_weights(BertModel(BertConfig(**TINY)), directory)


def test_other_size_is_a_shape_error(tmp_path):
    big = dict(HF_TINY, intermediate_size=41)
    directory = write_hf_dir(str(tmp_path / "hf"), big, random_hf_state(big))
    model = BertModel(BertConfig(**dict(TINY, intermediate_size=41, hidden_act="gelu_exact")))
    load_hf_weights(model, directory)  # same config: fine
    ours = BertModel(BertConfig(**dict(TINY, hidden_act="gelu_exact"))).build_with_dummy_inputs()
    checkpoint = read_hf_directory(directory)
    with pytest.raises(CheckpointError, match=r"intermediate/dense/kernel: source \[32, 41\], "
                                              r"model \[32, 37\]"):
        assign_weights(ours, WeightSource.from_arrays(directory, checkpoint.weights.arrays))


def test_pytorch_bin_with_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    state = random_hf_state(HF_TINY, seed=10)
    os.makedirs(tmp_path / "pt")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()},
               str(tmp_path / "pt" / "pytorch_model.bin"))
    (tmp_path / "pt" / "config.json").write_text(json.dumps(HF_TINY))
    arrays = read_hf_directory(str(tmp_path / "pt")).weights.arrays
    np.testing.assert_array_equal(arrays["bert/encoder/layer_1/output/dense/kernel"],
                                  state["bert.encoder.layer.1.output.dense.weight"].T)


class _RunsCodeWhenUnpickled:
    """A pickle payload that creates a file when loaded without weights_only."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pytorch_bin_that_would_run_code_is_refused_and_runs_none(tmp_path):
    torch = pytest.importorskip("torch")
    os.makedirs(tmp_path / "pt")
    marker = tmp_path / "code_ran"
    state = {k: torch.from_numpy(v) for k, v in random_hf_state(HF_TINY, seed=11).items()}
    state["extra"] = _RunsCodeWhenUnpickled(str(marker))
    torch.save(state, str(tmp_path / "pt" / "pytorch_model.bin"))
    (tmp_path / "pt" / "config.json").write_text(json.dumps(HF_TINY))
    with pytest.raises(HFFormatError, match=r"pytorch_model.bin: holds more than tensors.*"
                                            r"refused.*model.safetensors"):
        read_hf_directory(str(tmp_path / "pt"))
    assert not marker.exists()


def test_sharded_half_precision_pytorch_bin(tmp_path):
    # Hub checkpoints are often fp16 and sharded: pytorch_model-0000k-of-0000n.bin + index.
    torch = pytest.importorskip("torch")
    state = random_hf_state(HF_TINY, seed=12)
    os.makedirs(tmp_path / "pt")
    names = sorted(state)
    shards = {"pytorch_model-00001-of-00002.bin": names[::2],
              "pytorch_model-00002-of-00002.bin": names[1::2]}
    for shard, keys in shards.items():
        torch.save({k: torch.from_numpy(state[k]).half() for k in keys},
                   str(tmp_path / "pt" / shard))
    (tmp_path / "pt" / "pytorch_model.bin.index.json").write_text(json.dumps(
        {"weight_map": {k: shard for shard, keys in shards.items() for k in keys}}))
    (tmp_path / "pt" / "config.json").write_text(json.dumps(HF_TINY))
    arrays = read_hf_directory(str(tmp_path / "pt")).weights.arrays
    kernel = arrays["bert/encoder/layer_0/attention/self/query/kernel"]
    assert kernel.dtype == np.float32
    np.testing.assert_array_equal(
        kernel, state["bert.encoder.layer.0.attention.self.query.weight"].astype(np.float16)
        .astype(np.float32).T)
    assert len(arrays) == len(state)  # every tensor of both shards


@pytest.mark.parametrize("hf_act, ours", [("gelu", "gelu_exact"), ("gelu_new", "gelu"),
                                          ("gelu_pytorch_tanh", "gelu"), ("relu", "relu")])
def test_activation_names_map_to_the_originals(tmp_path, hf_act, ours):
    # The tanh GELU comes back as the original's own name, so the original code reads it.
    directory = write_hf_dir(str(tmp_path / "hf"), {**HF_TINY, "hidden_act": hf_act},
                             random_hf_state(HF_TINY))
    assert read_hf_directory(directory).config.hidden_act == ours
