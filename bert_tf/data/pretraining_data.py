"""Masked-LM and next-sentence training records, as the original `create_pretraining_data.py`
makes them.

The input is plain text: one sentence per line, a blank line between documents. Each document
is cut into pairs of segments A and B (half the time B is the text that follows A, otherwise
text from another document: the next-sentence label), and about `masked_lm_prob` of the
word-pieces of each pair are chosen for the masked-LM objective.

Every random choice is drawn from one seeded `random.Random`, in the same order and with the
same calls as the original, so the same corpus, vocabulary and flags give the same records
(tests/test_pretraining_data.py checks this against records the original wrote).
"""

import collections
import contextlib
import dataclasses
import multiprocessing
import random
from typing import Dict, Iterable, List, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.data import example_encoding as encoding
from bert_tf.data.tfrecord import FeatureSpec, _example_proto
from bert_tf.errors import InputError
from bert_tf.files import atomic_path, matching_files

CLS_TOKEN, SEP_TOKEN, MASK_TOKEN = "[CLS]", "[SEP]", "[MASK]"

# A document is a list of sentences, a sentence a list of word-pieces.
Document = List[List[str]]


@dataclasses.dataclass
class TrainingInstance:
    """One sentence pair: `[CLS] A [SEP] B [SEP]` with its masked-LM predictions.

    Attributes:
        tokens: the word-pieces after masking (some replaced by [MASK] or a random word).
        segment_ids: 0 for [CLS], A and the first [SEP]; 1 for B and the last [SEP].
        masked_lm_positions: the indexes into `tokens` to predict, ascending.
        masked_lm_labels: the original word-piece at each of those positions.
        is_random_next: whether B was taken from another document (next_sentence_labels 1).
    """
    tokens: List[str]
    segment_ids: List[int]
    masked_lm_positions: List[int]
    masked_lm_labels: List[str]
    is_random_next: bool


def feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> FeatureSpec:
    """The records' features, with the original's names: int64 lists and one float list."""
    return {
        "input_ids": ("int", (max_seq_length,)),
        "input_mask": ("int", (max_seq_length,)),
        "segment_ids": ("int", (max_seq_length,)),
        "masked_lm_positions": ("int", (max_predictions_per_seq,)),
        "masked_lm_ids": ("int", (max_predictions_per_seq,)),
        "masked_lm_weights": ("float", (max_predictions_per_seq,)),
        "next_sentence_labels": ("int", (1,)),
    }


def check_vocab(vocab) -> None:
    """Raises InputError unless `vocab` (token -> id) has [CLS], [SEP] and [MASK]."""
    missing = [t for t in (CLS_TOKEN, SEP_TOKEN, MASK_TOKEN) if t not in vocab]
    if missing:
        raise InputError(f"the vocab has no {' '.join(missing)} token: pretraining records "
                         "need [CLS], [SEP] and [MASK]")


def input_files_of(input_file: str) -> List[str]:
    """The files of `input_file`: a comma list of paths and globs, each glob's matches sorted
    (the original keeps `tf.io.gfile.glob`'s order), the list's order kept.

    Raises:
        InputError: a part matches no file, or nothing is named.
    """
    return matching_files(input_file, "input file")


def read_documents(input_files: Sequence[str], tokenizer, *, fast: bool = True,
                   batch_lines: int = 8192) -> List[Document]:
    """Reads and tokenizes the documents of `input_files`, in order.

    As in the original: lines are split on "\\n" only and stripped; a blank line starts a new
    document; a line that tokenizes to nothing (e.g. control characters only) is dropped
    without starting one; and documents run on across files, so a file that does not end in
    a blank line continues into the next file's first document. Empty documents are dropped.

    Args:
        input_files: paths (anything `tf.io.gfile` reads).
        tokenizer: a `FullTokenizer`.
        fast: tokenize `batch_lines` lines at a time with the Rust batch path
            (`FullTokenizer.batch_tokenize_with_offsets`, the same tokens); False runs
            `FullTokenizer.tokenize` line by line, as the original.

    Returns:
        The documents, each a list of sentences (lists of word-pieces).

    Raises:
        InputError: a file is not UTF-8 (naming the file and line).
    """
    documents = [[]]
    for path in input_files:
        lines = _read_lines(path)
        if fast:
            tokenized = (tokens for begin in range(0, len(lines), batch_lines)
                         for tokens, _ in tokenizer.batch_tokenize_with_offsets(
                             lines[begin:begin + batch_lines]))
        else:
            tokenized = map(tokenizer.tokenize, lines)
        for line, tokens in zip(lines, tokenized):
            if not line:
                documents.append([])
            if tokens:
                documents[-1].append(tokens)
    return [d for d in documents if d]


