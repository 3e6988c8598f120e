"""SQuAD post-processing: start/end logits -> answer texts, n-best lists and null odds.

This is the prediction half of the original google-research/bert `run_squad.py`
(`write_predictions`, `get_final_text`, `_get_best_indexes`, `_compute_softmax`), split into a
pure function (`compute_predictions`) and a writer (`write_predictions`). Pure Python and
NumPy; nothing here imports TensorFlow.

For every example, over all of its features (doc spans):

1. The `n_best_size` highest start logits and end logits give candidate spans. A span is kept
   only if both ends lie on document tokens of the feature (inside `tokens` and in
   `token_to_orig_map`), the feature is the max-context window for its start token, the end
   is not before the start, and it is at most `max_answer_length` tokens long.
2. SQuAD 2.0: the null answer scores start_logits[0] + end_logits[0] ([CLS]) of the feature
   where that sum is *smallest*, as the original does, and joins the candidates.
3. Candidates are sorted by start_logit + end_logit; the first `n_best_size` distinct texts
   form the n-best list. A span's text is taken from the original document with
   `get_final_text`, so it keeps the original casing, accents and punctuation.
4. Probabilities are a softmax over the n-best scores.
5. SQuAD 1.1: the prediction is the top n-best text. SQuAD 2.0: null odds = null score - the
   best non-null entry's score; the prediction is "" when null odds > null_score_diff_threshold,
   else the best non-null text.

Where the original fails, and what happens here instead:

* SQuAD 2.0, no non-null text in the n-best (every span invalid, or `n_best_size` so small
  that the null answer fills the list): the original dies with
  `AttributeError: 'NoneType' object has no attribute 'start_logit'`. Here the prediction is ""
  whatever the threshold, since there is no span to give, and the null odds are computed as if
  the best non-null entry had both logits 0.0 (the logits of the original's own placeholder
  entry), so null odds = null score. The value cannot change any official metric: the
  prediction is "" on both sides of every threshold.
* SQuAD 1.1, no valid span at all: the original predicts the placeholder text "empty"; here the
  prediction is "" and the n-best holds one entry {"text": "", "probability": 1.0,
  "start_logit": 0.0, "end_logit": 0.0}.
* An example without any feature (an empty context): the original raises IndexError
  (SQuAD 2.0) or predicts "empty" (SQuAD 1.1). Here it is handled as above, with null logits
  0.0 (the original's initial values), and a warning is logged.
* A feature without a result: the original raises KeyError; here InputError names it.
"""

import collections
import json
import math
import os
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from absl import logging

from bert_tf import tokenization
from bert_tf.errors import InputError
from bert_tf.files import atomic_open

PREDICTIONS_FILE = "predictions.json"
NBEST_FILE = "nbest_predictions.json"
NULL_ODDS_FILE = "null_odds.json"


class RawResult(NamedTuple):
    """The model's output for one feature, as in the original.

    Attributes:
        unique_id: int, the feature's `unique_id`.
        start_logits: float [S] (list or NumPy array), one logit per sequence position.
        end_logits: float [S].
    """
    unique_id: int
    start_logits: Sequence[float]
    end_logits: Sequence[float]


class _Candidate(NamedTuple):
    """A span of one feature (the original's `_PrelimPrediction`); start_index 0 is null."""
    feature_index: int
    start_index: int
    end_index: int
    start_logit: float
    end_logit: float


class _Entry(NamedTuple):
    """One n-best entry before probabilities (the original's `_NbestPrediction`)."""
    text: str
    start_logit: float
    end_logit: float
    # (first, last) doc-token index of a non-null span: where its text lies in the context.
    doc_span: Optional[Tuple[int, int]] = None


