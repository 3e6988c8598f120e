"""GLUE and XNLI processors on hand-made fixtures in the real layouts (tests/data/glue).

Expected examples are written out by hand from the fixture files, not produced by the code.
"""

import csv
import os
import re
import shutil

import pytest

from bert_tf.data import glue
from bert_tf.data.examples import InputExample
from bert_tf.errors import InputError

GLUE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "glue")


def _dir(task):
    return os.path.join(GLUE_DIR, task)


def _tuples(examples):
    return [(e.guid, e.text_a, e.text_b, e.label, e.index) for e in examples]


# -- each task, every split ------------------------------------------------------------------


def test_cola_train_and_dev_have_no_header_test_has_one():
    p = glue.get_processor("CoLA")
    assert p.get_labels() == ["0", "1"] and not p.is_regression
    assert _tuples(p.get_train_examples(_dir("CoLA"))) == [
        ("train-0", "The heron waded into the shallow creek.", None, "1", None),
        ("train-1", "Creek the into waded heron.", None, "0", None),
        # A stray quote opens the field: kept verbatim, the row still ends at the line end.
        ("train-2", '"Open the window, the gardener muttered.', None, "1", None),
    ]
    assert _tuples(p.get_dev_examples(_dir("CoLA"))) == [
        ("dev-0", "Lanterns glowed the quietly.", None, "0", None),
        ("dev-1", "Nobody expected the ferry to arrive early.", None, "1", None),
    ]
    assert _tuples(p.get_test_examples(_dir("CoLA"))) == [
        ("test-1", "The kettle whistled on the stove.", None, None, "0"),
        ("test-2", "Whistled kettle the stove on.", None, None, "1"),
    ]
    assert p.submission_file_name("test") == "CoLA.tsv"


def test_sst2():
    p = glue.get_processor("sst-2")
    assert glue.PROCESSORS["sst2"] is glue.PROCESSORS["sst-2"]
    assert _tuples(p.get_train_examples(_dir("SST-2"))) == [
        ("train-1", "a warm , clever little film ", None, "1", None),
        ("train-2", 'the plot limps along like a " tired mule ', None, "0", None),
    ]
    assert _tuples(p.get_dev_examples(_dir("SST-2"))) == [
        ("dev-1", "sparkling dialogue and a generous heart ", None, "1", None)]
    assert _tuples(p.get_test_examples(_dir("SST-2"))) == [
        ("test-1", "an utterly forgettable sequel", None, None, "0"),
        ("test-2", "bright , brisk and funny", None, None, "1"),
    ]
    assert p.submission_file_name("test") == "SST-2.tsv"


def test_mrpc_bom_header_and_test_file():
    p = glue.get_processor("mrpc")
    with open(os.path.join(_dir("MRPC"), "train.tsv"), "rb") as f:
        assert f.read(3) == b"\xef\xbb\xbf"  # the fixture really starts with a BOM
    assert _tuples(p.get_train_examples(_dir("MRPC"))) == [
        ("train-1", 'The council approved the "green roofs" plan on Monday.',
         "On Monday the council backed the green roofs plan.", "1", None),
        ("train-2", "Shares of the bakery chain fell 4 percent.",
         "The bakery chain opened two new stores.", "0", None),
    ]
    assert _tuples(p.get_dev_examples(_dir("MRPC"))) == [
        ("dev-1", "The storm closed the mountain pass.",
         "The mountain pass was shut by the storm.", "1", None)]
    assert _tuples(p.get_test_examples(_dir("MRPC"))) == [
        ("test-1", "The museum reopened after repairs.",
         "After repairs, the museum opened again.", None, "0"),
        ("test-2", "He sold his bicycle in May.", "The harbor froze in January.", None, "1"),
    ]
    assert p.get_eval_sets(_dir("MRPC")).keys() == {"dev"}
    assert p.get_test_sets(_dir("MRPC")).keys() == {"test"}
    assert p.submission_file_name("test") == "MRPC.tsv"