def _read_lines(path):
    """The stripped lines of `path`, split on "\\n" only as the original's `readline` loop."""
    with tf.io.gfile.GFile(path, "rb") as reader:
        data = reader.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        first_bad = e.start
    else:
        lines = text.split("\n")
        if lines[-1] == "":  # after the last newline: no line (readline returns none there)
            lines.pop()
        return [line.strip() for line in lines]
    # Report it as the original's line-by-line decoding would: the line and the error in it.
    line_start = data.rfind(b"\n", 0, first_bad) + 1
    line_number = data.count(b"\n", 0, line_start) + 1
    line_end = data.find(b"\n", first_bad)
    try:
        data[line_start:None if line_end < 0 else line_end + 1].decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}:{line_number}: not UTF-8 text ({e})") from None
    raise AssertionError("unreachable: the line holds the undecodable byte")


def _check_documents(documents):
    if not documents:
        raise InputError("the input holds no text: no document has a line that tokenizes "
                         "to a word-piece")


def create_training_instances(documents: List[Document], vocab_words: Sequence[str], *,
                              max_seq_length: int, dupe_factor: int, short_seq_prob: float,
                              masked_lm_prob: float, max_predictions_per_seq: int,
                              rng: random.Random, do_whole_word_mask: bool = False,
                              whole_word_mask_choice_per_word: bool = False
                              ) -> List[TrainingInstance]:
    """All instances of `documents`, `dupe_factor` passes with fresh random choices, shuffled.

    Args:
        documents: from `read_documents`; shuffled in place with `rng`, as the original does.
        vocab_words: the vocab's tokens in file order (random replacements are drawn from it).
        max_seq_length: at least 5 ([CLS] A [SEP] B [SEP] with a target length of at least 2).
        dupe_factor, short_seq_prob, masked_lm_prob, max_predictions_per_seq: as the flags.
        rng: the one source of randomness; `random.Random(random_seed)` for the original's
            records.
        do_whole_word_mask: mask all word-pieces of a word together (a "##" piece belongs to
            the word before it).
        whole_word_mask_choice_per_word: with `do_whole_word_mask`, draw the 80/10/10 choice
            ([MASK] / keep / random word) once per word. False draws it per word-piece as the
            original does, so one word can come out part [MASK], part kept.

    Raises:
        InputError: `documents` is empty.
        ValueError: `max_seq_length` < 5.
    """
    _check_documents(documents)
    if max_seq_length < 5:
        raise ValueError(f"max_seq_length={max_seq_length}: must be at least 5")
    rng.shuffle(documents)
    instances = []
    for _ in range(dupe_factor):
        for document_index in range(len(documents)):
            instances.extend(create_instances_from_document(
                documents, document_index, max_seq_length=max_seq_length,
                short_seq_prob=short_seq_prob, masked_lm_prob=masked_lm_prob,
                max_predictions_per_seq=max_predictions_per_seq, vocab_words=vocab_words,
                rng=rng, do_whole_word_mask=do_whole_word_mask,
                whole_word_mask_choice_per_word=whole_word_mask_choice_per_word))
    rng.shuffle(instances)
    return instances


def create_records_in_processes(documents: List[Document], vocab_words: Sequence[str],
                                encoder: "RecordEncoder", *, num_workers: int,
                                random_seed: int, dupe_factor: int,
                                **instance_args) -> List[bytes]:
    """The serialized records of `create_training_instances`' work split over `num_workers`
    processes: deterministic for a seed and `num_workers`, but other records than one process
    makes (the draws are split over several random streams).

    The documents are shuffled with `random.Random(random_seed)` and dealt to the workers
    (document i to worker i % num_workers). Worker w makes the instances of its documents,
    `dupe_factor` passes, with its own `random.Random(f"{random_seed}:{w}")`, drawing random
    next sentences from all documents, and serializes them with `encoder`. The results are
    joined in worker order and shuffled with the first rng, so scheduling never changes them.
    Workers are started with "spawn" (a fresh interpreter; forking a process that has
    TensorFlow's threads running is unsafe).

    Args:
        documents, vocab_words, dupe_factor: as `create_training_instances` (`documents` is
            shuffled in place).
        encoder: the `RecordEncoder` of the output.
        num_workers: processes, at least 1.
        random_seed: the seed of every random stream.
        **instance_args: max_seq_length, short_seq_prob, masked_lm_prob,
            max_predictions_per_seq, do_whole_word_mask, whole_word_mask_choice_per_word.
    """
    _check_documents(documents)
    rng = random.Random(random_seed)
    rng.shuffle(documents)
    tasks = [(documents, range(w, len(documents), num_workers), f"{random_seed}:{w}",
              dupe_factor, vocab_words, encoder, instance_args) for w in range(num_workers)]
    with multiprocessing.get_context("spawn").Pool(num_workers) as pool:
        shards = pool.starmap(_worker_records, tasks, chunksize=1)
    records = [record for shard in shards for record in shard]
    rng.shuffle(records)
    return records


