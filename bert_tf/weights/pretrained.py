"""Loading a pre-trained BERT (config + vocabulary + weights) with every check in one place."""

import dataclasses
import json
import os
from typing import Optional, Tuple

from absl import logging

from bert_tf import tokenization
from bert_tf.config import BertConfig
from bert_tf.errors import InputError
from bert_tf.modeling import BertModel
from bert_tf.weights.checkpoints import LoadReport, load_checkpoint
from bert_tf.weights.hf_weights import hf_config_to_bert_config, load_hf_weights


def is_hf_directory(path: Optional[str]) -> bool:
    """True for a Hugging Face model directory (it has a config.json)."""
    return bool(path) and os.path.isdir(path) and os.path.isfile(
        os.path.join(path, "config.json"))


def model_files(init_checkpoint: Optional[str], bert_config_file: Optional[str] = None,
                vocab_file: Optional[str] = None) -> Tuple[BertConfig, str]:
    """The config and vocab file of a model: the files given, else those a directory
    `init_checkpoint` holds (a Hugging Face directory's config.json, or the bert_config.json
    of an output_dir or a released model's directory) and its vocab.txt.

    Raises:
        InputError: naming the flag to give when neither is there.
    """
    model_dir = init_checkpoint if init_checkpoint and os.path.isdir(init_checkpoint) else None
    if bert_config_file:
        config = BertConfig.from_json_file(bert_config_file)
    elif is_hf_directory(model_dir):
        config_file = os.path.join(model_dir, "config.json")
        with open(config_file, encoding="utf-8") as f:
            config = hf_config_to_bert_config(json.load(f), config_file)
    elif model_dir and os.path.isfile(os.path.join(model_dir, "bert_config.json")):
        config = BertConfig.from_json_file(os.path.join(model_dir, "bert_config.json"))
    else:
        raise InputError(f"--bert_config_file is needed: {init_checkpoint} holds no "
                         "bert_config.json or config.json")
    if not vocab_file and model_dir and os.path.isfile(os.path.join(model_dir, "vocab.txt")):
        vocab_file = os.path.join(model_dir, "vocab.txt")
    if not vocab_file:
        raise InputError(f"--vocab_file is needed: {init_checkpoint} holds no vocab.txt")
    return config, vocab_file


def load_weights(model, init_checkpoint: str, *, optimizer=None) -> LoadReport:
    """Loads an original checkpoint, or a Hugging Face directory, into a built model."""
    if is_hf_directory(init_checkpoint):
        return load_hf_weights(model, init_checkpoint)
    return load_checkpoint(model, init_checkpoint, optimizer=optimizer)


@dataclasses.dataclass
class Pretrained:
    config: BertConfig
    tokenizer: tokenization.FullTokenizer
    model: BertModel
    report: Optional[LoadReport]


def load_pretrained(bert_config_file: str, vocab_file: str, init_checkpoint: Optional[str],
                    do_lower_case: bool) -> Pretrained:
    """Config, tokenizer and encoder, checked against each other.

    Args:
        bert_config_file: `bert_config.json`.
        vocab_file: `vocab.txt`.
        init_checkpoint: an original checkpoint (prefix, file or directory), a Hugging Face
            directory, or None for random initialization.
        do_lower_case: must agree with the checkpoint's name for the released models.

    Raises:
        ConfigError / CheckpointError / ValueError with a message naming the file or flag:
        malformed config, vocab larger than vocab_size, case contradicting the checkpoint,
        checkpoint of another size.
    """
    config = BertConfig.from_json_file(bert_config_file)
    if init_checkpoint and not is_hf_directory(init_checkpoint):
        tokenization.validate_case_matches_checkpoint(do_lower_case, init_checkpoint)
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    config.check_vocab_size(len(tokenizer.vocab), vocab_file)
    model = BertModel(config).build_with_dummy_inputs()
    report = None
    if init_checkpoint:
        report = load_weights(model, init_checkpoint)
    else:
        logging.warning("No init_checkpoint: the encoder keeps its random initialization")
    return Pretrained(config, tokenizer, model, report)
