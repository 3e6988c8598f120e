"""Old import path, kept for existing code: the module is `bert_tf.weights.hf_weights`."""

import sys

from bert_tf.weights import hf_weights as _module

sys.modules[__name__] = _module