def _worker_records(documents, document_indexes, seed, dupe_factor, vocab_words, encoder,
                    instance_args):
    """One worker of `create_records_in_processes`: its documents' records, in order."""
    rng = random.Random(seed)
    records = []
    for _ in range(dupe_factor):
        for document_index in document_indexes:
            records.extend(encoder.encode(instance) for instance in
                           create_instances_from_document(documents, document_index,
                                                          vocab_words=vocab_words, rng=rng,
                                                          **instance_args))
    return records


def create_instances_from_document(documents, document_index, *, max_seq_length, short_seq_prob,
                                   masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
                                   do_whole_word_mask=False,
                                   whole_word_mask_choice_per_word=False):
    """The instances of `documents[document_index]` (one pass); see `create_training_instances`.

    Sentences are gathered into a chunk until it reaches a target length (`max_seq_length - 3`,
    or with probability `short_seq_prob` a random length from 2, so that the model also sees
    short sequences). A chunk is split at a random sentence boundary into A and B; half the
    time (always for a one-sentence chunk) B is replaced by text from a random other document
    and the unused sentences are put back for the next chunk.
    """
    document = documents[document_index]
    max_num_tokens = max_seq_length - 3  # room for [CLS], [SEP], [SEP]
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    instances = []
    chunk, chunk_length = [], 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target_seq_length:
            a_end = 1 if len(chunk) < 2 else rng.randint(1, len(chunk) - 1)
            tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
            tokens_b = []
            if len(chunk) == 1 or rng.random() < 0.5:
                is_random_next = True
                target_b_length = target_seq_length - len(tokens_a)
                # Up to 10 tries for another document; with one document it is used itself.
                for _ in range(10):
                    random_index = rng.randint(0, len(documents) - 1)
                    if random_index != document_index:
                        break
                random_document = documents[random_index]
                for sentence in random_document[rng.randint(0, len(random_document) - 1):]:
                    tokens_b.extend(sentence)
                    if len(tokens_b) >= target_b_length:
                        break
                i -= len(chunk) - a_end  # the sentences not used go into the next chunk
            else:
                is_random_next = False
                tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
            truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)

            tokens = [CLS_TOKEN] + tokens_a + [SEP_TOKEN] + tokens_b + [SEP_TOKEN]
            segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
            tokens, positions, labels = create_masked_lm_predictions(
                tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
                do_whole_word_mask=do_whole_word_mask,
                whole_word_mask_choice_per_word=whole_word_mask_choice_per_word)
            instances.append(TrainingInstance(tokens, segment_ids, positions, labels,
                                              is_random_next))
            chunk, chunk_length = [], 0
        i += 1
    return instances


def shuffle(items: list, rng: random.Random) -> None:
    """`rng.shuffle(items)`: the same permutation and the same draws from `rng`, about twice
    as fast (the masking shuffles every word-piece of every instance; this is most of the
    time of instance creation).

    CPython's `Random.shuffle` draws `j = rng._randbelow(i + 1)` for i from len - 1 down to 1,
    and `_randbelow(n)` is `getrandbits(n.bit_length())` redrawn until it is < n; this is
    that loop without two Python calls per element. A `random.Random` subclass with its own
    `random()` (which `_randbelow` would then use) gets `rng.shuffle` itself.
    tests/test_pretraining_data.py checks it against `Random.shuffle`.
    """
    if type(rng).random is not random.Random.random or \
            type(rng).getrandbits is not random.Random.getrandbits:
        rng.shuffle(items)
        return
    getrandbits = rng.getrandbits
    for i in reversed(range(1, len(items))):
        n = i + 1
        k = n.bit_length()
        j = getrandbits(k)
        while j >= n:
            j = getrandbits(k)
        items[i], items[j] = items[j], items[i]


