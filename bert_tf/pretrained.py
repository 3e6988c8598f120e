"""Old import path, kept for existing code: the module is `bert_tf.weights.pretrained`."""

import sys

from bert_tf.weights import pretrained as _module

sys.modules[__name__] = _module
