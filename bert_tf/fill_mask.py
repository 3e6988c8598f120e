"""Using the pretraining heads: the top-k word-pieces for each [MASK] in a text (masked LM),
and P(B follows A) for a sentence pair (next-sentence prediction).

The literal "[MASK]" in a text reaches the model as the mask token: the original
FullTokenizer would split it into "[", "mask", "]" like any other text, so the text is cut at
each "[MASK]" first and the pieces between are tokenized as usual. Any other special token
written in a text ("[CLS]", "[SEP]") stays plain text, as in the original.

Axes: B batch, S sequence, P masks in a text, V vocab, K top-k.
"""

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from bert_tf import tokenization
from bert_tf.data.pretraining_data import CLS_TOKEN, MASK_TOKEN, SEP_TOKEN
from bert_tf.errors import InputError
from bert_tf.pretraining_model import (MASKED_LM_LOGITS, NEXT_SENTENCE_LOGITS,
                                       BertPretrainingModel)
from bert_tf.weights.checkpoints import LoadReport
from bert_tf.weights.pretrained import load_weights, model_files


def tokenize_keeping_masks(tokenizer, text: str) -> List[str]:
    """FullTokenizer word-pieces of `text`, with each literal "[MASK]" as the mask token.

    Example: "The [MASK] sat." -> ["the", "[MASK]", "sat", "."] (uncased).
    """
    tokens = []
    for i, part in enumerate(text.split(MASK_TOKEN)):
        if i:
            tokens.append(MASK_TOKEN)
        tokens.extend(tokenizer.tokenize(part))
    return tokens


@dataclasses.dataclass
class Prediction:
    """What the heads say about one text (or pair).

    Attributes:
        tokens: the model's input word-pieces, [CLS] and [SEP] included.
        masks: per [MASK], in order, the top-k (word-piece, probability), most likely first.
        is_next_probability: P(the second text follows the first); None for a single text.
    """
    tokens: List[str]
    masks: List[List[Tuple[str, float]]]
    is_next_probability: Optional[float]


