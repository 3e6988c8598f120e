"""Token-classification features: words -> word-pieces -> windows -> label ids, and back.

Each word is tokenized on its own (as the CoNLL fine-tuning recipes do). A sentence longer than
max_seq_length - 2 pieces is split into overlapping windows (`doc_stride` pieces between window
starts, as run_squad's document spans). Every word gets exactly one prediction: from the window
where its first piece has the most context (data.windows, shared with SQuAD). A word that tokenizes to nothing (e.g. a lone
control character) is given one [UNK] piece so it keeps a position.

Labelled positions (`label_mask`) are each word's first piece (the BERT paper's choice), or
every piece with `label_all_subtokens`; [CLS], [SEP] and padding never are.
"""

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from bert_tf.data.tfrecord import FeatureSpec
from bert_tf.data.windows import max_context_windows, window_spans

UNK = "[UNK]"


def feature_spec(max_seq_length: int) -> FeatureSpec:
    shape = (max_seq_length,)
    return {"input_ids": ("int", shape), "input_mask": ("int", shape),
            "segment_ids": ("int", shape), "label_ids": ("int", shape),
            "label_mask": ("int", shape)}


@dataclasses.dataclass
class Window:
    """Where to read one window's predictions back.

    Attributes:
        example_index: the sentence.
        word_positions: (word index, position in the window) of the words whose prediction
            comes from this window (their max-context window).
    """

    example_index: int
    word_positions: List[Tuple[int, int]]


def word_pieces(words_per_example: Sequence[Sequence[str]], tokenizer) -> List[List[List[str]]]:
    """Pieces of every word, tokenized in one fast batch; an empty result becomes [UNK].

    A word's pieces depend on the word alone, so each distinct word is tokenized once (real
    NER data repeats its words: a few thousand distinct among tens of thousands). Words
    share their piece lists: callers must not modify them.
    """
    distinct = list(dict.fromkeys(word for words in words_per_example for word in words))
    pieces_of = {word: tokens or [UNK] for word, (tokens, _) in
                 zip(distinct, tokenizer.batch_tokenize_with_offsets(distinct))}
    return [[pieces_of[word] for word in words] for words in words_per_example]


def convert_examples_to_features(
        words_per_example: Sequence[Sequence[str]],
        tags_per_example: Sequence[Optional[Sequence[str]]], label_map: Dict[str, int],
        max_seq_length: int, doc_stride: int, tokenizer, label_all_subtokens: bool = False,
        continuation_tag: Callable[[str], str] = lambda tag: tag
) -> Tuple[List[Dict[str, List[int]]], List[Window]]:
    """Features (one per window) and the windows' read-back map, in example order.

    Args:
        words_per_example: the sentences' words.
        tags_per_example: their tags, or None for a sentence without tags (label ids 0).
        label_map: tag -> id.
        max_seq_length: S, [CLS] and [SEP] included.
        doc_stride: pieces between the starts of consecutive windows.
        tokenizer: a FullTokenizer.
        label_all_subtokens: label every piece (continuation pieces get
            `continuation_tag(word tag)`), not only the first.

    Returns:
        (features: dicts of input_ids, input_mask, segment_ids, label_ids, label_mask, each
        of length S; windows: one `Window` per feature).
    """
    if max_seq_length < 3:
        raise ValueError("max_seq_length must leave room for one piece besides [CLS]/[SEP]")
    max_pieces = max_seq_length - 2
    features, windows = [], []
    for example_index, (words, pieces) in enumerate(
            zip(words_per_example, word_pieces(words_per_example, tokenizer))):
        tags = tags_per_example[example_index]
        flat, word_of, first = [], [], []          # per piece: token, word index, first?
        for word_index, word in enumerate(pieces):
            for k, piece in enumerate(word):
                flat.append(piece)
                word_of.append(word_index)
                first.append(k == 0)
        # A sentence of no pieces still gets one window ([CLS] [SEP]), so it keeps a row.
        spans = window_spans(len(flat), max_pieces, doc_stride) or [(0, 0)]
        best = max_context_windows(spans, len(flat))
        for span_index, (start, length) in enumerate(spans):
            tokens = ["[CLS]"] + flat[start:start + length] + ["[SEP]"]
            label_ids = [0] * max_seq_length
            label_mask = [0] * max_seq_length
            word_positions = []
            for offset in range(length):
                piece, position = start + offset, offset + 1
                if not (first[piece] or label_all_subtokens):
                    continue
                label_mask[position] = 1
                if tags is not None:
                    tag = tags[word_of[piece]]
                    label_ids[position] = label_map[tag if first[piece]
                                                    else continuation_tag(tag)]
                if first[piece] and best[piece] == span_index:
                    word_positions.append((word_of[piece], position))
            padding = [0] * (max_seq_length - len(tokens))
            features.append({
                "input_ids": tokenizer.convert_tokens_to_ids(tokens) + padding,
                "input_mask": [1] * len(tokens) + padding,
                "segment_ids": [0] * max_seq_length,
                "label_ids": label_ids, "label_mask": label_mask})
            windows.append(Window(example_index, word_positions))
    return features, windows


def predictions_per_word(windows: Sequence[Window], predicted_ids, num_words: Sequence[int]
                         ) -> List[List[int]]:
    """Reads one predicted label id per word back from the windows' predictions.

    Args:
        windows: from `convert_examples_to_features`.
        predicted_ids: int [num_windows, S].
        num_words: words per sentence.

    Raises:
        AssertionError if a word got no prediction or two (a bug, not a user error).
    """
    out: List[List[Optional[int]]] = [[None] * n for n in num_words]
    for window, row in zip(windows, predicted_ids):
        for word, position in window.word_positions:
            assert out[window.example_index][word] is None, "word predicted twice"
            out[window.example_index][word] = int(row[position])
    for sentence in out:
        assert all(p is not None for p in sentence), "a word got no prediction"
    return out  # type: ignore[return-value]