def test_stsb_is_regression_with_float_scores():
    p = glue.get_processor("STS-B")
    assert glue.PROCESSORS["stsb"] is glue.PROCESSORS["sts-b"]
    assert p.is_regression and p.get_labels() == []
    assert _tuples(p.get_train_examples(_dir("STS-B"))) == [
        ("train-1", "A dog is running on the beach.", "A dog runs along the sand.", 4.25, "0"),
        ("train-2", "Parliament passes budget.", "Cyclist wins mountain stage.", 0.0, "1"),
    ]
    assert _tuples(p.get_dev_examples(_dir("STS-B"))) == [
        ("dev-1", "You should water it weekly.", "Watering once a week is enough.", 3.8, "0")]
    assert _tuples(p.get_test_examples(_dir("STS-B"))) == [
        ("test-1", "A cat sleeps on a sofa.", "A kitten naps on the couch.", None, "0")]
    assert p.submission_file_name("test") == "STS-B.tsv"
    assert p.submission_label(3.14159) == "3.142"


def test_qqp():
    p = glue.get_processor("qqp")
    assert _tuples(p.get_train_examples(_dir("QQP"))) == [
        ("train-1", "How do I keep basil alive indoors?",
         "What is the best way to grow basil inside?", "1", "10"),
        ("train-2", "Why is the sky blue?", 'What does "azure" mean?', "0", "11"),
    ]
    assert _tuples(p.get_dev_examples(_dir("QQP"))) == [
        ("dev-1", "Is tea healthier than coffee?", "Is coffee worse for you than tea?", "1",
         "20")]
    assert _tuples(p.get_test_examples(_dir("QQP"))) == [
        ("test-1", "How long do tortoises live?", "What is the lifespan of a tortoise?", None,
         "0")]
    assert p.submission_file_name("test") == "QQP.tsv"


@pytest.mark.parametrize("task, labels, train_labels, name", [
    ("qnli", ["entailment", "not_entailment"], ["entailment", "not_entailment"], "QNLI.tsv"),
    ("rte", ["entailment", "not_entailment"], ["entailment", "not_entailment"], "RTE.tsv"),
    ("wnli", ["0", "1"], ["1", "0"], "WNLI.tsv"),
])
def test_index_sentence1_sentence2_label_tasks(task, labels, train_labels, name):
    p = glue.get_processor(task)
    folder = _dir(task.upper())
    assert p.get_labels() == labels
    train = p.get_train_examples(folder)
    assert [(e.guid, e.index, e.label) for e in train] == [
        ("train-1", "0", train_labels[0]), ("train-2", "1", train_labels[1])]
    test = p.get_test_examples(folder)
    assert [(e.guid, e.index, e.label) for e in test] == [("test-1", "0", None)]
    assert p.submission_file_name("test") == name


def test_qnli_texts():
    p = glue.get_processor("qnli")
    assert _tuples(p.get_dev_examples(_dir("QNLI"))) == [
        ("dev-1", "What is the capital of the province?", "Its capital is a river port.",
         "entailment", "0")]
    assert _tuples(p.get_test_examples(_dir("QNLI"))) == [
        ("test-1", "How tall is the tower?", "The tower rises 90 metres above the square.",
         None, "0")]


def test_mnli_matched_mismatched_and_diagnostic():
    p = glue.get_processor("MNLI")
    assert p.get_labels() == ["contradiction", "entailment", "neutral"]
    assert _tuples(p.get_train_examples(_dir("MNLI"))) == [
        ("train-0", "The lighthouse keeper slept until noon.", "The keeper was awake at dawn.",
         "contradiction", "0"),
        ("train-1", 'The old bridge is called "the Spine" by locals.',
         "Locals have a nickname for the bridge.", "entailment", "1"),
        ("train-2", "Rents rose sharply last year.", "Rents rose because of a new stadium.",
         "neutral", "2"),
    ]
    evals = p.get_eval_sets(_dir("MNLI"))
    assert list(evals) == ["dev_matched", "dev_mismatched"]
    assert _tuples(evals["dev_matched"]) == [
        ("dev_matched-7", "The form must be signed twice.", "One signature is enough.",
         "contradiction", "7")]
    assert _tuples(evals["dev_mismatched"]) == [
        ("dev_mismatched-8", "We thank you for your gift to the library.",
         "Someone gave the library a gift.", "entailment", "8")]
    assert p.get_dev_examples(_dir("MNLI")) == evals["dev_matched"]

    tests = p.get_test_sets(_dir("MNLI"))
    assert list(tests) == ["test_matched", "test_mismatched", "ax"]
    assert _tuples(tests["test_matched"]) == [
        ("test_matched-0", "She locked the shed and walked home.", "The shed was left open.",
         None, "0")]
    assert [(e.guid, e.index) for e in tests["test_mismatched"]] == [
        ("test_mismatched-0", "0"), ("test_mismatched-1", "1")]
    assert _tuples(tests["ax"]) == [
        ("ax-0", "The cat did not chase the mouse.", "The mouse was chased by the cat.", None,
         "0")]
    assert [p.submission_file_name(n) for n in tests] == ["MNLI-m.tsv", "MNLI-mm.tsv", "AX.tsv"]
    with pytest.raises(ValueError, match="test_matched"):
        p.submission_file_name("test")


