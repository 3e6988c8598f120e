"""Sentence and word embeddings from any BERT checkpoint: pooled vectors, cosine similarity,
top-k search, and contextual word vectors.

    embedder = Embedder.from_files(init_checkpoint="uncased_L-12_H-768_A-12/bert_model.ckpt",
                                   bert_config_file=..., vocab_file=..., pooling="mean",
                                   normalize=True)
    vectors = embedder.embed(["A man is eating.", "Someone eats food."])   # float32 [2, H]
    cosine_similarity(vectors, vectors)                                      # [2, 2]

Pooling (over one layer, or the mean of several `layers`, e.g. [-1, -2, -3, -4]):
  mean    the mean over the real tokens ([CLS] and [SEP] included, padding never), as
          sentence-transformers' mean pooling over the attention mask;
  max     the element-wise max over the real tokens;
  cls     the vector at [CLS];
  pooled  the pooler's output, tanh(dense([CLS] of the last layer)): needs layers [-1].
`normalize` divides each vector by its L2 norm (cosine similarity is then a dot product).

Inputs are built as extract_features.py builds them: `[CLS] A [SEP]` (or `[CLS] A [SEP] B
[SEP]` for a pair), cut to max_seq_length as the original (`encode_pair`); `truncated`
counts the texts that were cut. An empty text is `[CLS] [SEP]` and gets a vector like any
other. Batches are padded to their longest input only.

Axes: B batch, S sequence, H hidden, K layers, N texts, M corpus texts.
"""

import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import tokenization
from bert_tf.data.dynamic_padding import stack_and_cut
from bert_tf.data.features import encode_pair
from bert_tf.errors import InputError
from bert_tf.export import export_saved_model
from bert_tf.graph_tokenizer import GraphTokenizer
from bert_tf.modeling import BertModel
from bert_tf.predictor import split_words
from bert_tf.text_signatures import classifier_inputs
from bert_tf.weights.pretrained import load_weights, model_files

POOLINGS = ("mean", "max", "cls", "pooled")


def check_pooling(pooling: str, layers: Sequence[int], num_hidden_layers: int) -> None:
    """Raises InputError (naming --pooling / --layers) for an unknown pooling, layers out of
    range, or `pooled` on a layer other than the last."""
    if pooling not in POOLINGS:
        raise InputError(f"--pooling={pooling!r}: expected one of {', '.join(POOLINGS)}")
    if not layers:
        raise InputError("--layers: give at least one layer index, e.g. -1")
    bad = [i for i in layers if not -num_hidden_layers <= i < num_hidden_layers]
    if bad:
        raise InputError(f"--layers: {bad} out of range for a model with {num_hidden_layers} "
                         f"layers (valid: {-num_hidden_layers} to {num_hidden_layers - 1})")
    if pooling == "pooled" and [i % num_hidden_layers for i in layers] != [
            num_hidden_layers - 1]:
        raise InputError("--pooling=pooled is the pooler's output on the last layer: use "
                         "--layers=-1, or --pooling=cls for [CLS] of other layers")


def pool(layers: tf.Tensor, input_mask: tf.Tensor, pooling: str,
         pooled_output: Optional[tf.Tensor] = None, normalize: bool = False) -> tf.Tensor:
    """One vector per example.

    Args:
        layers: float [B, S, H], the layer (or mean of layers) to pool.
        input_mask: int [B, S], 1 for real tokens.
        pooling: one of POOLINGS.
        pooled_output: float [B, H], the model's pooled output (for "pooled").
        normalize: L2-normalize each vector.
    """
    mask = tf.cast(input_mask, layers.dtype)[:, :, tf.newaxis]                  # [B, S, 1]
    if pooling == "mean":
        vectors = tf.reduce_sum(layers * mask, axis=1) / tf.maximum(
            tf.reduce_sum(mask, axis=1), 1.0)
    elif pooling == "max":
        vectors = tf.reduce_max(tf.where(mask > 0, layers, layers.dtype.min), axis=1)
    elif pooling == "cls":
        vectors = layers[:, 0]
    else:
        vectors = pooled_output
    if normalize:
        vectors = tf.math.l2_normalize(vectors, axis=-1, epsilon=1e-12)
    return vectors                                                               # [B, H]


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, M] cosine similarities of the rows of a [N, H] and b [M, H] (0 for a zero row)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def top_k(queries: np.ndarray, corpus: np.ndarray, k: int) -> List[List[Dict[str, float]]]:
    """Per query, the k most similar corpus rows: [{"index": i, "score": cosine}], best
    first (ties: the lower index first)."""
    scores = cosine_similarity(queries, corpus)                                  # [N, M]
    results = []
    for row in scores:
        order = sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]
        results.append([{"index": i, "score": float(row[i])} for i in order])
    return results


