"""CustomTaskProcessor on hand-made TSV, CSV and JSONL fixtures (tests/data/custom_task).

Expected examples are written out by hand from the fixture files.
"""

import json
import os
import re

import pytest

from bert_tf.data import custom_task, glue
from bert_tf.data.custom_task import CustomTaskProcessor
from bert_tf.errors import InputError

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "custom_task")


def _dir(name):
    return os.path.join(DATA, name)


def _tuples(examples):
    return [(e.guid, e.text_a, e.text_b, e.label, e.index) for e in examples]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _raises(path, line, pattern):
    """pytest.raises for an InputError whose message starts with "<path>:<line>: " + pattern."""
    return pytest.raises(InputError, match=rf"^{re.escape(path)}:{line}: {pattern}")


# -- formats ---------------------------------------------------------------------------------


def test_tsv_with_header_labels_inferred_sorted():
    p = CustomTaskProcessor(data_dir=_dir("tsv"), text_a_column="sentence",
                            label_column="label", index_column="id")
    assert p.get_labels() == ["negative", "neutral", "positive"]
    assert _tuples(p.get_train_examples()) == [
        ("train-0", "The soup was lovely.", None, "positive", "7"),
        ("train-1", 'A "cold" welcome at the door.', None, "negative", "8"),
        ("train-2", "Service was fine, nothing more.", None, "neutral", "9"),
    ]
    assert _tuples(p.get_eval_sets(None)["dev"]) == [
        ("dev-0", "Great bread, rude staff.", None, "neutral", "21"),
        ("dev-1", "I would come back tomorrow.", None, "positive", "22"),
    ]
    # The test file has no label column.
    assert _tuples(p.get_test_sets(None)["test"]) == [
        ("test-0", "The dessert menu was short.", None, None, "31"),
        ("test-1", "Everything arrived cold.", None, None, "32"),
    ]


def test_tsv_without_header_numeric_labels_sort_by_value():
    p = CustomTaskProcessor(train_file=os.path.join(_dir("tsv_no_header"), "train.tsv"),
                            test_file=os.path.join(_dir("tsv_no_header"), "test.tsv"),
                            has_header=False, text_a_column=1, text_b_column="2",
                            label_column=0)
    assert p.get_labels() == ["-1", "2", "10"]  # by value, not "-1" < "10" < "2"
    assert _tuples(p.get_train_examples()) == [
        ("train-0", "The plant grew fast.", "It got taller.", "10", None),
        ("train-1", "The plant died.", "It is thriving.", "2", None),
        ("train-2", "The plant was watered.", "It is a cactus.", "-1", None),
        ("train-3", "The vase fell.", "The vase broke.", "2", None),
    ]
    # A headerless test file may lack the label column when it is the last one.
    p_test = CustomTaskProcessor(test_file=os.path.join(_dir("tsv_no_header"), "test.tsv"),
                                 has_header=False, text_a_column=0, text_b_column=1,
                                 label_column=2, labels=["-1", "2", "10"])
    assert _tuples(p_test.get_test_examples()) == [
        ("test-0", "The lamp flickered.", "The bulb is loose.", None, None)]


def test_sort_labels_rule():
    assert custom_task.sort_labels(["b", "a", "B"]) == ["B", "a", "b"]
    assert custom_task.sort_labels(["10", "9", "0.5", "-3"]) == ["-3", "0.5", "9", "10"]
    assert custom_task.sort_labels(["10", "9", "x"]) == ["10", "9", "x"]  # mixed: by text


def test_csv_quoted_commas_quotes_and_newlines():
    p = CustomTaskProcessor(data_dir=_dir("csv"), text_a_column="question",
                            text_b_column="answer", label_column="label")
    assert p.get_labels() == ["no", "yes"]
    assert _tuples(p.get_train_examples()) == [
        ("train-0", "Is it open, today?", "Yes, until 9.", "yes", None),
        ("train-1", "What did she say?", 'She said "maybe"\r\nand left.', "no", None),
    ]
    assert _tuples(p.get_dev_examples()) == [
        ("dev-0", "Can I park here?", "Only on Sundays, sadly.", "no", None)]
    assert _tuples(p.get_test_examples()) == [
        ("test-0", "Is the pool heated?", "It is, in winter.", None, None)]


