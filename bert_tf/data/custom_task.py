"""CustomTaskProcessor: your own sentence(-pair) classification or regression data.

Files are TSV (tab-separated, no quoting: a `"` is an ordinary character), CSV (RFC 4180: fields
with commas, quotes or newlines are quoted, `""` is a quote) or JSONL (one JSON object per
line). All are UTF-8, with an optional byte order mark at the start; blank lines are skipped.

Columns are named by header when the file has one (`has_header=True`), by 0-based index
otherwise; JSONL uses field names. Test files may lack the label column or field (labels None).

Labels come from `labels`, from `label_file` (one per line), or else from the training file:
its distinct labels, sorted. When every label reads as a number ("0", "2", "10", "-1", "0.5")
they sort by value (-1, 0, 0.5, 2, 10; ties by text), otherwise by text (Unicode code points).

`to_dict()` holds every constructor argument, with the labels resolved, so the runner can save
the task definition in output_dir and `from_dict` rebuilds it for `--do_predict` alone.

Example:
    >>> processor = CustomTaskProcessor(data_dir="my_task", text_a_column="sentence",
    ...                                 label_column="label")   # my_task/train.tsv, dev.tsv...
    >>> processor.get_labels()                                  # doctest: +SKIP
    ['negative', 'positive']
"""

import csv
import json
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from bert_tf.data.examples import InputExample
from bert_tf.data.glue import (DataProcessor, get_processor, iter_lines, parse_score,
                               read_tsv)
from bert_tf.errors import InputError

TASK_TYPES = ("classification", "regression")
FILE_FORMATS = ("tsv", "csv", "jsonl")
_EXTENSIONS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl"}

Column = Union[str, int]


def read_label_file(path: str) -> List[str]:
    """Reads one label per line (surrounding whitespace stripped, blank lines skipped).

    Raises:
        InputError: the file is missing, not UTF-8, empty, or repeats a label (naming the line).
    """
    labels, seen = [], {}
    for line_number, text in iter_lines(path, "the label file"):
        label = text.strip()
        if not label:
            continue
        if label in seen:
            raise InputError(f"{path}:{line_number}: label {label!r} repeats line "
                             f"{seen[label]}; each label must appear once.")
        seen[label] = line_number
        labels.append(label)
    if not labels:
        raise InputError(f"{path}: the label file holds no labels.")
    return labels


def sort_labels(labels) -> List[str]:
    """Distinct labels in order: by numeric value when all are numbers, else by text."""
    labels = set(labels)
    try:
        return sorted(labels, key=lambda label: (float(label), label))
    except ValueError:
        return sorted(labels)