def test_mnli_diagnostic_found_in_data_dir_as_ax_tsv_or_absent(tmp_path):
    mnli = tmp_path / "MNLI"
    shutil.copytree(_dir("MNLI"), mnli)
    p = glue.MnliProcessor()
    assert list(p.get_test_sets(str(mnli))) == ["test_matched", "test_mismatched"]
    (mnli / "AX.tsv").write_text("index\tsentence1\tsentence2\n0\tA b.\tC d.\n1\tE.\tF.\n",
                                 encoding="utf-8")
    assert [(e.guid, e.text_a, e.text_b) for e in p.get_test_sets(str(mnli))["ax"]] == [
        ("ax-0", "A b.", "C d."), ("ax-1", "E.", "F.")]


def test_xnli_default_language_zh_and_contradictory_mapped():
    p = glue.get_processor("xnli")
    assert p.language == "zh"
    assert _tuples(p.get_train_examples(_dir("XNLI"))) == [
        ("train-1", "他每天早上跑步。", "他早上锻炼。", "entailment", None),
        ("train-2", "商店关门了。", "商店还在营业。", "contradiction", None),
        ("train-3", "她买了一本书。", "那本书很贵。", "neutral", None),
    ]
    # Only the zh rows; guids keep the row's position in the whole file, as the original.
    assert _tuples(p.get_dev_examples(_dir("XNLI"))) == [
        ("dev-2", "孩子们在公园里玩。", "孩子们在外面。", "entailment", None),
        ("dev-3", "灯是开着的。", "灯是关着的。", "contradiction", None),
    ]
    assert _tuples(p.get_test_examples(_dir("XNLI"))) == [
        ("test-1", "他喝了咖啡。", "他喜欢咖啡。", "neutral", None)]
    assert p.submission_file_name("test") == "test_predictions.tsv"
    assert p.to_dict() == {"task_name": "xnli", "language": "zh"}


def test_xnli_other_language_and_language_missing_from_dev():
    p = glue.get_processor("xnli", language="de")
    assert _tuples(p.get_train_examples(_dir("XNLI"))) == [
        ("train-1", "Der Zug war pünktlich.", "Der Zug kam zu spät.", "contradiction", None)]
    assert [e.guid for e in p.get_dev_examples(_dir("XNLI"))] == ["dev-1"]
    with pytest.raises(InputError, match=r"xnli\.test\.tsv: no rows for language 'de'.*'fr'"):
        p.get_test_examples(_dir("XNLI"))


# -- reading rules ---------------------------------------------------------------------------


