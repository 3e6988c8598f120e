"""absl flags shared by the runners, defined once with the original names and defaults.

Only runner scripts import this module (and runner_steps.py, which reads the flags these
define); the library takes explicit arguments.
"""

from absl import flags


def _defined(name):
    return name in flags.FLAGS


def define_model_flags(max_seq_length=128):
    """--bert_config_file, --vocab_file, --init_checkpoint, --do_lower_case, --max_seq_length.

    Idempotent, so several runners can be imported in one process (the tests do); the last
    runner imported sets the --max_seq_length default.
    """
    define_checkpoint_flags()
    define_tokenizer_flags(max_seq_length)


def define_checkpoint_flags():
    """--bert_config_file and --init_checkpoint (every runner that builds a model)."""
    define_once("string", "bert_config_file", None,
                "The config json file corresponding to the pre-trained BERT model. "
                "This specifies the model architecture.")
    define_once("string", "init_checkpoint", None,
                "Initial checkpoint (usually from a pre-trained BERT model): an original "
                "checkpoint prefix/file/directory or a Hugging Face model directory.")


def define_tokenizer_flags(max_seq_length):
    """--vocab_file, --do_lower_case, --max_seq_length: the fine-tuning runners' and
    create_pretraining_data.py's (define_once: several runners may share a process)."""
    define_vocab_file_flag()
    define_once("bool", "do_lower_case", True,
                "Whether to lower case the input text. Should be True for uncased "
                "models and False for cased models.")
    define_max_seq_length_flag(max_seq_length)


def define_vocab_file_flag():
    define_once("string", "vocab_file", None,
                "The vocabulary file that the BERT model was trained on.")


def define_max_seq_length_flag(default):
    define_once("integer", "max_seq_length", default,
                "The maximum total input sequence length after WordPiece "
                "tokenization. Longer sequences are truncated, shorter padded.")


def define_max_predictions_flag():
    """--max_predictions_per_seq (create_pretraining_data.py and run_pretraining.py)."""
    define_once("integer", "max_predictions_per_seq", 20,
                "Maximum number of masked LM predictions per sequence (run_pretraining: must "
                "match data generation).")


def define_tpu_flags():
    """The original's TPU flags, so old command lines parse. Idempotent."""
    if _defined("use_tpu"):
        return
    flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")
    flags.DEFINE_string("tpu_name", None,
                        "The Cloud TPU to use for training. This should be either the name "
                        "used when creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 "
                        "url.")
    flags.DEFINE_string("tpu_zone", None,
                        "[Optional] GCE zone where the Cloud TPU is located in. If not "
                        "specified, we will attempt to automatically detect the GCE project "
                        "from metadata.")
    flags.DEFINE_string("gcp_project", None,
                        "[Optional] Project name for the Cloud TPU-enabled project. If not "
                        "specified, we will attempt to automatically detect the GCE project "
                        "from metadata.")
    flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")
    flags.DEFINE_integer("num_tpu_cores", 8,
                         "Only used if `use_tpu` is True. Total number of TPU cores to use.")


def define_training_flags(classifier_dropout=0.1):
    """The fine-tuning runners' training flags (the original's and the engine's). Idempotent;
    the last runner imported sets the --classifier_dropout default (run_squad: 0, as the
    original)."""
    if _defined("num_train_epochs"):
        flags.FLAGS.set_default("classifier_dropout", classifier_dropout)
        return
    define_engine_flags()
    flags.DEFINE_bool("do_predict", False, "Whether to run the model in inference mode on the "
                      "test set.")
    flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
    flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training to perform linear "
                       "learning rate warmup for. E.g., 0.1 = 10% of training.")
    flags.DEFINE_float("classifier_dropout", classifier_dropout, "Dropout on the encoder "
                       "output before the task head while training (the original classifier "
                       "and NER: 0.1; SQuAD: 0).")
    flags.DEFINE_string("export_dir", None, "Where to write a SavedModel of the fine-tuned "
                        "model (after training / for the trained output_dir).")


