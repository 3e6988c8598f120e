"""DataProcessors for the GLUE tasks and XNLI, as google-research/bert `run_classifier.py`.

Each processor reads the files exactly as the GLUE distribution lays them out (the
`download_glue_data.py` layout: one folder per task, `train.tsv`, `dev.tsv`, `test.tsv`; MNLI
with `dev_matched.tsv`, `dev_mismatched.tsv`, `test_matched.tsv`, `test_mismatched.tsv`; the
diagnostic set in `glue_data/diagnostic/diagnostic.tsv`) and takes its fields from the same
columns as the original's processors (MRPC, CoLA, MNLI, XNLI) and their usual GLUE siblings.

Reading rules (every file):
- Tab-separated with no quote processing, the original's `csv.reader(f, delimiter="\\t",
  quotechar=None)`: a `"` is an ordinary character (MRPC and SST-2 sentences contain stray ones).
- UTF-8; a byte order mark at the start of a file is dropped (MRPC's train.tsv and dev.tsv start
  with one, copied from `msr_paraphrase_train.txt`). Lines of only whitespace are skipped.
- Every row has as many columns as the header (CoLA train/dev have no header: 4 columns).
- Labels of train and dev files must be in `get_labels()`; STS-B scores must be numbers.
  Test files carry no labels: `label=None`, `index` = the file's id column.
- guid is "<set>-<n>", n the row's 0-based position in the file, header counted (so `n + 1`
  is its line number), as the original; MNLI, as the original, uses its `index` column instead.
Every problem with the data raises `InputError` naming the file and line.
"""

import dataclasses
import math
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from bert_tf.data.examples import InputExample
from bert_tf.errors import InputError
from bert_tf.outputs.glue import write_glue_submission


# ---------------------------------------------------------------------------------------------
# Reading text files


def open_data_file(path: str, what: str):
    """Opens `path` for binary reading; a missing file is an InputError saying what needs it."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file, expected for {what}.") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file for {what}.") from None


def iter_lines(path: str, what: str, keep_ends: bool = False) -> Iterator[Tuple[int, str]]:
    """Yields (1-based line number, text) for each line of a UTF-8 file.

    Lines end at "\\n" only, which is stripped with a preceding "\\r" unless `keep_ends`. A BOM
    at the start of the file is dropped. `what` says who reads the file, for error messages.

    Raises:
        InputError: the file is missing, or a line is not UTF-8 (naming the line).
    """
    with open_data_file(path, what) as f:
        for line_number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{path}:{line_number}: not UTF-8 text ({e}).") from None
            if line_number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if not keep_ends:
                text = text[:-1] if text.endswith("\n") else text
                text = text[:-1] if text.endswith("\r") else text
            yield line_number, text


def parse_score(text: str, path: str, line_number: int, what: str) -> float:
    """A regression target: a finite float, else an InputError naming the file and line."""
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        raise InputError(f"{path}:{line_number}: expected {what}, found {text!r}.")
    return score


def read_tsv(path: str, what: str) -> Iterator[Tuple[int, List[str]]]:
    """Yields (line number, fields) of a tab-separated file with no quoting; skips blank lines.

    Same rows as the original's `csv.reader(f, delimiter="\\t", quotechar=None)` (a record is
    one line), but with exact line numbers for errors.
    """
    for line_number, text in iter_lines(path, what):
        if text.strip():
            yield line_number, text.split("\t")


# ---------------------------------------------------------------------------------------------
# The interface every task shares


class DataProcessor:
    """Base class of the task readers, with the original's interface plus a few additions.

    Attributes:
        task_name: the registry key ("mrpc"), used in messages and saved task definitions.
        is_regression: True when the model predicts one float (STS-B); `get_labels()` is then
            empty.
    """

    task_name = "task"
    is_regression = False

    def get_train_examples(self, data_dir: str) -> List[InputExample]:
        """The training set, in file order."""
        raise NotImplementedError()

    def get_dev_examples(self, data_dir: str) -> List[InputExample]:
        """The (first) evaluation set, in file order."""
        raise NotImplementedError()

    def get_test_examples(self, data_dir: str) -> List[InputExample]:
        """The (first) prediction set, in file order; unlabeled examples have label None."""
        raise NotImplementedError()

    def get_labels(self) -> List[str]:
        """The label strings, in the order of the model's output columns."""
        raise NotImplementedError()

    def get_eval_sets(self, data_dir: str) -> Dict[str, List[InputExample]]:
        """Every evaluation set by name; {"dev": ...} unless the task has several."""
        return {"dev": self.get_dev_examples(data_dir)}

    def get_test_sets(self, data_dir: str) -> Dict[str, List[InputExample]]:
        """Every prediction set by name; {"test": ...} unless the task has several."""
        return {"test": self.get_test_examples(data_dir)}

    def submission_file_name(self, test_set_name: str) -> str:
        """File name for the predictions on one test set (GLUE: the leaderboard's name)."""
        return f"{test_set_name}_predictions.tsv"

    def submission_label(self, label) -> str:
        """One prediction as written in a submission file: the label string, or a score."""
        if self.is_regression:
            return f"{float(label):.3f}"
        if label not in self.get_labels():
            raise ValueError(f"{label!r} is not a {self.task_name} label {self.get_labels()}.")
        return str(label)

    def write_submission(self, path: str, examples: Sequence[InputExample],
                         predictions: Sequence) -> None:
        """Writes "index<TAB>prediction" rows, the GLUE leaderboard's format, one per example.

        Args:
            examples: the test set, as returned by `get_test_sets`; `index` is written (or the
                example's position when the file had no id column).
            predictions: one label string per example, or one float for regression tasks.
        """
        if len(examples) != len(predictions):
            raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions.")
        indexes = [e.index if e.index is not None else position
                   for position, e in enumerate(examples)]
        write_glue_submission(path, indexes, [self.submission_label(p) for p in predictions])

    def to_dict(self) -> dict:
        """What `get_processor(**d)` needs to rebuild this processor (saved in output_dir)."""
        return {"task_name": self.task_name}