def test_rows_match_csv_reader_without_quoting():
    # Independent reference: the standard library's reader with quoting off, as the original.
    for folder, _, files in os.walk(GLUE_DIR):
        for name in files:
            if not name.endswith(".tsv"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8-sig", newline="") as f:
                expected = [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
            assert [fields for _, fields in glue.read_tsv(path, "test")] == expected, path


def test_crlf_line_ends_bom_and_blank_lines(tmp_path):
    (tmp_path / "dev.tsv").write_bytes(
        b"\xef\xbb\xbfindex\tsentence1\tsentence2\tlabel\r\n"
        b"0\tA \"quoted\tB.\tentailment\r\n\r\n1\tC.\tD.\tnot_entailment\r\n")
    examples = glue.RteProcessor().get_dev_examples(str(tmp_path))
    assert _tuples(examples) == [
        ("dev-1", 'A "quoted', "B.", "entailment", "0"),
        ("dev-3", "C.", "D.", "not_entailment", "1"),
    ]


def test_get_processor_unknown_task():
    with pytest.raises(InputError, match=r"'squad'.*'cola'"):
        glue.get_processor("squad")


def test_submission_file_format(tmp_path):
    p = glue.get_processor("mnli")
    examples = [InputExample("test_matched-0", "a", "b", index="0"),
                InputExample("test_matched-1", "c", "d", index="1")]
    path = tmp_path / p.submission_file_name("test_matched")
    p.write_submission(str(path), examples, ["neutral", "entailment"])
    assert path.read_text() == "index\tprediction\n0\tneutral\n1\tentailment\n"
    with pytest.raises(ValueError, match="'maybe'"):
        p.submission_label("maybe")


# -- errors: file and line -------------------------------------------------------------------


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_wrong_column_count_names_file_and_line(tmp_path):
    path = _write(tmp_path, "train.tsv", "ab\t1\t\tFine.\nab\t0\tOnly three\n")
    with pytest.raises(InputError) as e:
        glue.ColaProcessor().get_train_examples(str(tmp_path))
    assert str(e.value).startswith(f"{path}:2: expected 4 tab-separated columns")
    assert "found 3" in str(e.value)


def test_wrong_column_count_against_header(tmp_path):
    path = _write(tmp_path, "dev.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                                       "1\t2\t3\tQ?\tR?\t0\n\t\tExtra tab?\tS?\t1\n")
    with pytest.raises(InputError, match=rf"^{re.escape(path)}:3: expected 6 tab-separated "
                                         r"columns.*found 5"):
        glue.QqpProcessor().get_dev_examples(str(tmp_path))


def test_unknown_label_in_dev(tmp_path):
    path = _write(tmp_path, "dev.tsv", "sentence\tlabel\nGood.\t1\nBad.\tnegative\n")
    with pytest.raises(InputError, match=rf"^{re.escape(path)}:3: label 'negative' is not a "
                                         r"SST-2 label; expected one of \['0', '1'\]"):
        glue.Sst2Processor().get_dev_examples(str(tmp_path))


def test_stsb_score_not_a_number(tmp_path):
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
    path = _write(tmp_path, "train.tsv", f"{header}\tscore\n"
                                         "0\tg\tf\t2012\t1\tnone\tnone\tA.\tB.\tfour\n")
    with pytest.raises(InputError,
                       match=rf"^{re.escape(path)}:2: expected a similarity score.*'four'"):
        glue.StsbProcessor().get_train_examples(str(tmp_path))


def test_missing_file_names_path_and_task(tmp_path):
    (tmp_path / "MNLI").mkdir()
    shutil.copy(os.path.join(_dir("MNLI"), "dev_matched.tsv"), tmp_path / "MNLI")
    expected = os.path.join(str(tmp_path / "MNLI"), "dev_mismatched.tsv")
    with pytest.raises(InputError, match=rf"^{re.escape(expected)}: no such file, expected "
                                         r"for the MNLI dev_mismatched set\."):
        glue.MnliProcessor().get_eval_sets(str(tmp_path / "MNLI"))


def test_header_too_short_and_not_utf8(tmp_path):
    path = _write(tmp_path, "test.tsv", "index\tquestion\n0\tWhy?\n")
    with pytest.raises(InputError, match=rf"^{re.escape(path)}:1: expected the header.*found 2"):
        glue.QnliProcessor().get_test_examples(str(tmp_path))
    (tmp_path / "train.tsv").write_bytes(b"sentence\tlabel\nok\t1\nbad \xff byte\t0\n")
    with pytest.raises(InputError, match=r"train\.tsv:3: not UTF-8"):
        glue.Sst2Processor().get_train_examples(str(tmp_path))
