"""`python -m bert_tf.embed`: sentence vectors, similarities and search from any BERT.

    python -m bert_tf.embed --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \\
      --bert_config_file=$BERT_BASE_DIR/bert_config.json --vocab_file=$BERT_BASE_DIR/vocab.txt \\
      --input_file=sentences.txt --output_file=vectors.npy --pooling=mean --normalize

--input_file: one text per line, or a pair `A ||| B`. --output_file: `.npy` (float32 [N, H],
row i = line i) or `.jsonl` ({"text", "embedding"} per line). --init_checkpoint may be an
original checkpoint or a Hugging Face directory; a directory's own config.json /
bert_config.json and vocab.txt are used when --bert_config_file / --vocab_file are not given.

  --pooling=mean|max|cls|pooled over --layers (e.g. -2, or -1,-2,-3,-4 averaged); mean and
  max over the real tokens only ([CLS] and [SEP] included, padding never); --normalize for
  unit vectors (cosine = dot product).
  --similarity: instead of vectors, the cosine-similarity matrix of the input's lines as TSV
  (N x N, at most --max_matrix lines); with --query_file, the --top_k most similar input
  lines per query as JSON lines {"query", "top_k": [{"line", "text", "score"}]} (lines
  counted from 1).
  --export_dir: also write a SavedModel: `serving_default` (input_ids, input_mask,
  segment_ids -> embedding) and `text` (text -> embedding), the same pooling.

An empty line is a text of no words: `[CLS] [SEP]`, and gets a vector like any other. A line
longer than --max_seq_length word-pieces is cut (as extract_features.py cuts it); how many were
cut is logged.
"""

import argparse
import json
import logging
import os
import sys

import numpy as np

from bert_tf.data.feature_extraction import read_examples
from bert_tf.errors import InputError
from bert_tf.extraction import parse_layer_indexes
from bert_tf.weights.convert import parse_bool


def read_lines(path: str):
    """(texts, second texts or None) of an input file, read as extract_features.py reads it
    (`feature_extraction.read_examples`: lines stripped, `A ||| B` a pair; errors name the
    file and line)."""
    examples = read_examples(path)
    return [e.text_a for e in examples], [e.text_b for e in examples]


def write_output(path: str, texts, vectors) -> None:
    from bert_tf.files import atomic_open, atomic_path
    if path.endswith(".npy"):
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, vectors)
    else:
        with atomic_open(path) as f:
            for text, vector in zip(texts, vectors):
                f.write(json.dumps({"text": text, "embedding": [float(x) for x in vector]},
                                   ensure_ascii=False) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_tf.embed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init_checkpoint", help="Original checkpoint or HF directory.")
    parser.add_argument("--bert_config_file")
    parser.add_argument("--vocab_file")
    parser.add_argument("--do_lower_case", type=parse_bool, default=True)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--input_file", required=True)
    parser.add_argument("--output_file", required=True, help=".npy or .jsonl (vectors); "
                        ".tsv / .jsonl with --similarity")
    parser.add_argument("--pooling", default="mean", choices=("mean", "max", "cls", "pooled"))
    parser.add_argument("--layers", default="-1")
    parser.add_argument("--normalize", type=parse_bool, nargs="?", const=True, default=False)
    parser.add_argument("--similarity", type=parse_bool, nargs="?", const=True, default=False)
    parser.add_argument("--query_file", help="With --similarity: queries, one per line.")
    parser.add_argument("--top_k", type=int, default=5)
    parser.add_argument("--max_matrix", type=int, default=2000,
                        help="The most lines --similarity writes a full matrix for.")
    parser.add_argument("--export_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s",
                        stream=sys.stderr)
    try:
        if args.top_k < 1:
            raise InputError(f"--top_k={args.top_k}: must be at least 1")
        if args.query_file and not args.similarity:
            raise InputError("--query_file is for --similarity")
        if not args.similarity and not args.output_file.endswith((".npy", ".jsonl")):
            raise InputError(f"--output_file={args.output_file}: expected a .npy or .jsonl "
                             "file")
        directory = os.path.dirname(os.path.abspath(args.output_file))
        if not os.path.isdir(directory):
            raise InputError(f"--output_file={args.output_file}: the directory {directory} "
                             "does not exist")
        texts, pairs = read_lines(args.input_file)
        queries = read_lines(args.query_file)[0] if args.query_file else None
        if args.similarity and queries is None and len(texts) > args.max_matrix:
            raise InputError(f"--similarity: {len(texts)} lines make a matrix too large to "
                             f"write (--max_matrix={args.max_matrix}); give --query_file for "
                             "top-k search instead")
        from bert_tf import embeddings
        embedder = embeddings.Embedder.from_files(
            args.init_checkpoint, args.bert_config_file, args.vocab_file, args.do_lower_case,
            max_seq_length=args.max_seq_length, pooling=args.pooling,
            layers=parse_layer_indexes(args.layers), normalize=args.normalize,
            batch_size=args.batch_size)
        vectors = embedder.embed(texts, pairs)
        if args.similarity:
            from bert_tf.files import atomic_open
            with atomic_open(args.output_file) as f:
                if queries is None:
                    for row in embeddings.cosine_similarity(vectors, vectors):
                        f.write("\t".join(f"{x:.6f}" for x in row) + "\n")
                else:
                    found = embeddings.top_k(embedder.embed(queries), vectors, args.top_k)
                    for query, hits in zip(queries, found):
                        f.write(json.dumps({"query": query, "top_k": [
                            {"line": h["index"] + 1, "text": texts[h["index"]],
                             "score": round(h["score"], 6)} for h in hits]},
                            ensure_ascii=False) + "\n")
        else:
            write_output(args.output_file, texts, vectors)
        logging.info("embedded %d lines (%d cut to --max_seq_length=%d); wrote %s",
                     len(texts), embedder.truncated, args.max_seq_length, args.output_file)
        if args.export_dir:
            embeddings.export_embedder(embedder, args.export_dir)
    except (ValueError, OSError) as e:  # our errors are ValueErrors that say what is wrong
        parser.exit(2, f"error: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
