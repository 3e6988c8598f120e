"""Writes the pretraining demo's made-up text: short movie reviews, one sentence per line, a
blank line between reviews (create_pretraining_data.py's input layout).

    python demo/make_pretraining_sample_data.py

Each review keeps one opinion across its 3-6 sentences (the sentence templates and words of
make_sample_data.py, so configs/demo_vocab.txt covers every word): a masked adjective follows
from the others in its review, and a true next sentence shares the opinion of the one before.
Seeded; rerunning it reproduces demo/pretraining/reviews.txt exactly.
"""

import pathlib
import random

from make_sample_data import sentence

ROOT = pathlib.Path(__file__).resolve().parent.parent
NUM_REVIEWS = 600


def main():
    rng = random.Random(2027)
    lines = []
    for _ in range(NUM_REVIEWS):
        label = rng.randrange(2)
        lines += [sentence(rng, label) for _ in range(rng.randint(3, 6))] + [""]
    out = ROOT / "demo" / "pretraining"
    out.mkdir(parents=True, exist_ok=True)
    (out / "reviews.txt").write_text("\n".join(lines), encoding="utf-8")
    print(f"{NUM_REVIEWS} reviews, {sum(1 for line in lines if line)} sentences")


if __name__ == "__main__":
    main()
