"""What the runners write for people and for other tools, each file written atomically.

    glue.py    eval_results.txt, test_results.tsv, GLUE submission files
    ner.py     CoNLL predictions (conlleval reads them), entities as JSON lines
    squad.py   SQuAD post-processing: predictions.json, nbest_predictions.json, null_odds.json
"""
