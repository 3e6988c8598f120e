"""Pretraining-data creation: the original's pure-Python path vs ours, instances/s and peak RSS.

Generates a seeded corpus (documents of 1-30 sentences of 3-30 made-up words from
squad_features.py's generator, one sentence per line, a blank line between documents) with a
matching vocab, then runs `create_pretraining_data`'s steps (read and tokenize, make the
instances, write the records) at the original's defaults (max_seq_length 128, dupe_factor 10,
max_predictions_per_seq 20, masked_lm_prob 0.15) three ways, each in its own process so each
peak RSS is its own:

  * original: `FullTokenizer.tokenize` line by line, `instance_features` + `tf.train.Example`
    per record (`fast=False`), as the original script does;
  * ours: the Rust batch tokenizer and `RecordEncoder` (the default; one process);
  * ours, --workers processes: `create_records_in_processes` (other records, by design).

It checks that the two one-process outputs hold the same records (ours byte for byte equal to
the deterministic serialization of the original's), then prints one table. Times exclude
starting Python and importing TensorFlow.

    .venv/bin/python benchmarks/pretraining_data.py                 # 2 MB, about a minute
    .venv/bin/python benchmarks/pretraining_data.py --size_mb 0.5   # a quick look
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from squad_features import make_vocab, make_word  # noqa: E402

MAX_SEQ_LENGTH, MAX_PREDICTIONS, DUPE_FACTOR = 128, 20, 10


def write_corpus(directory, size_mb, seed, vocab_words):
    """Writes vocab.txt and corpus.txt (about `size_mb` MiB) into `directory`."""
    rng = random.Random(seed)
    words, vocab = make_vocab(rng, vocab_words)
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    lines, size = [], 0
    while size < size_mb * 2 ** 20:
        for _ in range(rng.randint(1, 30)):
            lines.append(" ".join(make_word(rng, words) for _ in range(rng.randint(3, 30))) + " .")
            size += len(lines[-1]) + 1
        lines.append("")
        size += 1
    with open(os.path.join(directory, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return len(vocab), len(lines)


def child(directory, path, workers):
    """Runs one path in this process; prints its figures as JSON."""
    from bert_tf.data import pretraining_data as ptd
    from bert_tf.tokenization import FullTokenizer
    tokenizer = FullTokenizer(os.path.join(directory, "vocab.txt"), do_lower_case=True)
    fast = path != "original"
    output = os.path.join(directory, f"{path}.tfrecord")
    args = dict(max_seq_length=MAX_SEQ_LENGTH, short_seq_prob=0.1, masked_lm_prob=0.15,
                max_predictions_per_seq=MAX_PREDICTIONS)
    begin = time.perf_counter()
    documents = ptd.read_documents([os.path.join(directory, "corpus.txt")], tokenizer,
                                   fast=fast)
    read = time.perf_counter()
    vocab_words = list(tokenizer.vocab)
    if path == "workers":
        encoder = ptd.RecordEncoder(tokenizer.vocab, MAX_SEQ_LENGTH, MAX_PREDICTIONS)
        records = ptd.create_records_in_processes(
            documents, vocab_words, encoder, num_workers=workers, random_seed=12345,
            dupe_factor=DUPE_FACTOR, **args)
        created = time.perf_counter()
        count = sum(ptd.write_records(records, [output]))
    else:
        instances = ptd.create_training_instances(
            documents, vocab_words, dupe_factor=DUPE_FACTOR, rng=random.Random(12345), **args)
        created = time.perf_counter()
        count = sum(ptd.write_instances(instances, tokenizer, MAX_SEQ_LENGTH, MAX_PREDICTIONS,
                                        [output], fast=fast))
    end = time.perf_counter()
    rss = max(resource.getrusage(who).ru_maxrss
              for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))  # KiB
    print(json.dumps({"instances": count, "read": read - begin, "create": created - read,
                      "write": end - created, "seconds": end - begin, "rss_mib": rss / 1024}))


def same_records(original_file, ours_file):
    """Ours byte for byte equals the deterministic serialization of the original's records."""
    import tensorflow as tf
    originals = tf.data.TFRecordDataset(original_file).as_numpy_iterator()
    ours = list(tf.data.TFRecordDataset(ours_file).as_numpy_iterator())
    expected = [tf.train.Example.FromString(r).SerializeToString(deterministic=True)
                for r in originals]
    return ours == expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size_mb", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2, help="0 skips the multi-process row")
    parser.add_argument("--vocab_words", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.workers)

    from machine import machine_info
    with tempfile.TemporaryDirectory() as tmp:
        vocab_size, num_lines = write_corpus(tmp, args.size_mb, args.seed, args.vocab_words)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        results = {}
        for path in ["original", "ours"] + (["workers"] if args.workers > 1 else []):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", tmp, path,
                                  "--workers", str(args.workers)],
                                 capture_output=True, text=True, env=env, check=True)
            results[path] = json.loads(out.stdout.strip().splitlines()[-1])
        if not same_records(os.path.join(tmp, "original.tfrecord"),
                            os.path.join(tmp, "ours.tfrecord")):
            raise SystemExit("ours and the original's records differ")

    print(f"{args.size_mb:g} MiB corpus, {num_lines:,} lines, vocab {vocab_size}; "
          f"max_seq_length {MAX_SEQ_LENGTH}, dupe_factor {DUPE_FACTOR}, max_predictions_per_seq "
          f"{MAX_PREDICTIONS}; {machine_info()}; ours == original: yes")
    print()
    print("| path | instances | read + tokenize s | instances s | write s | total s | "
          "instances/s | vs original | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    names = {"original": "original (pure Python)", "ours": "ours, 1 process",
             "workers": f"ours, --num_workers={args.workers}"}
    base = results["original"]["instances"] / results["original"]["seconds"]
    for path, r in results.items():
        rate = r["instances"] / r["seconds"]
        print(f"| {names[path]} | {r['instances']:,} | {r['read']:.2f} | {r['create']:.2f} | "
              f"{r['write']:.2f} | {r['seconds']:.2f} | {rate:,.0f} | {rate / base:.1f}x | "
              f"{r['rss_mib']:,.0f} |")


if __name__ == "__main__":
    main()