class MaskedLMPredictor:
    """A pretraining model (both heads loaded) and its tokenizer.

    Args:
        model: a built `BertPretrainingModel` with its weights.
        tokenizer: the `FullTokenizer` of its vocabulary.
        max_seq_length: longest input in word-pieces, [CLS] and [SEP]s included.

    Example:
        predictor = MaskedLMPredictor.from_files("bert_config.json", "vocab.txt",
                                                 "bert_model.ckpt")
        predictor.predict(["The man went to the [MASK] to buy milk."])[0].masks[0]
        # [("store", 0.8...), ...]
    """

    def __init__(self, model: BertPretrainingModel, tokenizer, max_seq_length: int = 128):
        self.model = model
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self._inverse_vocab = tokenizer.inv_vocab
        if MASK_TOKEN not in tokenizer.vocab:
            raise InputError(f"the vocabulary has no {MASK_TOKEN} token")

        @tf.function(reduce_retracing=True)
        def heads(features):
            logits = self.model(features, training=False)
            return (tf.nn.softmax(logits[MASKED_LM_LOGITS], axis=-1),           # [B, P, V]
                    tf.nn.softmax(logits[NEXT_SENTENCE_LOGITS], axis=-1))       # [B, 2]
        self._heads = heads

    @classmethod
    def from_files(cls, bert_config_file: Optional[str], vocab_file: Optional[str],
                   init_checkpoint: str, do_lower_case: bool = True,
                   max_seq_length: int = 128) -> "MaskedLMPredictor":
        """Loads config, vocabulary and weights. `init_checkpoint`: an original checkpoint
        (prefix, file or directory: a run_pretraining output_dir brings its own
        bert_config.json and vocab.txt) or a Hugging Face directory (its config.json and
        vocab.txt); the config and vocab flags, when given, take precedence.

        Raises:
            InputError: a file is missing, or the checkpoint has no masked-LM head.
        """
        config, vocab_file = model_files(init_checkpoint, bert_config_file, vocab_file)
        tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
        config.check_vocab_size(len(tokenizer.vocab), vocab_file)
        model = BertPretrainingModel(config).build_with_dummy_inputs()
        check_heads_loaded(load_weights(model, init_checkpoint), init_checkpoint)
        return cls(model, tokenizer, max_seq_length)

    def _inputs(self, text_a: str, text_b: Optional[str]):
        tokens = [CLS_TOKEN] + tokenize_keeping_masks(self.tokenizer, text_a) + [SEP_TOKEN]
        segment_ids = [0] * len(tokens)
        if text_b is not None:
            tokens_b = tokenize_keeping_masks(self.tokenizer, text_b) + [SEP_TOKEN]
            tokens += tokens_b
            segment_ids += [1] * len(tokens_b)
        if len(tokens) > self.max_seq_length:
            raise InputError(f"{text_a!r}{'' if text_b is None else ' ||| ' + repr(text_b)}: "
                             f"{len(tokens)} word-pieces with [CLS] and [SEP], more than "
                             f"max_seq_length={self.max_seq_length}")
        return tokens, segment_ids

    def predict(self, texts: Sequence[str], pairs: Optional[Sequence[Optional[str]]] = None,
                top_k: int = 5, batch_size: int = 8) -> List[Prediction]:
        """The top-k fillers of every [MASK] in each text and, for a text with a second text
        in `pairs`, the probability that it follows.

        Args:
            texts: first texts.
            pairs: second texts (None where there is none), as long as `texts`.
            top_k: fillers per mask.
            batch_size: texts run together (each batch padded to its longest text).

        Raises:
            InputError: a text longer than max_seq_length word-pieces.
        """
        pairs = list(pairs) if pairs is not None else [None] * len(texts)
        if len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} second texts")
        encoded = [self._inputs(a, b) for a, b in zip(texts, pairs)]
        predictions = []
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start:start + batch_size]
            width = max(len(tokens) for tokens, _ in batch)
            masks = [[i for i, t in enumerate(tokens) if t == MASK_TOKEN] for tokens, _ in batch]
            depth = max(1, max(len(m) for m in masks))
            features = {
                "input_ids": np.zeros([len(batch), width], np.int32),          # [B, S]
                "input_mask": np.zeros([len(batch), width], np.int32),
                "segment_ids": np.zeros([len(batch), width], np.int32),
                "masked_lm_positions": np.zeros([len(batch), depth], np.int32),  # [B, P]
            }
            for row, ((tokens, segment_ids), positions) in enumerate(zip(batch, masks)):
                n = len(tokens)
                features["input_ids"][row, :n] = self.tokenizer.convert_tokens_to_ids(tokens)
                features["input_mask"][row, :n] = 1
                features["segment_ids"][row, :n] = segment_ids
                features["masked_lm_positions"][row, :len(positions)] = positions
            mlm, nsp = self._heads({k: tf.constant(v) for k, v in features.items()})
            probabilities, ids = tf.math.top_k(mlm, k=min(top_k, mlm.shape[-1]))  # [B, P, K]
            probabilities, ids, nsp = probabilities.numpy(), ids.numpy(), nsp.numpy()
            for row, ((tokens, _), positions) in enumerate(zip(batch, masks)):
                fillers = [[(self._inverse_vocab[int(i)], float(p))
                            for i, p in zip(ids[row, j], probabilities[row, j])]
                           for j in range(len(positions))]
                # next_sentence_labels 0 = B follows A (the records' "IsNext").
                is_next = float(nsp[row, 0]) if pairs[start + row] is not None else None
                predictions.append(Prediction(tokens, fillers, is_next))
        return predictions


def check_heads_loaded(report: LoadReport, source: str) -> None:
    """Raises InputError when the load left the masked-LM head as initialized: a fine-tuned
    checkpoint (or a bare encoder) has no `cls/predictions` weights to predict with."""
    missing = [n for n in report.new if n.startswith("cls/predictions/")]
    if missing:
        raise InputError(f"{source} has no masked-LM head ({', '.join(missing[:2])}, ...): "
                         "fill-mask needs a pretraining checkpoint (a released BERT, a "
                         "run_pretraining output_dir or a Hugging Face BertForPreTraining/"
                         "BertForMaskedLM directory)")
