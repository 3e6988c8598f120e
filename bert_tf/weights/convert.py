"""Convert between original BERT checkpoints and Hugging Face BERT directories.

    python -m bert_tf.convert hf-to-tf --hf_dir=HF_DIR --output_dir=OUT
        writes OUT/bert_config.json, OUT/bert_model.ckpt.{index,data-00000-of-00001}
        and OUT/vocab.txt (when HF_DIR has one)
    python -m bert_tf.convert tf-to-hf --bert_config_file=bert_config.json \\
        --init_checkpoint=bert_model.ckpt [--vocab_file=vocab.txt] [--do_lower_case=true] \\
        --output_dir=OUT
        writes OUT/config.json, OUT/model.safetensors (+ vocab.txt, tokenizer_config.json)

Both directions validate every encoder tensor against the config (by loading it into a
BertModel) and print the name mapping. Task heads (classifier, SQuAD, pre-training) are kept.
"""

import argparse
import os
import shutil
import sys

from bert_tf.config import BertConfig
from bert_tf.modeling import BertModel
from bert_tf.weights import checkpoints, hf_weights


def _validate(config, arrays, description):
    """Loads the encoder part into a BertModel: shape and completeness checks, clear errors."""
    model = BertModel(config).build_with_dummy_inputs()
    checkpoints.assign_weights(model, checkpoints.WeightSource.from_arrays(description, arrays))


def _warn(message):
    """A warning the user must see whatever the log level: on stderr."""
    sys.stderr.write(f"warning: {message}\n")


def _print_mapping(mapped, out):
    width = max((len(src) for src, _, _ in mapped.mapping), default=0)
    for src, dst, shape in mapped.mapping:
        out.write(f"{src:<{width}}  ->  {dst}  {list(shape)}\n")
    for name in mapped.skipped:
        out.write(f"{name:<{width}}  (not mapped: tied to or derived from another tensor)\n")
    out.write(f"{len(mapped.mapping)} tensors mapped, {len(mapped.skipped)} skipped\n")


def hf_to_tf(hf_dir, output_dir, out=sys.stdout):
    """Hugging Face directory -> original checkpoint directory. Returns the checkpoint prefix."""
    checkpoint = hf_weights.read_hf_directory(hf_dir)
    arrays = checkpoint.weights.arrays
    _validate(checkpoint.config, arrays, hf_dir)
    os.makedirs(output_dir, exist_ok=True)
    prefix = checkpoints.write_name_based_checkpoint(
        arrays, os.path.join(output_dir, "bert_model.ckpt"))
    checkpoint.config.to_json_file(os.path.join(output_dir, "bert_config.json"))
    if checkpoint.vocab_file:
        shutil.copyfile(checkpoint.vocab_file, os.path.join(output_dir, "vocab.txt"))
    _print_mapping(checkpoint.weights, out)
    if not checkpoint.vocab_file:
        _warn(f"{hf_dir} has no vocab.txt, so {output_dir} has none: copy the model's "
              "vocab.txt there before fine-tuning (every runner needs --vocab_file)")
    out.write(f"wrote {prefix} and bert_config.json"
              f"{' and vocab.txt' if checkpoint.vocab_file else ''}; hidden_act "
              f"'{checkpoint.config.hidden_act}'\n")
    return prefix


def tf_to_hf(bert_config_file, init_checkpoint, output_dir, vocab_file=None,
             do_lower_case=None, out=sys.stdout):
    """Original checkpoint -> Hugging Face directory. Returns the mapping."""
    config = BertConfig.from_json_file(bert_config_file)
    source = checkpoints.WeightSource.from_checkpoint(init_checkpoint)
    optimizer_state = checkpoints.optimizer_state_names(source)
    arrays = {name: source.read(name) for name in source.shapes if name not in optimizer_state}
    _validate(config, arrays, source.description)
    mapped = hf_weights.write_hf_directory(arrays, config, output_dir, vocab_file=vocab_file,
                                           do_lower_case=do_lower_case)
    _print_mapping(mapped, out)
    if not vocab_file:
        _warn(f"no --vocab_file: {output_dir} has no vocab.txt, so Hugging Face cannot load "
              "its tokenizer; rerun with --vocab_file=<the model's vocab.txt>")
    if optimizer_state:
        out.write(f"{len(optimizer_state)} optimizer entries (adam_m/adam_v/global_step) "
                  "left out\n")
    out.write(f"wrote {output_dir}/config.json and model.safetensors\n")
    return mapped


def parse_bool(text):
    """argparse type for true/false flags (1/0, yes/no accepted)."""
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bert_tf.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    from_hf = commands.add_parser("hf-to-tf", help="Hugging Face dir -> original checkpoint")
    from_hf.add_argument("--hf_dir", required=True)
    from_hf.add_argument("--output_dir", required=True)
    to_hf = commands.add_parser("tf-to-hf", help="original checkpoint -> Hugging Face dir")
    to_hf.add_argument("--bert_config_file", required=True)
    to_hf.add_argument("--init_checkpoint", required=True)
    to_hf.add_argument("--vocab_file")
    to_hf.add_argument("--do_lower_case", type=parse_bool)
    to_hf.add_argument("--output_dir", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "hf-to-tf":
            hf_to_tf(args.hf_dir, args.output_dir)
        else:
            tf_to_hf(args.bert_config_file, args.init_checkpoint, args.output_dir,
                     vocab_file=args.vocab_file, do_lower_case=args.do_lower_case)
    except (ValueError, OSError) as e:  # our errors are ValueErrors that say what is wrong
        parser.exit(2, f"error: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
