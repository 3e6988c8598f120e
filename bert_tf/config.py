"""BertConfig: the fields of an original `bert_config.json`, validated.

The field names and defaults are those of google-research/bert `modeling.BertConfig`, so a
released `bert_config.json` reads unchanged and a saved one is readable by the original code
(except for activations the original did not have, see `SUPPORTED_ACTIVATIONS`).
"""

import copy
import dataclasses
import difflib
import json
import os
from typing import Any, Dict

from bert_tf.errors import InputError
from bert_tf.files import atomic_open

# "gelu" is the original's tanh approximation; "gelu_new" is Hugging Face's name for the same
# function; "gelu_exact" is the erf form, which is what a Hugging Face config's "gelu" means.
SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_exact", "relu", "tanh", "linear")

# Keys found in some released configs (multilingual, Chinese) that the original code accepts
# and ignores. They are kept so a config round-trips unchanged.
IGNORED_ORIGINAL_KEYS = frozenset({
    "directionality", "pooler_fc_size", "pooler_num_attention_heads",
    "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type",
})
# Keys every Hugging Face config.json has and no original bert_config.json does.
HF_CONFIG_KEYS = frozenset({"model_type", "architectures", "transformers_version"})


class ConfigError(InputError):
    """A bert_config.json that cannot describe a BERT model; the message names the problem."""


@dataclasses.dataclass
class BertConfig:
    """Hyperparameters of a BERT encoder, exactly the fields of `bert_config.json`.

    Example:
        >>> config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
        ...                     num_attention_heads=4, intermediate_size=37)
        >>> config.hidden_size // config.num_attention_heads
        8
    """

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02
    # Original keys the model does not use (see IGNORED_ORIGINAL_KEYS); not a config field.
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.validate()

    @property
    def head_size(self) -> int:
        """Size of one attention head, H = hidden_size / num_attention_heads."""
        return self.hidden_size // self.num_attention_heads

    def validate(self, source: str = "BertConfig") -> None:
        """Raises ConfigError naming `source` and the field when a value cannot work."""
        def fail(message):
            raise ConfigError(f"{source}: {message}")

        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                fail(f"'{name}' must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            fail(f"'hidden_size' ({self.hidden_size}) must be divisible by "
                 f"'num_attention_heads' ({self.num_attention_heads})")
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            fail(f"'hidden_act' is {self.hidden_act!r}; expected one of "
                 f"{', '.join(SUPPORTED_ACTIVATIONS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 <= value < 1.0:
                fail(f"'{name}' must be a number in [0, 1), got {value!r}")
        if isinstance(self.initializer_range, bool) or \
                not isinstance(self.initializer_range, (int, float)) or \
                self.initializer_range <= 0:
            fail(f"'initializer_range' must be a positive number, got {self.initializer_range!r}")

    @classmethod
    def from_dict(cls, values: Dict[str, Any], source: str = "BertConfig") -> "BertConfig":
        """Builds a config from a dict with bert_config.json keys.

        Raises:
            ConfigError: an unknown key (with the closest known key), a missing `vocab_size`,
                or a value that fails `validate`.
        """
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
        if HF_CONFIG_KEYS & set(values):
            raise ConfigError(
                f"{source}: a Hugging Face config.json, not an original bert_config.json; "
                "convert the model with `python -m bert_tf.convert hf-to-tf --hf_dir=DIR "
                "--output_dir=OUT` and use OUT/bert_config.json (--init_checkpoint may stay "
                "the Hugging Face directory)")
        known = [f.name for f in dataclasses.fields(cls) if f.name != "extra"]
        fields, extra = {}, {}
        for key, value in values.items():
            if key in known:
                fields[key] = value
            elif key in IGNORED_ORIGINAL_KEYS:
                extra[key] = value
            else:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"{source}: unknown key '{key}'{hint}; a bert_config.json "
                                  f"has the keys {', '.join(known)}")
        if "vocab_size" not in fields:
            raise ConfigError(f"{source}: missing required key 'vocab_size'")
        config = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            if f.name in fields:
                setattr(config, f.name, fields[f.name])
            elif f.default is not dataclasses.MISSING:
                setattr(config, f.name, f.default)
        config.extra = extra
        config.validate(source)
        return config

    @classmethod
    def from_json_file(cls, json_file: str) -> "BertConfig":
        """Reads a `bert_config.json`. Raises ConfigError naming the file on any problem."""
        if not os.path.isfile(json_file):
            raise ConfigError(f"{json_file}: BERT config file not found")
        with open(json_file, encoding="utf-8") as f:
            text = f.read()
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{json_file}: not valid JSON (line {e.lineno}, column "
                              f"{e.colno}: {e.msg})") from None
        return cls.from_dict(values, source=json_file)

    def to_dict(self) -> Dict[str, Any]:
        """The bert_config.json content: config fields plus any preserved original keys."""
        values = {f.name: getattr(self, f.name)
                  for f in dataclasses.fields(self) if f.name != "extra"}
        values.update(copy.deepcopy(self.extra))
        return values

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file: str) -> None:
        """Writes the config atomically (temp file + rename)."""
        with atomic_open(json_file) as f:
            f.write(self.to_json_string())

    def check_vocab_size(self, num_tokens: int, vocab_file: str) -> None:
        """Raises ConfigError when a vocabulary has more tokens than the embedding has rows.

        A vocabulary with fewer tokens than `vocab_size` is accepted: its ids all fit.
        """
        if num_tokens > self.vocab_size:
            raise ConfigError(
                f"{vocab_file} has {num_tokens} tokens but the config's vocab_size is "
                f"{self.vocab_size}: the vocabulary does not belong to this model")
