# Two commands work on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test install system-packages lint bench default-model default-model-bilingual default-heads default-ner-bilingual korean-encoder korean-cloze clean

$(BIN)/bertkit: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Debian packages the pictures and the browser test need (a CJK font for Hangul; chromium + its driver),
# installed only when missing, so this is quick and idempotent. Not root and no sudo: say so and go on.
SYSTEM_PACKAGES := fonts-noto-cjk chromium chromium-driver

system-packages:
	@command -v dpkg >/dev/null || { echo "note: not Debian: install $(SYSTEM_PACKAGES) yourself"; exit 0; }; \
	missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo="sudo -n"; \
	else echo "note: not root: install $$missing yourself (apt-get install)"; exit 0; fi; \
	echo "installing $$missing"; \
	$$sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing >/dev/null

install: system-packages $(BIN)/bertkit

run: install
	$(BIN)/bertkit qa --question "Where does John live?" --context "John lives in New York City."
	$(BIN)/bertkit qa --question "Where does John live?" --context "John lives in New York City." --json
	$(BIN)/bertkit qa --question "철수는 어디에 삽니까?" --context "철수는 서울에 삽니다. 영희는 부산에 삽니다."
	$(BIN)/bertkit tokenize "Where does John live?" --pair "John lives in New York City."
	$(BIN)/bertkit tokenize "철수는 어디에 삽니까?" --pair "철수는 서울에 삽니다."
	$(BIN)/python examples/long_document.py
	$(BIN)/bertkit fill-mask "Soccer is a really fun [MASK]."
	$(BIN)/bertkit ner "My name is Sylvain and I work at Hugging Face in Brooklyn."
	$(BIN)/bertkit ner "이순신은 1545년 한성에서 태어났다."

test: install
	$(BIN)/python -m pytest -x -q

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/bertkit --ignore-missing-imports

bench: install
	$(BIN)/python bench/qa_inference.py

# Retrain, package and evaluate the embedded default QA model (about 2.5 hours on 2 cores).
default-model: install
	$(BIN)/python scripts/default_qa_model.py train --output runs/default-qa
	$(BIN)/python scripts/default_qa_model.py train --stage 2 --init runs/default-qa --output runs/default-qa-stage2
	$(BIN)/python scripts/default_qa_model.py train --stage 3 --init runs/default-qa-stage2 --output runs/default-qa-stage3
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-stage3 --bits 4
	$(BIN)/python scripts/default_qa_model.py evaluate > runs/default-qa-eval.json
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-stage3 --bits 4 --metrics runs/default-qa-eval.json

# The default fill-mask/NSP and NER heads (about an hour on 2 cores).
default-heads: install
	$(BIN)/python scripts/default_heads.py train pretraining
	$(BIN)/python scripts/default_heads.py evaluate pretraining > runs/default-pretraining-eval.json
	$(BIN)/python scripts/default_heads.py package pretraining --metrics runs/default-pretraining-eval.json
	$(BIN)/python scripts/default_heads.py train ner
	$(BIN)/python scripts/default_heads.py evaluate ner > runs/default-ner-eval.json
	$(BIN)/python scripts/default_heads.py package ner --metrics runs/default-ner-eval.json

# The Korean-capable encoder (issue 12): the Hangul-exact vocabulary grown over the default pre-training model,
# then masked-LM + NSP on Korean and English text (about 45 minutes on 2 cores; resumable: add RESUME=--resume).
korean-encoder: install
	$(BIN)/python scripts/korean_encoder.py init
	$(BIN)/python scripts/korean_encoder.py train $(RESUME)
	$(BIN)/python scripts/korean_encoder.py evaluate > runs/korean-encoder/eval.json

# Synthetic Korean cloze questions for stage 11 of the QA recipe (issue 12; docs/korean.md): ~25 minutes on 2
# cores, most of it the NER default tagging 7,000 Korean Wikipedia paragraphs (kept in runs/korean-cloze-entities.json).
# The second set (runs/korean-cloze-nouns.json) also asks about common nouns (무엇을, 어디에): in every sentence
# without an entity and in half of those with one;
# the same paragraphs and tags, seconds once the first is made.
korean-cloze: install
	$(BIN)/python scripts/korean_cloze.py make --paragraphs 7000
	$(BIN)/python scripts/korean_cloze.py make --paragraphs 7000 --noun-share 0.5 --output runs/korean-cloze-nouns.json

