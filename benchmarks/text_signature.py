"""The `text` signature (tokenization in the graph) against the ids signature fed by the
Python fast tokenizer, on CPU: texts/s at batch --batch_size and batch-1 latency.

One exported classifier (run_classifier's export: `export_saved_model` with `ClassifierText`)
of --size (BERT-Small or BERT-Base dims, random weights: speed does not depend on them),
loaded back with `tf.saved_model.load`, called two ways on the same texts:

  * text: `signatures["text"](text_a=..., text_b=...)`, strings in, everything in the graph;
  * ids: what a client without it does: `FullTokenizer.batch_tokenize_with_offsets` (the
    Rust fast path), `encode_pair`, each batch cut to its longest example, then
    `signatures["serving_default"](input_ids, input_mask, segment_ids)`.

Before timing it checks that both give the same probabilities (1e-5). Texts: --texts
English-like sentences (squad_features.py's word and vocab generators, uncased vocab of
--vocab_words words plus pieces), --words words each: about 30 pieces. Calls alternate (text
first on even passes), so a busy spell hits both. Also timed alone: the in-graph tokenizer
and the Python path's tokenization + encoding, which say how much of each call is
preprocessing.

    .venv/bin/python benchmarks/text_signature.py               # BERT-Small, ~2 minutes
    .venv/bin/python benchmarks/text_signature.py --size base   # BERT-Base
"""

import argparse
import os
import random
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.data.features import encode_pair  # noqa: E402
from bert_tf.export import export_saved_model  # noqa: E402
from bert_tf.graph_tokenizer import GraphTokenizer  # noqa: E402
from bert_tf.tasks.classification import ClassificationTask  # noqa: E402
from bert_tf.text_signatures import ClassifierText  # noqa: E402
from bert_tf.tokenization import FullTokenizer  # noqa: E402
from graph_tokenizer_throughput import median_seconds  # noqa: E402
from machine import machine_info  # noqa: E402
from squad_features import make_vocab, make_word  # noqa: E402
from train_throughput import SIZES  # noqa: E402

MAX_SEQ_LENGTH = 128
LABELS = ["neg", "pos"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--words", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--vocab_words", type=int, default=2000)
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--latency_calls", type=int, default=60)
    args = parser.parse_args()

    rng = random.Random(0)
    words, vocab = make_vocab(rng, args.vocab_words)
    texts = [" ".join(make_word(rng, words) for _ in range(args.words)).capitalize() + "."
             for _ in range(args.texts)]
    name, dims = SIZES[args.size]
    tmp = tempfile.mkdtemp(prefix="bert_tf_text_signature_")
    vocab_file = os.path.join(tmp, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    config = BertConfig(vocab_size=len(vocab), max_position_embeddings=512, **dims)
    task = ClassificationTask(config, len(LABELS))
    model = task.build_model().build_with_dummy_inputs()
    export_dir = os.path.join(tmp, "export")
    export_saved_model(model, export_dir, task.outputs,
                       ClassifierText(GraphTokenizer(vocab_file, True), MAX_SEQ_LENGTH, LABELS))
    loaded = tf.saved_model.load(export_dir)
    text_signature, ids_signature = loaded.signatures["text"], loaded.signatures["serving_default"]
    tokenizer = FullTokenizer(vocab_file, do_lower_case=True)
    graph_tokenizer = GraphTokenizer(vocab_file, True)

    batches = [texts[i:i + args.batch_size] for i in range(0, len(texts), args.batch_size)]

    def encode(batch):
        pieces = tokenizer.batch_tokenize_with_offsets(batch)
        pairs = [encode_pair(tokens, None, MAX_SEQ_LENGTH, tokenizer) for tokens, _ in pieces]
        width = max(len(p.tokens) for p in pairs)
        return {key: tf.constant([getattr(p, key)[:width] for p in pairs], tf.int32)
                for key in ("input_ids", "input_mask", "segment_ids")}

    def via_text(batch):
        return text_signature(text_a=tf.constant(batch),
                              text_b=tf.constant([""] * len(batch)))["probabilities"].numpy()

    def via_ids(batch):
        return ids_signature(**encode(batch))["probabilities"].numpy()

    np.testing.assert_allclose(via_text(batches[0]), via_ids(batches[0]), atol=1e-5)
    pieces = np.mean([len(tokenizer.tokenize(t)) + 2 for t in texts])

    totals = {"text": 0.0, "ids": 0.0}
    for repeat in range(args.passes):
        order = ("text", "ids") if repeat % 2 == 0 else ("ids", "text")
        for way in order:
            call = via_text if way == "text" else via_ids
            start = time.perf_counter()
            for batch in batches:
                call(batch)
            totals[way] += time.perf_counter() - start
    throughput = {way: args.texts * args.passes / seconds for way, seconds in totals.items()}

    latency = {}
    for way, call in (("text", via_text), ("ids", via_ids)):
        latency[way] = 1000 * median_seconds(lambda: call(texts[:1]), args.latency_calls)

    tokenize = tf.function(lambda b: graph_tokenizer.tokenize(b).flat_values)
    tokenize(tf.constant(batches[0]))
    graph_only = median_seconds(lambda: [tokenize(tf.constant(b)) for b in batches], 3)
    python_only = median_seconds(lambda: [encode(b) for b in batches], 3)

    print(machine_info())
    print(f"{name} classifier, {args.texts} texts x {args.words} words ({pieces:.1f} pieces "
          f"with [CLS]/[SEP]), batch {args.batch_size}, TF {tf.__version__}")
    print(f"{'':34}{'text':>10}{'ids':>10}{'text/ids':>10}")
    print(f"{'throughput (texts/s)':34}{throughput['text']:10.1f}{throughput['ids']:10.1f}"
          f"{throughput['text'] / throughput['ids']:10.2f}")
    print(f"{'latency batch 1 (ms, median)':34}{latency['text']:10.2f}{latency['ids']:10.2f}"
          f"{latency['text'] / latency['ids']:10.2f}")
    print(f"{'preprocessing alone (texts/s)':34}{args.texts / graph_only:10.0f}"
          f"{args.texts / python_only:10.0f}")
    share = (args.texts / (args.texts / graph_only)) / (args.texts / throughput["text"])
    print(f"in-graph tokenization is {100 * share:.1f}% of the text signature's time")


if __name__ == "__main__":
    main()
