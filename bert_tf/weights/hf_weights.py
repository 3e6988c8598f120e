"""Hugging Face BERT weights (PyTorch layout) in and out, by way of original checkpoint names.

A Hugging Face directory holds `config.json` and `model.safetensors` (or a sharded index, or
`pytorch_model.bin`, read with torch when installed). Its PyTorch names map one to one onto
the original names: `bert.encoder.layer.3.attention.self.query.weight` [out, in] is
`bert/encoder/layer_3/attention/self/query/kernel` [in, out] (transposed); LayerNorm
`weight`/`bias` are `gamma`/`beta`; heads stored [out, in] by the original (classifier, SQuAD,
next-sentence) keep their layout. Nothing here needs the transformers package.
"""

import dataclasses
import json
import os
import pickle
import re
import shutil
from typing import Dict, List, Optional, Tuple

import numpy as np
from absl import logging

from bert_tf.config import BertConfig, ConfigError
from bert_tf.errors import InputError
from bert_tf.files import atomic_path, write_json
from bert_tf.modeling import BertModel
from bert_tf.weights.checkpoints import WeightSource, assign_weights

# Our hidden_act -> Hugging Face's, and back. HF "gelu" is the exact erf GELU; the original's
# "gelu" is the tanh approximation, HF's "gelu_new" (also "gelu_pytorch_tanh").
_ACT_TO_HF = {"gelu": "gelu_new", "gelu_new": "gelu_new", "gelu_exact": "gelu", "relu": "relu",
              "tanh": "tanh", "linear": "linear"}
# The tanh forms map to the original's name "gelu", so a converted bert_config.json stays
# readable by the original code.
_ACT_FROM_HF = {"gelu": "gelu_exact", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu",
                "gelu_fast": "gelu", "relu": "relu", "tanh": "tanh", "linear": "linear"}
LAYER_NORM_EPSILON = 1e-12

# Heads: HF module prefix -> original scope. Their weights are [out, in] in both layouts.
_HEADS = {"classifier": "", "qa_outputs": "cls/squad/", "cls.seq_relationship":
          "cls/seq_relationship/"}
# Every encoder / pre-training-transform name the original has; a mapped name outside this set
# means the HF model is not a standard BERT.
_ORIGINAL_NAME = re.compile(
    r"bert/embeddings/((word|position|token_type)_embeddings|LayerNorm/(gamma|beta))"
    r"|bert/encoder/layer_\d+/((attention/self/(query|key|value)|attention/output/dense"
    r"|intermediate/dense|output/dense)/(kernel|bias)|(attention/output|output)/LayerNorm/"
    r"(gamma|beta))"
    r"|bert/pooler/dense/(kernel|bias)"
    r"|cls/predictions/(transform/(dense/(kernel|bias)|LayerNorm/(gamma|beta))|output_bias)"
    r"|(cls/(squad|seq_relationship)/)?output_(weights|bias)")
# Tensors HF keeps that the original has no variable for.
_IGNORED = re.compile(r"(^|\.)position_ids$|^cls\.predictions\.decoder\.(weight|bias)$")


class HFFormatError(InputError):
    """A Hugging Face directory or tensor that cannot be mapped; the message says why."""


@dataclasses.dataclass
class MappedWeights:
    """Weights in original names, with the record of how they were mapped.

    Attributes:
        arrays: original name -> float32 array.
        mapping: (source name, target name, shape of the target) for every tensor mapped.
        skipped: source names deliberately not mapped (tied or derived tensors).
    """

    arrays: Dict[str, np.ndarray]
    mapping: List[Tuple[str, str, Tuple[int, ...]]]
    skipped: List[str]


def hf_config_to_bert_config(hf: dict, source: str = "config.json") -> BertConfig:
    """Maps a Hugging Face BERT `config.json` dict to a BertConfig.

    Raises:
        ConfigError: not a BERT config, or a feature the original model lacks (relative
            position embeddings, another LayerNorm epsilon, an unknown activation).
    """
    model_type = hf.get("model_type", "bert")
    if model_type != "bert":
        raise ConfigError(f"{source}: model_type is '{model_type}', expected 'bert'")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ConfigError(f"{source}: position_embedding_type "
                          f"'{hf['position_embedding_type']}' is not the original BERT's "
                          "absolute position embeddings")
    eps = hf.get("layer_norm_eps", LAYER_NORM_EPSILON)
    if not np.isclose(eps, LAYER_NORM_EPSILON, rtol=1e-3, atol=0):
        raise ConfigError(f"{source}: layer_norm_eps is {eps}; this model uses the original's "
                          f"{LAYER_NORM_EPSILON}")
    act = hf.get("hidden_act", "gelu")
    if act not in _ACT_FROM_HF:
        raise ConfigError(f"{source}: hidden_act '{act}' has no equivalent here; expected one "
                          f"of {', '.join(_ACT_FROM_HF)}")
    missing = [k for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                           "num_attention_heads", "intermediate_size") if k not in hf]
    if missing:
        raise ConfigError(f"{source}: missing key(s) {', '.join(missing)}")
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "hidden_dropout_prob", "attention_probs_dropout_prob",
            "max_position_embeddings", "type_vocab_size", "initializer_range")
    values = {k: hf[k] for k in keys if k in hf}
    values["hidden_act"] = _ACT_FROM_HF[act]
    return BertConfig.from_dict(values, source=source)


