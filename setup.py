"""bert-tf: fine-tune original BERT checkpoints with TensorFlow 2 / tf-keras."""
import setuptools

# Direct dependencies, pinned so a fresh install is reproducible; constraints.txt pins
# the transitive set as well (make test installs with it).
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "tf-keras==2.21.0",
    "tensorboard==2.21.0",  # TF 2.21 no longer installs it; tf.summary needs it
    "absl-py==2.3.1",
    "numpy==2.4.6",
    "tokenizers==0.22.1",
    "safetensors==0.7.0",
]
EXTRAS_REQUIRE = {
    # transformers is only an independent numeric reference in the tests (its TF BERT and
    # its tokenizer); the library itself reads and writes the HF layout without it.
    # scikit-learn, scipy and seqeval: independent references for the metrics.
    # torch (its CPU build) writes the pytorch_model.bin files the HF loading path reads.
    "test": ["pytest==8.4.2", "transformers==4.57.6", "scikit-learn==1.9.1", "scipy==1.17.1",
             "seqeval==1.2.2", "torch==2.13.0"],
}

setuptools.setup(
    name="bert-tf",
    version="0.1.0",
    description="TensorFlow 2 / tf-keras toolkit to fine-tune original BERT checkpoints",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["bert_tf", "bert_tf.*"]),
    py_modules=["bert_flags", "runner_env", "runner_steps", "extract_features",
                "create_pretraining_data"],
    python_requires=">=3.11,<3.12",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    license="Apache-2.0",
)
