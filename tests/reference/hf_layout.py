"""Hugging Face BERT directories written by hand in the PyTorch layout, and transformers' own
TF BERT loaded from them through transformers' PT->TF mapping, as an independent reference.
It does not import bert_tf."""

import json
import os

import numpy as np

HF_TINY = dict(model_type="bert", vocab_size=99, hidden_size=32, num_hidden_layers=2,
               num_attention_heads=4, intermediate_size=37, max_position_embeddings=11,
               type_vocab_size=3, hidden_act="gelu", layer_norm_eps=1e-12,
               hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
               initializer_range=0.02)


def random_hf_state(config, seed=0, prefix="bert."):
    """PyTorch-layout names ([out, in] Linear weights) with random values."""
    rng = np.random.default_rng(seed)
    d, i_size = config["hidden_size"], config["intermediate_size"]

    def r(*shape, center=0.0):
        return (center + 0.2 * rng.standard_normal(shape)).astype(np.float32)

    e = prefix + "embeddings."
    state = {e + "word_embeddings.weight": r(config["vocab_size"], d),
             e + "position_embeddings.weight": r(config["max_position_embeddings"], d),
             e + "token_type_embeddings.weight": r(config["type_vocab_size"], d),
             e + "LayerNorm.weight": r(d, center=1.0), e + "LayerNorm.bias": r(d)}
    for layer in range(config["num_hidden_layers"]):
        p = f"{prefix}encoder.layer.{layer}."
        for name, shape in [("attention.self.query", (d, d)), ("attention.self.key", (d, d)),
                            ("attention.self.value", (d, d)), ("attention.output.dense", (d, d)),
                            ("intermediate.dense", (i_size, d)), ("output.dense", (d, i_size))]:
            state[p + name + ".weight"] = r(*shape)
            state[p + name + ".bias"] = r(shape[0])
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            state[p + name + ".weight"] = r(d, center=1.0)
            state[p + name + ".bias"] = r(d)
    state[prefix + "pooler.dense.weight"] = r(d, d)
    state[prefix + "pooler.dense.bias"] = r(d)
    return state


def random_hf_pretraining_state(config, seed=0):
    """random_hf_state plus BertForPreTraining's `cls.` heads (the decoder tied)."""
    state = random_hf_state(config, seed=seed)
    rng = np.random.default_rng(seed + 1)
    d, v = config["hidden_size"], config["vocab_size"]

    def r(*shape, center=0.0):
        return (center + 0.3 * rng.standard_normal(shape)).astype(np.float32)

    bias = r(v)
    state.update({
        "cls.predictions.transform.dense.weight": r(d, d),
        "cls.predictions.transform.dense.bias": r(d),
        "cls.predictions.transform.LayerNorm.weight": r(d, center=1.0),
        "cls.predictions.transform.LayerNorm.bias": r(d),
        "cls.predictions.bias": bias,
        # PyTorch BertForPreTraining keeps the tied decoder and a copy of the bias.
        "cls.predictions.decoder.weight": state["bert.embeddings.word_embeddings.weight"],
        "cls.predictions.decoder.bias": bias,
        "cls.seq_relationship.weight": r(2, d),
        "cls.seq_relationship.bias": r(2),
    })
    return state


def write_hf_dir(directory, config, state):
    from safetensors.numpy import save_file
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    save_file(state, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    return directory


def transformers_model(directory, model_class="TFBertModel"):
    """transformers' TF BERT from a directory, weights put in by transformers' own mapping."""
    import transformers
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    config = transformers.BertConfig.from_pretrained(directory)
    model = getattr(transformers, model_class)(config)
    model.build_in_name_scope()
    state = load_file(os.path.join(directory, "model.safetensors"))
    _, info = load_pytorch_state_dict_in_tf2_model(model, state, allow_missing_keys=False,
                                                   output_loading_info=True)
    return model, info