def bert_config_to_hf_config(config: BertConfig, architecture: str = "BertModel") -> dict:
    """The Hugging Face `config.json` content for a BertConfig."""
    hf = {k: v for k, v in config.to_dict().items() if k not in config.extra}
    hf.update(architectures=[architecture], model_type="bert",
              hidden_act=_ACT_TO_HF[config.hidden_act], layer_norm_eps=LAYER_NORM_EPSILON,
              pad_token_id=0, position_embedding_type="absolute")
    return hf


def _hf_to_original_name(name: str) -> Tuple[Optional[str], bool]:
    """HF PyTorch name -> (original name or None if unmappable, transpose?)."""
    for hf_prefix, scope in _HEADS.items():
        match = re.fullmatch(re.escape(hf_prefix) + r"\.(weight|bias)", name)
        if match:
            return scope + ("output_weights" if match.group(1) == "weight" else "output_bias"), \
                False
    if name in ("cls.predictions.bias",):
        return "cls/predictions/output_bias", False
    body = name[len("bert."):] if name.startswith("bert.") else name
    if body.startswith(("embeddings.", "encoder.", "pooler.")):
        scope, body = "bert/", body
    elif name.startswith("cls.predictions.transform."):
        scope, body = "cls/predictions/", name[len("cls.predictions."):]
    else:
        return None, False
    path, _, param = body.rpartition(".")
    path = re.sub(r"\.layer\.(\d+)(?=\.|$)", r".layer_\1", path).replace(".", "/")
    if path.endswith("LayerNorm"):
        leaf = {"weight": "gamma", "bias": "beta", "gamma": "gamma", "beta": "beta"}.get(param)
        return (f"{scope}{path}/{leaf}" if leaf else None), False
    if path.startswith("embeddings/") and path.endswith("_embeddings") and param == "weight":
        return f"{scope}{path}", False
    if param == "weight":
        return f"{scope}{path}/kernel", True
    if param == "bias":
        return f"{scope}{path}/bias", False
    return None, False


def hf_to_original(tensors: Dict[str, np.ndarray], source: str = "weights") -> MappedWeights:
    """Maps HF PyTorch-layout tensors to original names (dense kernels transposed).

    Raises:
        HFFormatError: a tensor that is neither mappable nor a known tied/derived tensor.
    """
    arrays, mapping, skipped, unknown = {}, [], [], []
    for hf_name in sorted(tensors):
        if _IGNORED.search(hf_name):
            skipped.append(hf_name)
            continue
        name, transpose = _hf_to_original_name(hf_name)
        if name is None or not _ORIGINAL_NAME.fullmatch(name):
            unknown.append(hf_name)
            continue
        value = np.asarray(tensors[hf_name]).astype(np.float32)
        if transpose:
            value = np.ascontiguousarray(value.T)
        arrays[name] = value
        mapping.append((hf_name, name, tuple(value.shape)))
    if unknown:
        raise HFFormatError(f"{source}: {len(unknown)} tensor(s) are not BERT weights this "
                            f"toolkit knows: {', '.join(unknown[:8])}")
    return MappedWeights(arrays, mapping, skipped)