def test_jsonl_with_label_file():
    folder = _dir("jsonl")
    assert custom_task.read_label_file(os.path.join(folder, "labels.txt")) == ["late", "on_time"]
    p = CustomTaskProcessor(data_dir=folder, text_a_column="text", label_column="label",
                            index_column="uid", label_file=os.path.join(folder, "labels.txt"))
    assert p.get_labels() == ["late", "on_time"]  # the file's order, not sorted
    assert _tuples(p.get_train_examples()) == [
        ("train-0", "The train left on time.", None, "on_time", "1"),
        ("train-1", "We waited an hour.", None, "late", "2"),
    ]
    assert _tuples(p.get_dev_examples()) == [("dev-0", "Delayed by snow.", None, "late", "3")]
    assert _tuples(p.get_test_examples()) == [("test-0", "The bus came early.", None, None, "4")]


def test_jsonl_numbers_as_labels(tmp_path):
    _write(tmp_path, "train.jsonl", '{"t": "a", "y": 1}\n{"t": "b", "y": 0}\n')
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="t", label_column="y")
    assert p.get_labels() == ["0", "1"]
    assert [e.label for e in p.get_train_examples()] == ["1", "0"]


def test_regression_scores_are_floats():
    p = CustomTaskProcessor(data_dir=_dir("regression"), text_a_column="sentence1",
                            text_b_column="sentence2", label_column="score",
                            task_type="regression")
    assert p.is_regression and p.get_labels() == []
    assert _tuples(p.get_train_examples()) == [
        ("train-0", "A boy kicks a ball.", "A child plays football.", 3.6, None),
        ("train-1", "Rain fell.", "The oven is hot.", 0.2, None),
    ]


# -- saving and rebuilding the task ----------------------------------------------------------


def test_to_dict_json_round_trip_needs_no_training_file(tmp_path):
    p = CustomTaskProcessor(data_dir=_dir("tsv"), text_a_column="sentence",
                            label_column="label", index_column="id")
    saved = json.loads(json.dumps(p.to_dict()))
    assert saved["labels"] == ["negative", "neutral", "positive"]
    assert saved["task_name"] == "custom"
    # Predict later with only the test file: the labels come from the saved definition.
    rebuilt = custom_task.processor_from_dict(dict(saved, data_dir=None))
    assert rebuilt.get_labels() == ["negative", "neutral", "positive"]
    test_file = os.path.join(_dir("tsv"), "test.tsv")
    rebuilt = CustomTaskProcessor.from_dict(saved, data_dir=str(tmp_path), test_file=test_file)
    assert [e.index for e in rebuilt.get_test_examples()] == ["31", "32"]
    assert "negative" in rebuilt.describe() and "sentence" in rebuilt.describe()

    regression = CustomTaskProcessor(data_dir=_dir("regression"), text_a_column="sentence1",
                                     label_column="score", task_type="regression")
    again = CustomTaskProcessor.from_dict(json.loads(json.dumps(regression.to_dict())))
    assert again.is_regression and again.get_labels() == []


def test_processor_from_dict_rebuilds_glue_tasks():
    p = custom_task.processor_from_dict(glue.get_processor("xnli", language="de").to_dict())
    assert isinstance(p, glue.XnliProcessor) and p.language == "de"
    assert isinstance(custom_task.processor_from_dict({"task_name": "mrpc"}),
                      glue.MrpcProcessor)


# -- errors ----------------------------------------------------------------------------------


def test_wrong_column_count(tmp_path):
    path = _write(tmp_path, "train.tsv", "sentence\tlabel\nGood.\tpos\nBad.\tneg\textra\n")
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="sentence",
                            label_column="label")
    with _raises(path, 3, r"expected 2 tab-separated columns \(as the header\), found 3"):
        p.get_train_examples()


def test_csv_error_names_the_line_where_the_record_starts(tmp_path):
    path = _write(tmp_path, "train.csv", 'a,label\n"x\ny",p\nz,p,extra\n')
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="a", label_column="label")
    with _raises(path, 4, r"expected 2 comma-separated columns"):
        p.get_train_examples()


def test_unknown_label_in_dev_lists_known_labels(tmp_path):
    _write(tmp_path, "train.tsv", "s\tl\nA.\tyes\nB.\tno\n")
    path = _write(tmp_path, "dev.tsv", "s\tl\nC.\tno\nD.\tmaybe\n")
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="s", label_column="l")
    with _raises(path, 3, r"label 'maybe' is not in the label list; known labels: "
                          r"\['no', 'yes'\]"):
        p.get_dev_examples()