# The bilingual default QA model (issues 12, 13), over eight sessions (docs/default-model.md, runs 5-13): the Korean
# encoder's masked-LM adaptation stopped at step 2,400, its Hangul rows grown into the shipped English model,
# stage 5 (Korean twice + 12,000 English questions) stopped at step 500 of 1,132 and packaged; stage 6
# (Korean three times, lr 1e-4) from it, stopped at step 400 and packaged; stage 7 (Korean twice, lr 5e-5,
# the whole schedule) from stage 6's package, packaged; stage 8 (Korean once, 6,000 English questions, half of
# them with an AddSent-style distractor) from stage 7's package, packaged; stage 9 (Korean once, 3,000 English
# questions, 70 % buried among 6) from stage 8's package, averaged half and half with stage 8's package
# (stage 9 alone lost the tutorial's 철수 -> 서울) and packaged; stage 10 (Korean once, 2,500 English questions,
# 85 % buried among 8) from that package, averaged half and half with it and packaged; stage 11 (Korean once
# and 6,000 synthetic cloze questions: `make korean-cloze`) from that average's package; stage 12 (Korean
# once, 2,000 cloze questions half buried among 8, 1,500 English) from stage 11; stage 13 (the same, with 2,000
# questions of the noun cloze set) from stage 12, scored and packaged (shipped).
SHIPPED_QA := stage 13 from stage 12 (from stage 11, from 0.5 x stage 10 + 0.5 x the stage 9/8 soup)
default-model-bilingual: install
	$(BIN)/python scripts/korean_encoder.py init
	$(BIN)/python scripts/korean_encoder.py train --max-steps 2400 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py grow --korean runs/korean-encoder/model/checkpoints/step-0002400
	$(BIN)/python scripts/default_qa_model.py train --stage 5 --max-steps 500 --init runs/default-qa-grown \
		--output runs/default-qa-stage5 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-stage5 --bits 4 --stopped-at 500
	$(BIN)/python scripts/default_qa_model.py train --stage 6 --max-steps 400 --output runs/default-qa-stage6 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-stage6/checkpoints/step-0000400 \
		--bits 4 --stopped-at 400
	rm -rf runs/default-qa-stage6-package && cp -r src/bertkit/models/default-qa runs/default-qa-stage6-package
	$(BIN)/python scripts/default_qa_model.py train --stage 7 --init runs/default-qa-stage6-package \
		--output runs/default-qa-stage7 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-stage7 --bits 4
	rm -rf runs/default-qa-stage7-package && cp -r src/bertkit/models/default-qa runs/default-qa-stage7-package
	$(BIN)/python scripts/default_qa_model.py train --stage 8 --init runs/default-qa-stage7-package \
		--output runs/default-qa-stage8 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-stage8 --bits 4
	rm -rf runs/default-qa-stage8-package && cp -r src/bertkit/models/default-qa runs/default-qa-stage8-package
	$(BIN)/python scripts/default_qa_model.py train --stage 9 --init runs/default-qa-stage8-package \
		--output runs/default-qa-stage9 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py soup --models runs/default-qa-stage9 runs/default-qa-stage8-package \
		--weight 0.5 --output runs/default-qa-soup-9-8
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-soup-9-8 --bits 4 \
		--shipped "0.5 x stage 9 + 0.5 x stage 8's package (soup)"
	rm -rf runs/default-qa-soup-package && cp -r src/bertkit/models/default-qa runs/default-qa-soup-package
	$(BIN)/python scripts/default_qa_model.py train --stage 10 --init runs/default-qa-soup-package \
		--output runs/default-qa-stage10 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py soup --models runs/default-qa-stage10 runs/default-qa-soup-package \
		--weight 0.5 --output runs/default-qa-soup-10
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-soup-10 --bits 4 \
		--shipped "0.5 x stage 10 + 0.5 x the soup of stages 9 and 8 (soup)"
	rm -rf runs/default-qa-soup10-package && cp -r src/bertkit/models/default-qa runs/default-qa-soup10-package
	test -f runs/korean-cloze.json -a -f runs/korean-cloze-nouns.json || $(MAKE) korean-cloze
	$(BIN)/python scripts/default_qa_model.py train --stage 11 --init runs/default-qa-soup10-package \
		--output runs/default-qa-stage11 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py train --stage 12 --init runs/default-qa-stage11 \
		--output runs/default-qa-stage12 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py train --stage 13 --init runs/default-qa-stage12 \
		--output runs/default-qa-stage13 $(RESUME)
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-stage13 --bits 4 --shipped "$(SHIPPED_QA)"
	rm -rf runs/default-qa-stage13-package && cp -r src/bertkit/models/default-qa runs/default-qa-stage13-package
	$(BIN)/python scripts/default_qa_model.py evaluate --model runs/default-qa-stage13-package > runs/default-qa-eval.json
	$(BIN)/python scripts/default_qa_model.py package --model runs/default-qa-stage13 --bits 4 --shipped "$(SHIPPED_QA)" \
		--metrics runs/default-qa-eval.json

# The bilingual NER default (issues 12, 13): from the shipped bilingual QA model's encoder, CoNLL-2003 + WikiANN
# + BTC (their O may be MISC) + KLUE-NER twice, 3 epochs (~70 min on 2 AVX2 cores, fp32); resumable: RESUME=--resume.
NER_BILINGUAL_FIRST := runs/default-ner-bilingual-wikiann-btc-klue2
NER_BILINGUAL_RUN := runs/ner-bilingual-continued-klue4
default-ner-bilingual: install
	test -d runs/default-qa-export || $(BIN)/bertkit export runs/default-qa-export --task qa
	$(BIN)/python scripts/default_heads.py train ner-bilingual --with-wikiann --with-btc --klue-repeat 2 \
		--init runs/default-qa-export $(RESUME)
	$(BIN)/python scripts/default_heads.py train ner-bilingual --with-wikiann --with-btc --klue-repeat 4 \
		--init $(NER_BILINGUAL_FIRST) --epochs 1 --lr 4e-5 --output ner-bilingual-continued-klue4 $(RESUME)
	$(BIN)/python scripts/default_heads.py evaluate ner-bilingual --model $(NER_BILINGUAL_RUN) > runs/default-ner-eval.json
	$(BIN)/python scripts/default_heads.py package ner-bilingual --model $(NER_BILINGUAL_RUN) --metrics runs/default-ner-eval.json

clean:
	rm -rf $(VENV) .venv-ref build dist *.egg-info