def define_engine_flags():
    """The flags every training runner has (fine-tuning and run_pretraining): the original's
    output_dir, do_train/do_eval, batch sizes, learning rate, checkpoint and loop steps, TPU
    flags, and the engine's new ones. Idempotent."""
    if _defined("do_train"):
        return
    define_tpu_flags()
    flags.DEFINE_string("output_dir", None, "The output directory where the model "
                        "checkpoints, features and results will be written.")
    flags.DEFINE_bool("do_train", False, "Whether to run training.")
    flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
    flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
    flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
    flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
    flags.DEFINE_integer("save_checkpoints_steps", 1000,
                         "How often to save the model checkpoint.")
    flags.DEFINE_integer("iterations_per_loop", 1000,
                         "How many steps to make in each estimator call (here: at most this "
                         "many steps per compiled loop).")
    # New flags (the original had none for these).
    flags.DEFINE_enum("distribution_strategy", "one_device",
                      ["one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                      "tf.distribute strategy; --use_tpu selects tpu.")
    flags.DEFINE_integer("num_gpus", None, "GPUs for the mirrored strategy (default: all).")
    flags.DEFINE_integer("worker_timeout_secs", 600,
                         "multi_worker_mirrored: seconds each worker waits for every worker "
                         "of TF_CONFIG to join at the start and to finish at the end; a "
                         "worker silent for 30 s (or this, if less) is reported lost.")
    flags.DEFINE_enum("mixed_precision", "", ["", "bf16", "fp16", "auto"],
                      "Mixed precision: bf16, or fp16 with dynamic loss scaling; empty for "
                      "float32; auto: bf16 on GPUs (compute capability 8.0+) and CPUs "
                      "(AVX512_BF16/AMX) that run it natively, fp16 on older GPUs, else "
                      "float32. LayerNorm, softmax and the loss stay float32.")
    flags.DEFINE_bool("dynamic_padding", True,
                      "Cut each batch to its longest example (rounded up to "
                      "--pad_to_multiple_of) and group examples by length. Eval and predict "
                      "outputs are the same, in input order; training sees other batches "
                      "(as another --seed would). SQuAD trains on whole windows. Always off "
                      "with the tpu strategy and in run_pretraining (its loss is a mean over "
                      "each batch).")
    flags.DEFINE_integer("pad_to_multiple_of", None,
                         "Round dynamic-padding lengths up to a multiple of this (default 8; "
                         "16 with --use_xla: each new length is a new XLA compilation).")
    flags.DEFINE_bool("use_xla", False,
                      "Compile the forward/backward pass with XLA (jit_compile).")
    flags.DEFINE_integer("gradient_accumulation_steps", 1,
                         "Run each replica's share of --train_batch_size in this many "
                         "micro-batches and sum their gradients: the same update as the "
                         "whole batch, with the activation memory of one micro-batch.")
    flags.DEFINE_integer("seed", 12345, "Seed for initialization, data order and dropout.")
    flags.DEFINE_integer("keep_checkpoint_max", 5, "How many recent checkpoints to keep.")
    flags.DEFINE_integer("log_every_n_steps", 50, "Steps between progress lines.")
    # The optimizer: the original create_optimizer's values, which it hard-codes.
    flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"],
                      "adamw: the original's AdamWeightDecay; lamb: LAMB (bias-corrected "
                      "Adam with a per-variable trust ratio, as large-batch BERT pretraining "
                      "uses), with the same weight decay, epsilon, clipping and schedule.")
    flags.DEFINE_float("weight_decay_rate", 0.01, "AdamWeightDecay's decoupled weight decay "
                       "(never on LayerNorm or bias variables, as the original).")
    flags.DEFINE_float("adam_epsilon", 1e-6, "Adam epsilon, added to sqrt(v).")
    flags.DEFINE_float("clip_norm", 1.0, "Clip all gradients together to this global norm; "
                       "0 turns clipping off.")


def define_data_flags():
    """Data location flags shared by the runners (run_classifier's custom tasks, run_ner).
    Idempotent."""
    if _defined("data_dir"):
        return
    flags.DEFINE_string("data_dir", None, "The input data dir. Should contain the .tsv files "
                        "(or other data files) for the task.")
    flags.DEFINE_string("train_file", None, "Training file (default: found in --data_dir).")
    flags.DEFINE_string("dev_file", None, "Dev file (default: found in --data_dir).")
    flags.DEFINE_string("test_file", None, "Test file (default: found in --data_dir).")
    flags.DEFINE_string("file_format", None, "Data file format, default inferred from each "
                        "file. run_classifier: tsv, csv, jsonl; run_ner: conll, two_column, "
                        "words_only, jsonl.")
    flags.DEFINE_list("labels", None, "Comma-separated label list, in model output order "
                      "(default: --label_file, else inferred from the training file).")
    flags.DEFINE_string("label_file", None, "File with one label per line.")


def define_window_flags(doc_stride):
    """--doc_stride (run_squad: 128, as the original; run_ner: 64). Idempotent; the last
    runner imported sets the default."""
    if _defined("doc_stride"):
        flags.FLAGS.set_default("doc_stride", doc_stride)
        return
    flags.DEFINE_integer("doc_stride", doc_stride, "When splitting up a long document (or "
                         "sentence) into chunks, how much stride to take between chunks.")


def define_once(kind, name, default, help_text):
    """flags.DEFINE_<kind>(name, default, help_text) unless a runner imported earlier in this
    process defined it (extract_features.py and create_pretraining_data.py both have
    --input_file); then only its default is set."""
    if _defined(name):
        # Only when it differs: set_default runs the flag's validators (--input_file's
        # "required" one fails before parsing).
        if flags.FLAGS[name].default != default:
            flags.FLAGS.set_default(name, default)
        return
    getattr(flags, f"DEFINE_{kind}")(name, default, help_text)


def define_pretraining_data_flags():
    """create_pretraining_data.py's flags: the original's names and defaults, plus
    --whole_word_mask_choice_per_word. Idempotent; the last runner imported sets the
    --max_seq_length default."""
    define_once("string", "input_file", None, "Input raw text file (or comma-separated list of "
                "files; each may be a glob).")
    define_once("string", "output_file", None, "Output TF example file (or comma-separated "
                "list of files: the records are dealt round-robin).")
    define_tokenizer_flags(max_seq_length=128)
    define_once("bool", "do_whole_word_mask", False, "Whether to use whole word masking rather "
                "than per-WordPiece masking.")
    define_once("bool", "whole_word_mask_choice_per_word", False, "With --do_whole_word_mask: "
                "draw the 80/10/10 choice ([MASK] / keep / random word) once per word, so all "
                "pieces of a word are treated alike. Off (the default, as the original): it is "
                "drawn per word-piece, and the records are the original's.")
    define_max_predictions_flag()
    define_once("integer", "random_seed", 12345, "Random seed for data generation.")
    define_once("integer", "dupe_factor", 10,
                "Number of times to duplicate the input data (with different masks).")
    define_once("float", "masked_lm_prob", 0.15, "Masked LM probability.")
    define_once("float", "short_seq_prob", 0.1, "Probability of creating sequences which are "
                "shorter than the maximum length.")


def define_pretraining_flags():
    """The flags run_pretraining.py shares with the other runners: the engine's, the model's
    (--bert_config_file, --init_checkpoint, --max_seq_length), --input_file,
    --max_predictions_per_seq, and an optional --vocab_file. Idempotent."""
    define_engine_flags()
    define_checkpoint_flags()
    define_max_seq_length_flag(128)
    define_max_predictions_flag()
    define_once("string", "input_file", None, "Input TF example files (can be a glob or comma "
                "separated).")
    define_vocab_file_flag()