class Embedder:
    """An encoder, its tokenizer and a pooling: texts -> vectors.

    Args:
        model: a built BertModel with its weights.
        tokenizer: its FullTokenizer.
        max_seq_length: longest input in word-pieces, [CLS] and [SEP] included.
        pooling: one of POOLINGS.
        layers: encoder layer indexes; several are averaged before pooling.
        normalize: L2-normalize the vectors.
        batch_size: texts run together.
    """

    def __init__(self, model: BertModel, tokenizer, max_seq_length: int = 128,
                 pooling: str = "mean", layers: Sequence[int] = (-1,), normalize: bool = False,
                 batch_size: int = 32):
        check_pooling(pooling, list(layers), model.config.num_hidden_layers)
        if max_seq_length > model.config.max_position_embeddings or max_seq_length < 2:
            raise InputError(f"--max_seq_length={max_seq_length}: must be 2 to the model's "
                             f"max_position_embeddings ({model.config.max_position_embeddings})")
        if batch_size < 1:
            raise InputError(f"--batch_size={batch_size}: must be at least 1")
        self.model, self.tokenizer = model, tokenizer
        self.max_seq_length, self.pooling = max_seq_length, pooling
        self.layers, self.normalize, self.batch_size = list(layers), normalize, batch_size
        self.truncated = 0
        self._layer = tf.function(lambda features: self.selected_layer(
            self.model(features, training=False)), reduce_retracing=True)
        self._vectors = tf.function(lambda features: self.vectors(
            self.model(features, training=False), features), reduce_retracing=True)

    def selected_layer(self, model_outputs) -> tf.Tensor:
        """float [B, S, H]: the layer of `layers`, or their mean, of a BertModel's outputs."""
        return tf.reduce_mean(tf.stack([model_outputs["all_encoder_layers"][i]
                                        for i in self.layers]), axis=0)

    def vectors(self, model_outputs, features) -> tf.Tensor:
        """float [B, H]: the pooled (and normalized) vectors of a BertModel's outputs."""
        return pool(self.selected_layer(model_outputs), features["input_mask"], self.pooling,
                    model_outputs["pooled_output"], self.normalize)

    @classmethod
    def from_files(cls, init_checkpoint: Optional[str], bert_config_file: Optional[str] = None,
                   vocab_file: Optional[str] = None, do_lower_case: bool = True,
                   **options) -> "Embedder":
        """`init_checkpoint`: an original checkpoint or a Hugging Face directory (or a
        directory holding bert_config.json / config.json and vocab.txt, used when the files
        are not given); None keeps the random initialization."""
        config, vocab_file = model_files(init_checkpoint, bert_config_file, vocab_file)
        tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
        config.check_vocab_size(len(tokenizer.vocab), vocab_file)
        model = BertModel(config).build_with_dummy_inputs()
        if init_checkpoint:
            load_weights(model, init_checkpoint)
        else:
            logging.warning("No --init_checkpoint: the encoder keeps its random initialization")
        return cls(model, tokenizer, **options)

    def _features(self, token_lists: Sequence[Sequence[str]],
                  pairs: Sequence[Optional[Sequence[str]]]) -> Dict[str, tf.Tensor]:
        encoded = []
        for tokens_a, tokens_b in zip(token_lists, pairs):
            pieces = len(tokens_a) + (len(tokens_b) + 1 if tokens_b else 0) + 2
            self.truncated += pieces > self.max_seq_length
            pair = encode_pair(tokens_a, tokens_b, self.max_seq_length, self.tokenizer)
            encoded.append({"input_ids": pair.input_ids, "input_mask": pair.input_mask,
                            "segment_ids": pair.segment_ids})
        return {key: tf.constant(value, tf.int32)
                for key, value in stack_and_cut(encoded).items()}

    def embed(self, texts: Sequence[str], pairs: Optional[Sequence[Optional[str]]] = None,
              log_every_seconds: float = 10.0) -> np.ndarray:
        """float32 [N, H]: one vector per text (or pair)."""
        pairs = list(pairs) if pairs is not None else [None] * len(texts)
        if len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} second texts")
        if not texts:
            return np.zeros([0, self.model.config.hidden_size], np.float32)
        vectors, started, last_log = [], time.time(), time.time()
        for first in range(0, len(texts), self.batch_size):
            chunk = list(texts[first:first + self.batch_size])
            chunk_b = pairs[first:first + self.batch_size]
            pieces = [t for t, _ in self.tokenizer.batch_tokenize_with_offsets(chunk)]
            pieces_b = [self.tokenizer.tokenize(b) if b else None for b in chunk_b]
            vectors.append(self._vectors(self._features(pieces, pieces_b)).numpy())
            if time.time() - last_log >= log_every_seconds:
                last_log = time.time()
                done = first + len(chunk)
                logging.info("embedded %d/%d texts, %.1f texts/s", done, len(texts),
                             done / (last_log - started))
        return np.concatenate(vectors).astype(np.float32)

    def word_vectors(self, text: str) -> List[Dict]:
        """Contextual word vectors of one text: [{"word", "start", "end", "vector"}], each
        word's vector the mean of its word-pieces' vectors (of the layers chosen). Words are
        cut as the NER predictor cuts them (whitespace; punctuation and CJK characters alone);
        a word with no pieces gets [UNK]'s vector; words past max_seq_length - 2 pieces are
        left out (counted in `truncated`)."""
        spans = split_words(text)
        tokens, owner = [], []
        for index, (start, end) in enumerate(spans):
            pieces = self.tokenizer.tokenize(text[start:end]) or [tokenization.UNK_TOKEN]
            tokens += pieces
            owner += [index] * len(pieces)
        kept = self.max_seq_length - 2
        self.truncated += len(tokens) > kept
        tokens, owner = tokens[:kept], owner[:kept]
        values = self._layer(self._features([tokens], [None])).numpy()[0, 1:1 + len(tokens)]                            # [T, H]
        owner = np.array(owner, np.int64)
        words = []
        for index in sorted(set(owner.tolist())):
            start, end = spans[index]
            words.append({"word": text[start:end], "start": start, "end": end,
                          "vector": values[owner == index].mean(axis=0)})
        return words