def compute_predictions(examples, features, results: Iterable, *, n_best_size: int = 20,
                        max_answer_length: int = 30, do_lower_case: bool,
                        version_2_with_negative: bool, null_score_diff_threshold: float = 0.0,
                        verbose_logging: bool = False, return_doc_spans: bool = False):
    """Turns the logits of every feature into one answer per example (see the module docstring).

    Args:
        examples: sequence of SquadExample-like objects (`qas_id`, `doc_tokens` are read), in
            the order their features' `example_index` counts them.
        features: iterable of SquadFeatures-like objects (`unique_id`, `example_index`,
            `tokens`, `token_to_orig_map`, `token_is_max_context` are read).
        results: iterable of `RawResult` (or anything with `unique_id`, `start_logits`,
            `end_logits`: float [S]), one per feature; extra results are ignored.
        n_best_size: int, how many start and end indexes to try per feature and how many
            entries each n-best list holds (the original's `--n_best_size`).
        max_answer_length: int, the longest answer in word pieces (`--max_answer_length`).
        do_lower_case: bool, whether the model is uncased (for `get_final_text`).
        version_2_with_negative: bool, SQuAD 2.0 (questions may have no answer).
        null_score_diff_threshold: float, SQuAD 2.0 only: predict "" when null odds exceed it
            (`--null_score_diff_threshold`; `squad_evaluate`'s `best_f1_thresh` is a good value).
        verbose_logging: bool, log why `get_final_text` fell back to the original text.
        return_doc_spans: also return, per example, the (first, last) doc-token index of
            the predicted answer (None for ""): its place in the context.

    Returns:
        (predictions, nbest, null_odds):
        predictions: OrderedDict qas_id -> answer text ("" for no answer).
        nbest: OrderedDict qas_id -> list of OrderedDict {"text", "probability",
            "start_logit", "end_logit"} (Python floats), best first.
        null_odds: OrderedDict qas_id -> float (null score - best non-null score) for
            SQuAD 2.0; None for SQuAD 1.1.

    Raises:
        InputError: a feature has no result, or n_best_size / max_answer_length is below 1.
    """
    if n_best_size < 1 or max_answer_length < 1:
        raise InputError(f"n_best_size ({n_best_size}) and max_answer_length "
                         f"({max_answer_length}) must be at least 1.")
    example_index_to_features = collections.defaultdict(list)
    for feature in features:
        example_index_to_features[feature.example_index].append(feature)
    unique_id_to_result = {result.unique_id: result for result in results}

    predictions = collections.OrderedDict()
    all_nbest = collections.OrderedDict()
    null_odds = collections.OrderedDict() if version_2_with_negative else None
    doc_spans = collections.OrderedDict()
    for example_index, example in enumerate(examples):
        example_features = example_index_to_features.get(example_index, [])
        if not example_features:
            logging.warning("SQuAD example %r has no features (empty context?): it gets no "
                            "answer.", example.qas_id)
        candidates = []
        # SQuAD 2.0: (score, feature_index, start_logit, end_logit) of the smallest [CLS] score.
        null = None
        for feature_index, feature in enumerate(example_features):
            try:
                result = unique_id_to_result[feature.unique_id]
            except KeyError:
                raise InputError(f"No result for feature unique_id={feature.unique_id} of SQuAD "
                                 f"example {example.qas_id!r}.") from None
            start_logits = _as_floats(result.start_logits)
            end_logits = _as_floats(result.end_logits)
            if version_2_with_negative:
                null_score = start_logits[0] + end_logits[0]
                if null is None or null_score < null[0]:
                    null = (null_score, feature_index, start_logits[0], end_logits[0])
            for start_index in _get_best_indexes(start_logits, n_best_size):
                for end_index in _get_best_indexes(end_logits, n_best_size):
                    if _is_valid_span(feature, start_index, end_index, max_answer_length):
                        candidates.append(_Candidate(feature_index, start_index, end_index,
                                                     start_logits[start_index],
                                                     end_logits[end_index]))
        if version_2_with_negative:
            if null is None:
                null = (0.0, -1, 0.0, 0.0)
            score_null, null_feature_index, null_start_logit, null_end_logit = null
            candidates.append(_Candidate(null_feature_index, 0, 0, null_start_logit,
                                         null_end_logit))
        # A stable sort, as the original's sorted(): equal scores keep their order.
        candidates.sort(key=lambda c: c.start_logit + c.end_logit, reverse=True)

        nbest = []
        seen = set()
        for candidate in candidates:
            if len(nbest) >= n_best_size:
                break
            doc_span = None
            if candidate.start_index > 0:  # [CLS] (index 0) is never in token_to_orig_map.
                feature = example_features[candidate.feature_index]
                text = _span_text(example, feature, candidate, do_lower_case, verbose_logging)
                if text in seen:
                    continue
                doc_span = (feature.token_to_orig_map[candidate.start_index],
                            feature.token_to_orig_map[candidate.end_index])
            else:
                text = ""
            seen.add(text)
            nbest.append(_Entry(text, candidate.start_logit, candidate.end_logit, doc_span))
        if version_2_with_negative and "" not in seen:
            nbest.append(_Entry("", null_start_logit, null_end_logit))
        if not nbest:  # SQuAD 1.1 without a single valid span; the original says "empty".
            nbest.append(_Entry("", 0.0, 0.0))

        probabilities = _compute_softmax([e.start_logit + e.end_logit for e in nbest])
        all_nbest[example.qas_id] = [
            collections.OrderedDict([("text", e.text), ("probability", p),
                                     ("start_logit", e.start_logit), ("end_logit", e.end_logit)])
            for e, p in zip(nbest, probabilities)]
        best_non_null = next((e for e in nbest if e.text), None)
        doc_spans[example.qas_id] = None
        if not version_2_with_negative:
            predictions[example.qas_id] = nbest[0].text
            doc_spans[example.qas_id] = nbest[0].doc_span
        elif best_non_null is None:
            # The original crashes here; see the module docstring.
            null_odds[example.qas_id] = score_null - 0.0 - 0.0
            predictions[example.qas_id] = ""
        else:
            score_diff = score_null - best_non_null.start_logit - best_non_null.end_logit
            null_odds[example.qas_id] = score_diff
            predictions[example.qas_id] = (
                "" if score_diff > null_score_diff_threshold else best_non_null.text)
            if predictions[example.qas_id]:
                doc_spans[example.qas_id] = best_non_null.doc_span
    if return_doc_spans:
        return predictions, all_nbest, null_odds, doc_spans
    return predictions, all_nbest, null_odds


