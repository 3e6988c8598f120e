"""Feature-creation throughput (tokenization + features) for classification, NER and SQuAD.

Times the functions the runners call, on synthetic data, and prints one table (examples/s, the
median of --repeats runs):

  * classification: `bert_tf.data.classifier_features.convert_examples_to_features` on sentence
    pairs, max_seq_length 128 (run_classifier.py);
  * NER: `bert_tf.data.ner_features.convert_examples_to_features`, max_seq_length 128,
    doc_stride 64, first piece of each word labelled (run_ner.py's defaults);
  * SQuAD: `bert_tf.data.squad.convert_examples_to_features` (the default fast path) on SQuAD
    v1.1 training questions, max_seq_length 384, doc_stride 128, max_query_length 64.

Classification and NER always tokenize through `FullTokenizer.batch_tokenize_with_offsets` (the
Rust batch path). Each is also run with the original pure-Python tokenizer: the same feature
code given a tokenizer whose batch call runs `FullTokenizer.tokenize` text by text, as the
original runners did. The script checks that both give the same features, then prints the
ratio. NER tokenizes each distinct word once on both paths (`ner_features.word_pieces`).
SQuAD's original path is compared in squad_features.py.

Data (seeded, made in a temp dir; words and vocab from squad_features.py: made-up words of a
generated vocab with suffixes, capitals, accents, numbers and attached punctuation, about 1.4
word-pieces per word):
  * classification: GLUE-like pairs (MNLI-sized): words per sentence drawn from lognormal
    distributions, median 15 (sigma 0.55) for text_a and 8 (sigma 0.45) for text_b, each
    clipped to 1-200 words (26 words per pair on average). Pairs come to a median of about 33
    word-pieces, 95% under 64, a tail to about 90 at the 99th percentile, and under 0.1%
    truncated to 128. Three MNLI labels.
  * NER: CoNLL-2003-like sentences, words per sentence lognormal with median 11 (sigma 0.7),
    clipped to 1-124 (14.2 words per sentence on average; CoNLL-2003 has 14.5); IOB2 tags over
    PER/LOC/ORG/MISC, about 17% of words in entities of 1-3 words. A sentence longer than 126
    pieces is split into windows.
  * SQuAD: squad_features.py's generator, --examples / 5 paragraphs x 5 questions, contexts of
    100-300 words.

    .venv/bin/python benchmarks/feature_creation.py                          # about a minute
    .venv/bin/python benchmarks/feature_creation.py --examples 200 --repeats 1  # a quick look
"""

import argparse
import functools
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time

import tokenizers

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_tf.data import classifier_features, ner, ner_features, squad  # noqa: E402
from bert_tf.data.examples import InputExample  # noqa: E402
from bert_tf.tokenization import FullTokenizer  # noqa: E402
from squad_features import (make_squad, make_vocab, make_word,  # noqa: E402
                            write_vocab_and_squad)

CLASSIFIER_MAX_SEQ_LENGTH = 128
CLASSIFIER_LABELS = ["contradiction", "entailment", "neutral"]
NER_MAX_SEQ_LENGTH = 128
NER_DOC_STRIDE = 64
NER_TYPES = ["PER", "LOC", "ORG", "MISC"]
SQUAD_MAX_SEQ_LENGTH = 384
SQUAD_DOC_STRIDE = 128
SQUAD_MAX_QUERY_LENGTH = 64
SQUAD_QUESTIONS_PER_PARAGRAPH = 5


class OriginalTokenizer:
    """A FullTokenizer whose batch call runs the original pure-Python `tokenize` per text.

    Offsets are None: neither the classifier nor the NER feature code reads them (a TypeError
    would say so if one started to).
    """

    def __init__(self, full_tokenizer):
        self._full = full_tokenizer

    def batch_tokenize_with_offsets(self, texts):
        return [(self._full.tokenize(text), None) for text in texts]

    def convert_tokens_to_ids(self, tokens):
        return self._full.convert_tokens_to_ids(tokens)


