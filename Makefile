# make test: creates .venv (with the first python3.11 found), installs bert-tf with its test
# dependencies from the pinned constraints, and runs the default test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-slow demo demo-ner demo-squad demo-pretrain demo-embed clean

install: $(STAMP)

$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23"
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

# Checks too slow for the default suite (marked @pytest.mark.slow).
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests

# The README's main command: fine-tune the small demo BERT on the made-up SST-2 sample
# (configs/demo_sst2.flags), with evaluation, prediction and SavedModel export.
demo: $(STAMP)
	rm -rf output/demo_sst2
	$(PY) run_classifier.py --flagfile=configs/demo_sst2.flags
	@echo
	@echo "Demo results in output/demo_sst2/:"
	@echo "  eval_results.txt           accuracy and loss on demo/SST-2/dev.tsv"
	@echo "  test_results.tsv           class probabilities per test sentence"
	@echo "  submission/SST-2.tsv       predicted labels in the GLUE submission layout"
	@echo "  model.ckpt-*               checkpoints in the original BERT format"
	@echo "  export/                    SavedModel: serving_default (ids) and text (raw strings)"
	@cat output/demo_sst2/eval_results.txt
	@echo
	@echo "Raw sentences through the export's text signature (plain TensorFlow, no bert_tf):"
	$(PY) demo/serve_text.py output/demo_sst2/export "the acting is brilliant and charming" \
	  "honestly , the plot feels dull and predictable" "a moving story , but the ending is weak"

# NER with a custom label set: English products/brands/prices (softmax) and Chinese
# cities/dishes, one character per line (CRF); both made-up demo data in demo/.
demo-ner: $(STAMP)
	rm -rf output/demo_ner_en output/demo_ner_zh
	$(PY) run_ner.py --flagfile=configs/demo_ner_en.flags
	$(PY) run_ner.py --flagfile=configs/demo_ner_zh.flags
	@echo
	@echo "NER demo results in output/demo_ner_en/ and output/demo_ner_zh/:"
	@echo "  eval_results.txt       entity precision/recall/F1 (micro and per type), token accuracy"
	@echo "  test_predictions.txt   word gold pred, CoNLL layout (conlleval reads it)"
	@echo "  test_entities.jsonl    entities found per sentence (type, first/last word, text)"
	@echo "  export/                SavedModel: serving_default (ids) and text (raw strings)"
	@grep -E "eval_(f1|precision|recall) " output/demo_ner_en/eval_results.txt output/demo_ner_zh/eval_results.txt
	@echo
	@echo "Raw sentences through the exports' text signatures (plain TensorFlow, no bert_tf):"
	$(PY) demo/serve_text.py output/demo_ner_en/export \
	  "Is the Bluepeak camping stove worth 230 dollars?" "For 99 dollars, I bought a Greyfox yoga mat."
	$(PY) demo/serve_text.py output/demo_ner_zh/export "他说麻婆豆腐是西安的名菜"

# SQuAD 2.0 on a made-up sample (demo/squad/), with the official scoring (--do_eval).
demo-squad: $(STAMP)
	rm -rf output/demo_squad
	$(PY) run_squad.py --flagfile=configs/demo_squad.flags
	@echo
	@echo "SQuAD demo results in output/demo_squad/:"
	@echo "  predictions.json        question id -> answer text (\"\" for no answer)"
	@echo "  nbest_predictions.json  the n best answers with probabilities and logits"
	@echo "  null_odds.json          no-answer score minus best answer score, per question"
	@echo "  eval_results.json       exact match / F1 (overall, HasAns, NoAns, best threshold)"
	@echo "  export/                 SavedModel: serving_default (ids) and text (raw strings)"
	@cat output/demo_squad/eval_results.json
	@echo
	@echo "Raw questions through the export's text signature (plain TensorFlow, no bert_tf):"
	$(PY) demo/serve_text.py output/demo_squad/export \
	  "Where was Bo Lind born ? ||| Bo Lind was born in Ilvasso . Bo Lind was born in the year 1802 ." \
	  "In which year was Alma Quill born ? ||| Alma Quill was born in Ilvasso . The winters there were long . Alma Quill was born in the year 1714 ." \
	  "Where did Bo Lind die ? ||| Bo Lind was born in Ilvasso . By trade , Bo Lind was a glassblower ."