def _draw_choice(rng):
    """The 80/10/10 rule's draw: "mask" 80%, "keep" 10%, "random" 10%, with the original's
    calls (a second draw only when the first is not "mask")."""
    return "mask" if rng.random() < 0.8 else ("keep" if rng.random() < 0.5 else "random")


def _replacement(token, vocab_words, rng, choice=None):
    """The 80/10/10 rule: [MASK], the token itself, or a random vocab word. `choice` (a
    word's draw, see `create_masked_lm_predictions`) skips drawing it here."""
    if choice is None:
        choice = _draw_choice(rng)
    if choice == "mask":
        return MASK_TOKEN
    if choice == "keep":
        return token
    return vocab_words[rng.randint(0, len(vocab_words) - 1)]


def create_masked_lm_predictions(tokens, masked_lm_prob, max_predictions_per_seq, vocab_words,
                                 rng, *, do_whole_word_mask=False,
                                 whole_word_mask_choice_per_word=False):
    """Chooses the positions to predict and replaces their tokens (80/10/10).

    `round(len(tokens) * masked_lm_prob)` positions (at least 1, at most
    `max_predictions_per_seq`), never [CLS] or [SEP]. Candidates (word-pieces, or whole words
    with `do_whole_word_mask`) are taken in a shuffled order; a word that would go past the
    count is skipped, so whole-word masking can predict fewer.

    Returns:
        (tokens after masking, positions ascending, the original tokens at those positions).
    """
    if do_whole_word_mask:
        candidates = []
        for i, token in enumerate(tokens):
            if token in (CLS_TOKEN, SEP_TOKEN):
                continue
            if candidates and token.startswith("##"):
                candidates[-1].append(i)
            else:
                candidates.append([i])
    else:  # every word-piece its own candidate (the same list, built faster)
        candidates = [[i] for i, token in enumerate(tokens)
                      if token != CLS_TOKEN and token != SEP_TOKEN]
    shuffle(candidates, rng)

    output_tokens = list(tokens)
    num_to_predict = min(max_predictions_per_seq,
                         max(1, int(round(len(tokens) * masked_lm_prob))))
    masked = []  # (position, label)
    covered = set()
    for word in candidates:
        if len(masked) >= num_to_predict:
            break
        if len(masked) + len(word) > num_to_predict or (
                do_whole_word_mask and any(i in covered for i in word)):
            continue  # (without whole words, candidates never overlap)
        choice = None
        if do_whole_word_mask and whole_word_mask_choice_per_word:
            choice = _draw_choice(rng)
        for i in word:
            covered.add(i)
            output_tokens[i] = _replacement(tokens[i], vocab_words, rng, choice)
            masked.append((i, tokens[i]))
    masked.sort()
    return output_tokens, [p for p, _ in masked], [label for _, label in masked]


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Shortens the longer of A and B (B on a tie) by one token at a time, from the front or
    the back at random, until both fit in `max_num_tokens`. Changes the lists in place."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def instance_features(instance: TrainingInstance, tokenizer, max_seq_length: int,
                      max_predictions_per_seq: int) -> Dict[str, np.ndarray]:
    """The record of `instance`, padded with zeros: see `feature_spec`."""
    input_ids = tokenizer.convert_tokens_to_ids(instance.tokens)
    if len(input_ids) > max_seq_length:
        raise ValueError(f"{len(input_ids)} tokens > max_seq_length={max_seq_length}")
    pad = max_seq_length - len(input_ids)
    num_masked = len(instance.masked_lm_positions)
    pad_lm = max_predictions_per_seq - num_masked
    return collections.OrderedDict(
        input_ids=np.array(input_ids + [0] * pad, np.int64),
        input_mask=np.array([1] * len(input_ids) + [0] * pad, np.int64),
        segment_ids=np.array(list(instance.segment_ids) + [0] * pad, np.int64),
        masked_lm_positions=np.array(list(instance.masked_lm_positions) + [0] * pad_lm,
                                     np.int64),
        masked_lm_ids=np.array(
            tokenizer.convert_tokens_to_ids(instance.masked_lm_labels) + [0] * pad_lm,
            np.int64),
        masked_lm_weights=np.array([1.0] * num_masked + [0.0] * pad_lm, np.float32),
        next_sentence_labels=np.array([int(instance.is_random_next)], np.int64),
    )