def infer_file_format(path: str) -> str:
    """"tsv", "csv" or "jsonl" from the file's extension; InputError for any other."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in _EXTENSIONS:
        raise InputError(f"{path}: cannot tell the file format from the extension "
                         f"{extension!r}; give file_format, one of {list(FILE_FORMATS)}.")
    return _EXTENSIONS[extension]


def _read_csv(path: str, what: str) -> Iterator[Tuple[int, List[str]]]:
    """Yields (line where the record starts, fields) of an RFC 4180 CSV file; skips blank lines."""
    lines = iter_lines(path, what, keep_ends=True)
    reader = csv.reader((text for _, text in lines), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InputError(f"{path}:{start}: not valid CSV ({e}).") from None
        if any(field.strip() for field in fields):
            yield start, fields
        start = reader.line_num + 1


def _read_jsonl(path: str, what: str) -> Iterator[Tuple[int, dict]]:
    """Yields (line number, object) of a JSON Lines file; skips blank lines."""
    return jsonl_records(iter_lines(path, what), path)


def jsonl_records(numbered_lines: Iterable[Tuple[int, str]], path: str
                  ) -> Iterator[Tuple[int, dict]]:
    """Yields (line number, object) of (line number, text) pairs of JSON Lines read from
    `path` (named in errors); skips blank lines."""
    for line_number, text in numbered_lines:
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{line_number}: not valid JSON ({e}).") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{line_number}: expected a JSON object, found "
                             f"{type(record).__name__}.")
        yield line_number, record


class CustomTaskProcessor(DataProcessor):
    """A classification or regression task read from your own TSV, CSV or JSONL files.

    Args:
        text_a_column: the first text: a header name, a 0-based index (files without a
            header) or a JSONL field name.
        label_column: the label (or score), named the same way. Test files may lack it.
        text_b_column: the second text of sentence-pair tasks; None for single sentences.
        index_column: an id written with the predictions (`InputExample.index`); optional.
        data_dir: where `train.*`, `dev.*`, `test.*` are looked for (* = tsv, csv, jsonl),
            for the sets whose file is not given. `get_*_examples(data_dir)` may also name it.
        train_file, dev_file, test_file: explicit paths, which win over data_dir.
        file_format: "tsv", "csv" or "jsonl"; None infers it from each file's extension.
        has_header: whether TSV/CSV files start with a header line of column names.
        labels: the label list, in model output order. At most one of labels, label_file.
        label_file: a file with one label per line.
        task_type: "classification" or "regression" (one float output; no labels).

    Raises:
        InputError: an invalid combination of arguments (when constructed); a problem with a
            file, naming the file and line (when read).
    """

    task_name = "custom"

    def __init__(self, *, text_a_column: Column, label_column: Column,
                 text_b_column: Optional[Column] = None, index_column: Optional[Column] = None,
                 data_dir: Optional[str] = None, train_file: Optional[str] = None,
                 dev_file: Optional[str] = None, test_file: Optional[str] = None,
                 file_format: Optional[str] = None, has_header: bool = True,
                 labels: Optional[Sequence[str]] = None, label_file: Optional[str] = None,
                 task_type: str = "classification"):
        if task_type not in TASK_TYPES:
            raise InputError(f"task_type {task_type!r}: expected one of {list(TASK_TYPES)}.")
        if file_format is not None and file_format not in FILE_FORMATS:
            raise InputError(f"file_format {file_format!r}: expected one of "
                             f"{list(FILE_FORMATS)} (or None to infer it).")
        if labels is not None and label_file is not None:
            raise InputError("Give the labels or a label_file, not both.")
        if task_type == "regression" and (labels or label_file):
            raise InputError("A regression task has no labels; do not give labels or "
                             "label_file.")
        self.text_a_column = text_a_column
        self.text_b_column = text_b_column
        self.label_column = label_column
        self.index_column = index_column
        self.data_dir = data_dir
        self.files = {"train": train_file, "dev": dev_file, "test": test_file}
        self.file_format = file_format
        self.has_header = has_header
        self.task_type = task_type
        self.is_regression = task_type == "regression"
        self.label_file = label_file
        if labels is not None:
            labels = [str(label) for label in labels]
            if len(set(labels)) != len(labels) or not labels:
                raise InputError(f"labels {labels}: expected distinct labels, at least one.")
        elif label_file is not None:
            labels = read_label_file(label_file)
        elif self.is_regression:
            labels = []
        self._labels = labels  # None until inferred from the training file

    # -- the DataProcessor interface ----------------------------------------------------------

    def get_train_examples(self, data_dir: Optional[str] = None) -> List[InputExample]:
        return self._examples("train", data_dir)

    def get_dev_examples(self, data_dir: Optional[str] = None) -> List[InputExample]:
        return self._examples("dev", data_dir)

    def get_test_examples(self, data_dir: Optional[str] = None) -> List[InputExample]:
        return self._examples("test", data_dir)

    def get_labels(self) -> List[str]:
        """The label list; inferred from the training file (and kept) when none was given."""
        if self._labels is None:
            path = self.file_path("train")
            self._labels = sort_labels(
                example.label for example in self._read(path, "train", check_labels=False))
            if not self._labels:
                raise InputError(f"{path}: no labels to infer the label list from.")
        return list(self._labels)

    def submission_label(self, label) -> str:
        if self.is_regression:
            return repr(float(label))
        return super().submission_label(label)

    # -- saving the task definition -----------------------------------------------------------

    def to_dict(self) -> dict:
        """Every constructor argument, JSON-ready, with the label list resolved."""
        return {
            "task_name": self.task_name,
            "text_a_column": self.text_a_column, "text_b_column": self.text_b_column,
            "label_column": self.label_column, "index_column": self.index_column,
            "data_dir": self.data_dir, "train_file": self.files["train"],
            "dev_file": self.files["dev"], "test_file": self.files["test"],
            "file_format": self.file_format, "has_header": self.has_header,
            "labels": self.get_labels(), "label_file": None, "task_type": self.task_type,
        }

    @classmethod
    def from_dict(cls, config: dict, **overrides) -> "CustomTaskProcessor":
        """Rebuilds a processor from `to_dict()`; overrides replace entries (e.g. test_file)."""
        config = dict(config, **overrides)
        if config.pop("task_name", cls.task_name) != cls.task_name:
            raise InputError(f"Not a custom task definition: {config}.")
        if config.get("task_type") == "regression":
            config["labels"] = None
        try:
            return cls(**config)
        except TypeError as e:
            raise InputError(f"Not a valid custom task definition ({e}).") from None

    def describe(self) -> str:
        """One line for the log: type, labels, columns, files."""
        labels = "regression" if self.is_regression else f"labels {self.get_labels()}"
        columns = ", ".join(f"{name}={value!r}" for name, value in (
            ("text_a", self.text_a_column), ("text_b", self.text_b_column),
            ("label", self.label_column), ("index", self.index_column)) if value is not None)
        files = ", ".join(f"{split}={path}" for split, path in self.files.items() if path)
        where = files or f"data_dir={self.data_dir}"
        header = "with header" if self.has_header else "no header"
        return (f"custom {self.task_type} task ({labels}); columns {columns}; "
                f"format {self.file_format or 'from extension'} ({header}); {where}")

    # -- reading ------------------------------------------------------------------------------

    def file_path(self, split: str, data_dir: Optional[str] = None) -> str:
        """The file of one split: the one given, else `<data_dir>/<split>.{tsv,csv,jsonl}`."""
        if self.files[split] is not None:
            return self.files[split]
        data_dir = data_dir or self.data_dir
        if data_dir is None:
            raise InputError(f"No {split} file for the custom task: give {split}_file or "
                             f"data_dir.")
        formats = [self.file_format] if self.file_format else list(FILE_FORMATS)
        candidates = [os.path.join(data_dir, f"{split}.{fmt}") for fmt in formats]
        found = [path for path in candidates if os.path.isfile(path)]
        if not found:
            raise InputError(f"No {split} file for the custom task: looked for "
                             f"{', '.join(candidates)}.")
        if len(found) > 1:
            raise InputError(f"Several {split} files for the custom task ({', '.join(found)}); "
                             f"give file_format or {split}_file.")
        return found[0]

    def _examples(self, split: str, data_dir: Optional[str]) -> List[InputExample]:
        return self._read(self.file_path(split, data_dir), split, check_labels=True)

    def _read(self, path: str, split: str, check_labels: bool) -> List[InputExample]:
        file_format = self.file_format or infer_file_format(path)
        what = f"the custom task's {split} set"
        if file_format == "jsonl":
            records = self._jsonl_records(path, what, split)
        else:
            rows = read_tsv(path, what) if file_format == "tsv" else _read_csv(path, what)
            records = self._table_records(path, rows, split, file_format)
        known = None
        if check_labels and not self.is_regression:
            known = self.get_labels()
        examples = []
        for line_number, text_a, text_b, label, index in records:
            if label is not None:
                label = self._check_label(label, known, path, line_number)
            examples.append(InputExample(guid=f"{split}-{len(examples)}", text_a=text_a,
                                         text_b=text_b, label=label, index=index))
        return examples

    def _check_label(self, label: str, known: Optional[List[str]], path: str,
                     line_number: int):
        if self.is_regression:
            return parse_score(label, path, line_number,
                               f"a number for the regression target {self.label_column!r}")
        if known is not None and label not in known:
            raise InputError(f"{path}:{line_number}: label {label!r} is not in the label "
                             f"list; known labels: {known}.")
        return label

    def _table_records(self, path, rows, split, file_format):
        """(line, text_a, text_b, label, index) from TSV/CSV rows, columns checked."""
        kind = "tab-separated" if file_format == "tsv" else "comma-separated"
        columns = None
        num_columns = None
        for line_number, fields in rows:
            if columns is None:
                num_columns = len(fields)
                header = fields if self.has_header else None
                columns = self._resolve_columns(path, line_number, header, num_columns, split)
                if self.has_header:
                    continue
            if len(fields) != num_columns:
                source = "the header" if self.has_header else "the first row"
                raise InputError(f"{path}:{line_number}: expected {num_columns} {kind} columns "
                                 f"(as {source}), found {len(fields)}.")
            text_a, text_b, label, index = (
                fields[c] if c is not None else None for c in columns)
            label = self._label_or_none(label, split, path, line_number)
            yield line_number, text_a, text_b, label, index

    def _label_or_none(self, value, split, path, line_number):
        """The label text, stripped; None in a test file when absent or empty."""
        label = value.strip() if value is not None else ""
        if label:
            return label
        if split == "test":
            return None
        raise InputError(f"{path}:{line_number}: empty label in {self.label_column!r}; "
                         f"{split} examples need one.")

    def _resolve_columns(self, path, line_number, header, num_columns, split):
        """0-based positions of (text_a, text_b, label, index); label None if absent in test."""
        def position(column, role, optional_if_absent=False):
            if column is None:
                return None
            if header is not None and isinstance(column, str):
                if column in header:
                    return header.index(column)
                if optional_if_absent:
                    return None
                raise InputError(f"{path}:{line_number}: the header has no {role} column "
                                 f"{column!r}; its columns are {header}.")
            if isinstance(column, str) and column.isdigit():
                column = int(column)
            if not isinstance(column, int) or isinstance(column, bool):
                raise InputError(f"{path}: has no header (has_header=False), so the {role} "
                                 f"column must be a 0-based index, not {column!r}.")
            if 0 <= column < num_columns:
                return column
            if optional_if_absent:
                return None
            raise InputError(f"{path}:{line_number}: {role} column {column} is out of range; "
                             f"the rows have {num_columns} columns (0-based indices).")

        return (position(self.text_a_column, "text_a"),
                position(self.text_b_column, "text_b"),
                position(self.label_column, "label", optional_if_absent=split == "test"),
                position(self.index_column, "index"))

    def _jsonl_records(self, path, what, split):
        """(line, text_a, text_b, label, index) from JSONL objects, fields checked."""
        def text(record, field, line_number, role, required=True):
            value = record.get(field)
            if value is None and not required:
                return None
            if field not in record:
                raise InputError(f"{path}:{line_number}: no {role} field {field!r}; the "
                                 f"object has {sorted(record)}.")
            if not isinstance(value, str):
                raise InputError(f"{path}:{line_number}: field {field!r} must be a string, "
                                 f"found {json.dumps(value)}.")
            return value

        for line_number, record in _read_jsonl(path, what):
            text_a = text(record, self.text_a_column, line_number, "text_a")
            text_b = (text(record, self.text_b_column, line_number, "text_b")
                      if self.text_b_column is not None else None)
            index = record.get(self.index_column) if self.index_column is not None else None
            label = record.get(self.label_column)
            if self.label_column not in record and split != "test":
                raise InputError(f"{path}:{line_number}: no label field "
                                 f"{self.label_column!r}; the object has {sorted(record)}.")
            if isinstance(label, (dict, list)):
                raise InputError(f"{path}:{line_number}: label field {self.label_column!r} "
                                 f"must be a string or number, found {json.dumps(label)}.")
            if label is not None and not isinstance(label, str):
                label = json.dumps(label)  # 1 -> "1", true -> "true", as written
            label = self._label_or_none(label, split, path, line_number)
            index = str(index) if index is not None else None
            yield line_number, text_a, text_b, label, index


def processor_from_dict(config: Dict) -> DataProcessor:
    """Rebuilds any processor from its `to_dict()`: a GLUE/XNLI task or a custom task."""
    if config.get("task_name") == CustomTaskProcessor.task_name:
        return CustomTaskProcessor.from_dict(config)
    return get_processor(**config)
