"""`python -m bert_tf.convert`, kept as the command users know: the module is
`bert_tf.weights.convert`."""

import sys

from bert_tf.weights import convert as _module

if __name__ == "__main__":
    sys.exit(_module.main())
sys.modules[__name__] = _module
