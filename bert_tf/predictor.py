"""Raw text in, answers out: predictors for the models run_classifier.py, run_ner.py and
run_squad.py train.

    predictor = load_predictor("output/sst2")          # a trained output_dir
    predictor.predict("a gripping , heartfelt film")
    # {"label": "1", "probabilities": {"0": 0.02, "1": 0.98}}

A predictor reads what training saved in output_dir (run_config.json: the runner, labels and
settings; bert_config.json; vocab.txt; the latest model.ckpt-N) and runs the texts through
the runner's own steps: the same feature conversion (pair truncation, NER windows, SQuAD doc
strides), the same task outputs and the same answer search, so on the same texts it gives what
the runner's --do_predict writes. Batches are padded to their longest text only.

Words for NER: a text is cut where the original BasicTokenizer cuts it, on the characters as
they are: at whitespace, and around every punctuation character and CJK ideograph, each of
which is a word of its own ("Apple's" -> "Apple", "'", "s"; "北京" -> "北", "京"). Character
offsets are Python str indices into the text given, `end` one past the last character.

Axes: B batch, S sequence (padded to the batch's longest), C labels.
"""

import dataclasses
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from bert_tf import tokenization
from bert_tf.config import BertConfig
from bert_tf.data import squad
from bert_tf.data.classifier_features import convert_examples_to_features as classifier_features
from bert_tf.data.dynamic_padding import stack_and_cut
from bert_tf.data.examples import InputExample
from bert_tf.data.ner import continuation_tag
from bert_tf.data.ner_features import convert_examples_to_features as ner_features
from bert_tf.data.ner_features import predictions_per_word
from bert_tf.errors import InputError
from bert_tf.metrics.ner import get_entities
from bert_tf.outputs.squad import RawResult, compute_predictions
from bert_tf.run_record import RunRecord, load_run_record
from bert_tf.tasks.classification import ClassificationTask
from bert_tf.tasks.ner import TokenClassificationTask
from bert_tf.tasks.squad import SquadTask
from bert_tf.weights.checkpoints import load_checkpoint

# The runners whose output_dir a predictor reads.
RUNNERS = ("run_classifier", "run_ner", "run_squad")


def split_words(text: str) -> List[Tuple[int, int]]:
    """(start, end) of each word of `text` for NER, cut as the module docstring says."""
    spans, start = [], None
    for i, char in enumerate(text):
        if tokenization._is_whitespace(char) or char.isspace():
            if start is not None:
                spans.append((start, i))
            start = None
        elif tokenization._is_punctuation(char) or tokenization._is_chinese_char(ord(char)):
            if start is not None:
                spans.append((start, i))
            spans.append((i, i + 1))
            start = None
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


class Predictor:
    """A trained task model and its tokenizer. Use `load_predictor` to make one.

    Attributes:
        record: the output_dir's run record (runner, settings, training flags).
        tokenizer: the FullTokenizer of its vocabulary and casing.
        global_step: the step of the checkpoint loaded.
    """

    runner = ""

    def __init__(self, record: RunRecord, checkpoint: Optional[str] = None,
                 batch_size: int = 32):
        self.record = record
        self.settings = record.settings
        self.batch_size = batch_size
        self.config = BertConfig.from_json_file(record.bert_config_file)
        self.max_seq_length = self.settings["max_seq_length"]
        self.do_lower_case = self.settings["do_lower_case"]
        self.tokenizer = tokenization.FullTokenizer(record.vocab_file, self.do_lower_case)
        self.task = self._make_task()
        self.model = self.task.build_model()
        self.model.build_with_dummy_inputs()
        checkpoint = checkpoint or tf.train.latest_checkpoint(record.output_dir)
        if not checkpoint:
            raise InputError(f"{record.output_dir} holds no model.ckpt-N: train it first "
                             f"({self.runner}.py --do_train)")
        load_checkpoint(self.model, checkpoint)
        reader = tf.train.load_checkpoint(checkpoint)
        self.global_step = int(reader.get_tensor("global_step")) if reader.has_tensor(
            "global_step") else 0

        @tf.function(reduce_retracing=True)
        def outputs(features):
            return self.task.outputs(self.model(features, training=False), features)
        self._outputs = outputs

    def _make_task(self):
        raise NotImplementedError

    def run_features(self, features: Sequence[Dict[str, Any]]) -> Dict[str, List[np.ndarray]]:
        """The task's outputs for each feature, in order (rows cut to their batch's width)."""
        collected: Dict[str, List[np.ndarray]] = {}
        for first in range(0, len(features), self.batch_size):
            batch = stack_and_cut(features[first:first + self.batch_size])
            outputs = self._outputs({k: tf.constant(v) for k, v in batch.items()})
            for name, value in outputs.items():
                collected.setdefault(name, []).extend(value.numpy())
        return collected


