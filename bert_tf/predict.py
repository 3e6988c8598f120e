"""`python -m bert_tf.predict`: raw text in, JSON lines out, with a trained model.

    python -m bert_tf.predict --output_dir=output/sst2 --input_file=reviews.txt
    echo "a gripping film" | python -m bert_tf.predict --output_dir=output/sst2

--output_dir is the training run's (run_classifier.py, run_ner.py or run_squad.py); its
latest checkpoint, labels and settings are used. Or --export_dir: that SavedModel's `text`
signature answers (the same labels, words and answers; SQuAD without "probability"). The input (--input_file, else standard
input) is read by its extension, or by --file_format:

  txt    one text per line; a pair "A ||| B" (classifier pairs; SQuAD "question ||| context")
  tsv    a header line and tab-separated columns
  csv    a header line and comma-separated columns
  jsonl  one JSON object per line

Columns/fields are named as the SavedModel's `text` signature names its inputs: text_a and
text_b (classifier; text_b optional), text (NER), question and context (SQuAD);
--columns=text_a=sentence,text_b=hypothesis maps them to a file's own names. Empty lines
of a txt file are kept (an empty text gets a prediction too), so output line N answers
input line N.

Each output line (to --output_file, written atomically, else standard output) is the
predictor's answer (bert_tf.predictor): {"label", "probabilities"} or {"score"};
{"words", "entities"}; {"answer", "start", "end", "score", "probability"}.
"""

import argparse
import csv
import io
import json
import logging
import os
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence

from bert_tf.data.custom_task import jsonl_records
from bert_tf.errors import InputError

PAIR_SEPARATOR = " ||| "
FORMATS = ("txt", "tsv", "csv", "jsonl")
# The inputs of each runner's predictor (and `text` signature), required ones first.
INPUTS = {"run_classifier": ("text_a", "text_b"), "run_ner": ("text",),
          "run_squad": ("question", "context")}
REQUIRED = {"run_classifier": 1, "run_ner": 1, "run_squad": 2}
# Texts handed to the predictor at a time: progress is logged after each chunk.
CHUNK = 512


def parse_columns(value: Optional[str]) -> Dict[str, str]:
    """"text_a=sentence,text_b=hypothesis" -> {"text_a": "sentence", ...}."""
    if not value:
        return {}
    mapping = {}
    for item in value.split(","):
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise InputError(f"--columns: {item!r} is not input=column (e.g. text_a=sentence)")
        mapping[name.strip()] = column.strip()
    return mapping


def file_format(path: Optional[str], given: Optional[str]) -> str:
    if given:
        return given
    if path:
        extension = os.path.splitext(path)[1].lstrip(".").lower()
        if extension in FORMATS:
            return extension
    return "txt"


def read_inputs(lines: Sequence[str], fmt: str, inputs: Sequence[str], required: int,
                columns: Dict[str, str], source: str) -> List[List[Optional[str]]]:
    """One list of input texts (in `inputs` order, None where absent) per record."""
    unknown = set(columns) - set(inputs)
    if unknown:
        raise InputError(f"--columns: {', '.join(sorted(unknown))} is not an input of this "
                         f"model (its inputs: {', '.join(inputs)})")
    if fmt == "txt":
        records = []
        for number, line in enumerate(lines, 1):
            parts = line.rstrip("\r\n").split(PAIR_SEPARATOR) if len(inputs) > 1 else [
                line.rstrip("\r\n")]
            if len(parts) > len(inputs) or len(parts) < required:
                raise InputError(f"{source}:{number}: expected {' ||| '.join(inputs[:required])}"
                                 f"{' [||| ' + inputs[-1] + ']' if required < len(inputs) else ''}"
                                 f", got {len(parts)} part(s)")
            records.append(parts + [None] * (len(inputs) - len(parts)))
        return records
    names = [columns.get(name, name) for name in inputs]
    if fmt == "jsonl":
        rows = list(jsonl_records(enumerate(lines, 1), source))
    else:
        reader = csv.reader(io.StringIO("".join(lines)),
                            delimiter="\t" if fmt == "tsv" else ",")
        table = list(reader)
        if not table:
            return []
        header = table[0]
        rows = [(number, dict(zip(header, values)))
                for number, values in enumerate(table[1:], 2)]
        missing = [n for n in names[:required] if n not in header]
        if missing:
            raise InputError(f"{source}:1: no column {', '.join(missing)} in the header "
                             f"({', '.join(header)}); name it with --columns")
    records = []
    for number, row in rows:
        record = []
        for i, name in enumerate(names):
            value = row.get(name)
            if value is None and i < required:
                raise InputError(f"{source}:{number}: no {name!r} field")
            if value is not None and not isinstance(value, str):
                raise InputError(f"{source}:{number}: {name!r} is not a string")
            record.append(value)
        records.append(record)
    return records