def _lognormal_length(rng, median, sigma, low, high):
    return min(high, max(low, round(rng.lognormvariate(0.0, sigma) * median)))


def make_pairs(rng, words, num_examples):
    """MNLI-like InputExamples (see the module docstring for the lengths)."""
    def sentence(median, sigma):
        return " ".join(make_word(rng, words)
                        for _ in range(_lognormal_length(rng, median, sigma, 1, 200)))
    return [InputExample(f"train-{i}", sentence(15, 0.55), sentence(8, 0.45),
                         rng.choice(CLASSIFIER_LABELS)) for i in range(num_examples)]


def make_ner(rng, words, num_examples):
    """(words, IOB2 tags) per sentence, CoNLL-2003-like (see the module docstring)."""
    sentences = []
    for _ in range(num_examples):
        length = _lognormal_length(rng, 11, 0.7, 1, 124)
        tags = []
        while len(tags) < length:
            if rng.random() < 0.1:   # An entity of 1-3 words starts here.
                entity_type = rng.choice(NER_TYPES)
                span = min(rng.randint(1, 3), length - len(tags))
                tags += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (span - 1)
            else:
                tags.append(ner.OUTSIDE)
        sentences.append(([make_word(rng, words) for _ in range(length)], tags))
    return sentences


def time_paths(paths, repeats):
    """Runs each callable of `paths` (name -> fn) `repeats` times, alternating.

    Returns:
        {name: (median seconds, the last run's result)}.
    """
    seconds = {name: [] for name in paths}
    results = dict.fromkeys(paths)
    for _ in range(repeats):     # Alternate, so a busy spell on the machine hits every path.
        for name, fn in paths.items():
            results[name] = None   # Free this path's previous features first.
            # Freeze what is alive (examples, other paths' features) so that the garbage
            # collector's passes over it are not charged to this run.
            gc.collect()
            gc.freeze()
            begin = time.perf_counter()
            results[name] = fn()
            seconds[name].append(time.perf_counter() - begin)
            gc.unfreeze()
    return {name: (statistics.median(seconds[name]), results[name]) for name in paths}


def _check_same(task, timed):
    if timed["original"][1] != timed["fast"][1]:
        raise SystemExit(f"{task}: the fast batch tokenizer and the original pure-Python "
                         "tokenizer give different features; the fast path is wrong for this "
                         "data (see bert_tf/fast_tokenization.py).")