# ---------------------------------------------------------------------------------------------
# GLUE


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where one kind of file keeps its fields: 0-based columns, negative from the end.

    num_columns: None for a file with a header line, whose rows must all have as many columns
    as the header; the fixed column count of a file without one (CoLA train/dev).
    """

    text_a: int
    text_b: Optional[int] = None
    label: Optional[int] = None
    index: Optional[int] = None
    num_columns: Optional[int] = None


class GlueProcessor(DataProcessor):
    """A GLUE task: `train.tsv`, `dev.tsv`, `test.tsv` in data_dir, read by their Layouts."""

    display_name = "GLUE"
    labels: Tuple[str, ...] = ()
    train_layout: Layout
    dev_layout: Layout
    test_layout: Layout
    submission_names: Dict[str, str] = {}
    guid_from_index = False

    def get_train_examples(self, data_dir):
        return self._read(data_dir, "train.tsv", "train", self.train_layout)

    def get_dev_examples(self, data_dir):
        return self._read(data_dir, "dev.tsv", "dev", self.dev_layout)

    def get_test_examples(self, data_dir):
        return self._read(data_dir, "test.tsv", "test", self.test_layout)

    def get_labels(self):
        return list(self.labels)

    def submission_file_name(self, test_set_name):
        if test_set_name not in self.submission_names:
            raise ValueError(f"{self.display_name} has no test set {test_set_name!r}; it has "
                             f"{sorted(self.submission_names)}.")
        return self.submission_names[test_set_name]

    def _read(self, data_dir: str, file_name: str, set_name: str,
              layout: Layout) -> List[InputExample]:
        path = os.path.join(data_dir, file_name)
        what = f"the {self.display_name} {set_name} set"
        return [example for _, _, example in self._read_rows(path, what, set_name, layout)]

    def _read_rows(self, path, what, set_name, layout):
        """Yields (line number, fields, InputExample) for each data row of one file."""
        num_columns = layout.num_columns
        needed = [c for c in (layout.text_a, layout.text_b, layout.label, layout.index)
                  if c is not None]
        for line_number, fields in read_tsv(path, what):
            if num_columns is None:  # the header
                num_columns = len(fields)
                if any(c >= num_columns or c < -num_columns for c in needed):
                    raise InputError(
                        f"{path}:{line_number}: expected the header of {what}, with at least "
                        f"{max(max(needed) + 1, -min(needed))} tab-separated columns; found "
                        f"{num_columns}: {fields}.")
                continue
            if len(fields) != num_columns:
                raise InputError(
                    f"{path}:{line_number}: expected {num_columns} tab-separated columns "
                    f"({what}), found {len(fields)}.")
            label = None
            if layout.label is not None:
                label = self._check_label(fields[layout.label], path, line_number)
            index = fields[layout.index] if layout.index is not None else None
            n = index if self.guid_from_index else line_number - 1
            example = InputExample(
                guid=f"{set_name}-{n}", text_a=fields[layout.text_a],
                text_b=fields[layout.text_b] if layout.text_b is not None else None,
                label=label, index=index)
            yield line_number, fields, example

    def _check_label(self, label: str, path: str, line_number: int):
        if label not in self.labels:
            raise InputError(f"{path}:{line_number}: label {label!r} is not a "
                             f"{self.display_name} label; expected one of {list(self.labels)}.")
        return label


_BINARY = ("0", "1")
_NLI = ("contradiction", "entailment", "neutral")  # the original's order for MNLI and XNLI
_ENTAILMENT = ("entailment", "not_entailment")
# RTE, QNLI, WNLI and the diagnostic set: index, sentence1 (question), sentence2 (sentence),
# label in train and dev.
_PAIR_WITH_INDEX = Layout(index=0, text_a=1, text_b=2, label=3)
_PAIR_WITH_INDEX_TEST = Layout(index=0, text_a=1, text_b=2)


class ColaProcessor(GlueProcessor):
    """CoLA: train/dev have NO header (source, label, original mark, sentence); test has one
    (index, sentence). The original: "Only the test set has a header"."""

    task_name, display_name, labels = "cola", "CoLA", _BINARY
    train_layout = dev_layout = Layout(num_columns=4, text_a=3, label=1)
    test_layout = Layout(index=0, text_a=1)
    submission_names = {"test": "CoLA.tsv"}


class Sst2Processor(GlueProcessor):
    """SST-2: train/dev `sentence label`; test `index sentence`."""

    task_name, display_name, labels = "sst-2", "SST-2", _BINARY
    train_layout = dev_layout = Layout(text_a=0, label=1)
    test_layout = Layout(index=0, text_a=1)
    submission_names = {"test": "SST-2.tsv"}


class MrpcProcessor(GlueProcessor):
    """MRPC: train/dev `Quality #1 ID #2 ID #1 String #2 String` (label first); test
    `index #1 ID #2 ID #1 String #2 String`, as download_glue_data.py writes them."""

    task_name, display_name, labels = "mrpc", "MRPC", _BINARY
    train_layout = dev_layout = Layout(label=0, text_a=3, text_b=4)
    test_layout = Layout(index=0, text_a=3, text_b=4)
    submission_names = {"test": "MRPC.tsv"}


class StsbProcessor(GlueProcessor):
    """STS-B: `index genre filename year old_index source1 source2 sentence1 sentence2 score`;
    test without `score`. A regression task: the label is the float score (0 to 5)."""

    task_name, display_name, labels = "sts-b", "STS-B", ()
    is_regression = True
    train_layout = dev_layout = Layout(index=0, text_a=7, text_b=8, label=-1)
    test_layout = Layout(index=0, text_a=7, text_b=8)
    submission_names = {"test": "STS-B.tsv"}

    def _check_label(self, label, path, line_number):
        return parse_score(label, path, line_number, "a similarity score (a number) in the "
                                                     "last column")


class QqpProcessor(GlueProcessor):
    """QQP: `id qid1 qid2 question1 question2 is_duplicate`; test `id question1 question2`."""

    task_name, display_name, labels = "qqp", "QQP", _BINARY
    train_layout = dev_layout = Layout(index=0, text_a=3, text_b=4, label=5)
    test_layout = Layout(index=0, text_a=1, text_b=2)
    submission_names = {"test": "QQP.tsv"}


class QnliProcessor(GlueProcessor):
    """QNLI: `index question sentence label`; test without `label`."""

    task_name, display_name, labels = "qnli", "QNLI", _ENTAILMENT
    train_layout = dev_layout = _PAIR_WITH_INDEX
    test_layout = _PAIR_WITH_INDEX_TEST
    submission_names = {"test": "QNLI.tsv"}


class RteProcessor(GlueProcessor):
    """RTE: `index sentence1 sentence2 label`; test without `label`."""

    task_name, display_name, labels = "rte", "RTE", _ENTAILMENT
    train_layout = dev_layout = _PAIR_WITH_INDEX
    test_layout = _PAIR_WITH_INDEX_TEST
    submission_names = {"test": "RTE.tsv"}


class WnliProcessor(GlueProcessor):
    """WNLI: `index sentence1 sentence2 label` with labels 0/1; test without `label`."""

    task_name, display_name, labels = "wnli", "WNLI", _BINARY
    train_layout = dev_layout = _PAIR_WITH_INDEX
    test_layout = _PAIR_WITH_INDEX_TEST
    submission_names = {"test": "WNLI.tsv"}


class MnliProcessor(GlueProcessor):
    """MultiNLI: sentence1/sentence2 in columns 8/9 and the gold label last, as the original.

    train.tsv has 12 columns, dev_*.tsv 16 (five annotator labels), test_*.tsv 10. Two
    evaluation sets (matched, mismatched) and two or three test sets: the GLUE diagnostic set
    (AX) is predicted with the MNLI model, when `diagnostic.tsv` or `AX.tsv` is found in
    data_dir, `data_dir/../diagnostic/` or `data_dir/../AX/`.
    """

    task_name, display_name, labels = "mnli", "MNLI", _NLI
    guid_from_index = True  # the original's "dev_matched-<index>"
    train_layout = dev_layout = Layout(index=0, text_a=8, text_b=9, label=-1)
    test_layout = Layout(index=0, text_a=8, text_b=9)
    diagnostic_layout = _PAIR_WITH_INDEX_TEST  # index sentence1 sentence2
    submission_names = {"test_matched": "MNLI-m.tsv", "test_mismatched": "MNLI-mm.tsv",
                        "ax": "AX.tsv"}

    def get_dev_examples(self, data_dir):
        """The matched evaluation set, as the original."""
        return self._read(data_dir, "dev_matched.tsv", "dev_matched", self.dev_layout)

    def get_test_examples(self, data_dir):
        """The matched test set, as the original (which named its guids "test-<index>")."""
        return self._read(data_dir, "test_matched.tsv", "test_matched", self.test_layout)

    def get_eval_sets(self, data_dir):
        return {name: self._read(data_dir, f"{name}.tsv", name, self.dev_layout)
                for name in ("dev_matched", "dev_mismatched")}

    def get_test_sets(self, data_dir):
        sets = {name: self._read(data_dir, f"{name}.tsv", name, self.test_layout)
                for name in ("test_matched", "test_mismatched")}
        diagnostic = find_diagnostic_file(data_dir)
        if diagnostic is not None:
            sets["ax"] = [example for _, _, example in self._read_rows(
                diagnostic, "the GLUE diagnostic set (AX)", "ax", self.diagnostic_layout)]
        return sets


def find_diagnostic_file(data_dir: str) -> Optional[str]:
    """The GLUE diagnostic file (`index sentence1 sentence2`) near an MNLI data_dir, or None."""
    parent = os.path.dirname(os.path.abspath(data_dir))
    for folder in (data_dir, os.path.join(parent, "diagnostic"), os.path.join(parent, "AX")):
        for name in ("diagnostic.tsv", "AX.tsv"):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


class XnliProcessor(GlueProcessor):
    """XNLI as the original: train `multinli/multinli.train.<language>.tsv` (premise, hypo,
    label; machine-translated MultiNLI), dev `xnli.dev.tsv` (and test `xnli.test.tsv`, which
    the original did not read) keeping the rows of `language`: column 0 the language, 1 the
    gold label, 6/7 the sentences. "contradictory" (the MT files' spelling) reads as
    "contradiction". XNLI test labels are public, so test examples keep theirs.
    """

    task_name, display_name, labels = "xnli", "XNLI", _NLI
    train_layout = Layout(text_a=0, text_b=1, label=2)
    dev_layout = test_layout = Layout(text_a=6, text_b=7, label=1)

    def __init__(self, language: str = "zh"):
        self.language = language

    def get_train_examples(self, data_dir):
        file_name = os.path.join("multinli", f"multinli.train.{self.language}.tsv")
        return self._read(data_dir, file_name, "train", self.train_layout)

    def get_dev_examples(self, data_dir):
        return self._read_language(data_dir, "xnli.dev.tsv", "dev")

    def get_test_examples(self, data_dir):
        return self._read_language(data_dir, "xnli.test.tsv", "test")

    def submission_file_name(self, test_set_name):
        return DataProcessor.submission_file_name(self, test_set_name)

    def to_dict(self):
        return {"task_name": self.task_name, "language": self.language}

    def _check_label(self, label, path, line_number):
        return super()._check_label("contradiction" if label == "contradictory" else label,
                                    path, line_number)

    def _read_language(self, data_dir, file_name, set_name):
        path = os.path.join(data_dir, file_name)
        examples, languages = [], set()
        for _, fields, example in self._read_rows(path, f"the XNLI {set_name} set", set_name,
                                                  self.dev_layout):
            languages.add(fields[0])
            if fields[0] == self.language:
                examples.append(example)
        if not examples:
            raise InputError(f"{path}: no rows for language {self.language!r}; the file has "
                             f"{sorted(languages)}.")
        return examples


PROCESSORS = {
    "cola": ColaProcessor,
    "sst-2": Sst2Processor,
    "sst2": Sst2Processor,
    "mrpc": MrpcProcessor,
    "sts-b": StsbProcessor,
    "stsb": StsbProcessor,
    "qqp": QqpProcessor,
    "mnli": MnliProcessor,
    "qnli": QnliProcessor,
    "rte": RteProcessor,
    "wnli": WnliProcessor,
    "xnli": XnliProcessor,
}


def get_processor(task_name: str, **kwargs) -> DataProcessor:
    """The processor for a task name, case-insensitive as the original (`task_name.lower()`).

    kwargs go to the constructor: `get_processor("xnli", language="de")`.

    Raises:
        InputError: an unknown task name, listing the known ones.
    """
    key = task_name.lower()
    if key not in PROCESSORS:
        raise InputError(f"Task not found: {task_name!r}; known tasks: {sorted(PROCESSORS)}.")
    return PROCESSORS[key](**kwargs)