def write_predictions(output_dir_or_paths: Union[str, os.PathLike, Sequence],
                      predictions: Dict[str, str], nbest: Dict[str, List[dict]],
                      null_odds: Optional[Dict[str, float]]) -> Dict[str, str]:
    """Writes what `compute_predictions` returns, in the original's file layouts, atomically.

    Each file is `json.dumps(obj, indent=4)` plus "\\n", as the original writes them.

    Args:
        output_dir_or_paths: a directory (created if missing) that receives `predictions.json`,
            `nbest_predictions.json` and, if `null_odds` is not None, `null_odds.json`; or the
            original's three paths (prediction file, n-best file, null log-odds file), the
            third unused (may be None) when `null_odds` is None.
        predictions, nbest, null_odds: as `compute_predictions` returns them.

    Returns:
        dict "predictions" / "nbest" / "null_odds" -> the path written.

    Raises:
        InputError: null_odds are given but there is no path for them.
    """
    if isinstance(output_dir_or_paths, (str, os.PathLike)):
        output_dir = os.fspath(output_dir_or_paths)
        os.makedirs(output_dir, exist_ok=True)
        paths = [os.path.join(output_dir, name)
                 for name in (PREDICTIONS_FILE, NBEST_FILE, NULL_ODDS_FILE)]
    else:
        paths = list(output_dir_or_paths) + [None] * (3 - len(output_dir_or_paths))
    contents = {"predictions": predictions, "nbest": nbest}
    if null_odds is not None:
        if paths[2] is None:
            raise InputError("SQuAD 2.0 null odds were computed but no path was given for them.")
        contents["null_odds"] = null_odds
    written = {}
    for (name, obj), path in zip(contents.items(), paths):
        path = os.fspath(path)
        text = json.dumps(obj, indent=4) + "\n"
        with atomic_open(path) as f:
            f.write(text)
        written[name] = path
        logging.info("Wrote SQuAD %s to %s", name, path)
    return written


