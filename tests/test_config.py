import json

import pytest

from bert_tf.config import BertConfig, ConfigError

# A released multilingual/Chinese bert_config.json carries pooler_* and directionality keys
# the original ignores (values as in chinese_L-12_H-768_A-12/bert_config.json).
CHINESE_BASE = {
    "attention_probs_dropout_prob": 0.1, "directionality": "bidi", "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "max_position_embeddings": 512, "num_attention_heads": 12,
    "num_hidden_layers": 12, "pooler_fc_size": 768, "pooler_num_attention_heads": 12,
    "pooler_num_fc_layers": 3, "pooler_size_per_head": 128,
    "pooler_type": "first_token_transform", "type_vocab_size": 2, "vocab_size": 21128,
}


def test_reads_released_config_and_round_trips(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(CHINESE_BASE))
    config = BertConfig.from_json_file(str(path))
    assert config.vocab_size == 21128 and config.head_size == 64
    out = tmp_path / "out.json"
    config.to_json_file(str(out))
    assert json.loads(out.read_text()) == CHINESE_BASE


def test_defaults_are_the_originals():
    config = BertConfig(vocab_size=30522)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
            config.intermediate_size, config.hidden_act, config.hidden_dropout_prob,
            config.attention_probs_dropout_prob, config.max_position_embeddings,
            config.type_vocab_size, config.initializer_range) == (
        768, 12, 12, 3072, "gelu", 0.1, 0.1, 512, 16, 0.02)


@pytest.mark.parametrize("change, message", [
    ({"num_attention_heads": 5}, "divisible by 'num_attention_heads'"),
    ({"hidden_act": "swish"}, "'hidden_act' is 'swish'"),
    ({"hidden_size": 0}, "'hidden_size' must be a positive integer"),
    ({"hidden_dropout_prob": 1.5}, "'hidden_dropout_prob' must be a number in [0, 1)"),
    ({"hiden_size": 32}, "unknown key 'hiden_size' (did you mean 'hidden_size'?)"),
])
def test_bad_values_name_file_and_field(tmp_path, tiny_config_dict, change, message):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**tiny_config_dict, **change}))
    with pytest.raises(ConfigError) as e:
        BertConfig.from_json_file(str(path))
    assert str(path) in str(e.value) and message in str(e.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        BertConfig.from_json_file(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"vocab_size": 10,\n "hidden_size": }')
    with pytest.raises(ConfigError, match=r"bad.json: not valid JSON \(line 2"):
        BertConfig.from_json_file(str(bad))
    no_vocab = tmp_path / "novocab.json"
    no_vocab.write_text('{"hidden_size": 32}')
    with pytest.raises(ConfigError, match="missing required key 'vocab_size'"):
        BertConfig.from_json_file(str(no_vocab))


def test_a_hugging_face_config_json_says_to_convert(tmp_path, tiny_config_dict):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**tiny_config_dict, "model_type": "bert",
                                "architectures": ["BertForMaskedLM"],
                                "layer_norm_eps": 1e-12}))
    with pytest.raises(ConfigError, match=r"config.json: a Hugging Face config.json, not an "
                                          r"original bert_config.json; convert the model with "
                                          r"`python -m bert_tf.convert hf-to-tf"):
        BertConfig.from_json_file(str(path))


def test_vocab_size_check(tiny_config):
    tiny_config.check_vocab_size(99, "vocab.txt")
    tiny_config.check_vocab_size(50, "vocab.txt")
    with pytest.raises(ConfigError, match="vocab.txt has 120 tokens but the config's "
                                          "vocab_size is 99"):
        tiny_config.check_vocab_size(120, "vocab.txt")