class EmbeddingText(tf.Module):
    """The `text` signature of an embedding export: text string [B] -> embedding float32
    [B, H], the text tokenized in the graph (`GraphTokenizer`) and cut to max_seq_length - 2
    pieces, as `Embedder.embed` does."""

    def __init__(self, vocab_file: str, do_lower_case: bool, max_seq_length: int):
        super().__init__()
        self.tokenizer = GraphTokenizer(vocab_file, do_lower_case)
        self.max_seq_length = max_seq_length

    def signature(self, model_outputs):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def text(text):
            features = classifier_inputs(self.tokenizer, self.max_seq_length, text,
                                         tf.fill(tf.shape(text), ""))
            return model_outputs(features)
        return text


def export_embedder(embedder: Embedder, export_dir: str) -> str:
    """A SavedModel whose `serving_default` maps input_ids, input_mask, segment_ids (int32
    [B, S]) to `embedding` float32 [B, H] (the embedder's pooling, layers and
    normalization), and whose `text` signature takes the raw strings."""
    def outputs(model_outputs, features):
        return {"embedding": embedder.vectors(model_outputs, features)}
    tokenizer = embedder.tokenizer
    return export_saved_model(embedder.model, export_dir, outputs, EmbeddingText(
        tokenizer.vocab_file, tokenizer.do_lower_case, embedder.max_seq_length))
