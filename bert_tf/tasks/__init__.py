"""Tasks: what the engine trains. Each is a model (encoder + named heads), a loss and the
per-example outputs of prediction (see base.Task).

    base.py            Task, the feature names the engine adds
    classification.py  sentence(-pair) classification and regression (run_classifier)
    ner.py             token classification, optional CRF (run_ner)
    squad.py           span question answering (run_squad)
    pretraining.py     masked LM + next-sentence prediction (run_pretraining)
"""