def test_unknown_label_in_test_and_in_train_with_given_labels(tmp_path):
    path = _write(tmp_path, "test.jsonl", '{"t": "a", "y": "yes"}\n{"t": "b", "y": "perhaps"}\n')
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="t", label_column="y",
                            labels=["no", "yes"])
    with _raises(path, 2, r"label 'perhaps' is not in the label list"):
        p.get_test_examples()
    path = _write(tmp_path, "train.jsonl", '{"t": "a", "y": "nah"}\n')
    with _raises(path, 1, r"label 'nah' is not in the label list"):
        p.get_train_examples()


def test_bad_float_in_regression(tmp_path):
    path = _write(tmp_path, "dev.csv", "a,score\nfine,1.5\nbad,high\n")
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="a", label_column="score",
                            task_type="regression")
    with _raises(path, 3, r"expected a number for the regression target 'score', "
                          r"found 'high'"):
        p.get_dev_examples()


def test_missing_column_lists_header_columns(tmp_path):
    path = _write(tmp_path, "train.tsv", "text\ttarget\nA.\tx\n")
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="sentence",
                            label_column="target")
    with _raises(path, 1, r"the header has no text_a column 'sentence'; its columns are "
                          r"\['text', 'target'\]"):
        p.get_train_examples()
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="text", label_column="label")
    with _raises(path, 1, r"the header has no label column 'label'"):
        p.get_train_examples()


def test_missing_jsonl_field_and_empty_train_label(tmp_path):
    path = _write(tmp_path, "train.jsonl", '{"text": "a", "label": "x"}\n{"txt": "b"}\n')
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="text", label_column="label")
    with _raises(path, 2, r"no text_a field 'text'; the object has \['txt'\]"):
        p.get_train_examples()
    path = _write(tmp_path, "train.tsv", "text\tlabel\nA.\t\n")
    p = CustomTaskProcessor(train_file=path, text_a_column="text", label_column="label")
    with _raises(path, 2, r"empty label in 'label'"):
        p.get_train_examples()


def test_missing_file_and_ambiguous_default_names(tmp_path):
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="a", label_column="b",
                            labels=["x"])
    with pytest.raises(InputError, match=r"No dev file.*dev\.tsv.*dev\.csv.*dev\.jsonl"):
        p.get_dev_examples()
    missing = str(tmp_path / "nope.tsv")
    p = CustomTaskProcessor(train_file=missing, text_a_column="a", label_column="b")
    with pytest.raises(InputError, match=rf"^{re.escape(missing)}: no such file, expected for "
                                         r"the custom task's train set\."):
        p.get_labels()
    _write(tmp_path, "dev.tsv", "a\tb\n")
    _write(tmp_path, "dev.csv", "a,b\n")
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="a", label_column="b",
                            labels=["x"])
    with pytest.raises(InputError, match=r"Several dev files"):
        p.get_dev_examples()
    p = CustomTaskProcessor(data_dir=str(tmp_path), text_a_column="a", label_column="b",
                            labels=["x"], file_format="csv")
    assert p.get_dev_examples() == []


def test_invalid_arguments():
    with pytest.raises(InputError, match="task_type"):
        CustomTaskProcessor(text_a_column="a", label_column="b", task_type="ranking")
    with pytest.raises(InputError, match="not both"):
        CustomTaskProcessor(text_a_column="a", label_column="b", labels=["x"],
                            label_file="labels.txt")
    with pytest.raises(InputError, match="regression task has no labels"):
        CustomTaskProcessor(text_a_column="a", label_column="b", labels=["x"],
                            task_type="regression")
    with pytest.raises(InputError, match="file format"):
        CustomTaskProcessor(train_file="data.txt", text_a_column="a",
                            label_column="b").get_labels()


def test_label_file_repeats_a_label(tmp_path):
    path = _write(tmp_path, "labels.txt", "a\nb\n\na\n")
    with _raises(path, 4, r"label 'a' repeats line 1"):
        custom_task.read_label_file(path)


def test_headerless_file_needs_column_indices(tmp_path):
    path = _write(tmp_path, "train.tsv", "A.\tx\n")
    p = CustomTaskProcessor(train_file=path, has_header=False, text_a_column="text",
                            label_column=1)
    with pytest.raises(InputError, match="must be a 0-based index, not 'text'"):
        p.get_train_examples()
    p = CustomTaskProcessor(train_file=path, has_header=False, text_a_column=0, label_column=5)
    with _raises(path, 1, r"label column 5 is out of range; the rows have 2 columns"):
        p.get_train_examples()
