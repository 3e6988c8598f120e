"""Weights in and out: original TF1 checkpoints and Hugging Face directories (the names
themselves: bert_tf/variable_names.py).

    checkpoints.py  original checkpoints: load (with a report), save, prune
    hf_weights.py   Hugging Face safetensors / pytorch_model.bin <-> original names
    pretrained.py   load_pretrained: config + vocabulary + weights from either layout
    convert.py      `python -m bert_tf.convert`: hf-to-tf and tf-to-hf
"""