class RecordEncoder:
    """Serializes instances to records fast: the bytes of `tf.train.Example` holding
    `instance_features(...)` (see `bert_tf/data/example_encoding.py`), with each token's id
    looked up once as its varint bytes and no per-record NumPy arrays or proto objects.

    Picklable (plain dicts and bytes), so worker processes can use it without TensorFlow.
    """

    def __init__(self, vocab, max_seq_length: int, max_predictions_per_seq: int):
        """Args: vocab: token -> id (`FullTokenizer.vocab`); the lengths as the flags."""
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self._varint_of = {token: encoding.varint(i) for token, i in vocab.items()}
        self._weights = [encoding.float_feature([1.0] * n + [0.0] * (max_predictions_per_seq - n))
                         for n in range(max_predictions_per_seq + 1)]
        self._positions = [encoding.varint(p) for p in range(max_seq_length)]
        self._labels = [encoding.int64_feature(encoding.varint(v)) for v in (0, 1)]

    def _ids(self, tokens, length):
        try:
            ids = b"".join([self._varint_of[t] for t in tokens])
        except KeyError as e:
            raise InputError(f"Token {e.args[0]!r} is not in the vocab.") from None
        return encoding.int64_feature(ids + b"\0" * (length - len(tokens)))

    def encode(self, instance: TrainingInstance) -> bytes:
        """The serialized `tf.train.Example` of `instance` (features as `instance_features`)."""
        num_tokens, num_masked = len(instance.tokens), len(instance.masked_lm_positions)
        if num_tokens > self.max_seq_length:
            raise ValueError(f"{num_tokens} tokens > max_seq_length={self.max_seq_length}")
        pad, pad_lm = self.max_seq_length - num_tokens, self.max_predictions_per_seq - num_masked
        positions = b"".join([self._positions[p] for p in instance.masked_lm_positions])
        return encoding.example({
            "input_ids": self._ids(instance.tokens, self.max_seq_length),
            "input_mask": encoding.int64_feature(b"\1" * num_tokens + b"\0" * pad),
            "segment_ids": encoding.int64_feature(bytes(instance.segment_ids) + b"\0" * pad),
            "masked_lm_positions": encoding.int64_feature(positions + b"\0" * pad_lm),
            "masked_lm_ids": self._ids(instance.masked_lm_labels, self.max_predictions_per_seq),
            "masked_lm_weights": self._weights[num_masked],
            "next_sentence_labels": self._labels[int(instance.is_random_next)],
        })


def write_instances(instances: Sequence[TrainingInstance], tokenizer, max_seq_length: int,
                    max_predictions_per_seq: int, output_files: Sequence[str], *,
                    fast: bool = True) -> List[int]:
    """Writes the instances as tf.train.Example records, dealt round-robin over
    `output_files` as the original does.

    Each file is written under a temporary name and all are renamed into place only when
    every record is written, so an error or a kill never leaves a half-written output.

    Args:
        fast: serialize with `RecordEncoder`; False builds each record from
            `instance_features` with `tf.train.Example` as the original does (the same
            features; the bytes differ only in the order of the features).

    Returns:
        The number of records in each file.
    """
    for index, instance in enumerate(instances[:5]):
        features = instance_features(instance, tokenizer, max_seq_length,
                                     max_predictions_per_seq)
        logging.info("*** Example %d ***\ntokens: %s\n%s", index, " ".join(instance.tokens),
                     "\n".join(f"{k}: {' '.join(str(x) for x in v)}"
                               for k, v in features.items()))
    if fast:
        encode = RecordEncoder(tokenizer.vocab, max_seq_length, max_predictions_per_seq).encode
    else:
        spec = feature_spec(max_seq_length, max_predictions_per_seq)

        def encode(instance):
            return _example_proto(instance_features(instance, tokenizer, max_seq_length,
                                                    max_predictions_per_seq), spec)
    return write_records(map(encode, instances), output_files)


def write_records(records: Iterable[bytes], output_files: Sequence[str]) -> List[int]:
    """Writes serialized records dealt round-robin over `output_files`, atomically (see
    `write_instances`); returns the number of records in each file."""
    counts = [0] * len(output_files)
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(tf.io.TFRecordWriter(stack.enter_context(atomic_path(p))))
                   for p in output_files]
        for index, record in enumerate(records):
            writers[index % len(writers)].write(record)
            counts[index % len(writers)] += 1
    logging.info("Wrote %d instances to %s", sum(counts), ", ".join(output_files))
    return counts