class ClassifierPredictor(Predictor):
    """run_classifier models: a text or a pair -> label and probabilities, or a score.

    An empty or None `text_b` means no second text, as the original treats an empty text_b.
    A text longer than max_seq_length word-pieces is cut as in training (the end of the
    longer text first).
    """

    runner = "run_classifier"

    def _make_task(self):
        return ClassificationTask(self.config, len(self.settings["labels"]),
                                  self.settings["is_regression"])

    @property
    def labels(self) -> List[str]:
        return list(self.settings["labels"])

    def predict(self, text_a: str, text_b: Optional[str] = None) -> Dict[str, Any]:
        """{"label": str, "probabilities": {label: p}}, or {"score": float} (regression)."""
        return self.predict_batch([text_a], [text_b])[0]

    def predict_batch(self, texts_a: Sequence[str],
                      texts_b: Optional[Sequence[Optional[str]]] = None) -> List[Dict[str, Any]]:
        texts_b = list(texts_b) if texts_b is not None else [None] * len(texts_a)
        if len(texts_b) != len(texts_a):
            raise ValueError(f"{len(texts_a)} first texts but {len(texts_b)} second texts")
        examples = [InputExample(f"predict-{i}", a, b or None)
                    for i, (a, b) in enumerate(zip(texts_a, texts_b))]
        labels = self.labels or None
        features = list(classifier_features(examples, labels, self.max_seq_length,
                                            self.tokenizer))
        if not features:
            return []
        outputs = self.run_features(features)
        if self.settings["is_regression"]:
            return [{"score": float(s)} for s in outputs["score"]]
        return [{"label": self.labels[int(np.argmax(p))],
                 "probabilities": {label: float(v) for label, v in zip(self.labels, p)}}
                for p in outputs["probabilities"]]


class NerPredictor(Predictor):
    """run_ner models: a text -> its entities and one label per word.

    Long texts are cut into the runner's windows (--doc_stride of training), so no word is
    dropped.
    """

    runner = "run_ner"

    def __init__(self, record: RunRecord, checkpoint: Optional[str] = None,
                 batch_size: int = 32, doc_stride: Optional[int] = None):
        super().__init__(record, checkpoint, batch_size)
        self.labels = list(self.settings["labels"])
        self.doc_stride = doc_stride or record.flags.get("doc_stride") or 128

    def _make_task(self):
        return TokenClassificationTask(self.config, len(self.settings["labels"]),
                                       self.settings["use_crf"])

    def predict(self, text: str) -> Dict[str, Any]:
        """{"words": [{"text", "start", "end", "label"}], "entities": [{"type", "text",
        "start", "end"}]}, offsets into `text`."""
        return self.predict_batch([text])[0]

    def predict_words(self, words_per_text: Sequence[Sequence[str]]) -> List[List[str]]:
        """One label per word, for texts already cut into words (as a CoNLL file is)."""
        label_map = {label: i for i, label in enumerate(self.labels)}
        features, windows = ner_features(
            words_per_text, [None] * len(words_per_text), label_map, self.max_seq_length,
            self.doc_stride, self.tokenizer, self.settings["label_all_subtokens"],
            lambda tag: continuation_tag(tag, labels=self.labels))
        if not features:
            return []
        outputs = self.run_features(features)
        ids = predictions_per_word(windows, outputs["label_ids"],
                                   [len(words) for words in words_per_text])
        return [[self.labels[i] for i in sentence] for sentence in ids]

    def predict_batch(self, texts: Sequence[str]) -> List[Dict[str, Any]]:
        spans = [split_words(text) for text in texts]
        words = [[text[s:e] for s, e in text_spans] for text, text_spans in zip(texts, spans)]
        return [ner_answer(text, text_spans, labels)
                for text, text_spans, labels in zip(texts, spans, self.predict_words(words))]


def ner_answer(text: str, spans: Sequence[Tuple[int, int]], labels: Sequence[str]
               ) -> Dict[str, Any]:
    """{"words": [{"text", "start", "end", "label"}], "entities": [{"type", "text", "start",
    "end"}]} of a text from its words' (start, end) and labels."""
    entities = [{"type": kind, "text": text[spans[first][0]:spans[last][1]],
                 "start": spans[first][0], "end": spans[last][1]}
                for kind, first, last in get_entities(labels)]
    return {"words": [{"text": text[s:e], "start": s, "end": e, "label": label}
                      for (s, e), label in zip(spans, labels)],
            "entities": entities}


@dataclasses.dataclass
class _SquadOptions:
    doc_stride: int
    max_query_length: int
    n_best_size: int
    max_answer_length: int
    version_2_with_negative: bool
    null_score_diff_threshold: float