def get_final_text(pred_text: str, orig_text: str, do_lower_case: bool,
                   verbose_logging: bool = False) -> str:
    """Projects a de-tokenized prediction back onto the original document text.

    The predicted word pieces, joined ("steve smith"), are normalized text; the original words
    they came from ("Steve Smith's") may hold more. `BasicTokenizer` is run on `orig_text` and
    the two are aligned character by character once spaces are removed from both; this needs
    the tokenizer to keep the number of non-space characters (it does unless lower-casing or
    accent stripping changes a character count, e.g. a decomposed accent). When the
    prediction is not found in the tokenized text, or the alignment fails, `orig_text` is
    returned whole, as the original does.

    Args:
        pred_text: str, the predicted tokens joined by spaces, "##" removed.
        orig_text: str, the original document words the span covers, joined by spaces.
        do_lower_case: bool, whether the model is uncased.
        verbose_logging: bool, log why the alignment failed.

    Returns:
        str: the part of `orig_text` that `pred_text` covers ("Steve Smith"), or `orig_text`.
    """
    tok_text = " ".join(tokenization.BasicTokenizer(do_lower_case=do_lower_case)
                        .tokenize(orig_text))
    start_position = tok_text.find(pred_text)
    if start_position == -1:
        if verbose_logging:
            logging.info("Unable to find text: %r in %r", pred_text, orig_text)
        return orig_text
    end_position = start_position + len(pred_text) - 1

    orig_ns_text, orig_ns_to_s = _strip_spaces(orig_text)
    tok_ns_text, tok_ns_to_s = _strip_spaces(tok_text)
    if len(orig_ns_text) != len(tok_ns_text):
        if verbose_logging:
            logging.info("Length not equal after stripping spaces: %r vs %r", orig_ns_text,
                         tok_ns_text)
        return orig_text
    # Same length: the i-th non-space character of one is taken to be the i-th of the other.
    tok_s_to_ns = {s: ns for ns, s in enumerate(tok_ns_to_s)}
    # pred_text may begin or end with a space only if it was not cleaned; then it fails.
    if start_position not in tok_s_to_ns or end_position not in tok_s_to_ns:
        if verbose_logging:
            logging.info("Couldn't map %s position", "start" if start_position not in tok_s_to_ns
                         else "end")
        return orig_text
    orig_start = orig_ns_to_s[tok_s_to_ns[start_position]]
    orig_end = orig_ns_to_s[tok_s_to_ns[end_position]]
    return orig_text[orig_start:orig_end + 1]


def _strip_spaces(text: str) -> Tuple[str, List[int]]:
    """Drops the " " characters; returns the rest and, for each kept character, its index."""
    kept = [i for i, char in enumerate(text) if char != " "]
    return "".join(text[i] for i in kept), kept


def _as_floats(logits) -> List[float]:
    """float [S] (list or array, any float dtype) -> list of Python floats, JSON-ready.

    As the original's RawResult, which held `float(x)` of the float32 logits.
    """
    return np.asarray(logits, dtype=np.float64).reshape(-1).tolist()


def _get_best_indexes(logits: Sequence[float], n_best_size: int) -> List[int]:
    """Indexes of the n_best_size largest logits, largest first; ties keep the lower index."""
    order = sorted(range(len(logits)), key=lambda i: logits[i], reverse=True)
    return order[:n_best_size]


def _is_valid_span(feature, start_index: int, end_index: int, max_answer_length: int) -> bool:
    """The original's checks, in its order; spans in the question or padding are thrown out."""
    if start_index >= len(feature.tokens) or end_index >= len(feature.tokens):
        return False
    if start_index not in feature.token_to_orig_map or end_index not in feature.token_to_orig_map:
        return False
    # Only the start must be in its max-context window, as in the original.
    if not feature.token_is_max_context.get(start_index, False):
        return False
    if end_index < start_index:
        return False
    return end_index - start_index + 1 <= max_answer_length


def _span_text(example, feature, candidate: _Candidate, do_lower_case: bool,
               verbose_logging: bool) -> str:
    """The original document text of a non-null candidate span."""
    tok_tokens = feature.tokens[candidate.start_index:candidate.end_index + 1]
    orig_doc_start = feature.token_to_orig_map[candidate.start_index]
    orig_doc_end = feature.token_to_orig_map[candidate.end_index]
    orig_text = " ".join(example.doc_tokens[orig_doc_start:orig_doc_end + 1])
    # Undo the word-piece split ("smi ##th" -> "smith") and clean whitespace.
    tok_text = " ".join(tok_tokens).replace(" ##", "").replace("##", "")
    tok_text = " ".join(tok_text.split())
    return get_final_text(tok_text, orig_text, do_lower_case, verbose_logging)


def _compute_softmax(scores: Sequence[float]) -> List[float]:
    """Softmax of Python floats, shifted by the maximum for stability, as the original."""
    if not scores:
        return []
    max_score = max(scores)
    exp_scores = [math.exp(score - max_score) for score in scores]
    total = 0.0
    for x in exp_scores:  # Left to right, as the original (sum() may compensate on 3.12+).
        total += x
    return [x / total for x in exp_scores]
