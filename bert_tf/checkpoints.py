"""Old import path, kept for existing code: the module is `bert_tf.weights.checkpoints`."""

import sys

from bert_tf.weights import checkpoints as _module

sys.modules[__name__] = _module
