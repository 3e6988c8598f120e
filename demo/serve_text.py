"""Ask an exported model about raw text through its `text` signature, with plain TensorFlow.

    python demo/serve_text.py output/demo_sst2/export "a moving , heartfelt film"
    python demo/serve_text.py output/demo_ner_en/export "I bought a Nokia phone for 99 dollars"
    python demo/serve_text.py output/demo_squad/export "Who founded it? ||| It was founded by Ana."

This script imports neither bert_tf nor tensorflow_text: the tokenizer, the pair truncation,
NER's word split and windows (and SQuAD's doc strides and span search) run inside the
SavedModel, as they do in TF Serving. A text may be "A ||| B": a sentence pair for a
classifier, "question ||| context" for SQuAD.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

SEPARATOR = " ||| "


def main(export_dir, texts):
    signature = tf.saved_model.load(export_dir).signatures["text"]
    names = sorted(signature.structured_input_signature[1])
    parts = [text.split(SEPARATOR, 1) + [""] for text in texts]
    if names == ["text"]:
        inputs = {"text": [p[0] for p in parts]}
    elif names == ["text_a", "text_b"]:
        inputs = {"text_a": [p[0] for p in parts], "text_b": [p[1] for p in parts]}
    else:  # ["context", "question"]
        inputs = {"question": [p[0] for p in parts], "context": [p[1] for p in parts]}
    out = {k: v.numpy() for k, v in signature(
        **{k: tf.constant(v, tf.string) for k, v in inputs.items()}).items()}
    for i, text in enumerate(texts):
        if "label" in out:
            probability = out["probabilities"][i].max()
            print(f"{out['label'][i].decode():>10} {probability:.3f}  {text}")
        elif "score" in out and "answer" not in out:
            print(f"{out['score'][i]:10.3f}  {text}")
        elif "labels" in out:
            tagged = [f"{w.decode()}/{t.decode()}" for w, t in zip(out["words"][i],
                                                                   out["labels"][i]) if w]
            print(" ".join(tagged))
        else:
            answer = out["answer"][i].decode() or "(no answer)"
            print(f"{answer!r} [{out['answer_start'][i]}:{out['answer_end'][i]}]  "
                  f"score {out['score'][i]:.2f}  <- {text}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