class SquadPredictor(Predictor):
    """run_squad models: (question, context) -> the answer, its character offsets in the
    context, its score (start_logit + end_logit) and n-best probability, or no answer
    (SQuAD 2.0 models, by the null threshold; score = the null score).

    The options default to the training command's flags (--doc_stride, --max_query_length,
    --n_best_size, --max_answer_length, --version_2_with_negative,
    --null_score_diff_threshold); keyword arguments override them.
    """

    runner = "run_squad"

    def __init__(self, record: RunRecord, checkpoint: Optional[str] = None,
                 batch_size: int = 32, **options):
        super().__init__(record, checkpoint, batch_size)
        defaults = dict(doc_stride=128, max_query_length=64, n_best_size=20,
                        max_answer_length=30, version_2_with_negative=False,
                        null_score_diff_threshold=0.0)
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"unknown SQuAD options: {sorted(unknown)}")
        values = {name: options[name] if options.get(name) is not None
                  else record.flags.get(name, default) for name, default in defaults.items()}
        self.options = _SquadOptions(**values)

    def _make_task(self):
        return SquadTask(self.config)

    def predict(self, question: str, context: str) -> Dict[str, Any]:
        """{"answer": str ("" = no answer), "start", "end" (offsets into `context`, -1 for no
        answer), "score": start_logit + end_logit of the answer (for no answer: the null
        score, 0.0 where the context has no piece or SQuAD 1.1 finds no span), as the `text`
        signature's score, "probability": the answer's softmax probability among the
        n-best}."""
        return self.predict_batch([question], [context])[0]

    def predict_batch(self, questions: Sequence[str], contexts: Sequence[str]
                      ) -> List[Dict[str, Any]]:
        if len(questions) != len(contexts):
            raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
        options = self.options
        examples, word_offsets = [], []
        for i, (question, context) in enumerate(zip(questions, contexts)):
            doc_tokens, char_to_word = squad.split_context(context)
            examples.append(squad.SquadExample(qas_id=str(i), question_text=question,
                                               doc_tokens=doc_tokens))
            word_offsets.append(_word_character_spans(char_to_word, context))
        features = squad.convert_examples_to_features(
            examples, self.tokenizer, self.max_seq_length, options.doc_stride,
            options.max_query_length, is_training=False)
        outputs = self.run_features(list(squad.feature_dicts(features))) if features else {}
        results = [RawResult(f.unique_id, outputs["start_logits"][i].tolist(),
                             outputs["end_logits"][i].tolist())
                   for i, f in enumerate(features)]
        predictions, nbest, _, doc_spans = compute_predictions(
            examples, features, results, n_best_size=options.n_best_size,
            max_answer_length=options.max_answer_length, do_lower_case=self.do_lower_case,
            version_2_with_negative=options.version_2_with_negative,
            null_score_diff_threshold=options.null_score_diff_threshold,
            return_doc_spans=True)
        answers = []
        for example, context, offsets in zip(examples, contexts, word_offsets):
            text = predictions[example.qas_id]
            # The n-best texts are distinct: the answer's entry is the one with its text.
            entry = next((e for e in nbest[example.qas_id] if e["text"] == text), None)
            score = entry["start_logit"] + entry["end_logit"] if entry else 0.0
            probability = entry["probability"] if entry else 0.0
            span = doc_spans[example.qas_id]
            start, end = -1, -1
            if span is not None:
                first, last = offsets[span[0]][0], offsets[span[1]][1]
                start, end = answer_offsets(context[first:last], text)
                if start >= 0:
                    start, end = start + first, end + first
            answers.append({"answer": text, "start": start, "end": end, "score": float(score),
                            "probability": float(probability)})
        return answers


def _word_character_spans(char_to_word: Sequence[int], context: str) -> List[Tuple[int, int]]:
    """(start, end) in the context of each SQuAD doc token, from split_context's map."""
    spans: List[List[int]] = []
    for i, word in enumerate(char_to_word):
        if word < 0 or squad._is_whitespace(context[i]):
            continue
        if word == len(spans):
            spans.append([i, i + 1])
        else:
            spans[word][1] = i + 1
    return [tuple(span) for span in spans]


def answer_offsets(context: str, answer: str) -> Tuple[int, int]:
    """(start, end) of `answer` in `context`, or (-1, -1) for "" or an answer the context
    does not hold as it is.

    The answer is the original's text: words of the context joined by single spaces, then
    trimmed to the predicted pieces (`get_final_text`). So it is found in the context with
    any run of whitespace between its words. SquadPredictor searches only the characters of
    the predicted span's words; within them the first match is taken.
    """
    if not answer:
        return -1, -1
    pattern = r"\s+".join(re.escape(word) for word in answer.split(" "))
    match = re.search(pattern, context)
    return (match.start(), match.end()) if match else (-1, -1)