def original_to_hf(arrays: Dict[str, np.ndarray]) -> Tuple[MappedWeights, str]:
    """Maps original-named arrays to HF PyTorch names; returns them and the HF architecture.

    The architecture follows the heads present: `output_weights` -> a classifier,
    `cls/squad` -> question answering, `cls/predictions` (+ `cls/seq_relationship`) ->
    masked LM (pre-training), none -> BertModel.
    """
    names = set(arrays)
    if "output_weights" in names:
        architecture = "BertForSequenceClassification"
    elif "cls/squad/output_weights" in names:
        architecture = "BertForQuestionAnswering"
    elif "cls/seq_relationship/output_weights" in names:
        architecture = "BertForPreTraining"
    elif any(n.startswith("cls/predictions/") for n in names):
        architecture = "BertForMaskedLM"
    else:
        architecture = "BertModel"
    encoder_prefix = "" if architecture == "BertModel" else "bert."
    out, mapping = {}, []

    def put(hf_name, name, value):
        out[hf_name] = np.ascontiguousarray(value)
        mapping.append((name, hf_name, tuple(out[hf_name].shape)))

    for name in sorted(arrays):
        value = np.asarray(arrays[name], np.float32)
        head = _head_to_hf(name)
        if head:
            put(head, name, value)
            continue
        if name.startswith("bert/"):
            hf, prefix = name[len("bert/"):], encoder_prefix
        elif name.startswith("cls/predictions/transform/"):
            hf, prefix = name[len("cls/predictions/"):], "cls.predictions."
        else:
            raise HFFormatError(f"variable '{name}' has no Hugging Face equivalent")
        path, _, leaf = hf.rpartition("/")
        path = re.sub(r"/layer_(\d+)(?=/|$)", r"/layer/\1", path).replace("/", ".")
        if leaf == "kernel":
            put(f"{prefix}{path}.weight", name, value.T)
        elif leaf in ("gamma", "beta"):
            put(f"{prefix}{path}.{'weight' if leaf == 'gamma' else 'bias'}", name, value)
        elif leaf.endswith("_embeddings"):
            put(f"{prefix}{path}.{leaf}.weight", name, value)
        else:
            put(f"{prefix}{path}.{leaf}", name, value)
    if architecture in ("BertForPreTraining", "BertForMaskedLM"):
        # HF keeps the tied decoder (= word embeddings) and a copy of the output bias.
        out["cls.predictions.decoder.weight"] = out["bert.embeddings.word_embeddings.weight"]
        if "cls.predictions.bias" in out:
            out["cls.predictions.decoder.bias"] = out["cls.predictions.bias"]
    return MappedWeights(out, mapping, []), architecture


def _head_to_hf(name: str) -> Optional[str]:
    for hf_prefix, scope in _HEADS.items():
        if name in (scope + "output_weights", scope + "output_bias"):
            return f"{hf_prefix}.{'weight' if name.endswith('weights') else 'bias'}"
    if name == "cls/predictions/output_bias":
        return "cls.predictions.bias"
    return None


def read_hf_tensors(hf_dir: str) -> Dict[str, np.ndarray]:
    """Reads the weight file(s) of a Hugging Face directory as NumPy arrays.

    Looks for, in order: model.safetensors, model.safetensors.index.json (shards),
    pytorch_model.bin, pytorch_model.bin.index.json (torch needed for .bin files).

    Raises:
        HFFormatError: no weight file, or a .bin file without torch installed.
    """
    def path(name):
        return os.path.join(hf_dir, name)

    if os.path.isfile(path("model.safetensors")):
        return _read_safetensors(path("model.safetensors"))
    if os.path.isfile(path("model.safetensors.index.json")):
        return _read_sharded(path("model.safetensors.index.json"), _read_safetensors)
    if os.path.isfile(path("pytorch_model.bin")):
        return _read_torch_bin(path("pytorch_model.bin"))
    if os.path.isfile(path("pytorch_model.bin.index.json")):
        return _read_sharded(path("pytorch_model.bin.index.json"), _read_torch_bin)
    raise HFFormatError(f"{hf_dir}: no Hugging Face weights found (looked for "
                        "model.safetensors, model.safetensors.index.json, pytorch_model.bin, "
                        "pytorch_model.bin.index.json)")


def _read_safetensors(file):
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(file, framework="numpy") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise HFFormatError(f"{file}: not a readable safetensors file ({e})") from None


def _read_torch_bin(file):
    try:
        import torch
    except ImportError:
        raise HFFormatError(f"{file}: reading pytorch_model.bin needs torch (pip install "
                            "torch), or convert it to model.safetensors") from None
    # weights_only=True: a .bin file is a pickle; never run code from it.
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HFFormatError(
            f"{file}: holds more than tensors, and loading it would run code from the file; "
            f"refused (torch.load weights_only=True: {first_line}). Convert a trusted copy "
            "to model.safetensors") from None
    return {k: v.float().numpy() if v.is_floating_point() else v.numpy()
            for k, v in state.items()}