def _percentiles(values):
    values = sorted(values)
    return {p: values[min(len(values) - 1, int(len(values) * p / 100))] for p in (50, 90, 99)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000,
                        help="examples per task (SQuAD: questions, 5 per paragraph)")
    parser.add_argument("--repeats", type=int, default=7,
                        help="runs of each path; the table shows the median")
    parser.add_argument("--vocab_words", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    words, vocab = make_vocab(rng, args.vocab_words)
    pairs = make_pairs(rng, words, args.examples)
    ner_sentences = make_ner(rng, words, args.examples)
    paragraphs = max(1, args.examples // SQUAD_QUESTIONS_PER_PARAGRAPH)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, train_file = write_vocab_and_squad(
            tmp, vocab, make_squad(rng, words, paragraphs, SQUAD_QUESTIONS_PER_PARAGRAPH))
        tokenizer = FullTokenizer(vocab_file, do_lower_case=True)
        squad_examples = squad.read_squad_examples(train_file, is_training=True,
                                                   version_2_with_negative=False)
    original = OriginalTokenizer(tokenizer)
    # Build the fast path's one-time setup (the Rust tokenizer and the table of characters it
    # must not see) outside the timing, as a long run would amortize it.
    tokenizer.batch_tokenize_with_offsets(["warm up"])

    def classify(tok):
        return list(classifier_features.convert_examples_to_features(
            pairs, CLASSIFIER_LABELS, CLASSIFIER_MAX_SEQ_LENGTH, tok))

    ner_labels = [ner.OUTSIDE] + [f"{p}-{t}" for t in NER_TYPES for p in "BI"]
    ner_label_map = {label: i for i, label in enumerate(ner_labels)}

    def tag(tok):
        # As run_ner.py calls it, with its defaults.
        return ner_features.convert_examples_to_features(
            [w for w, _ in ner_sentences], [t for _, t in ner_sentences], ner_label_map,
            NER_MAX_SEQ_LENGTH, NER_DOC_STRIDE, tok, label_all_subtokens=False,
            continuation_tag=functools.partial(ner.continuation_tag, labels=ner_labels))

    def squad_features():
        return squad.convert_examples_to_features(
            squad_examples, tokenizer, SQUAD_MAX_SEQ_LENGTH, SQUAD_DOC_STRIDE,
            SQUAD_MAX_QUERY_LENGTH, is_training=True)

    classify_timed = time_paths({"original": lambda: classify(original),
                                 "fast": lambda: classify(tokenizer)}, args.repeats)
    _check_same("classification", classify_timed)
    ner_timed = time_paths({"original": lambda: tag(original),
                            "fast": lambda: tag(tokenizer)}, args.repeats)
    _check_same("NER", ner_timed)
    squad_timed = time_paths({"fast": squad_features}, args.repeats)

    # What the data looks like, in word-pieces (from the features: [CLS]/[SEP] excluded).
    pair_pieces = [sum(f["input_mask"]) - 3 for f in classify_timed["fast"][1]]
    truncated = sum(n == CLASSIFIER_MAX_SEQ_LENGTH - 3 for n in pair_pieces)
    pair_p = _percentiles(pair_pieces)
    windows = ner_timed["fast"][1][1]
    ner_pieces = [sum(len(word) for word in sentence) for sentence in
                  ner_features.word_pieces([w for w, _ in ner_sentences], tokenizer)]
    ner_p = _percentiles(ner_pieces)
    print(f"Feature creation: {args.examples} examples per task, vocab {len(vocab)}, seed "
          f"{args.seed}; {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"tokenizers {tokenizers.__version__}; median of {args.repeats} runs per path "
          "(alternating); fast == original features: yes (classification, NER).")
    print(f"  classification pairs: word-pieces per pair median {pair_p[50]}, p90 {pair_p[90]}, "
          f"p99 {pair_p[99]}; {truncated} truncated to {CLASSIFIER_MAX_SEQ_LENGTH}.")
    print(f"  NER: word-pieces per sentence median {ner_p[50]}, p90 {ner_p[90]}, "
          f"p99 {ner_p[99]}; {len(windows)} windows for {len(ner_sentences)} sentences.")
    print(f"  SQuAD: {paragraphs} paragraphs x {SQUAD_QUESTIONS_PER_PARAGRAPH} questions.")
    print()
    print("| task | tokenizer | examples | features | seconds | examples/s | fast vs original |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = [
        ("classification, pairs, S=128", "original (Python, per text)", classify_timed,
         "original", len(pairs)),
        ("classification, pairs, S=128", "fast (Rust batch)", classify_timed, "fast",
         len(pairs)),
        ("NER, S=128", "original (Python, per distinct word)", ner_timed, "original",
         len(ner_sentences)),
        ("NER, S=128", "fast (Rust batch)", ner_timed, "fast", len(ner_sentences)),
        ("SQuAD v1.1 train, S=384", "fast (Rust batch, default)", squad_timed, "fast",
         len(squad_examples)),
    ]
    for task, label, timed, path, count in rows:
        seconds, result = timed[path]
        num_features = len(result[0]) if isinstance(result, tuple) else len(result)
        ratio = ""
        if path == "fast" and "original" in timed:
            ratio = f"{timed['original'][0] / seconds:.1f}x"
        print(f"| {task} | {label} | {count:,} | {num_features:,} | {seconds:.2f} | "
              f"{count / seconds:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
