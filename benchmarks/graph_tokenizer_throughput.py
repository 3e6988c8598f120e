"""Texts/s of `bert_tf.graph_tokenizer.GraphTokenizer` (in-graph) against the Python original.

Data (seeded): --texts English-like sentences of --words words each, made with the word and
vocab generators of squad_features.py (made-up words with suffixes, capitals, accents, numbers
and attached punctuation; about 1.4 word-pieces per word), uncased vocab of --vocab_words
words plus pieces. The in-graph tokenizer runs eagerly-called `tokenize` (a tf.function) on
batches of --batch_size; one untimed warm-up pass traces it. The script first checks that every
text gets the same ids as `FullTokenizer.tokenize` + `convert_tokens_to_ids`, then prints the
median texts/s of --repeats passes for the graph and for the original pure-Python tokenizer.

    .venv/bin/python benchmarks/graph_tokenizer_throughput.py
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

from bert_tf.graph_tokenizer import GraphTokenizer  # noqa: E402
from bert_tf.tokenization import FullTokenizer  # noqa: E402
from squad_features import make_vocab, make_word  # noqa: E402


def median_seconds(function, repeats):
    """Median seconds of `repeats` calls of `function`."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--words", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--vocab_words", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(0)
    words, vocab = make_vocab(rng, args.vocab_words)
    texts = [" ".join(make_word(rng, words) for _ in range(args.words)).capitalize() + "."
             for _ in range(args.texts)]
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = os.path.join(tmp, "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in vocab))
        full = FullTokenizer(vocab_file, do_lower_case=True)
        graph = GraphTokenizer(vocab_file, do_lower_case=True)
    batches = [tf.constant([t.encode("utf-8") for t in texts[i:i + args.batch_size]])
               for i in range(0, len(texts), args.batch_size)]

    def run_graph():
        return [graph.tokenize(batch) for batch in batches]

    def run_python():
        return [full.convert_tokens_to_ids(full.tokenize(t)) for t in texts]

    graph_ids = [ids for ragged in run_graph() for ids in ragged.to_list()]  # Warm-up + check.
    if graph_ids != run_python():
        sys.exit("graph and FullTokenizer ids differ")
    pieces = sum(len(ids) for ids in graph_ids)
    graph_s = median_seconds(run_graph, args.repeats)
    python_s = median_seconds(run_python, args.repeats)
    print(f"{args.texts} texts x {args.words} words, {pieces / args.texts:.1f} pieces/text, "
          f"batch {args.batch_size}, {os.cpu_count()} CPUs, TF {tf.__version__}")
    print(f"GraphTokenizer (in-graph)  {args.texts / graph_s:8.0f} texts/s")
    print(f"FullTokenizer (Python)     {args.texts / python_s:8.0f} texts/s")


if __name__ == "__main__":
    main()
