"""SQuAD feature creation: the original per-doc-token tokenization vs the fast path.

Writes a synthetic SQuAD v1.1 training file (made-up words from a generated vocab, with
punctuation, capitals and accents), reads it, and times `convert_examples_to_features` both
ways in the same run (the median of --repeats runs each, alternating), checking that both give
the same features. Prints one table.

    .venv/bin/python benchmarks/squad_features.py                 # 2,000 paragraphs x 5
    .venv/bin/python benchmarks/squad_features.py --paragraphs 200   # a quick look
"""

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_tf.data import squad  # noqa: E402
from bert_tf.tokenization import FullTokenizer  # noqa: E402

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_SUFFIXES = ["s", "ed", "ing", "ly", "er"]
_PUNCTUATION = [",", ".", ";", ":", "!", "?", ")", "'s"]


def make_vocab(rng, num_words):
    """Specials, `num_words` made-up words, suffix pieces, "##<letter>" and punctuation."""
    words = set()
    while len(words) < num_words:
        words.add("".join(rng.choices(_LETTERS, k=rng.randint(2, 8))))
    words = sorted(words)
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
             + ["##" + s for s in _SUFFIXES] + ["##" + c for c in _LETTERS]
             + list(_LETTERS) + list("0123456789") + ["##" + d for d in "0123456789"]
             + list(",.;:!?()'\"-"))
    return words, vocab


def make_word(rng, words):
    """One text word: a vocab word, sometimes suffixed, capitalized, accented, a number, or
    with punctuation attached (also used by feature_creation.py)."""
    w = rng.choice(words)
    roll = rng.random()
    if roll < 0.15:
        w += rng.choice(_SUFFIXES)
    elif roll < 0.2:
        w = w.capitalize()
    elif roll < 0.22:
        w = w.replace("e", "\u00e9")  # Accents: stripped when lower-casing.
    elif roll < 0.25:
        w = str(rng.randint(1, 2999))
    if rng.random() < 0.1:
        w += rng.choice(_PUNCTUATION)
    if rng.random() < 0.03:
        w = "(" + w
    return w


def write_vocab_and_squad(directory, vocab, squad_json):
    """Writes vocab.txt and train.json into `directory`; returns their paths."""
    vocab_file = os.path.join(directory, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    train_file = os.path.join(directory, "train.json")
    with open(train_file, "w", encoding="utf-8") as f:
        json.dump(squad_json, f)
    return vocab_file, train_file


def make_squad(rng, words, num_paragraphs, questions_per_paragraph):
    """SQuAD v1.1 JSON: contexts of 100-300 words; each answer is 1-4 context words."""
    def word():
        return make_word(rng, words)

    paragraphs = []
    for p in range(num_paragraphs):
        context_words = [word() for _ in range(rng.randint(100, 300))]
        starts, position = [], 0
        for w in context_words:
            starts.append(position)
            position += len(w) + 1
        context = " ".join(context_words)
        qas = []
        for q in range(questions_per_paragraph):
            first = rng.randrange(len(context_words) - 4)
            last = first + rng.randint(0, 3)
            answer = " ".join(context_words[first:last + 1])
            question = " ".join(word() for _ in range(rng.randint(5, 14))) + "?"
            qas.append({"id": f"p{p}q{q}", "question": question,
                        "answers": [{"text": answer, "answer_start": starts[first]}]})
        paragraphs.append({"context": context, "qas": qas})
    return {"version": "1.1", "data": [{"title": "synthetic", "paragraphs": paragraphs}]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=5, help="questions per paragraph")
    parser.add_argument("--vocab_words", type=int, default=2000)
    parser.add_argument("--max_seq_length", type=int, default=384)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--max_query_length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each path; the table shows the median")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    words, vocab = make_vocab(rng, args.vocab_words)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, train_file = write_vocab_and_squad(
            tmp, vocab, make_squad(rng, words, args.paragraphs, args.questions))
        tokenizer = FullTokenizer(vocab_file, do_lower_case=True)
        examples = squad.read_squad_examples(train_file, is_training=True,
                                             version_2_with_negative=False)

    def timed(fast):
        # Freeze what is alive (examples, the other path's features) so that the garbage
        # collector's passes over it are not charged to this run.
        gc.collect()
        gc.freeze()
        begin = time.perf_counter()
        features = squad.convert_examples_to_features(
            examples, tokenizer, args.max_seq_length, args.doc_stride, args.max_query_length,
            is_training=True, fast=fast)
        seconds = time.perf_counter() - begin
        gc.unfreeze()
        return features, seconds

    # Warm the fast path's one-time setup (the Rust tokenizer and the table of characters it
    # must not see) outside the timing, as a long run would amortize it.
    squad.convert_examples_to_features(examples[:1], tokenizer, args.max_seq_length,
                                       args.doc_stride, args.max_query_length, True)
    original_s, fast_s = [], []
    for _ in range(args.repeats):   # Alternate, so a busy spell on the machine hits both.
        original = fast = None      # Free the previous run's features first.
        original, seconds = timed(fast=False)
        original_s.append(seconds)
        fast, seconds = timed(fast=True)
        fast_s.append(seconds)
    original_s, fast_s = statistics.median(original_s), statistics.median(fast_s)
    if fast != original:
        raise SystemExit("fast and original features differ")

    print(f"SQuAD features: {args.paragraphs} paragraphs x {args.questions} questions = "
          f"{len(examples)} examples -> {len(fast)} features; vocab {len(vocab)}; "
          f"max_seq_length {args.max_seq_length}, doc_stride {args.doc_stride}, "
          f"max_query_length {args.max_query_length}; {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; median of {args.repeats} runs each; "
          "fast == original: yes")
    print()
    print("| path | seconds | examples/s |")
    print("|---|---:|---:|")
    print(f"| original (per doc token) | {original_s:.2f} | {len(examples) / original_s:,.0f} |")
    print(f"| fast (whole contexts, batch) | {fast_s:.2f} | {len(examples) / fast_s:,.0f} |")
    print(f"| ratio | | {original_s / fast_s:.1f}x |")


if __name__ == "__main__":
    main()
