"""bert-tf: fine-tune original BERT checkpoints with TensorFlow 2 / tf-keras.

The short names load their module on first use, so `import bert_tf.tokenization` stays free of
TensorFlow:

    from bert_tf import BertConfig, BertModel, FullTokenizer, load_pretrained, create_optimizer
"""

import importlib

_SHORT_NAMES = {
    "BertConfig": "bert_tf.config",
    "BertModel": "bert_tf.modeling",
    "FullTokenizer": "bert_tf.tokenization",
    "load_pretrained": "bert_tf.weights.pretrained",
    "create_optimizer": "bert_tf.optimization",
}

__all__ = sorted(_SHORT_NAMES)


def __getattr__(name):
    if name in _SHORT_NAMES:
        return getattr(importlib.import_module(_SHORT_NAMES[name]), name)
    raise AttributeError(f"module 'bert_tf' has no attribute {name!r}")