_PREDICTORS = {cls.runner: cls for cls in (ClassifierPredictor, NerPredictor, SquadPredictor)}
# The runner of an export, told by its `text` signature's inputs.
_TEXT_INPUTS = {("text_a", "text_b"): "run_classifier", ("text",): "run_ner",
                ("context", "question"): "run_squad"}


class ExportPredictor:
    """An export's `text` signature (run_classifier, run_ner or run_squad; see
    `bert_tf.text_signatures`) behind the predictors' interface: the same answers as the
    predictor of the output_dir it was exported from (SQuAD: `score` only, and the answer as
    the signature cuts it), with no checkpoint, config or vocabulary beyond the export.

    Args:
        export_dir: a runner's --export_dir.
        batch_size: texts sent to the signature at a time.

    Raises:
        InputError: no SavedModel there, or one without a `text` signature of a runner.
    """

    def __init__(self, export_dir: Union[str, os.PathLike], batch_size: int = 32):
        export_dir = os.fspath(export_dir)
        if not tf.saved_model.contains_saved_model(export_dir):
            raise InputError(f"{export_dir} holds no SavedModel: give a runner's --export_dir")
        signatures = tf.saved_model.load(export_dir).signatures
        if "text" not in signatures:
            raise InputError(f"{export_dir} has no `text` signature: export it again with "
                             "this version's runner (--do_train=false --export_dir=...)")
        self._text = signatures["text"]
        inputs = tuple(sorted(self._text.structured_input_signature[1]))
        self.runner = _TEXT_INPUTS.get(inputs)
        if self.runner is None:
            raise InputError(f"{export_dir}: a `text` signature taking {', '.join(inputs)} "
                             "is not a classifier, NER or SQuAD model's")
        self.batch_size = batch_size
        labels_file = os.path.join(export_dir, "assets", "labels.txt")
        self.labels = (open(labels_file, encoding="utf-8").read().splitlines()
                       if os.path.isfile(labels_file) else [])

    def _call(self, **columns) -> Dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self._text(
            **{k: tf.constant([t or "" for t in v], tf.string) for k, v in columns.items()}
        ).items()}

    def predict_batch(self, *columns) -> List[Dict[str, Any]]:
        results = []
        for first in range(0, len(columns[0]), self.batch_size):
            chunk = [list(c[first:first + self.batch_size]) for c in columns]
            results += getattr(self, f"_{self.runner}")(*chunk)
        return results

    def _run_classifier(self, texts_a, texts_b=None):
        out = self._call(text_a=texts_a, text_b=texts_b or [None] * len(texts_a))
        if "score" in out:
            return [{"score": float(s)} for s in out["score"]]
        return [{"label": label.decode("utf-8"),
                 "probabilities": {name: float(v) for name, v in zip(self.labels, row)}}
                for label, row in zip(out["label"], out["probabilities"])]

    def _run_ner(self, texts):
        out = self._call(text=texts)
        results = []
        for row, text in enumerate(texts):
            real = out["word_start"][row] >= 0                                  # [W] padding
            spans = [(int(s), int(e)) for s, e in zip(out["word_start"][row][real],
                                                      out["word_end"][row][real])]
            labels = [t.decode("utf-8") for t in out["labels"][row][real]]
            results.append(ner_answer(text, spans, labels))
        return results

    def _run_squad(self, questions, contexts):
        out = self._call(question=questions, context=contexts)
        return [{"answer": a.decode("utf-8"), "start": int(s), "end": int(e),
                 "score": float(score)}
                for a, s, e, score in zip(out["answer"], out["answer_start"],
                                          out["answer_end"], out["score"])]


def load_predictor(output_dir: Union[str, os.PathLike], checkpoint: Optional[str] = None,
                   batch_size: int = 32, **options) -> Predictor:
    """The predictor of a trained output_dir: a ClassifierPredictor, NerPredictor or
    SquadPredictor, by the runner that trained it.

    Args:
        output_dir: the --output_dir of a training run (run_config.json + model.ckpt-N).
        checkpoint: a checkpoint prefix to load instead of the latest.
        batch_size: texts run together.
        options: NerPredictor's doc_stride; SquadPredictor's options.

    Raises:
        InputError: output_dir holds no run_config.json, or a model of another runner, or
            no checkpoint.
    """
    output_dir = os.fspath(output_dir)
    record = load_run_record(output_dir)
    if record is None:
        raise InputError(f"{output_dir} holds no run_config.json: give the --output_dir of "
                         f"a training run ({', '.join(r + '.py' for r in RUNNERS)})")
    cls = _PREDICTORS.get(record.trained_by)
    if cls is None:
        raise InputError(f"{output_dir} holds a model trained by {record.trained_by}.py; "
                         f"predictors exist for {', '.join(r + '.py' for r in RUNNERS)}")
    return cls(record, checkpoint, batch_size, **options)