def _read_sharded(index_file, read_one):
    with open(index_file, encoding="utf-8") as f:
        try:
            weight_map = json.load(f)["weight_map"]
        except (json.JSONDecodeError, KeyError) as e:
            raise HFFormatError(f"{index_file}: not a shard index ({e})") from None
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        tensors.update(read_one(os.path.join(os.path.dirname(index_file), shard)))
    return tensors


@dataclasses.dataclass
class HFCheckpoint:
    """A Hugging Face BERT directory read into original names."""

    config: BertConfig
    weights: MappedWeights
    vocab_file: Optional[str]
    do_lower_case: Optional[bool]


def read_hf_directory(hf_dir: str) -> HFCheckpoint:
    """Reads config.json, the weights and (when present) vocab.txt and tokenizer_config.json."""
    config_file = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(config_file):
        raise HFFormatError(f"{hf_dir}: no config.json (expected a Hugging Face BERT model "
                            "directory)")
    with open(config_file, encoding="utf-8") as f:
        try:
            hf_config = json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{config_file}: not valid JSON ({e})") from None
    config = hf_config_to_bert_config(hf_config, config_file)
    weights = hf_to_original(read_hf_tensors(hf_dir), hf_dir)
    vocab_file = os.path.join(hf_dir, "vocab.txt")
    do_lower_case = None
    tokenizer_config = os.path.join(hf_dir, "tokenizer_config.json")
    if os.path.isfile(tokenizer_config):
        with open(tokenizer_config, encoding="utf-8") as f:
            do_lower_case = json.load(f).get("do_lower_case")
    return HFCheckpoint(config, weights, vocab_file if os.path.isfile(vocab_file) else None,
                        do_lower_case)


def write_hf_directory(arrays: Dict[str, np.ndarray], config: BertConfig, output_dir: str, *,
                       vocab_file: Optional[str] = None,
                       do_lower_case: Optional[bool] = None) -> MappedWeights:
    """Writes original-named arrays as a Hugging Face directory that transformers loads.

    Writes config.json, model.safetensors (PyTorch layout, metadata format "pt"), and when
    given vocab.txt plus tokenizer_config.json. Files appear atomically (temp + rename).
    """
    from safetensors.numpy import save_file
    mapped, architecture = original_to_hf(arrays)
    os.makedirs(output_dir, exist_ok=True)
    hf_config = bert_config_to_hf_config(config, architecture)
    if architecture == "BertForSequenceClassification":
        hf_config["num_labels"] = int(arrays["output_weights"].shape[0])
    write_json(os.path.join(output_dir, "config.json"), hf_config)
    with atomic_path(os.path.join(output_dir, "model.safetensors")) as tmp:
        save_file(mapped.arrays, tmp, metadata={"format": "pt"})
    if vocab_file:
        with atomic_path(os.path.join(output_dir, "vocab.txt")) as tmp:
            shutil.copyfile(vocab_file, tmp)
    if do_lower_case is not None:
        write_json(os.path.join(output_dir, "tokenizer_config.json"),
                   {"do_lower_case": bool(do_lower_case), "tokenizer_class": "BertTokenizer",
                    "model_max_length": config.max_position_embeddings})
    logging.info("Wrote %d tensors (%s) to %s", len(mapped.arrays), architecture, output_dir)
    return mapped


def load_hf_weights(model, hf_dir: str, *, require_encoder: bool = True):
    """Loads a Hugging Face BERT directory into a built Keras model (BertModel or task model).

    The model's encoder config must equal the directory's (an activation mismatch would not
    show in the shapes, so it is checked here).

    Returns:
        The `checkpoints.LoadReport`.

    Raises:
        ConfigError: the model's config differs from config.json.
        HFFormatError / CheckpointError: unreadable weights, shape mismatches.
    """
    checkpoint = read_hf_directory(hf_dir)
    encoders = [model] if isinstance(model, BertModel) else [
        layer for layer in model.submodules if isinstance(layer, BertModel)]
    for encoder in encoders:
        theirs, ours = checkpoint.config.to_dict(), encoder.config.to_dict()
        differ = [f"{k}: config.json {theirs[k]!r}, model {ours.get(k)!r}" for k in theirs
                  if k not in ("hidden_dropout_prob", "attention_probs_dropout_prob")
                  and theirs[k] != ours.get(k)]
        if differ:
            raise ConfigError(f"{hf_dir}: the model was built with another config: "
                              + "; ".join(differ))
        encoder.build_with_dummy_inputs()
    return assign_weights(model, WeightSource.from_arrays(hf_dir, checkpoint.weights.arrays),
                          require_encoder=require_encoder)