# Pretraining in two phases as the original README (short sequences, then long ones from the
# first phase's checkpoint), on made-up movie reviews (demo/pretraining/), then fill-mask and
# next-sentence scoring with the result. About two minutes on 2 cores.
PRETRAIN := output/demo_pretrain
demo-pretrain: $(STAMP)
	rm -rf $(PRETRAIN)
	mkdir -p $(PRETRAIN)
	$(PY) create_pretraining_data.py --input_file=demo/pretraining/reviews.txt \
	  --output_file=$(PRETRAIN)/records_32.tfrecord --vocab_file=configs/demo_vocab.txt \
	  --max_seq_length=32 --max_predictions_per_seq=5 --dupe_factor=5
	$(PY) create_pretraining_data.py --input_file=demo/pretraining/reviews.txt \
	  --output_file=$(PRETRAIN)/records_64.tfrecord --vocab_file=configs/demo_vocab.txt \
	  --max_seq_length=64 --max_predictions_per_seq=10 --dupe_factor=2
	$(PY) run_pretraining.py --flagfile=configs/demo_pretraining.flags \
	  --input_file=$(PRETRAIN)/records_32.tfrecord --output_dir=$(PRETRAIN)/phase1 \
	  --max_seq_length=32 --max_predictions_per_seq=5 --num_train_steps=2000 \
	  --num_warmup_steps=200 --learning_rate=1e-3
	$(PY) run_pretraining.py --flagfile=configs/demo_pretraining.flags \
	  --input_file=$(PRETRAIN)/records_64.tfrecord --output_dir=$(PRETRAIN)/phase2 \
	  --init_checkpoint=$(PRETRAIN)/phase1 --max_seq_length=64 --max_predictions_per_seq=10 \
	  --num_train_steps=500 --num_warmup_steps=50 --learning_rate=5e-4
	$(PY) fill_mask.py --init_checkpoint=$(PRETRAIN)/phase2 --max_seq_length=64 --top_k=3 \
	  --text="the acting is [MASK] and charming" --text="i found the [MASK] dull" \
	  --text="the hero is wonderful . ||| the sequel is touching and superb" \
	  --output_file=$(PRETRAIN)/fill_mask.jsonl
	@echo
	@echo "Pretraining demo results in $(PRETRAIN)/:"
	@echo "  records_32.tfrecord, records_64.tfrecord   masked-LM/next-sentence records"
	@echo "  phase1/, phase2/        checkpoints (original format) and eval_results.txt"
	@echo "  fill_mask.jsonl         the top 3 word-pieces per [MASK]; P(is next) for the pair"
	@grep -E "masked_lm_accuracy|next_sentence_accuracy" $(PRETRAIN)/phase2/eval_results.txt
	@cat $(PRETRAIN)/fill_mask.jsonl

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache output

# Sentence embeddings with the demo-pretrain model (trained first if it is not there): mean
# pooling, unit vectors, the cosine-similarity matrix of demo/embed/reviews.txt and the two
# most similar reviews per query in demo/embed/queries.txt.
EMBED := output/demo_embed
demo-embed: $(STAMP)
	@test -d $(PRETRAIN)/phase2 || $(MAKE) demo-pretrain
	rm -rf $(EMBED)
	mkdir -p $(EMBED)
	$(PY) -m bert_tf.embed --init_checkpoint=$(PRETRAIN)/phase2 --max_seq_length=64 \
	  --input_file=demo/embed/reviews.txt --output_file=$(EMBED)/reviews.npy --normalize \
	  --export_dir=$(EMBED)/export
	$(PY) -m bert_tf.embed --init_checkpoint=$(PRETRAIN)/phase2 --max_seq_length=64 \
	  --input_file=demo/embed/reviews.txt --output_file=$(EMBED)/similarity.tsv --similarity
	$(PY) -m bert_tf.embed --init_checkpoint=$(PRETRAIN)/phase2 --max_seq_length=64 \
	  --input_file=demo/embed/reviews.txt --query_file=demo/embed/queries.txt --similarity \
	  --top_k=2 --output_file=$(EMBED)/top_k.jsonl
	@echo
	@echo "Embedding demo results in $(EMBED)/:"
	@echo "  reviews.npy        float32 [6, 64]: one unit vector per review"
	@echo "  similarity.tsv     6 x 6 cosine similarities"
	@echo "  top_k.jsonl        the 2 most similar reviews per query"
	@echo "  export/            SavedModel: serving_default (ids) and text (raw strings) -> embedding"
	@cat $(EMBED)/similarity.tsv
	@cat $(EMBED)/top_k.jsonl