def predict_records(predictor, records: List[List[Optional[str]]]) -> Iterator[dict]:
    """The predictor's answers, chunk by chunk, with progress in the log."""
    started = time.time()
    for first in range(0, len(records), CHUNK):
        chunk = records[first:first + CHUNK]
        columns = list(zip(*chunk))
        yield from predictor.predict_batch(*columns[:len(INPUTS[predictor.runner])])
        done = first + len(chunk)
        if len(records) > CHUNK:
            rate = done / max(time.time() - started, 1e-9)
            logging.info("predicted %d/%d texts, %.1f texts/s, ETA %.0f s", done,
                         len(records), rate, (len(records) - done) / rate)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_tf.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--output_dir",
                        help="A training run's output_dir (run_config.json + model.ckpt-N).")
    source.add_argument("--export_dir", help="A runner's --export_dir: its `text` signature "
                        "answers (no checkpoint needed).")
    parser.add_argument("--checkpoint", help="A checkpoint prefix to use instead of the "
                        "latest, e.g. output/sst2/model.ckpt-500.")
    parser.add_argument("--input_file", help="Texts to predict; standard input if absent.")
    parser.add_argument("--file_format", choices=FORMATS,
                        help="The input's layout (default: by extension, else txt).")
    parser.add_argument("--columns", help="input=column pairs, e.g. text_a=sentence.")
    parser.add_argument("--output_file", help="JSON lines; standard output if absent.")
    parser.add_argument("--batch_size", type=int, default=32, help="Texts run together.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s",
                        stream=sys.stderr)
    if args.batch_size < 1:
        parser.exit(2, "error: --batch_size must be at least 1\n")
    try:
        from bert_tf.predictor import ExportPredictor, load_predictor
        if args.export_dir:
            predictor = ExportPredictor(args.export_dir, batch_size=args.batch_size)
        else:
            predictor = load_predictor(args.output_dir, checkpoint=args.checkpoint,
                                       batch_size=args.batch_size)
        fmt = file_format(args.input_file, args.file_format)
        source = args.input_file or "<stdin>"
        if args.input_file:
            try:
                with open(args.input_file, encoding="utf-8", newline="") as f:
                    lines = f.readlines()
            except UnicodeDecodeError as e:
                raise InputError(f"{args.input_file}: not UTF-8 (byte {e.start})") from None
        else:
            lines = sys.stdin.readlines()
        runner = predictor.runner
        records = read_inputs(lines, fmt, INPUTS[runner], REQUIRED[runner],
                              parse_columns(args.columns), source)
        answers = predict_records(predictor, records)
        if args.output_file:
            from bert_tf.files import atomic_open
            with atomic_open(args.output_file) as out:
                for answer in answers:
                    out.write(json.dumps(answer, ensure_ascii=False) + "\n")
            logging.info("wrote %d predictions to %s", len(records), args.output_file)
        else:
            for answer in answers:
                sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    except (ValueError, OSError) as e:  # our errors are ValueErrors that say what is wrong
        parser.exit(2, f"error: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
