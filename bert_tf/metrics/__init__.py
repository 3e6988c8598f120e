"""Evaluation metrics in NumPy, with no TensorFlow import.

- `glue`: accuracy, F1, Matthews correlation, Pearson/Spearman and the metric dict each GLUE
  task (and a custom classification or regression task) reports (`task_metrics`).
- `ner`: entity extraction with the CoNLL script's / seqeval's default chunking rules and
  entity-level precision, recall and F1 (micro and per type), token accuracy.
- `squad`: exact match and F1 by the official SQuAD rules, HasAns/NoAns and the v2.0
  no-answer threshold search.
- `pretraining`: masked-LM and next-sentence accuracy and loss, as run_pretraining reports them.
"""
