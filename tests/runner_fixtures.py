"""Shared fixtures for the runner tests: a tiny BERT on disk and a learnable toy task."""

import json

import numpy as np

from tests.conftest import TINY, random_original_weights, write_vocab
from tests.reference.tf1_checkpoint import write_tf1_checkpoint

# A tiny model whose sequences may be 16 long; no dropout unless asked, so runs compare.
TINY_16 = dict(TINY, max_position_embeddings=16)


def write_tiny_bert(directory, dropout=0.1, seed=0):
    """bert_config.json, vocab.txt, bert_model.ckpt of a random tiny BERT; returns flags."""
    directory.mkdir(parents=True, exist_ok=True)
    config = dict(TINY_16, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    (directory / "bert_config.json").write_text(json.dumps(config))
    write_vocab(directory / "vocab.txt")
    prefix = write_tf1_checkpoint(random_original_weights(seed, max_position_embeddings=16),
                                  str(directory / "bert_model.ckpt"))
    return dict(bert_config_file=str(directory / "bert_config.json"),
                vocab_file=str(directory / "vocab.txt"), init_checkpoint=prefix)


def write_toy_task(directory, n_train=64, n_dev=24, seed=0):
    """Sentences holding "hello" are 'pos', "dog" 'neg', among filler words: learnable."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)

    def rows(n):
        out = []
        for i in range(n):
            label = "pos" if i % 2 == 0 else "neg"
            words = [f"word{w}" for w in rng.integers(0, 40, size=5)]
            words.insert(int(rng.integers(0, 6)), "hello" if label == "pos" else "dog")
            out.append((" ".join(words), label))
        return out

    for name, n in (("train", n_train), ("dev", n_dev), ("test", n_dev)):
        lines = ["sentence\tlabel"] + [f"{s}\t{label}" for s, label in rows(n)]
        (directory / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return str(directory)


NER_LABELS = ["O", "B-ANIMAL", "I-ANIMAL", "B-GREET", "I-GREET"]


def write_toy_ner(directory, n_train=80, n_dev=24, seed=0, long_every=0):
    """`word tag` files: "cat"/"dog" are ANIMAL, "hello world" a two-word GREET, among filler
    words; learnable. With long_every=k, every k-th sentence is 20+ words long."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)

    def sentence(i):
        length = 22 if long_every and i % long_every == 0 else 4
        words = [(f"word{w}", "O") for w in rng.integers(0, 40, size=length)]
        for _ in range(1 + length // 8):
            at = int(rng.integers(0, len(words) + 1))
            choice = rng.integers(0, 3)
            if choice == 0:
                words[at:at] = [("hello", "B-GREET"), ("world", "I-GREET")]
            else:
                words[at:at] = [(("cat", "dog")[choice - 1], "B-ANIMAL")]
        return words

    for name, n in (("train", n_train), ("dev", n_dev), ("test", n_dev)):
        lines = []
        for i in range(n):
            lines += [f"{w} {t}" for w, t in sentence(i)] + [""]
        (directory / f"{name}.txt").write_text("\n".join(lines), encoding="utf-8")
    return str(directory)


def write_toy_squad(path, n_paragraphs=30, version_2=False, seed=0, context_words=10):
    """SQuAD JSON: the answer is the one animal ("cat" or "dog") among filler words; the
    question is "hello ?". With version_2, every third context has no animal (impossible)."""
    rng = np.random.default_rng(seed)
    data = []
    for p in range(n_paragraphs):
        words = [f"word{w}" for w in rng.integers(0, 40, size=context_words)]
        impossible = version_2 and p % 3 == 2
        answers = []
        if not impossible:
            at = int(rng.integers(0, context_words))
            words[at] = ("cat", "dog")[int(rng.integers(0, 2))]
            answers = [{"text": words[at], "answer_start": len(" ".join(words[:at])) +
                        (1 if at else 0)}]
        context = " ".join(words)
        qa = {"id": f"q{p}", "question": "hello ?", "answers": answers}
        if version_2:
            qa["is_impossible"] = impossible
        data.append({"title": f"t{p}", "paragraphs": [{"context": context, "qas": [qa]}]})
    path.write_text(json.dumps({"version": "2.0" if version_2 else "1.1", "data": data}))
    return str(path)


def write_toy_pretraining_corpus(path, n_documents=30, seed=0):
    """Plain text for create_pretraining_data: documents of 3-6 of eight fixed five-word
    sentences, in cyclic order from a random one (sentence t is word5t ... word5t+4), so a
    masked word follows from the others of its sentence, and a true next sentence from the
    one before."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_documents):
        t = int(rng.integers(0, 8))
        for i in range(int(rng.integers(3, 7))):
            lines.append(" ".join(f"word{5 * ((t + i) % 8) + j}" for j in range(5)))
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def write_toy_pretraining_records(directory, max_seq_length=16, max_predictions_per_seq=3,
                                  dupe_factor=4, n_documents=30, seed=0, num_files=1):
    """TFRecords made by create_pretraining_data.py (in-process) from the toy corpus with the
    tiny vocabulary; returns the --input_file value (a comma list for several files)."""
    import create_pretraining_data
    from tests.conftest import run_main
    directory.mkdir(parents=True, exist_ok=True)
    vocab = directory / "vocab.txt"
    write_vocab(vocab)
    outputs = [str(directory / f"records-{i}.tfrecord") for i in range(num_files)]
    run_main(create_pretraining_data.main,
             input_file=write_toy_pretraining_corpus(directory / "corpus.txt", n_documents,
                                                     seed),
             output_file=",".join(outputs), vocab_file=str(vocab),
             max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq,
             dupe_factor=dupe_factor, random_seed=seed)
    return ",".join(outputs)


# A toy SQuAD model's run_squad flags (max_seq_length 16: windows of 16 - len(query) - 3
# pieces, so the 24-word dev contexts need several).
TOY_SQUAD_FLAGS = dict(max_seq_length=16, doc_stride=4, max_query_length=4, n_best_size=5,
                       max_answer_length=3, train_batch_size=8, learning_rate=3e-3,
                       save_checkpoints_steps=100, log_every_n_steps=20, predict_batch_size=7)


def train_toy_squad(directory, version_2, epochs):
    """Trains, predicts dev.json and exports a toy SQuAD model with run_squad.py (in-process).

    Returns:
        (output_dir, export_dir, dev.json path)."""
    import run_squad
    from tests.conftest import run_main
    model = write_tiny_bert(directory / "bert")
    train = write_toy_squad(directory / "train.json", n_paragraphs=40, version_2=version_2)
    dev = write_toy_squad(directory / "dev.json", n_paragraphs=12, version_2=version_2,
                          seed=1, context_words=24)
    out, export = directory / "out", directory / "export"
    run_main(run_squad.main, train_file=train, predict_file=dev, output_dir=str(out),
             do_train=True, do_predict=True, version_2_with_negative=version_2,
             num_train_epochs=epochs, export_dir=str(export), **TOY_SQUAD_FLAGS, **model)
    return out, export, dev
